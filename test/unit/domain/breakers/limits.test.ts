import { describe, expect, it } from 'vitest';
import {
  BREAKER_NAMES,
  BreakerName,
  DISABLED_LIMITS,
  MAX_MARKET_BARS,
  breakerLimitsSchema,
  isBreakerName,
  resolveLimits,
  strategyLimitsSchema,
} from '../../../../functions/src/domain/breakers/limits.js';
import type { BreakerLimits } from '../../../../functions/src/domain/breakers/limits.js';
import { RECENT_REALIZED_CAPACITY } from '../../../../functions/src/domain/breakers/stats.js';
import { marketDataSchema } from '../../../../functions/src/domain/intent.js';
import { barsFromCloses } from './fixtures.js';

function resolvedOrThrow(defaults: BreakerLimits, override: unknown): BreakerLimits {
  const r = resolveLimits(defaults, override);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.limits;
}

function issuePaths(defaults: BreakerLimits, override: unknown): string[] {
  const r = resolveLimits(defaults, override);
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.issues.map((i) => i.path);
}

describe('breaker names', () => {
  it("are exactly the eight of the breakers issue, the operator's manual halt and the three exposure limits, each once", () => {
    expect([...BREAKER_NAMES].sort()).toEqual(
      ['brokerErrors', 'consecutiveLosses', 'dailyLoss', 'grossExposure', 'manual', 'missingData', 'notional', 'orderRate', 'position', 'positionNotional', 'priceCollar', 'volatility'],
    );
    expect(new Set(BREAKER_NAMES).size).toBe(12);
    expect(Object.values(BreakerName).sort()).toEqual([...BREAKER_NAMES].sort());
    expect(isBreakerName('notional')).toBe(true);
    expect(isBreakerName('Notional')).toBe(false);
    expect(isBreakerName(undefined)).toBe(false);
  });
});

describe('DISABLED_LIMITS', () => {
  it('turns everything off and keeps the volatility windows at 5 and 30', () => {
    expect(DISABLED_LIMITS).toEqual({
      requireMarketData: false,
      maxDataAgeMs: 0,
      volRatioThreshold: 0,
      volRecentN: 5,
      volBaselineN: 30,
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
      tradingTimeZone: 'America/New_York',
    });
    expect(breakerLimitsSchema.safeParse(DISABLED_LIMITS).success).toBe(true);
    expect(Object.isFrozen(DISABLED_LIMITS)).toBe(true);
  });
});

describe('resolveLimits', () => {
  it('returns the defaults when there is no override', () => {
    expect(resolvedOrThrow(DISABLED_LIMITS, undefined)).toEqual(DISABLED_LIMITS);
    expect(resolvedOrThrow(DISABLED_LIMITS, {})).toEqual(DISABLED_LIMITS);
  });

  it('overrides each field of the same meaning, leaving the others', () => {
    const defaults: BreakerLimits = { ...DISABLED_LIMITS, maxNotional: 10_000, maxDailyLoss: 500 };
    const limits = resolvedOrThrow(defaults, { maxNotional: 2_500, requireMarketData: true, volRecentN: 10 });
    expect(limits).toEqual({ ...defaults, maxNotional: 2_500, requireMarketData: true, volRecentN: 10 });
  });

  it('accepts every documented field', () => {
    const all = {
      requireMarketData: true,
      maxDataAgeMs: 5_000,
      volRatioThreshold: 3,
      volRecentN: 5,
      volBaselineN: 30,
      maxConsecutiveLosses: 4,
      maxDailyLoss: 1_000.5,
      maxOrdersPerMin: 20,
      maxNotional: 50_000,
      priceCollarPct: 2.5,
      maxBrokerErrors: 3,
      maxPositionQty: 100,
      maxPositionNotional: 25_000.5,
      maxGrossExposure: 100_000,
      maxRunnerSilenceMs: 30_000,
    };
    expect(strategyLimitsSchema.safeParse(all).success).toBe(true);
    expect(resolvedOrThrow(DISABLED_LIMITS, all)).toEqual({ ...all, tradingTimeZone: 'America/New_York' });
  });

  it('lets an override switch a default off with 0', () => {
    const defaults: BreakerLimits = { ...DISABLED_LIMITS, maxNotional: 10_000 };
    expect(resolvedOrThrow(defaults, { maxNotional: 0 }).maxNotional).toBe(0);
  });

  it('refuses unknown keys, including the time zone (a param only)', () => {
    expect(issuePaths(DISABLED_LIMITS, { maxNotonal: 5 })).toEqual(['limits']);
    expect(issuePaths(DISABLED_LIMITS, { tradingTimeZone: 'UTC' })).toEqual(['limits']);
  });

  it('refuses a non-object and null', () => {
    expect(issuePaths(DISABLED_LIMITS, null)).toEqual(['limits']);
    expect(issuePaths(DISABLED_LIMITS, 'strict')).toEqual(['limits']);
    expect(issuePaths(DISABLED_LIMITS, [])).toEqual(['limits']);
  });

  it('refuses null fields, negatives, non-finite and wrong types', () => {
    expect(issuePaths(DISABLED_LIMITS, { maxNotional: null })).toEqual(['limits.maxNotional']);
    expect(issuePaths(DISABLED_LIMITS, { maxDailyLoss: -1 })).toEqual(['limits.maxDailyLoss']);
    expect(issuePaths(DISABLED_LIMITS, { priceCollarPct: Infinity })).toEqual(['limits.priceCollarPct']);
    expect(issuePaths(DISABLED_LIMITS, { volRatioThreshold: Number.NaN })).toEqual(['limits.volRatioThreshold']);
    expect(issuePaths(DISABLED_LIMITS, { maxNotional: '100' })).toEqual(['limits.maxNotional']);
    expect(issuePaths(DISABLED_LIMITS, { requireMarketData: 'yes' })).toEqual(['limits.requireMarketData']);
    expect(issuePaths(DISABLED_LIMITS, { maxDataAgeMs: -5 })).toEqual(['limits.maxDataAgeMs']);
  });

  it('requires integer counts', () => {
    expect(issuePaths(DISABLED_LIMITS, { maxOrdersPerMin: 2.5 })).toEqual(['limits.maxOrdersPerMin']);
    expect(issuePaths(DISABLED_LIMITS, { maxConsecutiveLosses: 1.5 })).toEqual(['limits.maxConsecutiveLosses']);
    expect(issuePaths(DISABLED_LIMITS, { maxBrokerErrors: 0.1 })).toEqual(['limits.maxBrokerErrors']);
  });

  it('caps maxConsecutiveLosses at the number of realized events kept', () => {
    expect(resolvedOrThrow(DISABLED_LIMITS, { maxConsecutiveLosses: RECENT_REALIZED_CAPACITY }).maxConsecutiveLosses).toBe(
      RECENT_REALIZED_CAPACITY,
    );
    expect(issuePaths(DISABLED_LIMITS, { maxConsecutiveLosses: RECENT_REALIZED_CAPACITY + 1 })).toEqual(['limits.maxConsecutiveLosses']);
  });

  it('requires volatility windows to be integers ≥ 2 (0 does not disable them)', () => {
    expect(resolvedOrThrow(DISABLED_LIMITS, { volRecentN: 2, volBaselineN: 2 })).toMatchObject({ volRecentN: 2, volBaselineN: 2 });
    expect(issuePaths(DISABLED_LIMITS, { volRecentN: 1 })).toEqual(['limits.volRecentN']);
    expect(issuePaths(DISABLED_LIMITS, { volRecentN: 0 })).toEqual(['limits.volRecentN']);
    expect(issuePaths(DISABLED_LIMITS, { volBaselineN: 0 })).toEqual(['limits.volBaselineN']);
    expect(issuePaths(DISABLED_LIMITS, { volBaselineN: 10.5 })).toEqual(['limits.volBaselineN']);
  });

  it('requires both windows to fit in the bars an intent may carry, after merging', () => {
    expect(resolvedOrThrow(DISABLED_LIMITS, { volRecentN: 5, volBaselineN: MAX_MARKET_BARS - 6 }).volBaselineN).toBe(MAX_MARKET_BARS - 6);
    expect(issuePaths(DISABLED_LIMITS, { volBaselineN: MAX_MARKET_BARS - 5 })).toEqual(['limits.volBaselineN']);
    // The recent window alone is fine, but not with the default baseline.
    expect(issuePaths(DISABLED_LIMITS, { volRecentN: MAX_MARKET_BARS - 30 })).toEqual(['limits.volBaselineN']);
  });

  it('reports every problem, not just the first', () => {
    expect(issuePaths(DISABLED_LIMITS, { maxNotional: -1, maxOrdersPerMin: 1.5, extra: true }).sort()).toEqual(
      ['limits', 'limits.maxNotional', 'limits.maxOrdersPerMin'].sort(),
    );
  });

  it('fails on invalid defaults instead of running with them', () => {
    expect(issuePaths({ ...DISABLED_LIMITS, tradingTimeZone: 'Nowhere/Special' }, undefined)).toEqual(['defaults.tradingTimeZone']);
    expect(issuePaths({ ...DISABLED_LIMITS, maxNotional: -1 }, {})).toEqual(['defaults.maxNotional']);
  });

  it('keeps MAX_MARKET_BARS equal to the intent schema cap', () => {
    const closes = (n: number) => Array.from({ length: n }, (_, i) => 100 + i);
    const md = (n: number) => ({ asOf: '2026-01-02T15:00:00Z', bars: barsFromCloses(closes(n)) });
    expect(marketDataSchema.safeParse(md(MAX_MARKET_BARS)).success).toBe(true);
    expect(marketDataSchema.safeParse(md(MAX_MARKET_BARS + 1)).success).toBe(false);
  });
});
