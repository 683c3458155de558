/**
 * `npm start` / `npm run stack`: the local stack in one terminal.
 *
 *   npm start                  build, then the stack with the demo strategy
 *   npm run stack              the same without the demo feed (tsx dev/stack/main.ts --no-demo)
 *
 * Options: --no-demo, --seed N, --logs (function logs on stderr instead of a log file).
 * Ports: HALTGATE_FIRESTORE_PORT (8080), HALTGATE_PUBSUB_PORT (8085), HALTGATE_SIM_PORT
 * (8090), HALTGATE_AUTH_PORT (9099), HALTGATE_FUNCTIONS_PORT (5001: first function; the next
 * ones count up); 0 = free port. HALTGATE_PROJECT_ID (demo-haltgate).
 * HALTGATE_OPERATOR_PASSWORD / HALTGATE_VIEWER_PASSWORD fix the local users' passwords
 * (default: new random ones each start, printed). Requires a build (functions/lib): `npm start` does it.
 */
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { portsFromEnv } from './ports.js';
import { startLocalStack } from './stack.js';
import { watchKillSwitchAudit } from './audit-feed.js';
import { formatStatus, readStatus } from './status.js';

const { values } = parseArgs({
  options: {
    'no-demo': { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    logs: { type: 'boolean', default: false },
  },
});

const projectId = process.env.HALTGATE_PROJECT_ID ?? 'demo-haltgate';
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
say(`  Firestore (FIRESTORE_EMULATOR_HOST)  ${stack.firestoreHost}`);
say(`  Pub/Sub   (PUBSUB_EMULATOR_HOST)     ${stack.pubsubHost}`);
say(`  Alpaca simulator                     ${stack.simUrl}   (faults: POST ${stack.simUrl}/__sim/faults)`);
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
  say(`  function ${name.padEnd(27)} ${url}   (${how})`);
}
if (stack.auth) say(`  Auth emulator (FIREBASE_AUTH_EMULATOR_HOST) ${stack.auth.host}   (local users only; tokens are unsigned)`);
if (stack.dashboardUrl) {
  say('');
  say(`  Ops dashboard  ${stack.dashboardUrl}`);
  if (stack.auth) {
    say(`    operator  ${stack.auth.operator.email}  password ${stack.auth.operator.password}   (may halt, resume, reset breakers)`);
    say(`    viewer    ${stack.auth.viewer.email}  password ${stack.auth.viewer.password}   (read only)`);
  }
}
say(`  project ${projectId}; kill switch: ops/killSwitch${projectId.startsWith('demo-') ? ' (written halted:false)' : ''}`);
say(`  demo strategy: ${stack.demo ? path.relative(process.cwd(), stack.demo.script) : 'off (--no-demo)'}${scheduled.length ? `; scheduled: ${scheduled.join(', ')}` : ''}`);
say(values.logs ? '  function logs: below' : `  function logs: ${logDir}/<function>.log`);
say('  Ctrl-C stops everything.');
say('');

const stopAuditFeed = watchKillSwitchAudit(stack.db, say);
const subscription = stack.subscriptions.executeIntent;
let stopping = false;
const timer = setInterval(() => {
  if (stopping) return;
  readStatus(stack.db, stack.pubsub, subscription)
    .then((s) => {
      if (stopping) return;
      const line = `${new Date().toISOString().slice(11, 19)} ${formatStatus(s)}`;
      if (tty) {
        process.stdout.write(`\r\x1b[2K${line}`);
        statusShown = true;
      } else {
        process.stdout.write(`${line}\n`);
      }
    })
    .catch((err: unknown) => say(`[stack] status unavailable: ${(err as Error).message}`));
}, 1000);

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  stopAuditFeed();
  say(`\n${signal}: stopping (demo, functions, Pub/Sub, simulator, Firestore)...`);
  const force = setTimeout(() => {
    console.error('shutdown took longer than 30 s; exiting anyway');
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
