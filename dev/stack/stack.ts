import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { randomBytes } from 'node:crypto';
import { startAuthEmulator, type AuthEmulator } from '../auth/identity-toolkit.js';
import { startAlpacaSimulator, type AlpacaSimulator, type FaultPatch, type FillMode } from '../alpaca-sim/server.js';
import { startEmbeddedFirestore, type EmbeddedFirestore } from '../firestore/embedded-firestore.js';
import { startPubSubEmulator, type PubSubEmulator, type PushOptions } from '../pubsub/emulator.js';
import { startDemoFeed, type DemoFeed } from './demo-feed.js';
import { discoverFunctions, type DiscoveredFunction } from './discover.js';
import { connectFirestoreTrigger, type FirestoreTriggerConnection } from './firestore-triggers.js';
import { FunctionProcess, type LogSink } from './function-process.js';
import { freePort, type StackPorts } from './ports.js';
import { every, invokeScheduled, scheduleIntervalMs, type ScheduledJob } from './scheduler.js';

/**
 * The local stack as a library: embedded Firestore, the Pub/Sub emulator, the Alpaca
 * simulator and (for demo-* projects) a local Auth emulator in this process; every exported
 * Cloud Function in its own functions-framework process; push subscriptions for
 * Pub/Sub-triggered functions; Eventarc-style delivery for Firestore-triggered ones; a timer
 * per scheduled function; optionally the demo strategy. Used by `npm start` (dev/stack/main.ts), the chaos
 * test, the benchmark and browser tests. Ports 0 (the library default) = free ports.
 */

export const LOCAL_PROJECT_ID = 'demo-haltgate';

export interface LocalStackOptions {
  /** Missing entries and 0: free ports. `npm start` passes `portsFromEnv()`. */
  ports?: Partial<StackPorts>;
  /** Default `demo-haltgate`. */
  projectId?: string;
  /** Seeds the simulator's fault dice, the Pub/Sub duplicate dice and the demo feed. Default 1. */
  seed?: number;
  /** Start only these functions (default: every exported one). */
  only?: string[];
  /** Run the demo strategy (child process). Default false. */
  demo?: boolean;
  /** Extra environment for the demo strategy. */
  demoEnv?: Record<string, string>;
  /** Overrides of the functions' environment (EXECUTION_MODE, BROKER_TIMEOUT_MS, ...). */
  functionsEnv?: Record<string, string>;
  /** Push delivery of Pub/Sub-triggered functions. Local default: backoff 1 s → 10 s. */
  pubsub?: Partial<PushOptions>;
  sim?: { faults?: FaultPatch; fillMode?: FillMode };
  /**
   * Scheduled functions: 'auto' (default) invokes each on its own schedule; a number invokes
   * each that often (ms); 'off' never (call `invokeScheduled` yourself).
   */
  schedules?: 'auto' | 'off' | number;
  /** Write `ops/killSwitch {halted:false}` at start. Only allowed for `demo-*` projects. Default false. */
  openKillSwitch?: { reason: string; updatedBy: string } | false;
  /** Where function and demo logs go. Default: stderr with a `[name]` prefix, or nowhere when `quiet`. */
  log?: LogSink;
  quiet?: boolean;
  /** Lets a caller put something (a recording proxy) between Pub/Sub and a function. */
  pushEndpoint?: (fn: DiscoveredFunction, functionUrl: string) => string | Promise<string>;
  /** Status messages of the stack itself (banner warnings). Default: stderr unless quiet. */
  notice?: (message: string) => void;
  /**
   * The local Auth emulator and its users (demo-* projects only; default on there). Passwords
   * default to fresh random ones per start.
   */
  auth?: false | { operatorPassword?: string; viewerPassword?: string };
}

/** A user of the local Auth emulator, for signing in to the dashboard. */
export interface LocalUser {
  uid: string;
  email: string;
  password: string;
  role: 'operator' | 'viewer';
}

export interface LocalAuth {
  emulator: AuthEmulator;
  /** FIREBASE_AUTH_EMULATOR_HOST value. */
  host: string;
  /** The web API key the dashboard sends (any value works with the emulator). */
  webApiKey: string;
  operator: LocalUser;
  viewer: LocalUser;
}

export const LOCAL_OPERATOR_EMAIL = 'operator@haltgate.local';
export const LOCAL_VIEWER_EMAIL = 'viewer@haltgate.local';
const LOCAL_WEB_API_KEY = 'local-emulator-web-api-key';

export interface LocalStack {
  projectId: string;
  /** FIRESTORE_EMULATOR_HOST value. */
  firestoreHost: string;
  /** PUBSUB_EMULATOR_HOST value. */
  pubsubHost: string;
  simUrl: string;
  /** The ops dashboard (the `ops` function), when it runs. */
  dashboardUrl: string | null;
  /** The local Auth emulator and its users; null for non-demo projects or `auth: false`. */
  auth: LocalAuth | null;
  /** Firestore trigger deliveries by function name (for tests). */
  firestoreTriggers: Record<string, FirestoreTriggerConnection>;
  /** Function name → URL of its functions-framework process. */
  functionUrls: Record<string, string>;
  functions: DiscoveredFunction[];
  /** The in-process servers, for tests and the benchmark (stats, commit log, faults, request log). */
  firestore: EmbeddedFirestore;
  pubsub: PubSubEmulator;
  sim: AlpacaSimulator;
  /** A firebase-admin Firestore client of the stack's own. */
  db: Firestore;
  /** The environment the function processes get. */
  functionsEnv: Record<string, string>;
  /** Push subscription names of Pub/Sub-triggered functions, by function name. */
  subscriptions: Record<string, string>;
  demo: DemoFeed | null;
  /** Current PID of a function process (null while it is down). */
  functionPid(name: string): number | null;
  /** Every PID the stack ever started (function processes, the demo): to check none is left. */
  allPids(): number[];
  /** Kills the function process with `signal` (default SIGKILL) and starts it again on the same port. */
  restartFunction(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Sends `signal` (default SIGKILL) and waits for the exit; the function stays down until `startFunction`. */
  killFunction(name: string, signal?: NodeJS.Signals): Promise<void>;
  startFunction(name: string): Promise<void>;
  /** One Cloud Scheduler attempt at a scheduled function: its HTTP status (0 if unreachable). */
  invokeScheduled(name: string): Promise<number>;
  /** Demo first, then timers, function processes (SIGTERM, drain), Pub/Sub, simulator, Firestore. Idempotent. */
  stop(): Promise<void>;
}

let appCounter = 0;

/** Environment a function process gets: a minimal base, the emulators, paper trading against the simulator. */
function baseFunctionEnv(o: { projectId: string; firestoreHost: string; pubsubHost: string; sim: AlpacaSimulator }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'SYSTEMROOT']) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  return {
    ...env,
    NODE_ENV: 'development',
    FIRESTORE_EMULATOR_HOST: o.firestoreHost,
    PUBSUB_EMULATOR_HOST: o.pubsubHost,
    GCLOUD_PROJECT: o.projectId,
    GOOGLE_CLOUD_PROJECT: o.projectId,
    FIREBASE_CONFIG: JSON.stringify({ projectId: o.projectId }),
    // No GCE metadata server locally: don't let the Google auth libraries probe for one.
    METADATA_SERVER_DETECTION: 'none',
    EXECUTION_MODE: 'paper',
    EXECUTION_HALTED: 'false',
    ALPACA_BASE_URL: o.sim.url,
    ALPACA_KEY_ID: o.sim.keyId,
    ALPACA_SECRET_KEY: o.sim.secretKey,
  };
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const projectId = opts.projectId ?? LOCAL_PROJECT_ID;
  const seed = opts.seed ?? 1;
  const ports = opts.ports ?? {};
  const quiet = opts.quiet ?? false;
  const notice = opts.notice ?? ((m: string) => (quiet ? undefined : process.stderr.write(`[stack] ${m}\n`)));
  const log: LogSink = opts.log ?? ((name, line) => (quiet ? undefined : process.stderr.write(`[${name}] ${line}\n`)));
  if (opts.openKillSwitch && !projectId.startsWith('demo-')) {
    throw new Error(`refusing to write ops/killSwitch for project ${projectId}: only demo-* projects are local`);
  }

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  };

  try {
    const firestore = await startEmbeddedFirestore({ port: ports.firestore ?? 0, projectId });
    cleanups.push(() => firestore.stop());
    const pubsub = await startPubSubEmulator({ port: ports.pubsub ?? 0, projectId, seed });
    cleanups.push(() => pubsub.stop());
    const sim = await startAlpacaSimulator({
      port: ports.sim ?? 0,
      seed,
      ...(opts.sim?.fillMode ? { fillMode: opts.sim.fillMode } : {}),
      ...(opts.sim?.faults ? { faults: opts.sim.faults } : {}),
    });
    cleanups.push(() => sim.stop());

    // A deployed function refuses tokens while FIREBASE_AUTH_EMULATOR_HOST is set outside a
    // demo-* project (functions/src/ops/firebase-verifier.ts): the emulator is for those only.
    let auth: LocalAuth | null = null;
    if (opts.auth !== false && projectId.startsWith('demo-')) {
      const emulator = await startAuthEmulator({ projectId, port: ports.auth ?? 0 });
      cleanups.push(() => emulator.stop());
      const password = (given: string | undefined) => given ?? randomBytes(9).toString('base64url');
      const make = (email: string, role: LocalUser['role'], pw: string): LocalUser => {
        const u = emulator.createUser({ uid: `local-${role}`, email, password: pw, displayName: `local ${role}`, customClaims: { haltgate: { role } } });
        return { uid: u.uid, email, password: pw, role };
      };
      const authOpts = opts.auth === undefined ? {} : opts.auth;
      auth = {
        emulator,
        host: emulator.host,
        webApiKey: LOCAL_WEB_API_KEY,
        operator: make(LOCAL_OPERATOR_EMAIL, 'operator', password(authOpts.operatorPassword)),
        viewer: make(LOCAL_VIEWER_EMAIL, 'viewer', password(authOpts.viewerPassword)),
      };
    } else if (opts.auth !== false) {
      notice(`project ${projectId} is not demo-*: no local Auth emulator; the ops API needs real Firebase ID tokens`);
    }

    appCounter += 1;
    const app: App = initializeApp({ projectId }, `haltgate-stack-${process.pid}-${appCounter}`);
    cleanups.push(() => deleteApp(app));
    const db = getFirestore(app);
    // Emulator mode without touching this process's FIRESTORE_EMULATOR_HOST (ssl:false = owner token).
    db.settings({ host: firestore.host, ssl: false });

    const functionsEnv: Record<string, string> = {
      ...baseFunctionEnv({ projectId, firestoreHost: firestore.host, pubsubHost: pubsub.emulatorHost, sim }),
      ...(auth ? { FIREBASE_AUTH_EMULATOR_HOST: auth.host, OPS_WEB_API_KEY: auth.webApiKey } : {}),
      ...opts.functionsEnv,
    };

    const all = await discoverFunctions(functionsEnv);
    const discovered = opts.only ? all.filter((f) => opts.only?.includes(f.name)) : all;
    const processes = new Map<string, FunctionProcess>();
    let nextPort = ports.functions ?? 0;
    for (const fn of discovered) {
      const port = nextPort === 0 ? await freePort() : nextPort++;
      const drainMs = Number(functionsEnv.SHUTDOWN_DRAIN_TIMEOUT_MS ?? '8000');
      // SIGTERM gets the function's own drain plus a little before SIGKILL, like Cloud Run's grace.
      processes.set(fn.name, new FunctionProcess({ fn, port, env: functionsEnv, log, stopGraceMs: drainMs + 2_000, readyTimeoutMs: 60_000 }));
    }
    cleanups.push(async () => {
      await Promise.all([...processes.values()].map((p) => p.stop()));
    });
    // Start them one after another: module loading is CPU-bound and the machine may be small.
    for (const p of processes.values()) await p.start();

    const functionUrls: Record<string, string> = {};
    for (const [name, p] of processes) functionUrls[name] = p.url;

    const subscriptions: Record<string, string> = {};
    const jobs: ScheduledJob[] = [];
    const triggers: Record<string, FirestoreTriggerConnection> = {};
    cleanups.push(async () => {
      for (const j of jobs) j.stop();
      await Promise.all(Object.values(triggers).map((t) => t.stop()));
    });
    for (const fn of discovered) {
      const url = functionUrls[fn.name] ?? '';
      const t = fn.trigger;
      if (t.kind === 'pubsub') {
        const endpoint = opts.pushEndpoint ? await opts.pushEndpoint(fn, url) : url;
        const executeTimeoutMs = Number(functionsEnv.EXECUTE_TIMEOUT_SECONDS ?? '60') * 1000;
        subscriptions[fn.name] = pubsub.addPushSubscription({
          topic: t.topic,
          name: `eventarc-${fn.name}`,
          endpoint,
          // Pub/Sub's real backoff (10 s → 600 s) would make a local demo look stuck.
          minBackoffMs: 1_000,
          maxBackoffMs: 10_000,
          ackDeadlineMs: executeTimeoutMs + 5_000,
          ...opts.pubsub,
        });
      } else if (t.kind === 'schedule') {
        const schedules = opts.schedules ?? 'auto';
        if (schedules === 'off') continue;
        const period = typeof schedules === 'number' ? { ms: schedules, exact: true } : scheduleIntervalMs(t.schedule);
        if (!period.exact) notice(`${fn.name}: schedule "${t.schedule}" not understood locally; invoking it every ${period.ms / 1000} s`);
        jobs.push(every(period.ms, () => invokeScheduled(url, `local-${fn.name}`)));
      } else if (t.kind === 'firestore') {
        triggers[fn.name] = await connectFirestoreTrigger(fn, url, { db, projectId, warn: notice });
      }
    }
    // Topics strategies publish to even when no function listens (ops-events).
    pubsub.createTopic('order-intents');
    pubsub.createTopic('ops-events');

    if (opts.openKillSwitch) {
      await db.doc('ops/killSwitch').set({ halted: false, reason: opts.openKillSwitch.reason, updatedBy: opts.openKillSwitch.updatedBy, updatedAt: new Date() });
    }

    let demo: DemoFeed | null = null;
    const demoPids: number[] = [];
    if (opts.demo) {
      demo = startDemoFeed({
        env: {
          PUBSUB_EMULATOR_HOST: pubsub.emulatorHost,
          FIRESTORE_EMULATOR_HOST: firestore.host,
          GCLOUD_PROJECT: projectId,
          GOOGLE_CLOUD_PROJECT: projectId,
          METADATA_SERVER_DETECTION: 'none',
          HALTGATE_DEMO_SEED: String(seed),
          ...opts.demoEnv,
        },
        log: (line, stream) => log('demo', line, stream),
        onExit: (code, signal) => notice(`demo strategy exited (${signal ?? code})`),
      });
      if (demo.pid !== null) demoPids.push(demo.pid);
      const feed = demo;
      // The demo goes first on shutdown, so nothing new is published while functions drain.
      cleanups.push(() => feed.stop());
    }

    const get = (name: string): FunctionProcess => {
      const p = processes.get(name);
      if (!p) throw new Error(`no function ${name}; the stack runs ${[...processes.keys()].join(', ')}`);
      return p;
    };

    let stopping: Promise<void> | undefined;
    return {
      projectId,
      firestoreHost: firestore.host,
      pubsubHost: pubsub.emulatorHost,
      simUrl: sim.url,
      dashboardUrl: functionUrls.ops ?? null,
      auth,
      firestoreTriggers: triggers,
      functionUrls,
      functions: discovered,
      firestore,
      pubsub,
      sim,
      db,
      functionsEnv,
      subscriptions,
      demo,
      functionPid: (name) => get(name).pid,
      allPids: () => [...demoPids, ...[...processes.values()].flatMap((p) => p.pids)],
      restartFunction: (name, signal = 'SIGKILL') => get(name).restart(signal),
      killFunction: (name, signal = 'SIGKILL') => get(name).kill(signal),
      startFunction: (name) => get(name).start(),
      invokeScheduled: (name) => invokeScheduled(get(name).url, `local-${name}`),
      stop() {
        stopping ??= cleanup();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
