import type { DocumentData, Firestore } from 'firebase-admin/firestore';
import { isBreakerName, BREAKER_NAMES, type BreakerName } from '../domain/breakers/limits.js';
import { latchManualTrip, MAX_MANUAL_REASON, parseBreakerState, resetBreaker as clearTrip, serializeBreakerState, type BreakerState, type LatchedTrip, type ManualTrip } from '../domain/breakers/state.js';
import { parseStrategyStats, type StrategyStats } from '../domain/breakers/stats.js';
import type { Clock } from '../domain/clock.js';
import { HaltgateError, StoreUnavailableError } from '../errors.js';
import { ts } from './firestore-values.js';
import { STRATEGIES } from './paths.js';

/**
 * The operator's side of G7: a latched breaker refuses its strategy's intents until someone
 * resets it here, saying who and why. Clearing the latch and writing the audit entry are one
 * transaction, so there is never a reset without its audit entry or the other way round.
 *
 * What a reset does to the measured stats: the two STREAK breakers start a new streak —
 * `consecutiveLosses` forgets the realized events kept for the streak (the P&L events stay in
 * `strategies/{id}/pnl`) and `brokerErrors` zeroes the error count — because otherwise the
 * streak that tripped them would trip them again on the very next intent and a reset could
 * never resume the strategy (a broker-error streak only ends on a broker answer, which a
 * refused strategy never gets). `dailyLoss` keeps today's sum: the day's loss is still there,
 * so it trips again until the next trading day or a higher limit — that is the limit's point.
 * The audit entry keeps the stats as they were (`statsBefore`).
 */

export const STRATEGY_AUDIT = 'audit';

export const ResetBreakerFailure = {
  unknown_breaker: 'unknown_breaker',
  not_latched: 'not_latched',
  bad_request: 'bad_request',
  state_malformed: 'state_malformed',
} as const;
export type ResetBreakerFailure = (typeof ResetBreakerFailure)[keyof typeof ResetBreakerFailure];

/** A reset that cannot be done as asked: not retryable, the request must change. */
export class ResetBreakerError extends HaltgateError {
  readonly failure: ResetBreakerFailure;
  constructor(failure: ResetBreakerFailure, message: string, context: Record<string, unknown>) {
    super(message, { reason: failure, retryable: false, context });
    this.name = 'ResetBreakerError';
    this.failure = failure;
  }
}

export interface ResetBreakerResult {
  strategyId: string;
  breaker: BreakerName;
  /** The trip that was cleared. */
  before: LatchedTrip;
  auditId: string;
  atMs: number;
}

export async function resetBreaker(
  db: Firestore,
  strategyId: string,
  name: string,
  who: string,
  why: string,
  clock: Clock,
): Promise<ResetBreakerResult> {
  const context = { strategyId, breaker: name };
  if (!isBreakerName(name)) {
    throw new ResetBreakerError(ResetBreakerFailure.unknown_breaker, `"${name}" is not a breaker; breakers are ${BREAKER_NAMES.join(', ')}`, context);
  }
  if (strategyId.trim() === '' || strategyId.includes('/')) {
    throw new ResetBreakerError(ResetBreakerFailure.bad_request, `"${strategyId}" is not a strategy id`, context);
  }
  if (who.trim() === '' || why.trim() === '') {
    throw new ResetBreakerError(ResetBreakerFailure.bad_request, 'a reset needs who did it and why', context);
  }
  const ref = db.collection(STRATEGIES).doc(strategyId);
  const auditRef = ref.collection(STRATEGY_AUDIT).doc();
  let result: ResetBreakerResult | ResetBreakerError;
  try {
    // A refusal is returned from the callback, not thrown: a callback that throws makes the
    // client send its Rollback without waiting for it, and a short-lived caller (the CLI)
    // exits before it is sent, leaving the strategy document locked until the server expires
    // the transaction. Returning commits an empty transaction, which releases the locks.
    result = await db.runTransaction(async (tx): Promise<ResetBreakerResult | ResetBreakerError> => {
      const snap = await tx.get(ref);
      const parsed = latchedState(snap.data(), strategyId, context, 'repair it in the console');
      if (!parsed.ok) return parsed.error;
      const before = parsed.state[name];
      if (before === undefined) {
        return new ResetBreakerError(ResetBreakerFailure.not_latched, `breaker ${name} of strategy ${strategyId} is not latched`, context);
      }
      let statsBefore: StrategyStats | null = null;
      let statsAfter: StrategyStats | null = null;
      const storedStats: unknown = snap.data()?.stats;
      if ((name === 'consecutiveLosses' || name === 'brokerErrors') && storedStats !== undefined) {
        const stats = parseStrategyStats(storedStats);
        if (!stats.ok) {
          return new ResetBreakerError(
            ResetBreakerFailure.state_malformed,
            `strategies/${strategyId}.stats is malformed (${stats.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}); repair it in the console`,
            context,
          );
        }
        statsBefore = stats.stats;
        statsAfter = name === 'consecutiveLosses' ? { ...stats.stats, recentRealized: [] } : { ...stats.stats, consecutiveBrokerErrors: 0 };
      }
      const atMs = clock.now();
      // `update` replaces the `breakers` map as a whole (set+merge would keep the cleared key).
      tx.update(ref, { breakers: serializeBreakerState(clearTrip(parsed.state, name)), ...(statsAfter === null ? {} : { stats: statsAfter }) });
      tx.set(auditRef, {
        action: 'reset_breaker',
        strategyId,
        breaker: name,
        who,
        why,
        at: ts(atMs),
        before: { ...before },
        statsBefore,
      });
      return { strategyId, breaker: name, before: { ...before }, auditId: auditRef.id, atMs };
    });
  } catch (err) {
    throw new StoreUnavailableError('resetBreaker', err);
  }
  if (result instanceof ResetBreakerError) throw result;
  return result;
}

export interface HaltStrategyResult {
  strategyId: string;
  /** The manual trip now latched: this one, or the earlier one when it was already halted. */
  trip: ManualTrip;
  /** False when the strategy was already halted by hand (nothing written, no audit entry). */
  changed: boolean;
  auditId: string | null;
  atMs: number;
}

/**
 * The per-strategy halt: latches `strategies/{id}.breakers.manual` with who and why, and
 * writes the audit entry (`action: 'halt_strategy'`) in the same transaction. Every claim of
 * the strategy is then refused `breaker:manual` (the claim refuses any latched breaker) until
 * an operator resets `manual` like any breaker (`resetBreaker`, audited). A second halt of a
 * halted strategy changes nothing: the first operator's words stay. Works on a strategy with
 * no document yet (an operator may halt a strategy before its first intent).
 */
export async function haltStrategy(db: Firestore, strategyId: string, who: string, why: string, clock: Clock): Promise<HaltStrategyResult> {
  const context = { strategyId, breaker: 'manual' };
  if (strategyId.trim() === '' || strategyId.includes('/') || !/^[A-Za-z0-9_-]{1,64}$/.test(strategyId)) {
    throw new ResetBreakerError(ResetBreakerFailure.bad_request, `"${strategyId}" is not a strategy id (1-64 of A-Z, a-z, 0-9, _ or -)`, context);
  }
  if (who.trim() === '' || why.trim() === '' || why.length > MAX_MANUAL_REASON) {
    throw new ResetBreakerError(ResetBreakerFailure.bad_request, `a halt needs who did it and why (a reason of 1-${MAX_MANUAL_REASON} characters)`, context);
  }
  const ref = db.collection(STRATEGIES).doc(strategyId);
  const auditRef = ref.collection(STRATEGY_AUDIT).doc();
  let result: HaltStrategyResult | ResetBreakerError;
  try {
    // Refusals are returned, not thrown, for the reason given in resetBreaker.
    result = await db.runTransaction(async (tx): Promise<HaltStrategyResult | ResetBreakerError> => {
      const snap = await tx.get(ref);
      const parsed = latchedState(snap.data(), strategyId, context, 'the strategy is refused already; repair it in the console');
      if (!parsed.ok) return parsed.error;
      const atMs = clock.now();
      const existing = parsed.state.manual;
      if (existing?.breaker === 'manual') return { strategyId, trip: { ...existing }, changed: false, auditId: null, atMs };
      const next = latchManualTrip(parsed.state, { by: who, reason: why.trim(), nowMs: atMs });
      const trip = next.manual;
      if (trip?.breaker !== 'manual') throw new Error('latchManualTrip did not latch manual');
      // set+merge creates the document when the strategy has none yet; `breakers` is replaced as a whole.
      tx.set(ref, { breakers: serializeBreakerState(next) }, { mergeFields: ['breakers'] });
      tx.set(auditRef, { action: 'halt_strategy', strategyId, breaker: 'manual', who, why: trip.reason, at: ts(atMs), after: { ...trip } });
      return { strategyId, trip: { ...trip }, changed: true, auditId: auditRef.id, atMs };
    });
  } catch (err) {
    throw new StoreUnavailableError('haltStrategy', err);
  }
  if (result instanceof ResetBreakerError) throw result;
  return result;
}

/** The strategy document's latched breakers, or the refusal for a malformed map (a missing one is empty). */
function latchedState(
  data: DocumentData | undefined,
  strategyId: string,
  context: { strategyId: string; breaker: string },
  hint: string,
): { ok: true; state: BreakerState } | { ok: false; error: ResetBreakerError } {
  const stored: unknown = data?.breakers;
  if (stored === undefined) return { ok: true, state: {} };
  const parsed = parseBreakerState(stored);
  if (parsed.ok) return { ok: true, state: parsed.state };
  const issues = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return { ok: false, error: new ResetBreakerError(ResetBreakerFailure.state_malformed, `strategies/${strategyId}.breakers is malformed (${issues}); ${hint}`, context) };
}
