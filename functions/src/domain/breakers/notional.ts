import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';
import { lastClose } from './market-data.js';

/**
 * Max notional per order: qty × price > `maxNotional` trips (> 0 enables; exactly at the
 * limit passes). The price is the limit price for a limit order; a market order has none, so
 * it is valued at the last bar close — and with no usable close it cannot be valued and
 * trips (fail closed), value null.
 */
export function notionalBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  const max = limits.maxNotional;
  if (!(max > 0)) return NOT_TRIPPED;
  const { intent } = input;
  let price: number;
  let priceSource: string;
  if (intent.limitPrice !== undefined) {
    price = intent.limitPrice;
    priceSource = 'limit price';
  } else {
    const close = lastClose(intent.marketData);
    if (!close.ok) {
      return trip(BreakerName.notional, null, max, `cannot value a ${intent.type} order without a reference price: ${close.reason}`);
    }
    price = close.close;
    priceSource = `last bar close at ${close.t}`;
  }
  const notional = intent.qty * price;
  if (!Number.isFinite(notional)) {
    return trip(BreakerName.notional, null, max, `notional ${intent.qty} × ${price} is not finite`);
  }
  if (notional > max) {
    return trip(BreakerName.notional, notional, max, `notional ${intent.qty} × ${price} (${priceSource}) = ${notional} exceeds ${max}`);
  }
  return NOT_TRIPPED;
}
