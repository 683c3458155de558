import type { BreakerInput } from '../../../../functions/src/domain/breakers/breaker.js';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import type { BreakerLimits } from '../../../../functions/src/domain/breakers/limits.js';
import { emptyStrategyStats } from '../../../../functions/src/domain/breakers/stats.js';
import type { Bar, MarketData, OrderIntent } from '../../../../functions/src/domain/intent.js';

/** Shared builders for the breaker tests (not a test file itself). */

export const NOW_MS = Date.parse('2026-01-02T15:00:00Z');
const MINUTE_MS = 60_000;

export function barsFromCloses(closes: readonly number[], lastAtMs: number = NOW_MS - MINUTE_MS): Bar[] {
  return closes.map((c, i) => ({
    t: new Date(lastAtMs - (closes.length - 1 - i) * MINUTE_MS).toISOString(),
    o: c,
    h: c,
    l: c,
    c,
    v: 100,
  }));
}

export function marketDataFromCloses(closes: readonly number[], asOfMs: number = NOW_MS - MINUTE_MS): MarketData {
  return { asOf: new Date(asOfMs).toISOString(), bars: barsFromCloses(closes, asOfMs) };
}

export function makeIntent(overrides: Partial<OrderIntent> = {}): OrderIntent {
  return {
    intentId: 'intent-1',
    strategyId: 'mom',
    symbol: 'AAPL',
    side: 'buy',
    qty: 10,
    type: 'market',
    timeInForce: 'day',
    createdAt: new Date(NOW_MS - 1000).toISOString(),
    ...overrides,
  };
}

export function makeLimitIntent(limitPrice: number, overrides: Partial<OrderIntent> = {}): OrderIntent {
  return makeIntent({ type: 'limit', limitPrice, ...overrides });
}

export function makeInput(overrides: Partial<BreakerInput> = {}): BreakerInput {
  return {
    intent: makeIntent(),
    nowMs: NOW_MS,
    stats: emptyStrategyStats(),
    claimsInLastMinute: 0,
    ...overrides,
  };
}

export function limitsWith(overrides: Partial<BreakerLimits>): BreakerLimits {
  return { ...DISABLED_LIMITS, ...overrides };
}

/** Closes whose log returns are exactly the given returns (up to float rounding), from 100. */
export function closesFromReturns(returns: readonly number[], start = 100): number[] {
  const closes = [start];
  for (const r of returns) closes.push((closes[closes.length - 1] as number) * Math.exp(r));
  return closes;
}

export function alternating(n: number, size: number): number[] {
  return Array.from({ length: n }, (_, i) => (i % 2 === 0 ? size : -size));
}
