import { describe, expect, it } from 'vitest';
import { dailyLossBreaker } from '../../../../functions/src/domain/breakers/daily-loss.js';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { emptyStrategyStats } from '../../../../functions/src/domain/breakers/stats.js';
import { limitsWith, makeInput } from './fixtures.js';

const limits = limitsWith({ maxDailyLoss: 500 });
// 10:00 in New York on 2026-01-02.
const NOW = Date.parse('2026-01-02T15:00:00Z');

function withDaily(dayKey: string, realizedMicros: number, nowMs = NOW) {
  return makeInput({ nowMs, stats: { ...emptyStrategyStats(), daily: { dayKey, realizedMicros } } });
}

describe('dailyLossBreaker', () => {
  it('is off by default and with 0', () => {
    expect(dailyLossBreaker(withDaily('2026-01-02', -1e12), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('trips exactly at −maxDailyLoss', () => {
    expect(dailyLossBreaker(withDaily('2026-01-02', -500_000_000), limits)).toEqual({
      tripped: true,
      breaker: 'dailyLoss',
      value: -500,
      threshold: -500,
      detail: expect.stringContaining('2026-01-02 (America/New_York)'),
    });
  });

  it('trips below and not one micro-unit above the limit', () => {
    expect(dailyLossBreaker(withDaily('2026-01-02', -520_250_000), limits)).toMatchObject({ tripped: true, value: -520.25 });
    expect(dailyLossBreaker(withDaily('2026-01-02', -499_999_999), limits).tripped).toBe(false);
    expect(dailyLossBreaker(withDaily('2026-01-02', 1_000_000_000), limits).tripped).toBe(false);
  });

  it('is exact for fractional limits', () => {
    const l = limitsWith({ maxDailyLoss: 0.3 });
    expect(dailyLossBreaker(withDaily('2026-01-02', -300_000), l).tripped).toBe(true);
    expect(dailyLossBreaker(withDaily('2026-01-02', -299_999), l).tripped).toBe(false);
  });

  it('ignores a loss from an earlier trading day', () => {
    expect(dailyLossBreaker(withDaily('2026-01-01', -900_000_000), limits).tripped).toBe(false);
  });

  it('passes with no realized P&L yet', () => {
    expect(dailyLossBreaker(makeInput({ nowMs: NOW }), limits).tripped).toBe(false);
  });

  it('uses the trading day of the time zone: 23:30 New York is still the same day after UTC midnight', () => {
    const lateEvening = Date.parse('2026-01-03T04:30:00Z'); // 23:30 EST on 01-02
    expect(dailyLossBreaker(withDaily('2026-01-02', -600_000_000, lateEvening), limits).tripped).toBe(true);
    const afterMidnight = Date.parse('2026-01-03T05:00:00Z'); // 00:00 EST on 01-03
    expect(dailyLossBreaker(withDaily('2026-01-02', -600_000_000, afterMidnight), limits).tripped).toBe(false);
  });

  it('rolls the day at local midnight across DST', () => {
    // 2026-03-09 starts at 04:00Z (EDT); a fixed −5 h offset would still say 03-08.
    expect(dailyLossBreaker(withDaily('2026-03-08', -600_000_000, Date.parse('2026-03-09T03:59:59Z')), limits).tripped).toBe(true);
    expect(dailyLossBreaker(withDaily('2026-03-08', -600_000_000, Date.parse('2026-03-09T04:00:00Z')), limits).tripped).toBe(false);
  });

  it('follows the configured zone', () => {
    const tokyo = limitsWith({ maxDailyLoss: 500, tradingTimeZone: 'Asia/Tokyo' });
    // 15:00Z on 01-02 is 00:00 on 01-03 in Tokyo.
    expect(dailyLossBreaker(withDaily('2026-01-02', -600_000_000, NOW), tokyo).tripped).toBe(false);
    expect(dailyLossBreaker(withDaily('2026-01-03', -600_000_000, NOW), tokyo).tripped).toBe(true);
  });

  it('fails closed on an unknown time zone', () => {
    expect(dailyLossBreaker(withDaily('2026-01-02', 0), limitsWith({ maxDailyLoss: 500, tradingTimeZone: 'Nowhere/Special' }))).toMatchObject({
      tripped: true,
      value: null,
      threshold: -500,
    });
  });
});
