import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLAT, withPending, worstAbsPosition, type Side } from '../../../../functions/src/domain/exposure/exposure.js';
import { checkExposureLimits, limitUnits, type ExposureClaim, type ExposureLimits } from '../../../../functions/src/domain/exposure/position-limits.js';
import { parseDecimal } from '../../../../functions/src/domain/pnl/decimal.js';
import { exposureArb, shares, SHARE } from './fixtures.js';

const OFF: ExposureLimits = { maxPositionQty: 0, maxPositionNotional: 0, maxGrossExposure: 0 };
const price = (p: number) => BigInt(Math.round(p * 1e9));
const claim = (over: Partial<ExposureClaim> = {}): ExposureClaim => ({ symbol: 'AAPL', side: 'buy', qty: 1n * SHARE, exposure: FLAT, price: price(100), others: [], ...over });

describe('position and exposure limits', () => {
  it('all off by default (0): nothing trips, whatever the size and with no price', () => {
    expect(checkExposureLimits(claim({ qty: 10n ** 15n * SHARE, price: null }), OFF)).toEqual({ tripped: false });
  });

  it('position: counts this claim and the same side pending; exactly at the limit passes', () => {
    const limits = { ...OFF, maxPositionQty: 10 };
    expect(checkExposureLimits(claim({ exposure: shares(4n, 2n), qty: 4n * SHARE }), limits)).toEqual({ tripped: false });
    expect(checkExposureLimits(claim({ exposure: shares(4n, 2n), qty: 4n * SHARE + 1n }), limits)).toMatchObject({ tripped: true, limit: 'position', value: '10.000000001', threshold: 10 });
    // Short side: a sell grows |position| the other way.
    expect(checkExposureLimits(claim({ side: 'sell', exposure: shares(-8n, 0n, 2n), qty: 1n * SHARE }), limits)).toMatchObject({ tripped: true, limit: 'position', value: '11' });
    // A sell while long 8 shrinks it: no trip even though the limit is near.
    expect(checkExposureLimits(claim({ side: 'sell', exposure: shares(8n), qty: 3n * SHARE }), limits)).toEqual({ tripped: false });
  });

  it('two claims that each fit alone but not together: the second one trips (claims serialise)', () => {
    const limits = { ...OFF, maxPositionQty: 10 };
    const start = shares(9n);
    const first = claim({ exposure: start, qty: 1n * SHARE });
    expect(checkExposureLimits(first, limits)).toEqual({ tripped: false });
    const afterFirst = withPending(start, 'buy', 1n * SHARE);
    expect(checkExposureLimits(claim({ exposure: afterFirst, qty: 1n * SHARE }), limits)).toMatchObject({ tripped: true, limit: 'position' });
  });

  it('position notional: worst |position| × price, exact; without a price it refuses', () => {
    const limits = { ...OFF, maxPositionNotional: 1000.5 };
    expect(checkExposureLimits(claim({ qty: 10n * SHARE, price: price(100.05) }), limits)).toEqual({ tripped: false });
    expect(checkExposureLimits(claim({ qty: 10n * SHARE, price: price(100.05) + 1n }), limits)).toMatchObject({ tripped: true, limit: 'positionNotional', value: '1000.50000001' });
    expect(checkExposureLimits(claim({ price: null }), limits)).toMatchObject({ tripped: true, limit: 'positionNotional', value: null, detail: expect.stringContaining('no price') });
  });

  it('gross exposure: sums every symbol of the strategy; a symbol with a position and no price refuses; a flat one needs none', () => {
    const limits = { ...OFF, maxGrossExposure: 5000 };
    const others = [
      { symbol: 'MSFT', exposure: shares(-10n), price: price(200) },
      { symbol: 'SPY', exposure: FLAT, price: null },
    ];
    expect(checkExposureLimits(claim({ qty: 30n * SHARE, others }), limits)).toEqual({ tripped: false });
    expect(checkExposureLimits(claim({ qty: 30n * SHARE + 1n, others }), limits)).toMatchObject({ tripped: true, limit: 'grossExposure', value: '5000.0000001' });
    expect(checkExposureLimits(claim({ qty: 1n, others: [{ symbol: 'TSLA', exposure: shares(0n, 1n), price: null }] }), limits)).toMatchObject({
      tripped: true,
      limit: 'grossExposure',
      value: null,
      detail: expect.stringContaining('TSLA'),
    });
    // The claimed symbol listed among the others too counts once, as it will be after the claim.
    expect(checkExposureLimits(claim({ qty: 50n * SHARE, others: [{ symbol: 'AAPL', exposure: shares(1000n), price: price(100) }] }), limits)).toEqual({ tripped: false });
  });

  it('an order that passes never lets the worst |position| exceed the limit, and one that trips would (property)', () => {
    fc.assert(
      fc.property(exposureArb, fc.constantFrom<Side>('buy', 'sell'), fc.bigInt({ min: 1n, max: 1_000_000n * SHARE }), fc.integer({ min: 1, max: 2_000_000 }), (exposure, side, qty, max) => {
        const verdict = checkExposureLimits(claim({ exposure, side, qty }), { ...OFF, maxPositionQty: max });
        const worst = worstAbsPosition(withPending(exposure, side, qty));
        expect(verdict.tripped).toBe(worst > BigInt(max) * SHARE);
      }),
    );
  });

  it('limits convert from their shortest decimal text, never rounding up', () => {
    expect(limitUnits(0.1, 18)).toBe(10n ** 17n);
    expect(limitUnits(25000, 9)).toBe(25000n * SHARE);
    expect(limitUnits(1.0000000019, 9)).toBe(1_000_000_001n);
    expect(() => limitUnits(1e21, 9)).toThrow(RangeError);
    expect(() => limitUnits(-1, 9)).toThrow(RangeError);
    expect(() => limitUnits(Number.NaN, 9)).toThrow(RangeError);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e15, noNaN: true }), (limit) => {
        fc.pre(!/e/i.test(String(limit)));
        const u = limitUnits(limit, 9);
        expect(u).toBe(parseDecimal(String(limit).replace(/(\.\d{9})\d+$/, '$1'), 9));
        expect(Number(u) / 1e9 <= limit * (1 + 1e-15)).toBe(true);
      }),
    );
  });
});
