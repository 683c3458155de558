import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';
import { barsInTimeOrder } from './market-data.js';

/**
 * Abnormal volatility: ratio = σ_recent / σ_baseline of the log returns ln(cᵢ/cᵢ₋₁) of bar
 * closes in time order, σ the sample standard deviation.
 *
 * The windows are DISJOINT: recent = the last `volRecentN` returns, baseline = the
 * `volBaselineN` returns just before them. If the baseline contained the recent window, a
 * burst in the recent returns would also inflate the baseline and the ratio could never
 * exceed about √(baseline/recent) (≈ 2.45 for 5 and 30): a threshold of 3 would silently
 * never trip. Older bars than the two windows are ignored.
 *
 * Fail closed, each with its own reason: too few bars, a non-finite or non-positive close,
 * or σ_baseline = 0 while σ_recent > 0 (an infinite ratio; reported with value null). When
 * both are 0 nothing moved at all, which is not abnormal volatility: ratio 0.
 */

/** ln(cᵢ/cᵢ₋₁); the quotient form keeps small returns accurate. Callers check the prices. */
export function logReturns(closes: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < closes.length; i++) {
    out.push(Math.log((closes[i] as number) / (closes[i - 1] as number)));
  }
  return out;
}

/**
 * Sample standard deviation (n − 1). Identical values give exactly 0: the float mean of n
 * equal values need not equal the value, and a spurious 1e-17 baseline would trip the breaker.
 */
export function sampleStdDev(xs: readonly number[]): number {
  if (xs.length < 2) throw new RangeError(`sampleStdDev needs at least 2 values, got ${xs.length}`);
  const first = xs[0] as number;
  if (xs.every((x) => x === first)) return 0;
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / xs.length;
  let squares = 0;
  for (const x of xs) squares += (x - mean) * (x - mean);
  return Math.sqrt(squares / (xs.length - 1));
}

export type VolatilityMeasure =
  | { ok: true; ratio: number; sigmaRecent: number; sigmaBaseline: number }
  | { ok: false; reason: string };

/**
 * The ratio for closes already in time order. `ratio` is Infinity exactly when
 * σ_baseline = 0 < σ_recent, and 0 when both are 0.
 */
export function volatilityRatio(closes: readonly number[], recentN: number, baselineN: number): VolatilityMeasure {
  const needed = recentN + baselineN + 1;
  if (closes.length < needed) {
    return {
      ok: false,
      reason: `too few bars: ${needed} closes are needed for ${recentN} recent and ${baselineN} baseline returns, got ${closes.length}`,
    };
  }
  const used = closes.slice(closes.length - needed);
  for (const [i, c] of used.entries()) {
    if (!Number.isFinite(c) || c <= 0) {
      return { ok: false, reason: `close #${closes.length - needed + i} is ${c}: log returns need finite positive prices` };
    }
  }
  const returns = logReturns(used);
  if (!returns.every(Number.isFinite)) {
    return { ok: false, reason: 'a log return is not finite (prices too far apart to compare)' };
  }
  const sigmaBaseline = sampleStdDev(returns.slice(0, baselineN));
  const sigmaRecent = sampleStdDev(returns.slice(baselineN));
  if (sigmaBaseline === 0) {
    return { ok: true, ratio: sigmaRecent === 0 ? 0 : Infinity, sigmaRecent, sigmaBaseline };
  }
  return { ok: true, ratio: sigmaRecent / sigmaBaseline, sigmaRecent, sigmaBaseline };
}

export function volatilityBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  const threshold = limits.volRatioThreshold;
  if (!(threshold > 0)) return NOT_TRIPPED;
  const marketData = input.intent.marketData;
  if (marketData === undefined) {
    return trip(BreakerName.volatility, null, threshold, `too few bars: the intent carries no marketData (${limits.volRecentN + limits.volBaselineN + 1} closes are needed)`);
  }
  const ordered = barsInTimeOrder(marketData.bars);
  if (!ordered.ok) return trip(BreakerName.volatility, null, threshold, ordered.reason);
  const measure = volatilityRatio(
    ordered.bars.map((b) => b.c),
    limits.volRecentN,
    limits.volBaselineN,
  );
  if (!measure.ok) return trip(BreakerName.volatility, null, threshold, measure.reason);
  if (measure.ratio === Infinity) {
    return trip(
      BreakerName.volatility,
      null,
      threshold,
      `σ_baseline is 0 (no movement in the ${limits.volBaselineN} baseline returns) while σ_recent is ${measure.sigmaRecent}: the ratio is unbounded`,
    );
  }
  if (measure.ratio > threshold) {
    return trip(
      BreakerName.volatility,
      measure.ratio,
      threshold,
      `volatility ratio σ_recent/σ_baseline = ${measure.sigmaRecent} / ${measure.sigmaBaseline} = ${measure.ratio} exceeds ${threshold}`,
    );
  }
  return NOT_TRIPPED;
}
