import { isRunnerStale } from './runner-heartbeat.js';

/**
 * The dead-man switch of a strategy (`limits.maxRunnerSilenceMs`): its runner writes a
 * heartbeat to `runners/{strategyId}`; once the last one is older than the limit, nobody is
 * watching the strategy, so its intents are refused `runner_stale` (and its open orders are
 * cancelled once, by the reconciler). Fail closed: no heartbeat document, an unreadable
 * `lastSeenAt`, or a runner that says it stopped all count as silent.
 */

export type DeadManVerdict = { ok: true } | { ok: false; detail: string };

export function deadManVerdict(strategyId: string, heartbeat: unknown, nowMs: number, maxSilenceMs: number): DeadManVerdict {
  if (!(maxSilenceMs > 0)) return { ok: true };
  const where = `runners/${strategyId}`;
  if (heartbeat === undefined) return { ok: false, detail: `${where} has no heartbeat; limits.maxRunnerSilenceMs (${maxSilenceMs}) needs a runner writing one` };
  if (heartbeat === null || typeof heartbeat !== 'object' || Array.isArray(heartbeat)) return { ok: false, detail: `${where} is not a heartbeat document` };
  const doc = heartbeat as Record<string, unknown>;
  if (doc.state === 'stopped') return { ok: false, detail: `${where} says its runner stopped (${typeof doc.stopReason === 'string' ? doc.stopReason : 'no reason'})` };
  const lastSeenMs = doc.lastSeenAt instanceof Date ? doc.lastSeenAt.getTime() : Number.NaN;
  if (isRunnerStale(lastSeenMs, nowMs, maxSilenceMs)) {
    const seen = Number.isFinite(lastSeenMs) ? `last heartbeat ${new Date(lastSeenMs).toISOString()}, ${nowMs - lastSeenMs} ms ago` : 'no readable lastSeenAt';
    return { ok: false, detail: `${where}: ${seen}; limits.maxRunnerSilenceMs is ${maxSilenceMs}` };
  }
  return { ok: true };
}
