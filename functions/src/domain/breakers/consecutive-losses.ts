import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';

/**
 * Consecutive losses: the last N realized events (one per closing order, from the FIFO
 * ledger) are all losses, N = `maxConsecutiveLosses` (> 0 enables). A break-even event
 * (P&L exactly 0 after rounding to micro-units) is not a loss and ends the streak.
 */

/** How many of the newest P&Ls (newest last) are losses in a row. */
export function lossStreak(pnls: readonly number[]): number {
  let streak = 0;
  for (let i = pnls.length - 1; i >= 0 && (pnls[i] as number) < 0; i--) streak++;
  return streak;
}

export function consecutiveLossesBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  const max = limits.maxConsecutiveLosses;
  if (!(max > 0)) return NOT_TRIPPED;
  const streak = lossStreak(input.stats.recentRealized.map((e) => e.pnlMicros));
  if (streak >= max) {
    return trip(BreakerName.consecutiveLosses, streak, max, `the last ${streak} realized events were all losses; the limit is ${max} in a row`);
  }
  return NOT_TRIPPED;
}
