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
 *
 * Also callable with the heartbeat document itself (`runners/{id}` data, `undefined` when
 * absent) and a strategy's `limits.maxRunnerSilenceMs`: the dead-man switch's decision
 * (`runnerSilence`, below); `maxSilenceMs` 0 (or not a positive number) disables it.
 */
export function isRunnerStale(lastSeenMs: number, nowMs: number, staleAfterMs: number): boolean;
export function isRunnerStale(heartbeatDoc: unknown, nowMs: number, maxSilenceMs: number): boolean;
export function isRunnerStale(lastSeenOrDoc: unknown, nowMs: number, staleAfterMs: number): boolean {
  if (typeof lastSeenOrDoc === 'number') {
    if (!Number.isFinite(lastSeenOrDoc)) return true;
    return nowMs - lastSeenOrDoc > staleAfterMs;
  }
  return runnerSilence(lastSeenOrDoc, nowMs, staleAfterMs).stale;
}

export interface RunnerSilence {
  /** The runner has been silent longer than allowed (always false when the switch is off). */
  stale: boolean;
  /** The heartbeat's `lastSeenAt` (ms), or null when absent or unreadable. */
  lastSeenMs: number | null;
  /**
   * Names one silent spell: the `lastSeenAt` it began at, or `never` when no heartbeat can be
   * read. The cancel-once job records it, so a runner that comes back and falls silent again
   * starts a new episode.
   */
  episode: string;
  /** Why it counts as stale, or null. */
  reason: string | null;
}

function millisOf(v: unknown): number | null {
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.getTime() : null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (v !== null && typeof v === 'object' && typeof (v as { toMillis?: unknown }).toMillis === 'function') {
    const ms = (v as { toMillis: () => number }).toMillis();
    return Number.isFinite(ms) ? ms : null;
  }
  return null;
}

/**
 * The dead-man switch (`limits.maxRunnerSilenceMs`): is the strategy's runner silent for too
 * long? Pure; `heartbeatDoc` is the `runners/{id}` data (Firestore Timestamps or Dates for
 * `lastSeenAt`), `undefined` when there is no document. Fail closed once enabled: no document,
 * no readable `lastSeenAt`, or a non-map document counts as silent — a runner that cannot be
 * placed in time cannot vouch for its strategy. A runner that says it `stopped` counts as
 * silent at once, as the claim's dead-man check has it (dead-man-switch.ts): it is not
 * watching its orders. A heartbeat from the future (clock skew) is not silent.
 */
export function runnerSilence(heartbeatDoc: unknown, nowMs: number, maxSilenceMs: number): RunnerSilence {
  const enabled = typeof maxSilenceMs === 'number' && Number.isFinite(maxSilenceMs) && maxSilenceMs > 0;
  const doc = heartbeatDoc !== null && typeof heartbeatDoc === 'object' && !Array.isArray(heartbeatDoc) ? (heartbeatDoc as Record<string, unknown>) : null;
  const lastSeenMs = doc === null ? null : millisOf(doc.lastSeenAt);
  const episode = lastSeenMs === null ? 'never' : String(lastSeenMs);
  if (!enabled) return { stale: false, lastSeenMs, episode, reason: null };
  if (heartbeatDoc === undefined) return { stale: true, lastSeenMs: null, episode, reason: `no runner heartbeat (runners/{id} does not exist) and maxRunnerSilenceMs is ${maxSilenceMs}` };
  if (doc === null) return { stale: true, lastSeenMs: null, episode, reason: 'the runner heartbeat is not a document object' };
  if (lastSeenMs === null) return { stale: true, lastSeenMs: null, episode, reason: 'the runner heartbeat has no readable lastSeenAt' };
  // As the claim judges it (dead-man-switch.ts): a runner that says it stopped watches nothing.
  if (doc.state === RunnerState.stopped) return { stale: true, lastSeenMs, episode, reason: `the runner says it stopped (${typeof doc.stopReason === 'string' ? doc.stopReason : 'no reason'})` };
  const silentMs = nowMs - lastSeenMs;
  if (silentMs > maxSilenceMs) {
    return { stale: true, lastSeenMs, episode, reason: `runner silent for ${silentMs} ms (last heartbeat ${new Date(lastSeenMs).toISOString()}), more than maxRunnerSilenceMs ${maxSilenceMs}` };
  }
  return { stale: false, lastSeenMs, episode, reason: null };
}
