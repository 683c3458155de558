import { z } from 'zod';
import { RECENT_REALIZED_CAPACITY } from './stats.js';
import { DEFAULT_TRADING_TIME_ZONE, isValidTimeZone } from './trading-day.js';

/**
 * Breaker thresholds. Every one is operator-configured and off by default: haltgate bakes in
 * no market assumption. Defaults come from params at deploy time (config.ts); a strategy may
 * override any of them at runtime in `strategies/{strategyId}.limits`.
 *
 * Conventions:
 * - every numeric threshold is finite and ≥ 0, and 0 disables its breaker;
 * - the volatility window lengths are not thresholds but shapes, so they cannot be 0: they
 *   are integers ≥ 2 (a sample standard deviation needs two returns), and together they must
 *   fit in the bars an intent may carry (at most MAX_MARKET_BARS);
 * - counts (losses, orders per minute, broker errors) are integers;
 * - `requireMarketData` switches the missing-data breaker on; `maxDataAgeMs` only refines it.
 */

export const BreakerName = {
  /** An operator's per-strategy halt (API, CLI, dashboard): never evaluated, only set and reset. */
  manual: 'manual',
  missingData: 'missingData',
  volatility: 'volatility',
  consecutiveLosses: 'consecutiveLosses',
  dailyLoss: 'dailyLoss',
  orderRate: 'orderRate',
  notional: 'notional',
  priceCollar: 'priceCollar',
  brokerErrors: 'brokerErrors',
  position: 'position',
  positionNotional: 'positionNotional',
  grossExposure: 'grossExposure',
} as const;
export type BreakerName = (typeof BreakerName)[keyof typeof BreakerName];

/**
 * Every breaker name, in the order `evaluateBreakers` checks them and `latchedBreaker` reports
 * them. `manual` comes first: when an operator halted a strategy, that is what it reports.
 */
export const BREAKER_NAMES: readonly BreakerName[] = [
  BreakerName.manual,
  BreakerName.missingData,
  BreakerName.volatility,
  BreakerName.consecutiveLosses,
  BreakerName.dailyLoss,
  BreakerName.orderRate,
  BreakerName.notional,
  BreakerName.priceCollar,
  BreakerName.brokerErrors,
  BreakerName.position,
  BreakerName.positionNotional,
  BreakerName.grossExposure,
];

export function isBreakerName(value: unknown): value is BreakerName {
  return typeof value === 'string' && (BREAKER_NAMES as readonly string[]).includes(value);
}

/** `marketData.bars` is capped at 1000 in the intent schema (intent.ts); kept equal by a test. */
export const MAX_MARKET_BARS = 1000;

export const DEFAULT_VOL_RECENT_N = 5;
export const DEFAULT_VOL_BASELINE_N = 30;

const threshold = z.number().min(0, 'must be ≥ 0 (0 disables)');
const countThreshold = z.number().int('must be an integer').min(0, 'must be ≥ 0 (0 disables)');
const windowLength = z.number().int('must be an integer').min(2, 'must be an integer ≥ 2 (a standard deviation needs two returns)');

const fieldSchemas = {
  requireMarketData: z.boolean(),
  maxDataAgeMs: threshold,
  volRatioThreshold: threshold,
  volRecentN: windowLength,
  volBaselineN: windowLength,
  maxConsecutiveLosses: countThreshold.max(
    RECENT_REALIZED_CAPACITY,
    `must be at most ${RECENT_REALIZED_CAPACITY}: only that many realized events are kept`,
  ),
  maxDailyLoss: threshold,
  maxOrdersPerMin: countThreshold,
  maxNotional: threshold,
  priceCollarPct: threshold,
  maxBrokerErrors: countThreshold,
  /** Exposure limits (exposure-limits.ts): |position| per symbol in shares, that × price, Σ over symbols × price. */
  maxPositionQty: threshold,
  maxPositionNotional: threshold,
  maxGrossExposure: threshold,
  /**
   * Dead-man switch: once the strategy's runner heartbeat (`runners/{strategyId}`) is older
   * than this, its intents are refused `runner_stale` and its open orders cancelled once
   * (reconcile/runner-watch.ts). 0 disables.
   */
  maxRunnerSilenceMs: countThreshold,
};

/**
 * The `strategies/{strategyId}.limits` override: exactly these optional fields. Strict, so a
 * misspelt key (`maxNotonal`) is an error instead of a silently ignored safety limit; `null`
 * is an error too (delete the field to fall back to the param).
 */
export const strategyLimitsSchema = z.strictObject({
  requireMarketData: fieldSchemas.requireMarketData.optional(),
  maxDataAgeMs: fieldSchemas.maxDataAgeMs.optional(),
  volRatioThreshold: fieldSchemas.volRatioThreshold.optional(),
  volRecentN: fieldSchemas.volRecentN.optional(),
  volBaselineN: fieldSchemas.volBaselineN.optional(),
  maxConsecutiveLosses: fieldSchemas.maxConsecutiveLosses.optional(),
  maxDailyLoss: fieldSchemas.maxDailyLoss.optional(),
  maxOrdersPerMin: fieldSchemas.maxOrdersPerMin.optional(),
  maxNotional: fieldSchemas.maxNotional.optional(),
  priceCollarPct: fieldSchemas.priceCollarPct.optional(),
  maxBrokerErrors: fieldSchemas.maxBrokerErrors.optional(),
  maxPositionQty: fieldSchemas.maxPositionQty.optional(),
  maxPositionNotional: fieldSchemas.maxPositionNotional.optional(),
  maxGrossExposure: fieldSchemas.maxGrossExposure.optional(),
  maxRunnerSilenceMs: fieldSchemas.maxRunnerSilenceMs.optional(),
});
export type StrategyLimits = z.infer<typeof strategyLimitsSchema>;

/**
 * The fully resolved limits. `tradingTimeZone` is a deploy-time param only (not overridable
 * per strategy): realized P&L days must mean the same thing for every strategy.
 */
export const breakerLimitsSchema = z
  .strictObject({
    ...fieldSchemas,
    // Per strategy only (no deploy-time param): absent is off, like 0.
    maxRunnerSilenceMs: fieldSchemas.maxRunnerSilenceMs.optional(),
    tradingTimeZone: z.string().refine(isValidTimeZone, 'must be an IANA time zone such as America/New_York'),
  })
  .superRefine((limits, ctx) => {
    // n recent + n baseline returns need one more close than returns.
    if (limits.volRecentN + limits.volBaselineN + 1 > MAX_MARKET_BARS) {
      ctx.addIssue({
        code: 'custom',
        path: ['volBaselineN'],
        message: `volRecentN + volBaselineN + 1 must be at most ${MAX_MARKET_BARS} (the bars an intent may carry)`,
      });
    }
  });
export type BreakerLimits = Readonly<z.infer<typeof breakerLimitsSchema>>;

/** Everything off. The window lengths keep the issue's defaults so enabling the ratio alone works. */
export const DISABLED_LIMITS: BreakerLimits = Object.freeze({
  requireMarketData: false,
  maxDataAgeMs: 0,
  volRatioThreshold: 0,
  volRecentN: DEFAULT_VOL_RECENT_N,
  volBaselineN: DEFAULT_VOL_BASELINE_N,
  maxConsecutiveLosses: 0,
  maxDailyLoss: 0,
  maxOrdersPerMin: 0,
  maxNotional: 0,
  priceCollarPct: 0,
  maxBrokerErrors: 0,
  maxPositionQty: 0,
  maxPositionNotional: 0,
  maxGrossExposure: 0,
  maxRunnerSilenceMs: 0,
  tradingTimeZone: DEFAULT_TRADING_TIME_ZONE,
});

export interface LimitsIssue {
  path: string;
  message: string;
}

export type ResolveLimitsResult = { ok: true; limits: BreakerLimits } | { ok: false; issues: LimitsIssue[] };

function issuesOf(error: z.ZodError, prefix: string): LimitsIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.length === 0 ? prefix : `${prefix}.${issue.path.map(String).join('.')}`,
    message: issue.message,
  }));
}

/**
 * Defaults overlaid with a strategy's `limits` (`undefined` = the field is absent: defaults).
 * An invalid override is a failure the caller turns into `config_invalid` for that strategy's
 * intents — never "ignore the override", which would run with looser limits than the operator
 * set. Invalid defaults fail too (path `defaults.*`), though config.ts should catch them first.
 */
export function resolveLimits(defaults: BreakerLimits, override: unknown): ResolveLimitsResult {
  const base = breakerLimitsSchema.safeParse(defaults);
  if (!base.success) return { ok: false, issues: issuesOf(base.error, 'defaults') };
  if (override === undefined) return { ok: true, limits: Object.freeze(base.data) };

  const parsed = strategyLimitsSchema.safeParse(override);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error, 'limits') };

  const merged: Record<string, unknown> = { ...base.data };
  for (const [key, value] of Object.entries(parsed.data)) {
    if (value !== undefined) merged[key] = value;
  }
  // Cross-field rules (window lengths vs bars) only make sense on the merged result.
  const resolved = breakerLimitsSchema.safeParse(merged);
  if (!resolved.success) return { ok: false, issues: issuesOf(resolved.error, 'limits') };
  return { ok: true, limits: Object.freeze(resolved.data) };
}
