import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { logReturns, sampleStdDev, volatilityBreaker, volatilityRatio } from '../../../../functions/src/domain/breakers/volatility.js';
import { alternating, barsFromCloses, closesFromReturns, limitsWith, makeInput, makeIntent, marketDataFromCloses } from './fixtures.js';

const limits3 = limitsWith({ volRatioThreshold: 3 });
const withCloses = (closes: number[]) => makeInput({ intent: makeIntent({ marketData: marketDataFromCloses(closes) }) });

// 30 calm returns (±0.1 %) followed by 5 wild ones (±5 %): 36 closes.
const calmThenWild = closesFromReturns([...alternating(30, 0.001), ...alternating(5, 0.05)]);
const calm = closesFromReturns(alternating(35, 0.001));

describe('sampleStdDev and logReturns', () => {
  it('uses n − 1', () => {
    expect(sampleStdDev([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(sampleStdDev([0.001, -0.001])).toBeCloseTo(Math.sqrt(2e-6), 15);
  });
  it('is exactly 0 for identical values and needs two values', () => {
    expect(sampleStdDev([0.1, 0.1, 0.1])).toBe(0);
    expect(() => sampleStdDev([1])).toThrow(RangeError);
  });
  it('takes ln(cᵢ/cᵢ₋₁)', () => {
    const r = logReturns([100, 110, 99]);
    expect(r).toHaveLength(2);
    expect(r[0]).toBeCloseTo(Math.log(1.1), 14);
    expect(r[1]).toBeCloseTo(Math.log(0.9), 14);
  });
});

describe('volatilityBreaker', () => {
  it('is off by default, even without any data', () => {
    expect(volatilityBreaker(makeInput(), DISABLED_LIMITS)).toEqual({ tripped: false });
    expect(volatilityBreaker(withCloses(calmThenWild), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('trips at threshold 3 on 30 calm returns then 5 wild ones (disjoint windows)', () => {
    const verdict = volatilityBreaker(withCloses(calmThenWild), limits3);
    expect(verdict).toMatchObject({ tripped: true, breaker: 'volatility', threshold: 3 });
    if (!verdict.tripped || verdict.value === null) throw new Error('expected a measured trip');
    expect(verdict.value).toBeGreaterThan(50);
    expect(verdict.value).toBeLessThan(60);
  });

  it('would never trip at 3 if the baseline contained the recent window (why the windows are disjoint)', () => {
    const returns = logReturns(calmThenWild);
    const overlapping = sampleStdDev(returns.slice(-5)) / sampleStdDev(returns.slice(-30));
    expect(overlapping).toBeLessThan(3);
    expect(overlapping).toBeLessThanOrEqual(Math.sqrt(29 / 4) + 1e-12);
  });

  it('does not trip on calm data', () => {
    expect(volatilityBreaker(withCloses(calm), limits3)).toEqual({ tripped: false });
  });

  it('trips only strictly above the threshold', () => {
    const m = volatilityRatio(calmThenWild, 5, 30);
    if (!m.ok) throw new Error(m.reason);
    expect(volatilityBreaker(withCloses(calmThenWild), limitsWith({ volRatioThreshold: m.ratio })).tripped).toBe(false);
    expect(volatilityBreaker(withCloses(calmThenWild), limitsWith({ volRatioThreshold: m.ratio * (1 - 1e-12) }))).toMatchObject({
      tripped: true,
      value: m.ratio,
    });
  });

  it('ignores bars older than the two windows', () => {
    const wildPrefix = closesFromReturns(alternating(20, 0.2), 50);
    const closes = [...wildPrefix, ...calm.map((c) => c * (wildPrefix[wildPrefix.length - 1] as number) / 100)];
    expect(volatilityBreaker(withCloses(closes), limits3).tripped).toBe(false);
  });

  it('reads bars in time order, whatever order they come in', () => {
    const md = marketDataFromCloses(calmThenWild);
    const shuffled = { ...md, bars: [...md.bars].reverse() };
    const verdict = volatilityBreaker(makeInput({ intent: makeIntent({ marketData: shuffled }) }), limits3);
    expect(verdict).toEqual(volatilityBreaker(withCloses(calmThenWild), limits3));
    // Reversed without sorting, the wild part would sit in the baseline: no trip.
    const naive = volatilityRatio([...calmThenWild].reverse(), 5, 30);
    expect(naive.ok && naive.ratio < 3).toBe(true);
  });

  it('trips (fail closed) on two bars with the same timestamp', () => {
    const md = marketDataFromCloses(calmThenWild);
    const bars = [...md.bars];
    bars[10] = { ...(bars[10] as (typeof bars)[number]), t: (bars[11] as (typeof bars)[number]).t };
    const verdict = volatilityBreaker(makeInput({ intent: makeIntent({ marketData: { ...md, bars } }) }), limits3);
    expect(verdict).toMatchObject({ tripped: true, value: null, detail: expect.stringContaining('share the timestamp') });
  });

  it('trips on too few bars, with the numbers in the reason', () => {
    const verdict = volatilityBreaker(withCloses(calm.slice(1)), limits3);
    expect(verdict).toMatchObject({ tripped: true, value: null, threshold: 3 });
    if (verdict.tripped) expect(verdict.detail).toMatch(/too few bars: 36 closes are needed .* got 35/);
    expect(volatilityBreaker(makeInput(), limits3)).toMatchObject({ tripped: true, value: null, detail: expect.stringContaining('too few bars') });
    const empty = makeInput({ intent: makeIntent({ marketData: { asOf: '2026-01-02T15:00:00Z', bars: [] } }) });
    expect(volatilityBreaker(empty, limits3)).toMatchObject({ tripped: true, detail: expect.stringContaining('got 0') });
  });

  it('trips on non-positive or non-finite closes inside the windows', () => {
    for (const bad of [0, -1, Number.NaN, Infinity]) {
      const closes = [...calm];
      closes[20] = bad;
      const verdict = volatilityBreaker(withCloses(closes), limits3);
      expect(verdict).toMatchObject({ tripped: true, value: null, detail: expect.stringContaining('finite positive prices') });
    }
  });

  it('does not look at bad closes outside the windows', () => {
    expect(volatilityBreaker(withCloses([0, -3, ...calm]), limits3).tripped).toBe(false);
  });

  it('trips when σ_baseline = 0 and σ_recent > 0, without dividing by zero', () => {
    const closes = [...Array<number>(31).fill(100), 101, 99, 102, 98, 100];
    const verdict = volatilityBreaker(withCloses(closes), limits3);
    expect(verdict).toMatchObject({ tripped: true, breaker: 'volatility', value: null, threshold: 3 });
    if (verdict.tripped) expect(verdict.detail).toContain('σ_baseline is 0');
    const m = volatilityRatio(closes, 5, 30);
    expect(m).toMatchObject({ ok: true, ratio: Infinity, sigmaBaseline: 0 });
  });

  it('does not trip when nothing moves at all (σ_baseline = σ_recent = 0)', () => {
    const flat = Array<number>(36).fill(42.5);
    expect(volatilityRatio(flat, 5, 30)).toEqual({ ok: true, ratio: 0, sigmaRecent: 0, sigmaBaseline: 0 });
    expect(volatilityBreaker(withCloses(flat), limitsWith({ volRatioThreshold: 0.0001 })).tripped).toBe(false);
  });

  it('treats steady growth (identical non-zero returns) as no movement, not as a zero-σ division', () => {
    // Doubling closes: every quotient is exactly 2, every return exactly ln 2. A float mean of
    // 30 × ln 2 is not exactly ln 2, so a naive σ would be ~3e-16 instead of 0.
    const doubling = Array.from({ length: 36 }, (_, i) => 2 ** i);
    expect(volatilityRatio(doubling, 5, 30)).toEqual({ ok: true, ratio: 0, sigmaRecent: 0, sigmaBaseline: 0 });
    // Steady growth, then movement: σ_baseline is exactly 0 → fail closed, not a 1e16 ratio.
    const thenWild = [...doubling.slice(0, 31), ...closesFromReturns([0.05, -0.05, 0.05, -0.05, 0.05], 2 ** 30).slice(1)];
    expect(volatilityBreaker(withCloses(thenWild), limits3)).toMatchObject({ tripped: true, value: null, detail: expect.stringContaining('σ_baseline is 0') });
  });

  it('uses the configured window lengths', () => {
    const limits = limitsWith({ volRatioThreshold: 3, volRecentN: 2, volBaselineN: 3 });
    // 3 calm then 2 wild returns = 6 closes.
    const closes = closesFromReturns([0.001, -0.001, 0.001, 0.05, -0.05]);
    expect(volatilityBreaker(withCloses(closes), limits).tripped).toBe(true);
    expect(volatilityBreaker(withCloses(closes.slice(1)), limits)).toMatchObject({ tripped: true, value: null });
    expect(volatilityBreaker(withCloses(closesFromReturns([0.05, -0.05, 0.05, 0.001, -0.001])), limits).tripped).toBe(false);
  });

  it('is scale-invariant: multiplying every price by k keeps the ratio', () => {
    const closesArb = fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 36, maxLength: 40 }).map((xs) => xs.map((x) => x / 100));
    fc.assert(
      fc.property(closesArb, fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (closes, k) => {
        const a = volatilityRatio(closes, 5, 30);
        const b = volatilityRatio(
          closes.map((c) => c * k),
          5,
          30,
        );
        if (!a.ok || !b.ok) throw new Error('positive closes must be measurable');
        fc.pre(a.sigmaBaseline > 1e-6);
        expect(Math.abs(a.ratio - b.ratio)).toBeLessThanOrEqual(1e-9 * Math.max(a.ratio, b.ratio) + 1e-12);
      }),
    );
  });

  it('is exactly scale-invariant for powers of two (exact float scaling)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.01, max: 1e6, noNaN: true }), { minLength: 36, maxLength: 40 }),
        fc.integer({ min: -20, max: 20 }),
        (closes, e) => {
          const k = 2 ** e;
          expect(volatilityRatio(closes.map((c) => c * k), 5, 30)).toEqual(volatilityRatio(closes, 5, 30));
        },
      ),
    );
  });

  it('bars helper sanity: bars are one minute apart and end at the given time', () => {
    const bars = barsFromCloses([1, 2, 3], Date.parse('2026-01-02T15:00:00Z'));
    expect(bars.map((b) => b.t)).toEqual(['2026-01-02T14:58:00.000Z', '2026-01-02T14:59:00.000Z', '2026-01-02T15:00:00.000Z']);
  });
});
