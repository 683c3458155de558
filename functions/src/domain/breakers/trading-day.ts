/**
 * The trading day an instant belongs to, for the daily-loss breaker.
 *
 * A trading day starts at local midnight in the configured exchange time zone (a param,
 * default America/New_York). The key is that local calendar date, `YYYY-MM-DD`. It is
 * computed with `Intl.DateTimeFormat` rather than a fixed UTC offset because the offset
 * changes twice a year (EST −5 h / EDT −4 h): a fixed offset would put the hour after a DST
 * change into the wrong day and reset — or fail to reset — the daily loss.
 *
 * Keys of one time zone compare correctly as strings (`'2026-03-08' < '2026-03-09'`).
 */

export const DEFAULT_TRADING_TIME_ZONE = 'America/New_York';

// Building a DateTimeFormat is far more expensive than formatting with one; the breaker
// runs for every intent, so keep one per zone. A cache is not observable: same input, same key.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    // Throws RangeError for an unknown zone; `isValidTimeZone` lets config reject it first.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

export function isValidTimeZone(timeZone: string): boolean {
  if (timeZone === '') return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * `YYYY-MM-DD` of `nowMs` in `timeZone`. Throws RangeError for a non-finite instant or an
 * unknown zone (both are programming or configuration errors, validated before this runs).
 */
export function tradingDayKey(nowMs: number, timeZone: string): string {
  if (!Number.isFinite(nowMs)) throw new RangeError(`tradingDayKey: instant ${nowMs} is not finite`);
  let year = '';
  let month = '';
  let day = '';
  for (const part of formatterFor(timeZone).formatToParts(nowMs)) {
    if (part.type === 'year') year = part.value;
    else if (part.type === 'month') month = part.value;
    else if (part.type === 'day') day = part.value;
  }
  if (year === '' || month === '' || day === '') {
    throw new RangeError(`tradingDayKey: could not format ${nowMs} in ${timeZone}`);
  }
  return `${year.padStart(4, '0')}-${month}-${day}`;
}
