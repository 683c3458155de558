import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';
import { isValidTimeZone, tradingDayKey } from './trading-day.js';

export const MICROS_PER_UNIT = 1_000_000;

/**
 * Daily realized loss: realized P&L since the start of the current trading day (local
 * midnight in `tradingTimeZone`) ≤ −`maxDailyLoss` (> 0 enables). Exactly at the limit trips.
 *
 * Stored stats of an earlier day mean nothing has been realized today yet (0). The
 * comparison is done in integer micro-units, so "exactly at the limit" is exact. Measured
 * value and threshold are both signed P&L in currency units (−520 vs −500).
 */
export function dailyLossBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  const maxLoss = limits.maxDailyLoss;
  if (!(maxLoss > 0)) return NOT_TRIPPED;
  if (!isValidTimeZone(limits.tradingTimeZone)) {
    return trip(BreakerName.dailyLoss, null, -maxLoss, `the trading time zone "${limits.tradingTimeZone}" is unknown; cannot tell which day it is`);
  }
  const today = tradingDayKey(input.nowMs, limits.tradingTimeZone);
  const daily = input.stats.daily;
  const realizedMicros = daily !== null && daily.dayKey === today ? daily.realizedMicros : 0;
  const limitMicros = -Math.round(maxLoss * MICROS_PER_UNIT);
  if (realizedMicros <= limitMicros) {
    const realized = realizedMicros / MICROS_PER_UNIT;
    return trip(
      BreakerName.dailyLoss,
      realized,
      -maxLoss,
      `realized P&L on ${today} (${limits.tradingTimeZone}) is ${realized}, at or below the daily limit of ${-maxLoss}`,
    );
  }
  return NOT_TRIPPED;
}
