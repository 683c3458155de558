/**
 * `npm run emulators` (after `npm run build`):
 *
 *   tsx dev/emulators/start.ts [--fill-mode instant|none|partial] [--seed 1] [--schedules auto|off|<ms>]
 *
 * firebase-tools' `emulators:start` with the compiled functions, Firestore, Pub/Sub and Auth,
 * the Alpaca simulator beside it, and the schedules and redelivery the functions emulator
 * lacks (./workflow.ts). Every port is firebase.json's plus HALTGATE_EMULATOR_PORT_OFFSET.
 * Ctrl-C (or SIGTERM) stops everything it started. Exit code 2: something it needs is missing.
 */
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { FillMode } from '../alpaca-sim/faults.js';
import { EmulatorSetupError } from './locate.js';
import { REPO_ROOT } from './suite.js';
import { startEmulatorsWorkflow, type EmulatorsWorkflow } from './workflow.js';

// The Google client libraries here talk to emulators only: no probing for a GCE metadata server.
process.env.METADATA_SERVER_DETECTION ??= 'none';

const { values } = parseArgs({
  options: {
    'fill-mode': { type: 'string', default: 'instant' },
    seed: { type: 'string', default: '1' },
    schedules: { type: 'string', default: 'auto' },
  },
});
const fillMode = values['fill-mode'] as FillMode;
if (!Object.values(FillMode).includes(fillMode)) {
  console.error(`--fill-mode must be one of ${Object.values(FillMode).join(', ')}`);
  process.exit(2);
}
const schedulesArg = values.schedules ?? 'auto';
const schedules = schedulesArg === 'auto' || schedulesArg === 'off' ? schedulesArg : Number(schedulesArg);
if (typeof schedules === 'number' && !(Number.isInteger(schedules) && schedules >= 1000)) {
  console.error('--schedules must be auto, off, or a period in ms (at least 1000)');
  process.exit(2);
}

const say = (line: string) => console.log(`[haltgate] ${line}`);
let workflow: EmulatorsWorkflow | null = null;
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  await workflow?.stop();
  process.exit(code);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));

try {
  workflow = await startEmulatorsWorkflow({ fillMode, seed: Number(values.seed), schedules, output: 'inherit', log: say });
} catch (err) {
  if (err instanceof EmulatorSetupError) {
    console.error(`\n${err.message}\n`);
    process.exit(2);
  }
  console.error(`\n${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

const w = workflow;
const p = w.params;
say('');
say(`ready (project ${w.projectId}, port offset ${w.offset}; config ${relative(REPO_ROOT, w.configPath)})`);
say(`  FIRESTORE_EMULATOR_HOST=${w.hosts.firestore} PUBSUB_EMULATOR_HOST=${w.hosts.pubsub} FIREBASE_AUTH_EMULATOR_HOST=${w.hosts.auth}`);
say(`  functions: ${w.functions.map((f) => f.name).join(', ')} (http://${w.hosts.functions})`);
say(`  ops API / dashboard: http://${w.hosts.functions}/${w.projectId}/us-central1/ops`);
say(`  broker: Alpaca simulator ${w.simulator.url} (EXECUTION_MODE=${p.EXECUTION_MODE}; its orders: GET ${w.simulator.url}/__sim/orders)`);
say('  ops/killSwitch is missing, so every intent is refused (halted) until you write halted: false, e.g.');
say(`    FIRESTORE_EMULATOR_HOST=${w.hosts.firestore} npx haltgate resume --reason local --project ${w.projectId}`);
say(`  publish intents to the topic order-intents (PUBSUB_EMULATOR_HOST=${w.hosts.pubsub}). Ctrl-C stops everything.`);

const code = await w.exited;
if (!stopping) await stop(code === 0 ? 1 : code);
