import type { Firestore } from 'firebase-admin/firestore';
import {
  BrokerOutcomeEffect,
  classifyBrokerOutcome,
  emptyStrategyStats,
  parseStrategyStats,
  recordBrokerOutcome,
  type BrokerOutcomeLike,
  type StrategyStats,
} from '../domain/breakers/stats.js';
import { StoreUnavailableError } from '../errors.js';
import { STRATEGIES } from './paths.js';

/**
 * The broker-error streak of a strategy (`strategies/{id}.stats.consecutiveBrokerErrors`),
 * kept after every broker submit outcome whether or not the brokerErrors breaker is on, so
 * that switching it on later starts from the truth.
 *
 * Cost on the hot path: none for a healthy answer when the claim transaction saw a streak of
 * 0 (`streakAtClaim`, the common case); otherwise one plain read of the strategy document. If
 * another order's error lands between that claim and this answer, skipping the reset leaves the
 * streak one error high: it errs toward tripping, never toward missing errors. The write — a transaction — happens only when the streak
 * changes: on an error (rare) and on the first healthy answer after errors. A healthy strategy
 * therefore never writes its strategy document per order, which keeps that document, read by
 * every claim transaction, out of Firestore's ~1 write/s per document limit and free of
 * claim-transaction conflicts.
 */

export type BrokerOutcomeStatsWrite =
  | { written: true; consecutiveBrokerErrors: number }
  | { written: false; consecutiveBrokerErrors: number | null; why: string };

function statsOf(data: Record<string, unknown> | undefined): { ok: true; stats: StrategyStats } | { ok: false; problem: string } {
  if (data === undefined || data.stats === undefined) return { ok: true, stats: emptyStrategyStats() };
  const parsed = parseStrategyStats(data.stats);
  if (parsed.ok) return parsed;
  // Never overwrite malformed stats with a guess: the gate refuses this strategy's intents
  // (config_invalid) until an operator repairs them.
  return { ok: false, problem: parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ') };
}

export async function recordBrokerOutcomeStats(
  db: Firestore,
  strategyId: string,
  outcome: BrokerOutcomeLike,
  streakAtClaim: number | null = null,
): Promise<BrokerOutcomeStatsWrite> {
  if (streakAtClaim === 0 && classifyBrokerOutcome(outcome) !== BrokerOutcomeEffect.error) {
    return { written: false, consecutiveBrokerErrors: 0, why: 'unchanged' };
  }
  const ref = db.collection(STRATEGIES).doc(strategyId);
  try {
    const first = statsOf((await ref.get()).data());
    if (!first.ok) return { written: false, consecutiveBrokerErrors: null, why: `stats malformed: ${first.problem}` };
    if (!recordBrokerOutcome(first.stats, outcome).changed) {
      return { written: false, consecutiveBrokerErrors: first.stats.consecutiveBrokerErrors, why: 'unchanged' };
    }
    return await db.runTransaction(async (tx): Promise<BrokerOutcomeStatsWrite> => {
      const current = statsOf((await tx.get(ref)).data());
      if (!current.ok) return { written: false, consecutiveBrokerErrors: null, why: `stats malformed: ${current.problem}` };
      const next = recordBrokerOutcome(current.stats, outcome);
      if (!next.changed) return { written: false, consecutiveBrokerErrors: current.stats.consecutiveBrokerErrors, why: 'unchanged' };
      // Only this field: realized P&L in `stats` is the fills sync's, written in its own transactions.
      tx.set(ref, { stats: { ...current.stats, consecutiveBrokerErrors: next.stats.consecutiveBrokerErrors } }, { merge: true });
      return { written: true, consecutiveBrokerErrors: next.stats.consecutiveBrokerErrors };
    });
  } catch (err) {
    throw new StoreUnavailableError('recordBrokerOutcome', err);
  }
}
