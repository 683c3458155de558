/**
 * `npm start` / `npm run stack`: the local stack in one terminal, on the official Firebase
 * Emulator Suite.
 *
 *   npm start                  build, then the emulators and the stack with the demo strategy
 *                              (tsx dev/emulators/exec.ts -- node --import tsx dev/stack/main.ts)
 *   npm run stack              the same without the demo feed (--no-demo)
 *
 * Run directly it needs the emulators' variables (FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST,
 * FIREBASE_AUTH_EMULATOR_HOST), i.e. dev/emulators/exec.ts around it, and says so otherwise.
 * Options: --no-demo, --seed N, --logs (function logs on stderr instead of a log file).
 * Ports: the emulators' come from dev/emulators/suite.ts (firebase.json's, shifted by
 * HALTGATE_EMULATOR_PORT_OFFSET); the stack's own are HALTGATE_SIM_PORT (8090) and
 * HALTGATE_FUNCTIONS_PORT (5001: first function; the next ones count up), shifted by the same
 * offset unless set; 0 = free port. HALTGATE_PROJECT_ID (demo-haltgate, the suite's project:
 * the only one the Auth emulator signs in for). HALTGATE_OPERATOR_PASSWORD /
 * HALTGATE_VIEWER_PASSWORD fix the local users' passwords (default: new random ones each
 * start, printed). Requires a build (functions/lib): `npm start` does it.
 *
 * Stops on SIGINT (Ctrl-C) and SIGTERM, and also when the emulator suite goes away or the
 * process that started it exits (firebase emulators:exec stops the emulators on SIGTERM but
 * does not signal its command), so nothing is left running.
 */
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { portsFromEnv } from './ports.js';
import { LOCAL_PROJECT_ID, startLocalStack } from './stack.js';
import { watchKillSwitchAudit } from './audit-feed.js';
import { formatStatus, readStatus, createStatusPrinter } from './status.js';

const { values } = parseArgs({
  options: {
    'no-demo': { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    logs: { type: 'boolean', default: false },
  },
});

const projectId = process.env.HALTGATE_PROJECT_ID ?? LOCAL_PROJECT_ID;
const ports = portsFromEnv();
const logDir = mkdtempSync(path.join(tmpdir(), 'haltgate-stack-'));
const logFiles = new Map<string, NodeJS.WritableStream>();
const fileFor = (name: string) => {
  let f = logFiles.get(name);
  if (!f) logFiles.set(name, (f = createWriteStream(path.join(logDir, `${name}.log`), { flags: 'a' })));
  return f;
};

const tty = process.stdout.isTTY === true;
let statusShown = false;
/** Prints a line above the live status line. */
function say(line: string): void {
  if (tty && statusShown) process.stdout.write('\r\x1b[2K');
  process.stdout.write(`${line}\n`);
  statusShown = false;
}

console.log(`haltgate local stack (project ${projectId}): starting...`);
const stack = await startLocalStack({
  ports,
  projectId,
  seed: Number(values.seed),
  demo: !values['no-demo'],
  // Local project only (startLocalStack refuses non-demo-* ids): open the gate so orders flow.
  ...(projectId.startsWith('demo-') ? { openKillSwitch: { reason: 'local stack', updatedBy: 'npm start' } } : {}),
  log: values.logs
    ? (name, line) => say(`[${name}] ${line}`)
    : (name, line) => {
        fileFor(name).write(`${line}\n`);
      },
  notice: (m) => say(`[stack] ${m}`),
  auth: {
    ...(process.env.HALTGATE_OPERATOR_PASSWORD ? { operatorPassword: process.env.HALTGATE_OPERATOR_PASSWORD } : {}),
    ...(process.env.HALTGATE_VIEWER_PASSWORD ? { viewerPassword: process.env.HALTGATE_VIEWER_PASSWORD } : {}),
  },
}).catch((err: unknown) => {
  console.error(`the local stack did not start: ${(err as Error).message}`);
  process.exit(1);
});

const scheduled = stack.functions.filter((f) => f.trigger.kind === 'schedule').map((f) => f.name);
say('');
const row = (label: string, value: string) => say(`  ${label.padEnd(48)} ${value}`);
row('Firestore emulator (FIRESTORE_EMULATOR_HOST)', stack.firestoreHost);
row('Pub/Sub emulator (PUBSUB_EMULATOR_HOST)', stack.pubsubHost);
if (stack.auth) row('Auth emulator (FIREBASE_AUTH_EMULATOR_HOST)', `${stack.auth.host}   (local users only; tokens are unsigned)`);
row('Alpaca simulator', `${stack.simUrl}   (faults: POST ${stack.simUrl}/__sim/faults)`);
for (const [name, url] of Object.entries(stack.functionUrls)) {
  const fn = stack.functions.find((f) => f.name === name);
  const t = fn?.trigger;
  const how =
    t?.kind === 'pubsub'
      ? `push from topic ${t.topic}`
      : t?.kind === 'schedule'
        ? `scheduled "${t.schedule}"`
        : t?.kind === 'firestore'
          ? `Firestore trigger on ${t.document ?? '?'}${stack.firestoreTriggers[name]?.wired ? '' : ': NOT delivered locally'}`
          : (t?.kind ?? '');
  row(`function ${name}`, `${url}   (${how})`);
}
if (stack.dashboardUrl) {
  say('');
  say(`  Ops dashboard  ${stack.dashboardUrl}`);
  if (stack.auth) {
    if (!stack.auth.signInWorks) say(`    (sign-in works for project ${LOCAL_PROJECT_ID} only: the Auth emulator serves the suite's project)`);
    say(`    operator  ${stack.auth.operator.email}  password ${stack.auth.operator.password}   (may halt, resume, reset breakers)`);
    say(`    viewer    ${stack.auth.viewer.email}  password ${stack.auth.viewer.password}   (read only)`);
  }
}
say(`  project ${projectId}; kill switch: ops/killSwitch${projectId.startsWith('demo-') ? ' (written halted:false)' : ''}`);
say(`  demo strategy: ${stack.demo ? path.relative(process.cwd(), stack.demo.script) : 'off (--no-demo)'}${scheduled.length ? `; scheduled: ${scheduled.join(', ')}` : ''}`);
say(values.logs ? '  function logs: below' : `  function logs: ${logDir}/<function>.log`);
say(`  halt from another terminal: FIRESTORE_EMULATOR_HOST=${stack.firestoreHost} npx haltgate halt --reason test --project ${projectId}`);
say('  Ctrl-C stops everything (the stack, then the emulators).');
say('');

const stopAuditFeed = watchKillSwitchAudit(stack.db, say);
let stopping = false;
const printStatus = createStatusPrinter(process.stdout);
const timer = setInterval(() => {
  if (stopping) return;
  readStatus(stack.db)
    .then((s) => {
      if (stopping) return;
      printStatus(formatStatus(s), new Date());
      statusShown = tty;
    })
    .catch((err: unknown) => say(`[stack] status unavailable: ${(err as Error).message}`));
}, 1000);

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  stopAuditFeed();
  say(`\n${signal}: stopping (demo, push subscriptions, functions, simulator)...`);
  const force = setTimeout(() => {
    console.error('shutdown took longer than 30 s; killing what is left and exiting');
    for (const pid of stack.allPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(1);
  }, 30_000);
  await stack.stop();
  for (const f of logFiles.values()) f.end();
  clearTimeout(force);
  say('stopped.');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

// firebase emulators:exec, on SIGTERM, stops the emulators and exits without signalling its
// command: notice that (the hub stops answering, or the parent process is gone) and stop too.
const hub = process.env.FIREBASE_EMULATOR_HUB;
const parent = process.ppid;
let hubMisses = 0;
const watch = setInterval(() => {
  if (stopping) return;
  if (process.ppid !== parent) {
    void shutdown('parent process exited');
    return;
  }
  if (!hub) return;
  fetch(`http://${hub}/emulators`, { signal: AbortSignal.timeout(2_000) })
    .then((res) => {
      hubMisses = res.ok ? 0 : hubMisses + 1;
    })
    .catch(() => {
      hubMisses += 1;
    })
    .finally(() => {
      if (hubMisses >= 2) void shutdown('the emulator suite stopped');
    });
}, 1_000);
watch.unref();
