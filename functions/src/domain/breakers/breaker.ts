import type { OrderIntent } from '../intent.js';
import type { ExposureContext } from './exposure-limits.js';
import type { BreakerLimits, BreakerName } from './limits.js';
import type { StrategyStats } from './stats.js';

/**
 * The common shape of a breaker: a pure function of the intent, the time, the strategy's
 * stats and the resolved limits. Breakers never throw and never read the clock; when a value
 * they need cannot be measured (no bars, a non-positive price) they trip — fail closed —
 * with `value: null` and a detail that says exactly what was missing.
 */

export interface BreakerInput {
  intent: OrderIntent;
  /** The decision time (ms since the epoch), from the pipeline's clock. */
  nowMs: number;
  stats: StrategyStats;
  /**
   * Claims already committed for this strategy in the 60 s up to `nowMs`, this intent
   * excluded. Counted by the store, not kept in `stats` (see order-rate.ts for why).
   */
  claimsInLastMinute: number;
  /** The strategy's exposure as the claim read it; the exposure limits trip without it (exposure-limits.ts). */
  exposure?: ExposureContext;
}

export type BreakerVerdict =
  | { tripped: false }
  | {
      tripped: true;
      breaker: BreakerName;
      /** What was measured (finite), or null when it could not be measured. */
      value: number | null;
      threshold: number;
      detail: string;
    };
export type TrippedVerdict = Extract<BreakerVerdict, { tripped: true }>;

export type Breaker = (input: BreakerInput, limits: BreakerLimits) => BreakerVerdict;

export const NOT_TRIPPED: BreakerVerdict = Object.freeze({ tripped: false });

/**
 * Builds a trip. Non-finite measurements become null so the verdict stays JSON/Firestore
 * serialisable (JSON has no Infinity; the detail still says what happened).
 */
export function trip(breaker: BreakerName, value: number | null, threshold: number, detail: string): TrippedVerdict {
  return {
    tripped: true,
    breaker,
    value: value !== null && Number.isFinite(value) ? value : null,
    threshold,
    detail,
  };
}

/** The submission record's refusal reason for a breaker. */
export function breakerRefusalReason(name: BreakerName): `breaker:${BreakerName}` {
  return `breaker:${name}`;
}
