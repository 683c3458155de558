/**
 * `npm run emulators`: the users' own workflow — `firebase emulators:start` with the compiled
 * functions in firebase-tools' functions emulator beside the official Firestore, Pub/Sub and
 * Auth emulators — plus what that emulator lacks, made up for here:
 *
 * - The Alpaca simulator (paper mode), on the port of ALPACA_BASE_URL in
 *   dev/emulators/emulator.env, started with the keys of functions/.secret.local.
 * - Schedules. firebase-tools never runs them: it subscribes a scheduled function to the topic
 *   `firebase-schedule-<name>` (functionsEmulator.js `addPubsubTrigger`), but a 2nd-gen
 *   schedule has the "http" signature (functionsEmulatorShared.js `getSignatureType`) and the
 *   Pub/Sub emulator's `onMessage` throws "Unsupported trigger signature: http" for it, logs
 *   that at DEBUG and acks — publishing to that topic does nothing. So each onSchedule
 *   function is POSTed on its cadence with the headers Cloud Scheduler sends, on the route
 *   the emulator serves it at.
 * - Redelivery (firebase-tools has none): of `retry: true` Pub/Sub functions
 *   (./redelivery.ts), and of onKillSwitchWrite's events (./halt-trigger-redelivery.ts).
 *   onSubmissionWrite (`submissions/{intentId}`) is delivered by firebase-tools itself, once
 *   per write; a delivery whose order-updates publish fails is not redelivered (a gap, said
 *   in the README).
 * - syncOrders, like every onSchedule function, is POSTed on its cadence (below).
 * - The topics of the data contract (functions/src/topics.ts), as a deploy creates them.
 * - A bounded FUNCTIONS_EMULATOR_PARALLEL (see DEFAULT_FUNCTIONS_PARALLEL).
 *
 * Every port is firebase.json's shifted by HALTGATE_EMULATOR_PORT_OFFSET (or `offset`);
 * firebase-tools runs in a git-ignored cache folder, so its *-debug.log files stay out of the
 * work tree; its config is a generated, git-ignored firebase.local-<offset>.json in the
 * repository root (see ./workflow-config.ts for why there).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { PubSub } from '@google-cloud/pubsub';
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { firestoreAt } from './firestore-at.js';
import { startAlpacaSimulator, type AlpacaSimulator } from '../alpaca-sim/server.js';
import type { FillMode } from '../alpaca-sim/faults.js';
import { discoverFunctions, type DiscoveredFunction } from '../stack/discover.js';
import { every, invokeScheduled, scheduleIntervalMs, type ScheduledJob } from '../stack/scheduler.js';
import * as topics from '../../functions/src/topics.js';
import { KILL_SWITCH_PATH } from '../../functions/src/store/paths.js';
import { startHaltTriggerRedelivery, type HaltTriggerRedelivery } from './halt-trigger-redelivery.js';
import { startRedelivery, type Redelivery } from './redelivery.js';
import { emulatorToolEnv, FIREBASE_CLI, portOffsetFromEnv, SUITE_PROJECT_ID } from './suite.js';
import {
  emulatorParamValues,
  ensureLocalSecrets,
  readEmulatorParams,
  SECRET_LOCAL_FILE,
  workflowPorts,
  writeWorkflowConfig,
  type WorkflowPorts,
} from './workflow-config.js';

export const WORKFLOW_EMULATORS = ['functions', 'firestore', 'pubsub', 'auth'] as const;
/** The functions' region: haltgate's functions set none, so firebase-functions' default. */
const REGION = 'us-central1';
/**
 * Parallel work of the functions emulator (FUNCTIONS_EMULATOR_PARALLEL, workQueue.js; default
 * 50). It starts a new Node process for every request that finds no idle one
 * (functionsRuntimeWorker.js `addWorker`), and kills the process of every invocation that
 * throws (a FATAL log line, functionsEmulatorRuntime.js, kills the worker). Measured on two
 * shared cores, 60 intents each published 3 times back to back: with 50, 51 processes started
 * at once and none had run an intent after 60 s; with 6, 47-53 s until all were settled; with
 * 3, 21 s; with 2, 29 s. A value in the environment wins.
 */
export const DEFAULT_FUNCTIONS_PARALLEL = 3;

/** Emulator variables a caller may have set for some other suite: never passed on. */
const FOREIGN_EMULATOR_VARIABLES = [
  'FIRESTORE_EMULATOR_HOST',
  'PUBSUB_EMULATOR_HOST',
  'FIREBASE_AUTH_EMULATOR_HOST',
  'FIREBASE_EMULATOR_HUB',
  'FIREBASE_DATABASE_EMULATOR_HOST',
  'FIREBASE_STORAGE_EMULATOR_HOST',
  'CLOUD_EVENTARC_EMULATOR_HOST',
  'CLOUD_TASKS_EMULATOR_HOST',
  'FIREBASE_CONFIG',
  'GCLOUD_PROJECT',
];

export interface WorkflowOptions {
  /** Port offset; default HALTGATE_EMULATOR_PORT_OFFSET, else 0. */
  offset?: number;
  /** Default demo-haltgate (a demo- project: nothing reaches Google). */
  projectId?: string;
  /** The simulator's fills (default instant). */
  fillMode?: FillMode;
  seed?: number;
  /** 'auto' (default): each onSchedule function on its cadence; a number: every that many ms; 'off'. */
  schedules?: 'auto' | 'off' | number;
  /**
   * Redelivery timing (defaults: first look 10 s after publish, backoff 10 s doubling to 600 s;
   * both redeliveries); false: none, as firebase-tools alone (to see the gap).
   */
  redelivery?: { firstCheckMs?: number; minBackoffMs?: number; maxBackoffMs?: number; concurrency?: number } | false;
  /** FUNCTIONS_EMULATOR_PARALLEL for firebase-tools (default: the environment's, else DEFAULT_FUNCTIONS_PARALLEL). */
  functionsParallel?: number;
  /** firebase-tools' output: 'inherit' (this process's stdout), or a file to write it to. */
  output?: 'inherit' | { file: string };
  log?: (line: string) => void;
  readyTimeoutMs?: number;
  /** Remove functions/.secret.local on stop if this start created it (tests: leave the tree as found). */
  removeCreatedSecrets?: boolean;
}

export interface WorkflowFunction {
  name: string;
  trigger: DiscoveredFunction['trigger'];
  /** The functions emulator's key of the function (`<region>-<name>[-<generation>]`). */
  key: string;
  /** The URL the emulator serves the function at (background route). */
  url: string;
}

export interface EmulatorsWorkflow {
  offset: number;
  projectId: string;
  ports: WorkflowPorts;
  /** host:port of each emulator, as the *_EMULATOR_HOST variables take them. */
  hosts: { firestore: string; pubsub: string; auth: string; functions: string; hub: string };
  configPath: string;
  simulator: AlpacaSimulator;
  functions: WorkflowFunction[];
  params: Record<string, string>;
  /** Redelivery of each `retry: true` Pub/Sub function, by function name. */
  redelivery: Map<string, Redelivery>;
  /** Redelivery of onKillSwitchWrite's events (null if the function is not there). */
  haltTrigger: HaltTriggerRedelivery | null;
  /** Runs of each scheduled function so far, by HTTP status. */
  scheduleRuns(): Record<string, Record<string, number>>;
  /** One scheduled run now (what Cloud Scheduler's "force run" does): the HTTP status. */
  runScheduled(name: string): Promise<number>;
  /** Resolves with firebase-tools' exit code when it exits (on stop, or on its own). */
  exited: Promise<number>;
  stop(): Promise<void>;
}

const hostPort = (port: number) => `127.0.0.1:${port}`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The ports of `ports` something already listens on (127.0.0.1). */
export async function busyPorts(ports: Record<string, number>): Promise<Array<{ name: string; port: number }>> {
  const busy: Array<{ name: string; port: number }> = [];
  for (const [name, port] of Object.entries(ports)) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (!free) busy.push({ name, port });
  }
  return busy;
}

/** A firebase-admin Firestore on the workflow's emulator, whatever FIRESTORE_EMULATOR_HOST says. */
export function workflowFirestore(projectId: string, host: string): { app: App; db: Firestore } {
  const app = initializeApp({ projectId }, `haltgate-workflow-${process.pid}-${Date.now()}`);
  return { app, db: firestoreAt(app, host) };
}

/** Parent of every process: from /proc on Linux, else from `ps` (macOS). */
function parentsOf(): Map<number, number> {
  const parents = new Map<number, number>();
  if (existsSync('/proc/self/stat')) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        // gone meanwhile
      }
    }
    return parents;
  }
  const out = execFileSync('ps', ['-A', '-o', 'pid=', '-o', 'ppid='], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (pid && ppid !== undefined) parents.set(pid, ppid);
  }
  return parents;
}

/** Every process below `pid`, parents before their children. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const [p, parent] of parentsOf()) children.set(parent, [...(children.get(parent) ?? []), p]);
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function cmdline(pid: number): string {
  try {
    if (existsSync('/proc/self/cmdline')) return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The functions emulator's keys, from the 404 it answers for an unknown function ("valid functions are: …"). */
async function triggerKeys(functionsOrigin: string, projectId: string): Promise<string[]> {
  const res = await fetch(`${functionsOrigin}/functions/projects/${projectId}/triggers/haltgate-probe-no-such-function`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const m = /valid functions are: (.*)$/s.exec(text);
  if (res.status !== 404 || !m) throw new Error(`the functions emulator answered ${res.status} to a probe: ${text.slice(0, 300)}`);
  return m[1]!.split(',').map((s) => s.trim()).filter(Boolean);
}

/** POSTs a structured-mode CloudEvent; resolves with the HTTP status, 0 when there was no answer. */
async function postCloudEvent(url: string, event: unknown, timeoutMs: number, closing: AbortSignal): Promise<number> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json; charset=UTF-8' },
      body: JSON.stringify(event),
      signal: AbortSignal.any([closing, AbortSignal.timeout(timeoutMs)]),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

function keyFor(keys: string[], name: string): string | null {
  const id = `${REGION}-${name}`;
  const candidates = keys.filter((k) => k === id || (k.startsWith(`${id}-`) && /^\d+$/.test(k.slice(id.length + 1))));
  // The newest generation of the trigger wins.
  candidates.sort((a, b) => Number(b.slice(id.length + 1) || -1) - Number(a.slice(id.length + 1) || -1));
  return candidates[0] ?? null;
}

export async function startEmulatorsWorkflow(opts: WorkflowOptions = {}): Promise<EmulatorsWorkflow> {
  // firebase-tools' output and ours, time-stamped, when it goes to a file (tests); else as is.
  let sink: WriteStream | null = null;
  let partial = '';
  const toSink = (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    if (sink!.writableEnded) return;
    for (const line of lines) sink!.write(`${new Date().toISOString()} ${line}\n`);
  };
  const userLog = opts.log ?? ((line: string) => console.log(`[haltgate] ${line}`));
  const log = (line: string) => {
    if (sink) toSink(`[haltgate] ${line}\n`);
    userLog(line);
  };
  const offset = opts.offset ?? portOffsetFromEnv();
  const projectId = opts.projectId ?? SUITE_PROJECT_ID;
  const committed = readEmulatorParams();
  const ports = workflowPorts(offset, committed);
  const busy = await busyPorts({ ...ports });
  if (busy.length > 0) {
    throw new Error(
      `ports in use: ${busy.map((b) => `${b.name} ${b.port}`).join(', ')} (port offset ${offset}). ` +
        'Stop what listens there, or set HALTGATE_EMULATOR_PORT_OFFSET (e.g. 1000) to shift every port.',
    );
  }
  const { env: toolEnv } = emulatorToolEnv();
  const secrets = ensureLocalSecrets();
  if (opts.output !== undefined && opts.output !== 'inherit') sink = createWriteStream(opts.output.file, { flags: 'a' });
  const cleanups: Array<() => Promise<void> | void> = [() => void sink?.end()];
  const cleanUp = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`clean-up: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  if (secrets.created) {
    log(`generated ${SECRET_LOCAL_FILE.replace(`${process.cwd()}/`, '')} (simulator keys; git-ignored)`);
    if (opts.removeCreatedSecrets) cleanups.push(() => rmSync(SECRET_LOCAL_FILE, { force: true }));
  }

  try {
    const params = emulatorParamValues(ports, secrets, committed);
    const generated = writeWorkflowConfig(offset, ports, params);
    cleanups.push(() => rmSync(generated.configPath, { force: true }));

    const simulator = await startAlpacaSimulator({
      port: ports.simulator,
      host: '127.0.0.1',
      keyId: secrets.keyId,
      secretKey: secrets.secretKey,
      ...(opts.fillMode ? { fillMode: opts.fillMode } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    });
    cleanups.push(() => simulator.stop());
    log(`Alpaca simulator (paper) on ${simulator.url}`);

    // ---- firebase emulators:start -------------------------------------------------------
    const parallel = opts.functionsParallel ?? (toolEnv.FUNCTIONS_EMULATOR_PARALLEL || DEFAULT_FUNCTIONS_PARALLEL);
    const childEnv: NodeJS.ProcessEnv = { ...toolEnv, FUNCTIONS_EMULATOR_PARALLEL: String(parallel) };
    for (const name of FOREIGN_EMULATOR_VARIABLES) delete childEnv[name];
    const args = [FIREBASE_CLI, 'emulators:start', '--config', generated.configPath, '--project', projectId, '--only', WORKFLOW_EMULATORS.join(',')];
    const child: ChildProcess = spawn(process.execPath, args, {
      cwd: generated.workDir,
      env: childEnv,
      // A process group of its own: a Ctrl-C in the terminal reaches us, and we stop it in order.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    let ready = false;
    let onReady: () => void = () => {};
    const readyPromise = new Promise<void>((resolve) => (onReady = resolve));
    const onOutput = (chunk: Buffer) => {
      if (sink) toSink(chunk.toString('utf8'));
      else process.stdout.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-20_000);
      if (!ready && /All emulators ready/.test(tail)) {
        ready = true;
        onReady();
      }
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    const exited = new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => {
        if (sink) {
          toSink('\n');
          sink.end();
        }
        resolve(code ?? (signal ? 128 + 2 : 1));
      });
    });
    let stopping = false;
    const stopChild = async () => {
      stopping = true;
      const pid = child.pid;
      if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      // What firebase-tools started (Java emulators run in process groups of their own, and
      // would outlive a killed CLI). A pid is only ever killed while its command line is
      // still the one seen here, so a reused pid is never hit.
      const seen = new Map<number, string>();
      const look = () => {
        for (const p of descendants(pid)) if (!seen.has(p)) seen.set(p, cmdline(p));
      };
      const killSeen = (): number[] => {
        const left = [...seen].filter(([p, cmd]) => alive(p) && cmdline(p) === cmd).map(([p]) => p);
        for (const p of left) process.kill(p, 'SIGKILL');
        return left;
      };
      look();
      // firebase-tools gives the Pub/Sub emulator 4 s to exit on SIGINT and otherwise runs
      // `kill -9` on every process matching 'pubsub-emulator' on the machine
      // (pubsubEmulator.js PUBSUB_KILL_COMMAND) — other developers' suites included. Ours holds
      // nothing worth a clean shutdown (messages live in memory): end it first, by its pid.
      for (const [p, cmd] of seen) if (cmd.includes('pubsub-emulator') && cmd.includes(`--port=${ports.pubsub}`)) process.kill(p, 'SIGKILL');
      child.kill('SIGINT');
      const poll = setInterval(look, 500);
      const cleanExit = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
      clearInterval(poll);
      if (!cleanExit) {
        // Its functions emulator waits up to 60 s for running functions (workQueue.flush).
        log('firebase-tools did not stop within 20 s of SIGINT: killing what it started');
        look();
        process.kill(pid, 'SIGKILL');
        await Promise.race([exited, sleep(5_000)]);
      }
      // Nothing it started outlives it: wait until every process is gone.
      for (let i = 0; i < 50 && killSeen().length > 0; i++) await sleep(200);
    };
    cleanups.push(stopChild);

    const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
    const startup = await Promise.race([
      readyPromise.then(() => 'ready' as const),
      exited.then((code) => ({ exited: code })),
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), readyTimeoutMs).unref()),
    ]);
    if (startup !== 'ready') {
      const why = startup === 'timeout' ? `not ready within ${readyTimeoutMs / 1000} s` : `exited with ${startup.exited} before it was ready`;
      throw new Error(`firebase emulators:start ${why}. Its last output:\n${tail.slice(-4000)}`);
    }

    // ---- what the functions emulator lacks ---------------------------------------------
    const hosts = {
      firestore: hostPort(ports.firestore),
      pubsub: hostPort(ports.pubsub),
      auth: hostPort(ports.auth),
      functions: hostPort(ports.functions),
      hub: hostPort(ports.hub),
    };
    const functionsOrigin = `http://${hosts.functions}`;
    const discovered = await discoverFunctions(params);
    let keys = await triggerKeys(functionsOrigin, projectId);
    const functions: WorkflowFunction[] = [];
    for (const fn of discovered) {
      const key = keyFor(keys, fn.name);
      if (key === null) throw new Error(`the functions emulator did not load ${fn.name} (it has ${keys.join(', ')})`);
      functions.push({ name: fn.name, trigger: fn.trigger, key, url: `${functionsOrigin}/functions/projects/${projectId}/triggers/${key}` });
    }
    const urlOf = async (fn: WorkflowFunction): Promise<string> => {
      // The key changes when firebase-tools reloads the functions with a new generation.
      const again = keyFor((keys = await triggerKeys(functionsOrigin, projectId).catch(() => keys)), fn.name);
      if (again !== null && again !== fn.key) {
        fn.key = again;
        fn.url = `${functionsOrigin}/functions/projects/${projectId}/triggers/${again}`;
      }
      return fn.url;
    };
    const post = async (fn: WorkflowFunction, send: (url: string) => Promise<number>) => {
      const status = await send(fn.url);
      return status === 404 ? send(await urlOf(fn)) : status;
    };

    const firestore = workflowFirestore(projectId, hosts.firestore);
    cleanups.push(() => deleteApp(firestore.app));
    const pubsub = new PubSub({ projectId, apiEndpoint: hosts.pubsub });
    cleanups.push(() => pubsub.close());

    // Every topic of the data contract, as a deploy creates them: onKillSwitchWrite publishes
    // to ops-events and fails (and, without redelivery, never retries) if it is missing.
    for (const topic of (Object.values(topics) as unknown[]).filter((v): v is string => typeof v === 'string')) {
      await pubsub
        .topic(topic)
        .create()
        .catch((err: { code?: number }) => {
          if (err.code !== 6) throw err; // 6: ALREADY_EXISTS
        });
    }

    /** Aborted on stop: our deliveries still waiting for an answer are given up. */
    const closing = new AbortController();
    const redelivery = new Map<string, Redelivery>();
    const executeTimeoutMs = Number(params.EXECUTE_TIMEOUT_SECONDS) * 1000;
    const redeliveryOpts = opts.redelivery === false ? null : (opts.redelivery ?? {});
    for (const fn of functions) {
      if (redeliveryOpts === null || fn.trigger.kind !== 'pubsub' || !fn.trigger.retry) continue;
      const topic = fn.trigger.topic;
      const r = await startRedelivery({
        pubsub,
        db: firestore.db,
        projectId,
        topic,
        subscriptionId: `haltgate-redelivery-${fn.name}`,
        ownerGraceMs: Number(params.OWNER_GRACE_MS),
        ...redeliveryOpts,
        log,
        // The emulator may never answer (a worker that failed to start): an ack deadline.
        deliver: (event) => post(fn, (url) => postCloudEvent(url, event, executeTimeoutMs + 60_000, closing.signal)),
      });
      redelivery.set(fn.name, r);
      cleanups.push(() => r.stop());
      log(`redelivery for ${fn.name} (topic ${topic}, retry: true): subscription haltgate-redelivery-${fn.name}`);
    }

    let haltTrigger: HaltTriggerRedelivery | null = null;
    const killSwitchTrigger = functions.find((f) => f.trigger.kind === 'firestore' && f.trigger.document === KILL_SWITCH_PATH && f.trigger.retry);
    if (killSwitchTrigger && redeliveryOpts !== null) {
      const h = startHaltTriggerRedelivery({
        db: firestore.db,
        projectId,
        ...(redeliveryOpts.minBackoffMs !== undefined ? { minBackoffMs: redeliveryOpts.minBackoffMs } : {}),
        ...(redeliveryOpts.maxBackoffMs !== undefined ? { maxBackoffMs: redeliveryOpts.maxBackoffMs } : {}),
        log,
        deliver: (event) => post(killSwitchTrigger, (url) => postCloudEvent(url, event, 60_000 + 60_000, closing.signal)),
      });
      haltTrigger = h;
      cleanups.push(() => h.stop());
      log(`redelivery for ${killSwitchTrigger.name} (${KILL_SWITCH_PATH}, retry: true): from its audit entries`);
    }

    const runs: Record<string, Record<string, number>> = {};
    const runScheduled = async (name: string): Promise<number> => {
      const fn = functions.find((f) => f.name === name && f.trigger.kind === 'schedule');
      if (!fn) throw new Error(`${name} is not a scheduled function`);
      const status = await post(fn, (url) => invokeScheduled(url, `firebase-schedule-${name}-${REGION}`));
      const byStatus = (runs[name] ??= {});
      byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
      if (status < 200 || status >= 300) log(`scheduled ${name}: the run answered ${status}`);
      return status;
    };
    const schedules = opts.schedules ?? 'auto';
    if (schedules !== 'off') {
      for (const fn of functions) {
        if (fn.trigger.kind !== 'schedule') continue;
        const period = typeof schedules === 'number' ? { ms: schedules, exact: true } : scheduleIntervalMs(fn.trigger.schedule);
        const job: ScheduledJob = every(period.ms, () => runScheduled(fn.name));
        cleanups.push(() => job.stop());
        log(
          `schedule ${fn.name}: "${fn.trigger.schedule}" → POST every ${period.ms / 1000} s` +
            (period.exact ? '' : ' (schedule not understood locally: every minute)'),
        );
      }
    }

    cleanups.push(() => closing.abort());

    void exited.then((code) => {
      if (!stopping) log(`firebase emulators:start exited with ${code}`);
    });

    let stopped: Promise<void> | null = null;
    return {
      offset,
      projectId,
      ports,
      hosts,
      configPath: generated.configPath,
      simulator,
      functions,
      params,
      redelivery,
      haltTrigger,
      scheduleRuns: () => structuredClone(runs),
      runScheduled,
      exited,
      stop: () => (stopped ??= cleanUp()),
    };
  } catch (err) {
    await cleanUp();
    throw err;
  }
}
