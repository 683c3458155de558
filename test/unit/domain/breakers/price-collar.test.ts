import { describe, expect, it } from 'vitest';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { priceCollarBreaker } from '../../../../functions/src/domain/breakers/price-collar.js';
import { limitsWith, makeInput, makeIntent, makeLimitIntent, marketDataFromCloses } from './fixtures.js';

const md = marketDataFromCloses([90, 100]);
const at = (limitPrice: number) => makeInput({ intent: makeLimitIntent(limitPrice, { marketData: md }) });

describe('priceCollarBreaker', () => {
  const limits = limitsWith({ priceCollarPct: 1 });

  it('is off by default and with 0', () => {
    expect(priceCollarBreaker(at(1_000), DISABLED_LIMITS)).toEqual({ tripped: false });
    expect(priceCollarBreaker(makeInput({ intent: makeLimitIntent(1_000) }), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('passes within and exactly on ±X % of the last close', () => {
    for (const p of [100, 100.5, 99.5, 101, 99]) expect(priceCollarBreaker(at(p), limits).tripped).toBe(false);
  });

  it('trips just outside, above and below', () => {
    expect(priceCollarBreaker(at(101.01), limits)).toMatchObject({
      tripped: true,
      breaker: 'priceCollar',
      threshold: 1,
      detail: expect.stringContaining('above the last close 100'),
    });
    expect(priceCollarBreaker(at(98.99), limits)).toMatchObject({ tripped: true, detail: expect.stringContaining('below') });
    const far = priceCollarBreaker(at(110), limits);
    expect(far.tripped && far.value).toBeCloseTo(10, 10);
  });

  it('uses the latest bar by time', () => {
    const reversed = { ...md, bars: [...md.bars].reverse() };
    expect(priceCollarBreaker(makeInput({ intent: makeLimitIntent(90, { marketData: reversed }) }), limits).tripped).toBe(true);
    expect(priceCollarBreaker(makeInput({ intent: makeLimitIntent(100, { marketData: reversed }) }), limits).tripped).toBe(false);
  });

  it('does not apply to market orders', () => {
    expect(priceCollarBreaker(makeInput({ intent: makeIntent() }), limits)).toEqual({ tripped: false });
  });

  it('fails closed for a limit order without a usable last close', () => {
    expect(priceCollarBreaker(makeInput({ intent: makeLimitIntent(100) }), limits)).toMatchObject({ tripped: true, value: null, threshold: 1 });
    const bad = makeLimitIntent(100, { marketData: marketDataFromCloses([100, -5]) });
    expect(priceCollarBreaker(makeInput({ intent: bad }), limits)).toMatchObject({
      tripped: true,
      value: null,
      detail: expect.stringContaining('not a positive price'),
    });
  });
});
