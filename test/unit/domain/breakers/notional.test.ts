import { describe, expect, it } from 'vitest';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { notionalBreaker } from '../../../../functions/src/domain/breakers/notional.js';
import { limitsWith, makeInput, makeIntent, makeLimitIntent, marketDataFromCloses } from './fixtures.js';

describe('notionalBreaker', () => {
  const limits = limitsWith({ maxNotional: 500 });

  it('is off by default and with 0', () => {
    expect(notionalBreaker(makeInput({ intent: makeLimitIntent(1e9, { qty: 1e6 }) }), DISABLED_LIMITS)).toEqual({ tripped: false });
    expect(notionalBreaker(makeInput(), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('values a limit order at its limit price; exactly at the max passes', () => {
    expect(notionalBreaker(makeInput({ intent: makeLimitIntent(50, { qty: 10 }) }), limits).tripped).toBe(false);
    expect(notionalBreaker(makeInput({ intent: makeLimitIntent(50.01, { qty: 10 }) }), limits)).toEqual({
      tripped: true,
      breaker: 'notional',
      value: expect.closeTo(500.1, 9),
      threshold: 500,
      detail: expect.stringContaining('limit price'),
    });
  });

  it('values a market order at the last bar close (by time, not array position)', () => {
    const md = marketDataFromCloses([10, 20, 60]);
    const reversed = { ...md, bars: [...md.bars].reverse() };
    expect(notionalBreaker(makeInput({ intent: makeIntent({ qty: 10, marketData: reversed }) }), limits)).toMatchObject({
      tripped: true,
      value: 600,
      detail: expect.stringContaining('last bar close'),
    });
    expect(notionalBreaker(makeInput({ intent: makeIntent({ qty: 10, marketData: marketDataFromCloses([60, 50]) }) }), limits).tripped).toBe(false);
  });

  it('fails closed for a market order that cannot be valued', () => {
    expect(notionalBreaker(makeInput({ intent: makeIntent() }), limits)).toMatchObject({
      tripped: true,
      value: null,
      threshold: 500,
      detail: expect.stringContaining('no marketData'),
    });
    const empty = makeIntent({ marketData: { asOf: '2026-01-02T15:00:00Z', bars: [] } });
    expect(notionalBreaker(makeInput({ intent: empty }), limits)).toMatchObject({ tripped: true, value: null });
    const zero = makeIntent({ marketData: marketDataFromCloses([50, 0]) });
    expect(notionalBreaker(makeInput({ intent: zero }), limits)).toMatchObject({ tripped: true, value: null });
  });

  it('does not need market data for a limit order', () => {
    expect(notionalBreaker(makeInput({ intent: makeLimitIntent(1, { qty: 1 }) }), limits).tripped).toBe(false);
  });
});
