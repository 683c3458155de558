/**
 * Interleavings (issue 14): the real handleExecuteIntent and handleReconcileSubmissions over the
 * in-memory store (test/support/memory-store.ts), a scripted broker, a pinned clock and shutdown
 * gates, with every ordering of deliveries of one intent, a halt, a crash, broker faults,
 * SIGTERM, a clock jump past the owners' deadlines and reconciler runs.
 *
 * - Small configurations: every schedule, exhaustively (test/support/interleave.ts, sleep-set
 *   reduced; the reduction is checked against plain enumeration on the smallest ones).
 * - Bigger ones: fast-check's scheduler samples orderings, crash points and broker scripts.
 *
 * After each schedule, the world settles (Pub/Sub redelivers what was not acknowledged, the
 * reconciler runs, time passes; bounded) and test/support/pipeline-world.ts checks:
 *   G1  the broker (which here does NOT refuse a reused client_order_id) holds at most one order,
 *       and no submit follows one whose answer did not prove that nothing was placed;
 *   G2  no claim commits after the halt commits; every submit follows a claim of its own;
 *   G5  every delivery is acknowledged in the end, the record is terminal, and it tells the truth
 *       about the broker (submitted with the broker's order id iff the broker holds an order;
 *       an `unknown` the broker never got ends `abandoned`);
 *   and the handlers only ever throw the documented retryable errors.
 * The number of schedules explored is printed after the file (stdout).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CooperativeRuntime, exploreAll, FcRuntime, type ExploreStats, type Transition } from '../../support/interleave.js';
import { PipelineWorld, type WorldConfig } from '../../support/pipeline-world.js';
import { SUBMIT_FATES, type SubmitFate } from '../../support/scripted-broker.js';

const report: string[] = [];
afterAll(() => {
  // stdout, not console: vitest hides the console of passing tests.
  process.stdout.write(`\ninterleavings explored (complete schedules checked; runs cut short as equivalent):\n${report.map((l) => `  ${l}\n`).join('')}`);
});

function worldSignature(w: PipelineWorld): string {
  const r = w.record();
  const results = [...w.runtime.results.entries()]
    .map(([k, v]) => `${k}=${v.ok ? String((v.value as { outcome?: string } | undefined)?.outcome ?? 'ok') : String((v.error as { reason?: string }).reason)}`)
    .sort();
  return JSON.stringify([
    r && !('unreadable' in r) ? [r.state, r.reason, r.attempts, r.history.map((h) => [h.state, h.reason, h.attempt])] : r,
    w.broker.submits.map((s) => `${s.fate}${s.placed ? '+' : ''}`),
    w.broker.orders.length,
    [...w.runtime.crashed].sort(),
    results,
  ]);
}

async function exhaustive(config: WorldConfig, crashes: number, opts: { sleepSets?: boolean; signatures?: Set<string> } = {}): Promise<ExploreStats> {
  return exploreAll(
    () => {
      const runtime = new CooperativeRuntime(crashes);
      const world = new PipelineWorld(config, runtime).start();
      return {
        runtime,
        async finish(trace: readonly Transition[]) {
          await world.settle();
          opts.signatures?.add(worldSignature(world));
          const v = world.violations();
          if (v.length > 0) throw new Error(`${v.join('\n')}\nschedule: ${trace.map((t) => t.label).join(' | ')}\n${world.describe()}`);
        },
      };
    },
    { sleepSets: opts.sleepSets ?? true },
  );
}

const twoDeliveries = [
  { eventId: 'e1', instance: 'i1' },
  { eventId: 'e1', instance: 'i2' },
];
/** Pub/Sub's duplicate (same event id) and a publisher's retry (a new one). */
const threeDeliveries = [...twoDeliveries, { eventId: 'e2', instance: 'i3' }];

/**
 * The search is CPU-bound and deterministic; under `npm test` it shares two cores with the
 * emulators and other suites, where the largest case has taken 33 s. A bound for a runaway, not
 * a performance claim.
 */
const SEARCH_TIMEOUT_MS = 180_000;

describe('the reduction loses no outcome', { timeout: SEARCH_TIMEOUT_MS }, () => {
  it.each<[string, WorldConfig, number]>([
    ['2 deliveries, lost response, 1 crash', { deliveries: twoDeliveries, script: ['lost'] }, 1],
    ['2 deliveries, halt, SIGTERM, 429, 1 crash', { deliveries: twoDeliveries, halt: true, sigterm: ['i1'], script: ['not_placed'] }, 1],
  ])('%s: the same outcomes as every interleaving', async (name, config, crashes) => {
    const reduced = new Set<string>();
    const all = new Set<string>();
    const r = await exhaustive(config, crashes, { signatures: reduced });
    const a = await exhaustive(config, crashes, { sleepSets: false, signatures: all });
    report.push(`check "${name}": ${r.complete} schedules (+${r.pruned} cut short) reach the ${reduced.size} outcomes all ${a.complete} interleavings reach`);
    expect([...reduced].sort()).toEqual([...all].sort());
    expect(r.complete).toBeLessThan(a.complete);
  });
});

describe('every schedule (exhaustive)', { timeout: SEARCH_TIMEOUT_MS }, () => {
  const cases: Array<[string, WorldConfig, number]> = [
    ...SUBMIT_FATES.map((fate): [string, WorldConfig, number] => [
      `2 deliveries (one event id), halt, reconciler, 1 crash; first submit: ${fate}`,
      { deliveries: twoDeliveries, halt: true, reconcilerRuns: 1, script: [fate] },
      1,
    ]),
    ['3 deliveries (two event ids), halt, 1 crash; first submit: lost', { deliveries: threeDeliveries, halt: true, script: ['lost'] }, 1],
    ['3 deliveries (two event ids), halt, 1 crash; first submit: 429', { deliveries: threeDeliveries, halt: true, script: ['not_placed'] }, 1],
    ['2 deliveries on one instance, SIGTERM, halt, 1 crash; first submit: 429', { deliveries: [{ eventId: 'e1', instance: 'i1' }, { eventId: 'e2', instance: 'i1' }], halt: true, sigterm: ['i1'], script: ['not_placed'] }, 1],
    ['2 deliveries, SIGTERM on one, reconciler, 1 crash; first submit: lost', { deliveries: twoDeliveries, sigterm: ['i1'], reconcilerRuns: 1, script: ['lost'] }, 1],
    ['2 deliveries, reconciler, 2 crashes; first submit: timeout', { deliveries: twoDeliveries, reconcilerRuns: 1, script: ['timeout'] }, 2],
    ['2 deliveries, reconciler, first lookup fails, 1 crash; first submit: lost', { deliveries: twoDeliveries, reconcilerRuns: 1, script: ['lost'], lookupScript: ['fail'] }, 1],
    ['2 deliveries, clock past the deadlines, reconciler; first submit: late (lands afterwards)', { deliveries: twoDeliveries, tick: true, reconcilerRuns: 1, script: ['late'] }, 0],
    ['2 deliveries, clock past the deadlines, halt; first submit: lost, 1 crash', { deliveries: twoDeliveries, tick: true, halt: true, script: ['lost'] }, 1],
  ];
  it.each(cases)('%s', async (name, config, crashes) => {
    const stats = await exhaustive(config, crashes);
    report.push(`${name}: ${stats.complete} (+${stats.pruned}), depth ≤ ${stats.maxDepth}`);
    expect(stats.complete).toBeGreaterThan(0);
  });
});

describe('sampled schedules (fc.scheduler)', { timeout: SEARCH_TIMEOUT_MS }, () => {
  const instanceArb = fc.constantFrom('i1', 'i2', 'i3');
  const configArb = fc.record({
    deliveries: fc.array(fc.record({ eventId: fc.constantFrom('e1', 'e2', 'e3'), instance: instanceArb }), { minLength: 2, maxLength: 3 }),
    halt: fc.boolean(),
    tick: fc.boolean(),
    sigterm: fc.subarray(['i1', 'i2', 'i3']),
    reconcilerRuns: fc.integer({ min: 0, max: 2 }),
    script: fc.array(fc.constantFrom<SubmitFate>(...SUBMIT_FATES), { maxLength: 3 }),
    lookupScript: fc.array(fc.constantFrom<'ok' | 'fail'>('ok', 'fail'), { maxLength: 2 }),
  });
  /** Up to two invocations die, each at some point (0: before its first store or broker call). */
  const crashArb = fc.array(fc.tuple(fc.constantFrom('D1', 'D2', 'D3', 'R1', 'R2'), fc.integer({ min: 0, max: 5 })), { maxLength: 2 });
  let runs = 0;
  const finalStates = new Map<string, number>();

  it('3 deliveries, halt, clock jump, SIGTERM, 2 reconciler runs, 2 crashes, any broker script', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), configArb, crashArb, async (s, config, crashes) => {
        runs += 1;
        const runtime = new FcRuntime(s, new Map(crashes));
        const world = new PipelineWorld(config as WorldConfig, runtime).start();
        await s.waitIdle();
        await world.settle();
        const v = world.violations();
        if (v.length > 0) throw new Error(`${v.join('\n')}\nschedule: ${runtime.trace.join(' | ')}\n${world.describe()}`);
        const rec = world.record();
        const key = `${rec && !('unreadable' in rec) ? `${rec.state}${rec.reason ? `(${rec.reason})` : ''}` : 'none'}${runtime.crashed.size ? ', a crash' : ''}`;
        finalStates.set(key, (finalStates.get(key) ?? 0) + 1);
      }),
      { seed: 1401, numRuns: 4000 },
    );
    report.push(`fc.scheduler, 2-3 deliveries, halt, clock jump, SIGTERM, 0-2 reconciler runs, 0-2 crashes, random scripts: ${runs} sampled schedules; ended ${[...finalStates.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  });
});
