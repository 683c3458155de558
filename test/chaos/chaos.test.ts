/**
 * The chaos scenario at a small size, part of `npm test` (`npm run test:chaos` runs it at
 * full size). Two seeds at once, each with its own stack on free ports: each run waits about
 * a minute for the reconciler's abandon grace, so running them side by side halves the wall
 * time. A failure prints the seed; replay with `npm run test:chaos -- --seeds <seed> --verbose`.
 */
import { describe, expect, it } from 'vitest';
import { formatReport, runChaos } from './chaos.js';
import { NO_VIOLATIONS } from './invariants.js';

const SEEDS = (process.env.CHAOS_SEEDS ?? '11,12').split(',').map(Number);

describe('chaos through the local stack (small)', () => {
  for (const seed of SEEDS) {
    it.concurrent(
      `seed ${seed}: all invariants hold`,
      async () => {
        const report = await runChaos({
          seed,
          intents: 150,
          strategies: 3,
          kills: 4,
          halts: 3,
          publishMs: 20_000,
          only: ['executeIntent', 'reconcileSubmissions'],
        });
        console.log(formatReport(report));
        expect(report.settled, formatReport(report)).toBe(true);
        expect(report.invariants, formatReport(report)).toEqual(NO_VIOLATIONS);
        // The storm must have been a storm: kills, halts and broker faults all happened.
        expect(report.kills).toBeGreaterThan(0);
        // G2 was checked on claim commits seen on the wire and on the records' claim times.
        expect(report.claimsChecked).toBeGreaterThan(0);
        expect(report.claimRequestsChecked).toBeGreaterThan(0);
        const injected = Object.values(report.sim.faults).reduce((a, b) => a + b, 0);
        expect(injected).toBeGreaterThanOrEqual(3);
      },
      300_000,
    );
  }
});
