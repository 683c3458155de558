import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';
import { lastClose } from './market-data.js';

/**
 * Price collar: a limit price must lie within ±`priceCollarPct` % of the last bar close
 * (> 0 enables; exactly on the edge passes). It bounds limit prices only: a market order
 * names no price to check (bound its size with `maxNotional`). With the collar on, a limit
 * order without a usable last close trips (fail closed), value null.
 *
 * The comparison is |limit − close| · 100 > pct · close, which avoids one rounding step of
 * dividing first; the reported value is the absolute deviation in percent.
 */
export function priceCollarBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  const pct = limits.priceCollarPct;
  if (!(pct > 0)) return NOT_TRIPPED;
  const { intent } = input;
  if (intent.limitPrice === undefined) return NOT_TRIPPED;
  const close = lastClose(intent.marketData);
  if (!close.ok) {
    return trip(BreakerName.priceCollar, null, pct, `cannot check limit price ${intent.limitPrice} against the last close: ${close.reason}`);
  }
  const diff = intent.limitPrice - close.close;
  if (Math.abs(diff) * 100 > pct * close.close) {
    const deviationPct = (Math.abs(diff) / close.close) * 100;
    return trip(
      BreakerName.priceCollar,
      deviationPct,
      pct,
      `limit price ${intent.limitPrice} is ${deviationPct}% ${diff > 0 ? 'above' : 'below'} the last close ${close.close} (${close.t}); the collar is ±${pct}%`,
    );
  }
  return NOT_TRIPPED;
}
