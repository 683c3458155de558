import { describe, expect, it } from 'vitest';
import { consecutiveLossesBreaker, lossStreak } from '../../../../functions/src/domain/breakers/consecutive-losses.js';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { emptyStrategyStats } from '../../../../functions/src/domain/breakers/stats.js';
import { limitsWith, makeInput } from './fixtures.js';

function withPnls(pnls: number[]) {
  return makeInput({
    stats: { ...emptyStrategyStats(), recentRealized: pnls.map((pnlMicros, i) => ({ orderId: `o${i}`, pnlMicros, timeMs: 1_000 + i })) },
  });
}

describe('lossStreak', () => {
  it('counts trailing losses only', () => {
    expect(lossStreak([])).toBe(0);
    expect(lossStreak([-1, -2, -3])).toBe(3);
    expect(lossStreak([-1, 5, -2, -3])).toBe(2);
    expect(lossStreak([-1, -2, 7])).toBe(0);
  });
  it('treats break-even as a non-loss that ends the streak', () => {
    expect(lossStreak([-1, -1, 0])).toBe(0);
    expect(lossStreak([-1, 0, -1])).toBe(1);
  });
});

describe('consecutiveLossesBreaker', () => {
  const limits = limitsWith({ maxConsecutiveLosses: 3 });

  it('is off by default and with 0', () => {
    expect(consecutiveLossesBreaker(withPnls([-1, -1, -1, -1, -1]), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('trips when the last N events are all losses (exactly N)', () => {
    expect(consecutiveLossesBreaker(withPnls([5, -1, -2, -3]), limits)).toEqual({
      tripped: true,
      breaker: 'consecutiveLosses',
      value: 3,
      threshold: 3,
      detail: expect.stringContaining('last 3 realized events'),
    });
  });

  it('reports the whole streak when it is longer than N', () => {
    expect(consecutiveLossesBreaker(withPnls([-1, -1, -1, -1, -1]), limits)).toMatchObject({ tripped: true, value: 5, threshold: 3 });
  });

  it('does not trip at N − 1, or with fewer events than N', () => {
    expect(consecutiveLossesBreaker(withPnls([7, -1, -1]), limits).tripped).toBe(false);
    expect(consecutiveLossesBreaker(withPnls([-1, -1]), limits).tripped).toBe(false);
    expect(consecutiveLossesBreaker(withPnls([]), limits).tripped).toBe(false);
  });

  it('does not trip when a break-even event ends the streak', () => {
    expect(consecutiveLossesBreaker(withPnls([-1, -1, -1, 0]), limits).tripped).toBe(false);
    expect(consecutiveLossesBreaker(withPnls([-1, -1, 0, -1, -1]), limits).tripped).toBe(false);
  });

  it('counts a one-micro loss as a loss', () => {
    expect(consecutiveLossesBreaker(withPnls([-1, -1, -1]), limits).tripped).toBe(true);
  });

  it('trips at N = 1 on a single loss', () => {
    expect(consecutiveLossesBreaker(withPnls([10, -1]), limitsWith({ maxConsecutiveLosses: 1 })).tripped).toBe(true);
    expect(consecutiveLossesBreaker(withPnls([-1, 10]), limitsWith({ maxConsecutiveLosses: 1 })).tripped).toBe(false);
  });
});
