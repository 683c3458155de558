/**
 * `npm run test:chaos`: the chaos scenario at full size, several seeds, one after another, on
 * the official emulators (the script runs it under dev/emulators/exec.ts; each seed gets a
 * project of its own). Prints the invariants per seed and exits 1 if any is not 0 (or a run
 * did not settle). Writes test-results/chaos.json.
 *
 *   npm run test:chaos                          seeds 1,2,3; 500 intents each
 *   npm run test:chaos -- --seeds 7 --intents 800
 *
 * A failing seed replays the same storm: `npm run test:chaos -- --seeds <seed>`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatReport, runChaos, violations, type ChaosReport } from './chaos.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2,3' },
    intents: { type: 'string', default: '500' },
    strategies: { type: 'string', default: '5' },
    kills: { type: 'string', default: '8' },
    halts: { type: 'string', default: '5' },
    'publish-ms': { type: 'string', default: '120000' },
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
    log: (line) => (values.verbose ? console.log(`  [${seed}] ${line}`) : undefined),
  });
  reports.push(report);
  console.log(formatReport(report));
}
mkdirSync('test-results', { recursive: true });
writeFileSync('test-results/chaos.json', `${JSON.stringify(reports, null, 2)}\n`);
const bad = reports.filter((r) => violations(r) > 0).map((r) => r.seed);
console.log(bad.length === 0 ? `all invariants 0 for seeds ${values.seeds}` : `VIOLATIONS for seeds ${bad.join(', ')} (replay: npm run test:chaos -- --seeds <seed>)`);
process.exit(bad.length === 0 ? 0 : 1);
