import { describe, expect, it } from 'vitest';
import { DEFAULT_TRADING_TIME_ZONE, isValidTimeZone, tradingDayKey } from '../../../../functions/src/domain/breakers/trading-day.js';

const NY = 'America/New_York';
const at = (iso: string) => Date.parse(iso);

describe('tradingDayKey', () => {
  it('defaults to New York', () => {
    expect(DEFAULT_TRADING_TIME_ZONE).toBe(NY);
  });

  it('changes at local midnight, not UTC midnight (EST, UTC−5)', () => {
    expect(tradingDayKey(at('2026-01-02T04:59:59.999Z'), NY)).toBe('2026-01-01');
    expect(tradingDayKey(at('2026-01-02T05:00:00.000Z'), NY)).toBe('2026-01-02');
    // UTC midnight is still the previous evening in New York.
    expect(tradingDayKey(at('2026-01-02T00:00:00.000Z'), NY)).toBe('2026-01-01');
  });

  it('uses EDT (UTC−4) in summer', () => {
    expect(tradingDayKey(at('2026-07-01T03:59:59.999Z'), NY)).toBe('2026-06-30');
    expect(tradingDayKey(at('2026-07-01T04:00:00.000Z'), NY)).toBe('2026-07-01');
  });

  it('is correct across the spring-forward change (2026-03-08, 02:00 EST → 03:00 EDT)', () => {
    // Midnight that starts 03-08 is still EST (05:00Z); the one that starts 03-09 is EDT (04:00Z).
    expect(tradingDayKey(at('2026-03-08T04:59:59.999Z'), NY)).toBe('2026-03-07');
    expect(tradingDayKey(at('2026-03-08T05:00:00.000Z'), NY)).toBe('2026-03-08');
    expect(tradingDayKey(at('2026-03-08T06:59:59.999Z'), NY)).toBe('2026-03-08'); // 01:59:59 EST
    expect(tradingDayKey(at('2026-03-08T07:00:00.000Z'), NY)).toBe('2026-03-08'); // 03:00 EDT
    expect(tradingDayKey(at('2026-03-09T03:59:59.999Z'), NY)).toBe('2026-03-08'); // a fixed −5 h would say 03-08 too
    expect(tradingDayKey(at('2026-03-09T04:00:00.000Z'), NY)).toBe('2026-03-09'); // a fixed −5 h would say 03-08
    expect(tradingDayKey(at('2026-03-09T04:30:00.000Z'), NY)).toBe('2026-03-09');
  });

  it('is correct across the fall-back change (2026-11-01, 02:00 EDT → 01:00 EST)', () => {
    expect(tradingDayKey(at('2026-11-01T03:59:59.999Z'), NY)).toBe('2026-10-31');
    expect(tradingDayKey(at('2026-11-01T04:00:00.000Z'), NY)).toBe('2026-11-01');
    // The repeated hour 01:00–02:00 happens twice on the same day.
    expect(tradingDayKey(at('2026-11-01T05:30:00.000Z'), NY)).toBe('2026-11-01');
    expect(tradingDayKey(at('2026-11-01T06:30:00.000Z'), NY)).toBe('2026-11-01');
    // 23:30 EST on 11-01 is 04:30Z on 11-02: a fixed −4 h would already say 11-02.
    expect(tradingDayKey(at('2026-11-02T04:30:00.000Z'), NY)).toBe('2026-11-01');
    expect(tradingDayKey(at('2026-11-02T05:00:00.000Z'), NY)).toBe('2026-11-02');
  });

  it('works for other zones', () => {
    expect(tradingDayKey(at('2026-01-01T14:59:59.999Z'), 'Asia/Tokyo')).toBe('2026-01-01');
    expect(tradingDayKey(at('2026-01-01T15:00:00.000Z'), 'Asia/Tokyo')).toBe('2026-01-02');
    expect(tradingDayKey(at('2026-03-29T00:30:00.000Z'), 'Europe/London')).toBe('2026-03-29');
    expect(tradingDayKey(at('2026-06-30T23:30:00.000Z'), 'Europe/London')).toBe('2026-07-01');
    expect(tradingDayKey(at('2026-06-30T23:30:00.000Z'), 'UTC')).toBe('2026-06-30');
  });

  it('keys of one zone sort like the days', () => {
    expect(tradingDayKey(at('2026-09-30T16:00:00Z'), NY) < tradingDayKey(at('2026-10-01T16:00:00Z'), NY)).toBe(true);
    expect(tradingDayKey(at('2026-12-31T16:00:00Z'), NY) < tradingDayKey(at('2027-01-01T16:00:00Z'), NY)).toBe(true);
  });

  it('refuses unknown zones and non-finite instants', () => {
    expect(isValidTimeZone(NY)).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
    expect(() => tradingDayKey(0, 'Mars/Olympus_Mons')).toThrow(RangeError);
    expect(() => tradingDayKey(Number.NaN, NY)).toThrow(RangeError);
  });
});
