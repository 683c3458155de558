/**
 * The `runners/{runnerId}` heartbeat contract (DESIGN.md data contract). Written by the
 * runner kit inside strategy processes, read by the ops status. Lives in the domain so the
 * ops function can judge staleness without importing the runner kit.
 */

export const RUNNERS_COLLECTION = 'runners';

export const RunnerState = {
  running: 'running',
  /** The stop signal aborted; the loop is finishing its current iteration. */
  stopping: 'stopping',
  /** The loop returned and the runner wrote its last heartbeat. */
  stopped: 'stopped',
} as const;
export type RunnerState = (typeof RunnerState)[keyof typeof RunnerState];

/**
 * A runner that writes every `intervalMs` is considered stale after this many intervals
 * without a write: one missed write is normal jitter (a slow commit, a GC pause), three are not.
 */
export const STALE_AFTER_INTERVALS = 3;

export function defaultStaleAfterMs(intervalMs: number): number {
  return intervalMs * STALE_AFTER_INTERVALS;
}

/**
 * True when the last heartbeat is older than `staleAfterMs`. A last-seen time in the future
 * (clock skew between writer and reader) is not stale; an unreadable one (NaN) is, because
 * a runner we cannot place in time is one we cannot vouch for.
 */
export function isRunnerStale(lastSeenMs: number, nowMs: number, staleAfterMs: number): boolean {
  if (!Number.isFinite(lastSeenMs)) return true;
  return nowMs - lastSeenMs > staleAfterMs;
}
