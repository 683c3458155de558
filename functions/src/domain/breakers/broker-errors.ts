import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';

/**
 * Broker errors: `maxBrokerErrors` consecutive `unknown`/5xx broker outcomes for the strategy
 * (> 0 enables) trip it, checked on the next intent. The streak is kept in the stats by
 * `recordBrokerOutcome` (stats.ts), which also defines what counts as an error.
 */
export function brokerErrorsBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  const max = limits.maxBrokerErrors;
  if (!(max > 0)) return NOT_TRIPPED;
  const errors = input.stats.consecutiveBrokerErrors;
  if (errors >= max) {
    return trip(BreakerName.brokerErrors, errors, max, `the last ${errors} broker outcomes were unknown or 5xx; the limit is ${max} in a row`);
  }
  return NOT_TRIPPED;
}
