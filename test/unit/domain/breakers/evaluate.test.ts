import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BreakerInput } from '../../../../functions/src/domain/breakers/breaker.js';
import { BREAKERS, evaluateBreakers } from '../../../../functions/src/domain/breakers/index.js';
import { BREAKER_NAMES, DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import type { BreakerLimits } from '../../../../functions/src/domain/breakers/limits.js';
import { FLAT } from '../../../../functions/src/domain/exposure/exposure.js';
import type { OrderIntent } from '../../../../functions/src/domain/intent.js';
import { NOW_MS, alternating, barsFromCloses, closesFromReturns, limitsWith, makeInput, makeIntent } from './fixtures.js';

// Trips every breaker at once: no market data, 5 losses, a big daily loss, 100 claims, 6 broker errors.
const everythingBad: BreakerInput = makeInput({
  intent: makeIntent({ type: 'limit', limitPrice: 1_000, qty: 1_000 }),
  stats: {
    recentRealized: [1, 2, 3, 4, 5].map((i) => ({ orderId: `o${i}`, pnlMicros: -1_000_000, timeMs: NOW_MS - i })),
    daily: { dayKey: '2026-01-02', realizedMicros: -10_000_000_000 },
    consecutiveBrokerErrors: 6,
  },
  claimsInLastMinute: 100,
  // Flat, and this buy of 1000 at 1000 is over every exposure limit below.
  exposure: { current: { ok: true, exposure: FLAT }, others: [] },
});
const allOn: BreakerLimits = limitsWith({
  requireMarketData: true,
  maxDataAgeMs: 10_000,
  volRatioThreshold: 3,
  maxConsecutiveLosses: 3,
  maxDailyLoss: 500,
  maxOrdersPerMin: 10,
  maxNotional: 10_000,
  priceCollarPct: 5,
  maxBrokerErrors: 3,
  maxPositionQty: 10,
  maxPositionNotional: 10_000,
  maxGrossExposure: 10_000,
});

describe('evaluateBreakers', () => {
  it('checks in the documented order and returns the first trip', () => {
    expect(BREAKER_NAMES).toEqual([
      'manual',
      'missingData',
      'volatility',
      'consecutiveLosses',
      'dailyLoss',
      'orderRate',
      'notional',
      'priceCollar',
      'brokerErrors',
      'position',
      'positionNotional',
      'grossExposure',
    ]);
    // Switch breakers off one by one, in order: the next one in line must be reported.
    const offSwitch: Record<string, Partial<BreakerLimits>> = {
      missingData: { requireMarketData: false },
      volatility: { volRatioThreshold: 0 },
      consecutiveLosses: { maxConsecutiveLosses: 0 },
      dailyLoss: { maxDailyLoss: 0 },
      orderRate: { maxOrdersPerMin: 0 },
      notional: { maxNotional: 0 },
      priceCollar: { priceCollarPct: 0 },
      brokerErrors: { maxBrokerErrors: 0 },
      position: { maxPositionQty: 0 },
      positionNotional: { maxPositionNotional: 0 },
      grossExposure: { maxGrossExposure: 0 },
    };
    // `manual` is an operator's halt: set and reset by hand, never tripped by an intent.
    expect(BREAKERS.manual(everythingBad, allOn)).toEqual({ tripped: false });
    let limits: BreakerLimits = allOn;
    for (const name of BREAKER_NAMES.filter((n) => n !== 'manual')) {
      expect(BREAKERS[name](everythingBad, limits).tripped, name).toBe(true);
      const verdict = evaluateBreakers(everythingBad, limits);
      expect(verdict.tripped && verdict.breaker).toBe(name);
      limits = { ...limits, ...offSwitch[name] };
    }
    expect(evaluateBreakers(everythingBad, limits)).toEqual({ tripped: false });
  });

  it('passes a healthy intent with every breaker on', () => {
    const closes = closesFromReturns(alternating(35, 0.001));
    const intent = makeIntent({
      type: 'limit',
      limitPrice: 100,
      qty: 5,
      marketData: { asOf: new Date(NOW_MS - 1_000).toISOString(), bars: barsFromCloses(closes, NOW_MS - 1_000) },
    });
    // Long 2 with nothing pending: buying 5 at 100 stays within every exposure limit.
    const exposure = { current: { ok: true as const, exposure: { position: 2_000_000_000n, pendingBuy: 0n, pendingSell: 0n } }, others: [] };
    expect(evaluateBreakers(makeInput({ intent, claimsInLastMinute: 3, exposure }), allOn)).toEqual({ tripped: false });
  });

  const intentArb: fc.Arbitrary<OrderIntent> = fc
    .record({
      type: fc.constantFrom('market' as const, 'limit' as const),
      qty: fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
      limitPrice: fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      closes: fc.option(fc.array(fc.double({ noNaN: false }), { maxLength: 50 }), { nil: undefined }),
      asOfOffset: fc.integer({ min: -1e10, max: 1e10 }),
    })
    .map(({ type, qty, limitPrice, side, closes, asOfOffset }) =>
      makeIntent({
        type,
        qty,
        side,
        ...(type === 'limit' ? { limitPrice } : {}),
        ...(closes === undefined ? {} : { marketData: { asOf: new Date(NOW_MS + asOfOffset).toISOString(), bars: barsFromCloses(closes) } }),
      }),
    );
  const inputArb: fc.Arbitrary<BreakerInput> = fc.record({
    intent: intentArb,
    nowMs: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    stats: fc.record({
      recentRealized: fc.array(
        fc.record({ orderId: fc.string({ minLength: 1 }), pnlMicros: fc.integer({ min: -1e12, max: 1e12 }), timeMs: fc.nat() }),
        { maxLength: 100 },
      ),
      daily: fc.option(fc.record({ dayKey: fc.constantFrom('2026-01-02', '1970-01-01'), realizedMicros: fc.integer({ min: -1e15, max: 1e15 }) }), { nil: null }),
      consecutiveBrokerErrors: fc.nat(),
    }),
    claimsInLastMinute: fc.nat(),
  });

  it('never trips with the default (disabled) limits, whatever the input', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        expect(evaluateBreakers(input, DISABLED_LIMITS)).toEqual({ tripped: false });
        for (const name of BREAKER_NAMES) expect(BREAKERS[name](input, DISABLED_LIMITS)).toEqual({ tripped: false });
      }),
    );
  });

  it('is the first trip among the individual breakers, and every trip is serialisable', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const expected = BREAKER_NAMES.map((n) => BREAKERS[n](input, allOn)).find((v) => v.tripped) ?? { tripped: false };
        const verdict = evaluateBreakers(input, allOn);
        expect(verdict).toEqual(expected);
        if (verdict.tripped) {
          expect(verdict.value === null || Number.isFinite(verdict.value)).toBe(true);
          expect(JSON.parse(JSON.stringify(verdict))).toEqual(verdict);
        }
      }),
    );
  });
});
