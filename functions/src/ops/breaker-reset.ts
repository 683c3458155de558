import type { Firestore } from 'firebase-admin/firestore';
import type { Clock } from '../domain/clock.js';
import { haltStrategy, resetBreaker, ResetBreakerError, ResetBreakerFailure } from '../store/breaker-admin.js';

/**
 * Breaker resets (G7) for the ops API and the CLI: the store's `resetBreaker`, which clears
 * the latch and writes the audit entry (`strategies/{id}/audit/{id}`, who and why) in one
 * transaction. Here its refusals become outcomes the API maps to status codes.
 */

export const BreakerResetOutcome = {
  reset: 'reset',
  notTripped: 'not_tripped',
  unknownBreaker: 'unknown_breaker',
  badRequest: 'bad_request',
  malformed: 'malformed',
} as const;
export type BreakerResetOutcome = (typeof BreakerResetOutcome)[keyof typeof BreakerResetOutcome];

export interface BreakerResetRequest {
  strategyId: string;
  breaker: string;
  reason: string;
  who: string;
}

export type ResetBreakerFn = (request: BreakerResetRequest) => Promise<{ outcome: BreakerResetOutcome; detail: string; auditId?: string }>;

const OUTCOME_OF_FAILURE: Record<ResetBreakerFailure, BreakerResetOutcome> = {
  [ResetBreakerFailure.unknown_breaker]: BreakerResetOutcome.unknownBreaker,
  [ResetBreakerFailure.not_latched]: BreakerResetOutcome.notTripped,
  [ResetBreakerFailure.bad_request]: BreakerResetOutcome.badRequest,
  [ResetBreakerFailure.state_malformed]: BreakerResetOutcome.malformed,
};

export function resetBreakerForOps(db: Firestore, clock: Clock): ResetBreakerFn {
  return async (request) => {
    try {
      const result = await resetBreaker(db, request.strategyId, request.breaker, request.who, request.reason, clock);
      return { outcome: BreakerResetOutcome.reset, detail: `${result.breaker} of ${result.strategyId} reset`, auditId: result.auditId };
    } catch (err) {
      if (err instanceof ResetBreakerError) return { outcome: OUTCOME_OF_FAILURE[err.failure], detail: err.message };
      throw err;
    }
  };
}

export const StrategyHaltOutcome = {
  halted: 'halted',
  alreadyHalted: 'already_halted',
  badRequest: 'bad_request',
  malformed: 'malformed',
} as const;
export type StrategyHaltOutcome = (typeof StrategyHaltOutcome)[keyof typeof StrategyHaltOutcome];

export interface StrategyHaltRequest {
  strategyId: string;
  reason: string;
  who: string;
}

export type HaltStrategyFn = (
  request: StrategyHaltRequest,
) => Promise<{ outcome: StrategyHaltOutcome; detail: string; auditId?: string; by?: string; since?: string; reason?: string }>;

/** The per-strategy halt (`breakers.manual`) for the ops API and the CLI. */
export function haltStrategyForOps(db: Firestore, clock: Clock): HaltStrategyFn {
  return async (request) => {
    try {
      const r = await haltStrategy(db, request.strategyId, request.who, request.reason, clock);
      const since = new Date(r.trip.trippedAt).toISOString();
      return r.changed
        ? { outcome: StrategyHaltOutcome.halted, detail: `${r.strategyId} halted (breaker manual)`, auditId: r.auditId ?? undefined, by: r.trip.by, since, reason: r.trip.reason }
        : { outcome: StrategyHaltOutcome.alreadyHalted, detail: `${r.strategyId} was already halted by ${r.trip.by} since ${since}: ${r.trip.reason}`, by: r.trip.by, since, reason: r.trip.reason };
    } catch (err) {
      if (err instanceof ResetBreakerError) {
        return { outcome: err.failure === ResetBreakerFailure.state_malformed ? StrategyHaltOutcome.malformed : StrategyHaltOutcome.badRequest, detail: err.message };
      }
      throw err;
    }
  };
}
