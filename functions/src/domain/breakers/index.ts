import { NOT_TRIPPED } from './breaker.js';
import type { Breaker, BreakerInput, BreakerVerdict } from './breaker.js';
import { brokerErrorsBreaker } from './broker-errors.js';
import { consecutiveLossesBreaker } from './consecutive-losses.js';
import { dailyLossBreaker } from './daily-loss.js';
import { grossExposureBreaker, positionBreaker, positionNotionalBreaker } from './exposure-limits.js';
import { BREAKER_NAMES } from './limits.js';
import type { BreakerLimits, BreakerName } from './limits.js';
import { missingDataBreaker } from './missing-data.js';
import { notionalBreaker } from './notional.js';
import { orderRateBreaker } from './order-rate.js';
import { priceCollarBreaker } from './price-collar.js';
import { volatilityBreaker } from './volatility.js';

/** Each breaker by name; typed as a full record so a new name cannot be left out. */
export const BREAKERS: Readonly<Record<BreakerName, Breaker>> = {
  // An operator's halt: set and reset by hand (store/breaker-admin.ts), never tripped by an intent.
  manual: () => NOT_TRIPPED,
  missingData: missingDataBreaker,
  volatility: volatilityBreaker,
  consecutiveLosses: consecutiveLossesBreaker,
  dailyLoss: dailyLossBreaker,
  orderRate: orderRateBreaker,
  notional: notionalBreaker,
  priceCollar: priceCollarBreaker,
  brokerErrors: brokerErrorsBreaker,
  position: positionBreaker,
  positionNotional: positionNotionalBreaker,
  grossExposure: grossExposureBreaker,
};

/**
 * The first breaker that trips, in BREAKER_NAMES order (`manual` never trips here): missingData, volatility,
 * consecutiveLosses, dailyLoss, orderRate, notional, priceCollar, brokerErrors, position,
 * positionNotional, grossExposure. Only that
 * one latches, so the order decides what the operator sees first; missing data comes first
 * because it explains the market-data breakers that would trip after it. The caller checks
 * `latchedBreaker` before this: a latched strategy is refused without evaluation.
 */
export function evaluateBreakers(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  for (const name of BREAKER_NAMES) {
    const verdict = BREAKERS[name](input, limits);
    if (verdict.tripped) return verdict;
  }
  return NOT_TRIPPED;
}
