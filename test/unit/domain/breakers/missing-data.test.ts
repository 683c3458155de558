import { describe, expect, it } from 'vitest';
import { missingDataBreaker } from '../../../../functions/src/domain/breakers/missing-data.js';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { NOW_MS, limitsWith, makeInput, makeIntent, marketDataFromCloses } from './fixtures.js';

const on = limitsWith({ requireMarketData: true });

describe('missingDataBreaker', () => {
  it('is off by default, even with no data at all', () => {
    expect(missingDataBreaker(makeInput(), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('is off without requireMarketData even when maxDataAgeMs is set', () => {
    const stale = makeIntent({ marketData: marketDataFromCloses([100], NOW_MS - 3_600_000) });
    expect(missingDataBreaker(makeInput({ intent: stale }), limitsWith({ maxDataAgeMs: 1_000 })).tripped).toBe(false);
    expect(missingDataBreaker(makeInput(), limitsWith({ maxDataAgeMs: 1_000 })).tripped).toBe(false);
  });

  it('trips when marketData is absent', () => {
    expect(missingDataBreaker(makeInput(), on)).toEqual({
      tripped: true,
      breaker: 'missingData',
      value: null,
      threshold: 1,
      detail: expect.stringContaining('no marketData'),
    });
  });

  it('trips when bars are empty', () => {
    const intent = makeIntent({ marketData: { asOf: new Date(NOW_MS).toISOString(), bars: [] } });
    expect(missingDataBreaker(makeInput({ intent }), on)).toMatchObject({ tripped: true, breaker: 'missingData', value: 0, threshold: 1 });
  });

  it('passes with one bar and no age limit, however old', () => {
    const intent = makeIntent({ marketData: marketDataFromCloses([100], NOW_MS - 86_400_000) });
    expect(missingDataBreaker(makeInput({ intent }), on).tripped).toBe(false);
  });

  it('trips when asOf is older than maxDataAgeMs, not when exactly that old', () => {
    const limits = limitsWith({ requireMarketData: true, maxDataAgeMs: 5_000 });
    const aged = (ageMs: number) => makeInput({ intent: makeIntent({ marketData: marketDataFromCloses([100], NOW_MS - ageMs) }) });
    expect(missingDataBreaker(aged(5_000), limits).tripped).toBe(false);
    expect(missingDataBreaker(aged(4_999), limits).tripped).toBe(false);
    expect(missingDataBreaker(aged(5_001), limits)).toEqual({
      tripped: true,
      breaker: 'missingData',
      value: 5_001,
      threshold: 5_000,
      detail: expect.stringContaining('5001 ms old'),
    });
  });

  it('does not call data from the future stale', () => {
    const intent = makeIntent({ marketData: marketDataFromCloses([100], NOW_MS + 2_000) });
    expect(missingDataBreaker(makeInput({ intent }), limitsWith({ requireMarketData: true, maxDataAgeMs: 1 })).tripped).toBe(false);
  });

  it('trips on an unreadable asOf when an age limit is set', () => {
    const intent = makeIntent({ marketData: { ...marketDataFromCloses([100]), asOf: 'yesterday' } });
    expect(missingDataBreaker(makeInput({ intent }), limitsWith({ requireMarketData: true, maxDataAgeMs: 1_000 }))).toMatchObject({
      tripped: true,
      value: null,
      threshold: 1_000,
    });
  });
});
