import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';

/**
 * Missing market data. On only when the strategy opts in with `requireMarketData`; then the
 * intent must carry at least one bar, and — when `maxDataAgeMs` > 0 — its `asOf` must be at
 * most that old. `maxDataAgeMs` alone does not switch the breaker on.
 *
 * Measurements: bar count vs the minimum of 1 (value null when `marketData` is absent), or
 * the data age in ms vs `maxDataAgeMs`. An `asOf` in the future (clock skew between the
 * strategy and us) has a negative age and is not stale.
 */
export function missingDataBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  if (!limits.requireMarketData) return NOT_TRIPPED;
  const marketData = input.intent.marketData;
  if (marketData === undefined) {
    return trip(BreakerName.missingData, null, 1, 'the intent carries no marketData and this strategy requires it');
  }
  if (marketData.bars.length === 0) {
    return trip(BreakerName.missingData, 0, 1, 'marketData.bars is empty and this strategy requires market data');
  }
  if (limits.maxDataAgeMs > 0) {
    const asOfMs = Date.parse(marketData.asOf);
    if (!Number.isFinite(asOfMs)) {
      return trip(BreakerName.missingData, null, limits.maxDataAgeMs, `marketData.asOf "${marketData.asOf}" is not a readable timestamp`);
    }
    const ageMs = input.nowMs - asOfMs;
    if (ageMs > limits.maxDataAgeMs) {
      return trip(
        BreakerName.missingData,
        ageMs,
        limits.maxDataAgeMs,
        `marketData.asOf ${marketData.asOf} is ${ageMs} ms old; at most ${limits.maxDataAgeMs} ms is allowed`,
      );
    }
  }
  return NOT_TRIPPED;
}
