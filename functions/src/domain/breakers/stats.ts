import { z } from 'zod';
import { tradingDayKey } from './trading-day.js';

/**
 * The per-strategy counters the breakers read, kept by the store on `strategies/{strategyId}`
 * as a plain object (Firestore- and JSON-serialisable: no bigint, no undefined, no Infinity).
 *
 * Money is in integer micro-units of the account currency (1 USD = 1_000_000): integers add
 * exactly in a double up to 2^53 (≈ 9 billion dollars), so the daily sum never drifts the
 * way a running float sum of cents does. The FIFO ledger computes P&L exactly (bigint) and
 * rounds each realized piece to micro-units once, here (see `pnl/realized-events.ts`): an
 * amount smaller than half a micro-unit counts as break-even.
 *
 * What is deliberately NOT here: the order-rate count. Keeping it on this document would make
 * the strategy document a per-order write hotspot (see `order-rate.ts`).
 */

/** How many realized events are kept; `maxConsecutiveLosses` is capped to this in limits. */
export const RECENT_REALIZED_CAPACITY = 100;

export interface RealizedEventStat {
  /** The broker order whose closing fills make up this event (one event per closing order). */
  orderId: string;
  /** Realized P&L of the event so far, in micro-units. Negative = loss, 0 = break-even. */
  pnlMicros: number;
  /** Time of the latest closing fill of the order, ms since the epoch. */
  timeMs: number;
}

export interface DailyRealized {
  /** Trading-day key (`tradingDayKey`) the sum belongs to. */
  dayKey: string;
  realizedMicros: number;
}

export interface StrategyStats {
  /** The most recent realized events, oldest first, newest last; at most RECENT_REALIZED_CAPACITY. */
  recentRealized: RealizedEventStat[];
  /** Realized P&L of the latest trading day that had any; null before the first close. */
  daily: DailyRealized | null;
  /** Broker outcomes that were `unknown` or 5xx, in a row, since the last healthy answer. */
  consecutiveBrokerErrors: number;
}

const safeInt = z.number().int();

export const strategyStatsSchema = z.strictObject({
  recentRealized: z
    .array(z.strictObject({ orderId: z.string().min(1), pnlMicros: safeInt, timeMs: safeInt.min(0) }))
    .max(RECENT_REALIZED_CAPACITY),
  daily: z.strictObject({ dayKey: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), realizedMicros: safeInt }).nullable(),
  consecutiveBrokerErrors: safeInt.min(0),
});

export function emptyStrategyStats(): StrategyStats {
  return { recentRealized: [], daily: null, consecutiveBrokerErrors: 0 };
}

export interface StatsIssue {
  path: string;
  message: string;
}

/**
 * Parses stored stats. A malformed value is a failure, never "start from zero": zeroed stats
 * would silently un-trip the loss breakers, so the caller must fail closed (G6).
 */
export function parseStrategyStats(value: unknown): { ok: true; stats: StrategyStats } | { ok: false; issues: StatsIssue[] } {
  const parsed = strategyStatsSchema.safeParse(value);
  if (parsed.success) return { ok: true, stats: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => ({
      path: issue.path.length === 0 ? '(stats)' : issue.path.map(String).join('.'),
      message: issue.message,
    })),
  };
}

/** One realized piece (one closing fill) already rounded to micro-units. */
export interface RealizedStatPiece {
  orderId: string;
  pnlMicros: number;
  timeMs: number;
}

/**
 * Folds one closing fill into the stats.
 *
 * Partial fills of one closing order are merged into that order's single event (the issue:
 * one closing order filled in several partials is one realized event for the loss streak);
 * the event keeps the position of its first piece, matching `realizedEventsFromPieces`.
 *
 * The daily sum follows the piece's own trading day: a later day starts a new sum; a piece
 * from an earlier day than the stored one (a late fill) does not touch today's sum.
 * Throws RangeError for an unknown time zone (validated with the limits beforehand).
 */
export function recordRealizedPiece(stats: StrategyStats, piece: RealizedStatPiece, timeZone: string): StrategyStats {
  const recent = stats.recentRealized.map((e) => ({ ...e }));
  const existing = recent.find((e) => e.orderId === piece.orderId);
  if (existing !== undefined) {
    existing.pnlMicros += piece.pnlMicros;
    existing.timeMs = Math.max(existing.timeMs, piece.timeMs);
  } else {
    recent.push({ orderId: piece.orderId, pnlMicros: piece.pnlMicros, timeMs: piece.timeMs });
  }
  const trimmed = recent.length > RECENT_REALIZED_CAPACITY ? recent.slice(recent.length - RECENT_REALIZED_CAPACITY) : recent;

  const dayKey = tradingDayKey(piece.timeMs, timeZone);
  let daily = stats.daily === null ? null : { ...stats.daily };
  if (daily === null || dayKey > daily.dayKey) daily = { dayKey, realizedMicros: piece.pnlMicros };
  else if (dayKey === daily.dayKey) daily.realizedMicros += piece.pnlMicros;

  return { recentRealized: trimmed, daily, consecutiveBrokerErrors: stats.consecutiveBrokerErrors };
}

export const BrokerOutcomeEffect = {
  /** `unknown` or any 5xx: counts toward the broker-errors breaker. */
  error: 'error',
  /** A definitive answer from a working broker (accepted, rejected 4xx, duplicate): ends a streak. */
  healthy: 'healthy',
  /** Neither (429 rate limit: the broker works but refused to look): leaves the streak as it is. */
  neutral: 'neutral',
} as const;
export type BrokerOutcomeEffect = (typeof BrokerOutcomeEffect)[keyof typeof BrokerOutcomeEffect];

/** Structural, so this pure module does not depend on the broker module's types. */
export interface BrokerOutcomeLike {
  kind: string;
  httpStatus?: number | undefined;
}

export function classifyBrokerOutcome(outcome: BrokerOutcomeLike): BrokerOutcomeEffect {
  if (outcome.kind === 'unknown') return BrokerOutcomeEffect.error;
  if (outcome.httpStatus !== undefined && outcome.httpStatus >= 500) return BrokerOutcomeEffect.error;
  if (outcome.kind === 'not_placed') return BrokerOutcomeEffect.neutral;
  return BrokerOutcomeEffect.healthy;
}

/**
 * Updates the broker-error streak. `changed` lets the store skip the write when nothing moved
 * (the common case: a healthy answer while the streak is already 0), so a healthy strategy
 * does not write its strategy document once per order.
 */
export function recordBrokerOutcome(stats: StrategyStats, outcome: BrokerOutcomeLike): { stats: StrategyStats; changed: boolean } {
  const effect = classifyBrokerOutcome(outcome);
  const next =
    effect === BrokerOutcomeEffect.error
      ? stats.consecutiveBrokerErrors + 1
      : effect === BrokerOutcomeEffect.healthy
        ? 0
        : stats.consecutiveBrokerErrors;
  if (next === stats.consecutiveBrokerErrors) return { stats, changed: false };
  return { stats: { ...stats, consecutiveBrokerErrors: next }, changed: true };
}
