/**
 * `npm run test:chaos`: the chaos scenario at full size, several seeds, one after another, on
 * the official emulators (the script runs it under dev/emulators/exec.ts; each seed gets a
 * project of its own). Prints the invariants per seed and exits 1 if any is not 0, a run
 * did not settle, or a run was no storm (no Firestore fault injected, too few broker faults,
 * no kill). Writes test-results/chaos.json and a table per seed (markdown) to stdout.
 *
 *   npm run test:chaos                          seeds 1,2,3; 500 intents each
 *   npm run test:chaos -- --seeds 7 --intents 800
 *   npm run test:chaos -- --seeds 1 --no-firestore-restart   (without the Firestore restart)
 *
 * Every seed restarts its Firestore emulator (an own one) once mid-run, data exported and
 * re-imported (ChaosOptions.restartFirestore).
 *
 * A failing seed replays the same storm: `npm run test:chaos -- --seeds <seed>`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { brokerFaultsInjected, FIRESTORE_FAULT_KINDS, formatReport, runChaos, stormProblems, violations, type ChaosReport } from './chaos.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2,3' },
    intents: { type: 'string', default: '500' },
    strategies: { type: 'string', default: '5' },
    kills: { type: 'string', default: '8' },
    halts: { type: 'string', default: '5' },
    'publish-ms': { type: 'string', default: '120000' },
    /** Firestore fault windows per seed (0: none, and the run fails). */
    'firestore-windows': { type: 'string', default: '10' },
    /** Do not restart the Firestore emulator mid-run (by default each seed restarts an own one once, data exported and re-imported). */
    'no-firestore-restart': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

const reports: ChaosReport[] = [];
for (const seed of values.seeds.split(',').map(Number)) {
  console.log(`--- chaos seed ${seed}`);
  const report = await runChaos({
    seed,
    intents: Number(values.intents),
    strategies: Number(values.strategies),
    kills: Number(values.kills),
    halts: Number(values.halts),
    publishMs: Number(values['publish-ms']),
    firestoreFaultWindows: Number(values['firestore-windows']),
    restartFirestore: !values['no-firestore-restart'],
    log: (line) => (values.verbose ? console.log(`  [${seed}] ${line}`) : undefined),
  });
  reports.push(report);
  console.log(formatReport(report));
  for (const p of stormProblems(report)) console.log(`  FAIL ${p}`);
}
mkdirSync('test-results', { recursive: true });
writeFileSync('test-results/chaos.json', `${JSON.stringify(reports, null, 2)}\n`);
// The table per seed, as README reports it.
const invariantNames = Object.keys(reports[0]?.invariants ?? {});
const header = ['seed', 'intents', 'orders', ...FIRESTORE_FAULT_KINDS.map((k) => `Firestore ${k}`), 'Firestore restarts (down ms)', 'broker faults', 'kills', 'halts', ...invariantNames, 'settled', 'time (s)'];
console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const r of reports) {
  const cells = [r.seed, r.published.valid, r.sim.orders, ...FIRESTORE_FAULT_KINDS.map((k) => r.firestore.faults[k]), restartCell(r), brokerFaultsInjected(r), r.kills, r.haltPeriods, ...invariantNames.map((k) => r.invariants[k as keyof typeof r.invariants]), r.settled ? 'yes' : 'NO', Math.round(r.durationMs / 1000)];
  console.log(`| ${cells.join(' | ')} |`);
}
function restartCell(r: ChaosReport): string {
  const restarts = r.firestore.restarts ?? [];
  return restarts.length === 0 ? '0' : `${restarts.length} (${restarts.map((x) => x.downMs).join(', ')})`;
}
const bad = reports.filter((r) => violations(r) > 0 || stormProblems(r).length > 0).map((r) => r.seed);
console.log(bad.length === 0 ? `all invariants 0 for seeds ${values.seeds}` : `VIOLATIONS for seeds ${bad.join(', ')} (replay: npm run test:chaos -- --seeds <seed>)`);
process.exit(bad.length === 0 ? 0 : 1);
