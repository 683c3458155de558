import { tradingDayKey } from './breakers/trading-day.js';

/**
 * Where the trading day of an instant begins: the first millisecond whose trading-day key
 * (breakers/trading-day.ts, local calendar date in the exchange time zone) equals the key of
 * `nowMs`. "Today's realized P&L" on the dashboard starts there, so it sums the same day the
 * daily-loss breaker sums.
 *
 * Found by bisection on the key rather than by subtracting an offset: a zone's offset at
 * midnight need not be the offset at `nowMs` (a DST change during the day), and in some zones
 * local midnight does not exist on the day of a change (the day then begins at 01:00). Keys
 * of one zone only ever grow with time, which is all bisection needs.
 */

/** No calendar day is longer than 25 hours; 48 leaves room for any zone change. */
const SEARCH_BACK_MS = 48 * 3_600_000;

/** Throws RangeError for a non-finite instant or an unknown zone (as tradingDayKey). */
export function tradingDayStartMs(nowMs: number, timeZone: string): number {
  const today = tradingDayKey(nowMs, timeZone);
  // Invariant: key(lo) < today, key(hi) === today.
  let lo = nowMs - SEARCH_BACK_MS;
  let hi = nowMs;
  if (tradingDayKey(lo, timeZone) >= today) throw new RangeError(`tradingDayStartMs: no day boundary within 48 h before ${nowMs} in ${timeZone}`);
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (tradingDayKey(mid, timeZone) < today) lo = mid;
    else hi = mid;
  }
  return hi;
}
