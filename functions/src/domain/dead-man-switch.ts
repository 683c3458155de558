import { runnerSilence } from './runner-heartbeat.js';

/**
 * The dead-man switch as the claim sees it (`limits.maxRunnerSilenceMs`): the strategy's runner
 * writes its heartbeat to `runners/{strategyId}`; once it is silent for longer than the limit
 * (runner-heartbeat.ts `runnerSilence`: no document, no readable `lastSeenAt`, a runner that
 * says it stopped, or an old heartbeat), nobody is watching the strategy, so its intents are
 * refused `runner_stale` (and the reconciler cancels its open orders once, runner-watch.ts).
 */

export type DeadManVerdict = { ok: true } | { ok: false; detail: string };

export function deadManVerdict(strategyId: string, heartbeat: unknown, nowMs: number, maxSilenceMs: number): DeadManVerdict {
  const silence = runnerSilence(heartbeat, nowMs, maxSilenceMs);
  return silence.stale ? { ok: false, detail: `runners/${strategyId}: ${silence.reason ?? 'silent'}` } : { ok: true };
}
