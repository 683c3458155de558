import { PubSub } from '@google-cloud/pubsub';
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import type { Firestore } from 'firebase-admin/firestore';
import { randomBytes } from 'node:crypto';
import { startAlpacaSimulator, type AlpacaSimulator, type FaultPatch, type FillMode } from '../alpaca-sim/server.js';
import { firestoreAt } from '../emulators/firestore-at.js';
import { SUITE_PROJECT_ID } from '../emulators/suite.js';
import { startFirestoreInterposer, type FirestoreInterposer } from '../firestore-interposer/interposer.js';
import { startDemoFeed, type DemoFeed } from './demo-feed.js';
import { discoverFunctions, type DiscoveredFunction } from './discover.js';
import { connectFirestoreTrigger, type FirestoreTriggerConnection } from './firestore-triggers.js';
import { FunctionProcess, type LogSink } from './function-process.js';
import { freePort, type StackPorts } from './ports.js';
import { startPushRelay, type PushRelay, type PushRelayOptions } from './push-relay.js';
import { every, invokeScheduled, scheduleIntervalMs, type ScheduledJob } from './scheduler.js';
import * as topics from '../../functions/src/topics.js';

/**
 * The local stack as a library, on the official Firebase Emulator Suite: Firestore, Pub/Sub
 * and Auth are the emulators that `firebase emulators:exec` started (dev/emulators/exec.ts;
 * `npm start` runs the stack under it) and announced in FIRESTORE_EMULATOR_HOST,
 * PUBSUB_EMULATOR_HOST and FIREBASE_AUTH_EMULATOR_HOST. The stack adds, per start:
 *   - the Alpaca simulator (in this process);
 *   - every exported Cloud Function in its own `@google-cloud/functions-framework` process
 *     (what Cloud Functions 2nd gen runs; real SIGTERM and kill -9);
 *   - for each Pub/Sub-triggered function, a PUSH subscription in the Pub/Sub emulator whose
 *     endpoint is the function's URL (functions-framework turns the raw push body into the
 *     CloudEvent; the event id is the message id, kept across redeliveries);
 *   - for Firestore-triggered functions, a listener (on the document, or on the collection of
 *     a pattern such as `submissions/{intentId}`) that delivers Eventarc-style CloudEvents
 *     (./firestore-triggers.ts); a timer per scheduled function (./scheduler.ts);
 *   - every topic of the data contract (functions/src/topics.ts);
 *   - for demo-* projects, the local operator and viewer users in the Auth emulator;
 *   - optionally the demo strategy, a gRPC interposer between the function processes and the
 *     Firestore emulator (RPC counts, fault injection), and a push relay per Pub/Sub function
 *     (delivery counts, duplicates, a concurrency bound).
 * Everything lives in the stack's project (default `demo-haltgate`, the suite's own): stacks
 * with different project ids run side by side on one suite without seeing each other.
 * Used by `npm start` (dev/stack/main.ts), the chaos test, the benchmark and the e2e tests.
 * Ports 0 (the library default) = free ports.
 */

export const LOCAL_PROJECT_ID = SUITE_PROJECT_ID;

export interface LocalStackOptions {
  /** Missing entries and 0: free ports. `npm start` passes `portsFromEnv()`. */
  ports?: Partial<StackPorts>;
  /** Default `demo-haltgate`. */
  projectId?: string;
  /** Seeds the simulator's fault dice, the push relays' duplicate dice and the demo feed. Default 1. */
  seed?: number;
  /** Start only these functions (default: every exported one). */
  only?: string[];
  /** Run the demo strategy (child process). Default false. */
  demo?: boolean;
  /** Extra environment for the demo strategy. */
  demoEnv?: Record<string, string>;
  /** Overrides of the functions' environment (EXECUTION_MODE, BROKER_TIMEOUT_MS, ...). */
  functionsEnv?: Record<string, string>;
  /** Push subscriptions: ack deadline (10–600 s). Default: the function's timeout + 5 s. */
  pubsub?: { ackDeadlineSeconds?: number };
  /**
   * A push relay (./push-relay.ts) between the Pub/Sub emulator and each Pub/Sub-triggered
   * function. Default: none, the emulator pushes to the function itself.
   */
  pushRelay?: PushRelayOptions | false;
  /** Another Firestore emulator than FIRESTORE_EMULATOR_HOST's (host:port), e.g. one a test restarts. */
  firestoreHost?: string;
  /** A gRPC interposer between the function processes and the Firestore emulator. Default false. */
  interposer?: boolean;
  /** The simulator: faults, fill mode, and the broker keys it accepts (default: its own fixed ones; the functions get these). */
  sim?: { faults?: FaultPatch; fillMode?: FillMode; keyId?: string; secretKey?: string };
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
  /** Status messages of the stack itself (banner warnings). Default: stderr unless quiet. */
  notice?: (message: string) => void;
  /**
   * The local operator and viewer users in the Auth emulator (demo-* projects only; default
   * on there). Passwords default to fresh random ones per start.
   */
  auth?: false | { operatorPassword?: string; viewerPassword?: string };
}

/** A user of the Auth emulator, for signing in to the dashboard. */
export interface LocalUser {
  uid: string;
  email: string;
  password: string;
  role: 'operator' | 'viewer';
}

export interface LocalAuth {
  /** FIREBASE_AUTH_EMULATOR_HOST value. */
  host: string;
  /** The web API key the dashboard sends (any value works with the emulator). */
  webApiKey: string;
  /**
   * Whether the dashboard's email/password sign-in can reach these users: firebase-tools'
   * Auth emulator serves `accounts:signInWithPassword` for the suite's own project only.
   */
  signInWorks: boolean;
  operator: LocalUser;
  viewer: LocalUser;
}

export const LOCAL_OPERATOR_EMAIL = 'operator@haltgate.local';
export const LOCAL_VIEWER_EMAIL = 'viewer@haltgate.local';
const LOCAL_WEB_API_KEY = 'local-emulator-web-api-key';

/** The official emulators the stack runs on, from the standard variables. */
export interface EmulatorHosts {
  firestore: string;
  pubsub: string;
  /** null when the stack does not need it (no local users). */
  auth: string | null;
}

const HOW_TO_START =
  'The local stack runs on the official Firebase Emulator Suite, which sets it: start the stack with `npm start` or `npm run stack`, ' +
  'or run your command under the suite with `npx tsx dev/emulators/exec.ts -- <command>` (it starts the Firestore, Pub/Sub and Auth emulators).';

/** Reads the emulator hosts; throws naming the first missing variable and how to start the suite. */
export function emulatorHostsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env, opts: { needAuth: boolean } = { needAuth: true }): EmulatorHosts {
  const need = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) throw new Error(`${name} is not set. ${HOW_TO_START}`);
    return value;
  };
  return { firestore: need('FIRESTORE_EMULATOR_HOST'), pubsub: need('PUBSUB_EMULATOR_HOST'), auth: opts.needAuth ? need('FIREBASE_AUTH_EMULATOR_HOST') : null };
}

export interface LocalStack {
  projectId: string;
  /** The Firestore emulator (FIRESTORE_EMULATOR_HOST). */
  firestoreHost: string;
  /** What the function processes use as FIRESTORE_EMULATOR_HOST: the interposer when there is one. */
  functionsFirestoreHost: string;
  /** The Pub/Sub emulator (PUBSUB_EMULATOR_HOST). */
  pubsubHost: string;
  simUrl: string;
  /** The ops dashboard (the `ops` function), when it runs. */
  dashboardUrl: string | null;
  /** The local users in the Auth emulator; null for non-demo projects or `auth: false`. */
  auth: LocalAuth | null;
  /** Firestore trigger deliveries by function name (for tests). */
  firestoreTriggers: Record<string, FirestoreTriggerConnection>;
  /** Function name → URL of its functions-framework process. */
  functionUrls: Record<string, string>;
  functions: DiscoveredFunction[];
  /** The gRPC interposer in front of the Firestore emulator for the function processes (`interposer: true`). */
  interposer: FirestoreInterposer | null;
  /** Push relays by function name (`pushRelay`). */
  relays: Record<string, PushRelay>;
  sim: AlpacaSimulator;
  /** A firebase-admin Firestore client of the stack's own, straight to the emulator. */
  db: Firestore;
  /** A Pub/Sub client of the stack's own on the emulator (closed by stop()). */
  pubsub: PubSub;
  /** The environment the function processes get. */
  functionsEnv: Record<string, string>;
  /** Push subscription names of Pub/Sub-triggered functions, by function name. */
  subscriptions: Record<string, string>;
  /** The push endpoint of each Pub/Sub-triggered function (its URL, or its relay's). */
  pushEndpoints: Record<string, string>;
  /**
   * Another push subscription on `topic` (created if needed) to `endpoint`, a base URL such as
   * a function's URL or a relay's (the path naming the topic is added, as for the stack's
   * own). The benchmark feeds one function from several topics with it. Deleted by stop().
   */
  addPushSubscription(o: { topic: string; name: string; endpoint: string; ackDeadlineSeconds?: number }): Promise<string>;
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
  /**
   * Demo first, then timers and triggers, the push subscriptions (so the emulator stops
   * pushing), relays, function processes (SIGTERM, drain), clients, simulator, interposer.
   * The emulators keep running (they belong to the suite). Idempotent.
   */
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
    // As Cloud Functions runs them: the functions framework then answers a malformed JSON body
    // with a plain 400, never a page with a stack trace and file paths.
    NODE_ENV: 'production',
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

/** Waits for `p` at most `ms` (a cleanup step must not hold up the ones after it). */
async function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** gRPC ALREADY_EXISTS / NOT_FOUND. */
const grpcCode = (err: unknown): number | undefined => (err as { code?: number }).code;

/** The topic ids of functions/src/topics.ts. */
export function contractTopics(): string[] {
  return (Object.values(topics) as unknown[]).filter((v): v is string => typeof v === 'string');
}

async function ensureTopic(pubsub: PubSub, name: string): Promise<void> {
  try {
    await pubsub.createTopic(name);
  } catch (err) {
    if (grpcCode(err) !== 6) throw err;
  }
}

/**
 * A push subscription `name` on `topic` to `endpoint`. No retry policy: the emulator's
 * (0.8.20) stops redelivering after a few attempts when one is set; without one it
 * redelivers a message 1 s after every non-2xx answer, like a fixed backoff.
 */
async function createPushSubscription(pubsub: PubSub, o: { topic: string; name: string; endpoint: string; ackDeadlineSeconds: number }): Promise<string> {
  await ensureTopic(pubsub, o.topic);
  const options = { pushConfig: { pushEndpoint: o.endpoint }, ackDeadlineSeconds: o.ackDeadlineSeconds };
  try {
    await pubsub.topic(o.topic).createSubscription(o.name, options);
  } catch (err) {
    if (grpcCode(err) !== 6) throw err;
    // Left over from an earlier run on the same suite: point it here.
    await pubsub.subscription(o.name).modifyPushConfig(options.pushConfig);
  }
  return o.name;
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
  // A deployed function refuses tokens while FIREBASE_AUTH_EMULATOR_HOST is set outside a
  // demo-* project (functions/src/ops/firebase-verifier.ts): local users are for those only.
  const withUsers = opts.auth !== false && projectId.startsWith('demo-');
  const fromEnv = emulatorHostsFromEnv(opts.firestoreHost ? { ...process.env, FIRESTORE_EMULATOR_HOST: opts.firestoreHost } : process.env, { needAuth: withUsers });
  const hosts = fromEnv;

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  };

  try {
    const interposer = opts.interposer ? await startFirestoreInterposer({ upstream: hosts.firestore }) : null;
    if (interposer) cleanups.push(() => interposer.stop());
    const functionsFirestoreHost = interposer?.host ?? hosts.firestore;
    const sim = await startAlpacaSimulator({
      port: ports.sim ?? 0,
      seed,
      ...(opts.sim?.fillMode ? { fillMode: opts.sim.fillMode } : {}),
      ...(opts.sim?.faults ? { faults: opts.sim.faults } : {}),
      ...(opts.sim?.keyId !== undefined ? { keyId: opts.sim.keyId } : {}),
      ...(opts.sim?.secretKey !== undefined ? { secretKey: opts.sim.secretKey } : {}),
    });
    cleanups.push(() => sim.stop());

    appCounter += 1;
    const app: App = initializeApp({ projectId }, `haltgate-stack-${process.pid}-${appCounter}`);
    cleanups.push(() => deleteApp(app));
    // FIRESTORE_EMULATOR_HOST would override settings({ host }) when the stack was given another
    // emulator than the suite's (opts.firestoreHost): firestoreAt pins the client to hosts.firestore.
    const db = firestoreAt(app, hosts.firestore);
    const pubsub = new PubSub({ projectId, apiEndpoint: hosts.pubsub, emulatorMode: true });
    cleanups.push(() => bounded(pubsub.close(), 3_000));

    let auth: LocalAuth | null = null;
    if (withUsers && hosts.auth) {
      // firebase-admin's Auth client takes the emulator from FIREBASE_AUTH_EMULATOR_HOST (set).
      const admin = getAuth(app);
      const password = (given: string | undefined) => given ?? randomBytes(9).toString('base64url');
      const make = async (email: string, role: LocalUser['role'], pw: string): Promise<LocalUser> => {
        const uid = `local-${role}`;
        const props = { email, password: pw, displayName: `local ${role}`, emailVerified: true };
        try {
          await admin.createUser({ uid, ...props });
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'auth/uid-already-exists' && code !== 'auth/email-already-exists') throw err;
          await admin.updateUser(uid, props);
        }
        await admin.setCustomUserClaims(uid, { haltgate: { role } });
        return { uid, email, password: pw, role };
      };
      const authOpts = opts.auth === undefined || opts.auth === false ? {} : opts.auth;
      const signInWorks = projectId === SUITE_PROJECT_ID;
      auth = {
        host: hosts.auth,
        webApiKey: LOCAL_WEB_API_KEY,
        signInWorks,
        operator: await make(LOCAL_OPERATOR_EMAIL, 'operator', password(authOpts.operatorPassword)),
        viewer: await make(LOCAL_VIEWER_EMAIL, 'viewer', password(authOpts.viewerPassword)),
      };
      if (!signInWorks) {
        notice(
          `the Auth emulator signs in with email and password for project ${SUITE_PROJECT_ID} only (it maps every API key to the suite's project); ` +
            `the local users of ${projectId} exist, but the dashboard cannot sign them in`,
        );
      }
    } else if (opts.auth !== false) {
      notice(`project ${projectId} is not demo-*: no local users; the ops API needs real Firebase ID tokens`);
    }

    const functionsEnv: Record<string, string> = {
      ...baseFunctionEnv({ projectId, firestoreHost: functionsFirestoreHost, pubsubHost: hosts.pubsub, sim }),
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

    // Every topic of the data contract (functions/src/topics.ts), as a deploy creates them:
    // functions publish to some that no function listens to (ops-events, order-updates).
    for (const topic of contractTopics()) await ensureTopic(pubsub, topic);

    const relays: Record<string, PushRelay> = {};
    cleanups.push(async () => {
      await Promise.all(Object.values(relays).map((r) => r.stop()));
    });
    const subscriptions: Record<string, string> = {};
    const created: string[] = [];
    // Deleted before the relays and function processes stop: the emulator would otherwise
    // keep pushing (and redelivering every second) to endpoints that are gone.
    // Bounded: when the suite is already gone (its SIGTERM), the client would retry for a minute.
    cleanups.push(async () => {
      await bounded(Promise.all(created.map((name) => pubsub.subscription(name).delete().catch(() => {}))), 3_000);
    });
    const pushEndpoints: Record<string, string> = {};
    const executeTimeoutS = Number(functionsEnv.EXECUTE_TIMEOUT_SECONDS ?? '60');
    const ackDeadlineSeconds = Math.min(600, Math.max(10, opts.pubsub?.ackDeadlineSeconds ?? executeTimeoutS + 5));
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
        let base = url;
        if (opts.pushRelay) {
          const relay = await startPushRelay(url, { seed, ...opts.pushRelay });
          relays[fn.name] = relay;
          base = relay.url;
        }
        // functions-framework reads the topic for the CloudEvent's source from the path.
        const endpoint = `${base}projects/${projectId}/topics/${t.topic}`;
        pushEndpoints[fn.name] = endpoint;
        const name = `eventarc-${fn.name}`;
        subscriptions[fn.name] = await createPushSubscription(pubsub, { topic: t.topic, name, endpoint, ackDeadlineSeconds });
        created.push(name);
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

    if (opts.openKillSwitch) {
      await db.doc('ops/killSwitch').set({ halted: false, reason: opts.openKillSwitch.reason, updatedBy: opts.openKillSwitch.updatedBy, updatedAt: new Date() });
    }

    let demo: DemoFeed | null = null;
    const demoPids: number[] = [];
    if (opts.demo) {
      demo = startDemoFeed({
        env: {
          PUBSUB_EMULATOR_HOST: hosts.pubsub,
          FIRESTORE_EMULATOR_HOST: hosts.firestore,
          GCLOUD_PROJECT: projectId,
          GOOGLE_CLOUD_PROJECT: projectId,
          FIREBASE_CONFIG: JSON.stringify({ projectId }),
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
      firestoreHost: hosts.firestore,
      functionsFirestoreHost,
      pubsubHost: hosts.pubsub,
      simUrl: sim.url,
      dashboardUrl: functionUrls.ops ?? null,
      auth,
      firestoreTriggers: triggers,
      functionUrls,
      functions: discovered,
      interposer,
      relays,
      sim,
      db,
      pubsub,
      functionsEnv,
      subscriptions,
      pushEndpoints,
      async addPushSubscription(o) {
        const base = o.endpoint.endsWith('/') ? o.endpoint : `${o.endpoint}/`;
        const endpoint = `${base}projects/${projectId}/topics/${o.topic}`;
        const name = await createPushSubscription(pubsub, { topic: o.topic, name: o.name, endpoint, ackDeadlineSeconds: o.ackDeadlineSeconds ?? ackDeadlineSeconds });
        created.push(name);
        return name;
      },
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
