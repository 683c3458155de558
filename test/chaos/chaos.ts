import { PubSub } from '@google-cloud/pubsub';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Timestamp } from 'firebase-admin/firestore';
import { mulberry32 } from '../../dev/alpaca-sim/faults.js';
import type { SimOrder } from '../../dev/alpaca-sim/server.js';
import { FIRESTORE_METHODS, type FirestoreInterposer, type FirestoreMethod, type MethodFault } from '../../dev/firestore-interposer/interposer.js';
import type { LogSink } from '../../dev/stack/function-process.js';
import { PUSH_ACK_STATUSES } from '../../dev/stack/push-relay.js';
import { startLocalStack, type LocalStack } from '../../dev/stack/stack.js';
import type { OrderIntent } from '../../functions/src/domain/intent.js';
import { TERMINAL_STATES, type SubmissionState } from '../../functions/src/domain/submission.js';
import { publishIntent } from '../../runner/src/index.js';
import { uniqueProjectId } from '../support/emulators.js';
import { startOwnFirestoreEmulator, type OwnFirestoreEmulator } from './firestore-restart.js';
import { checkInvariants, timestampMicros, type Invariants, type KillSwitchWrite, type PublishedMessage, type RecordSnapshot } from './invariants.js';

/**
 * The chaos scenario, through the whole local stack on the official emulators (a project of
 * its own): executeIntent and the reconciler in their own functions-framework processes, the
 * Pub/Sub emulator's push subscription delivering through a relay that duplicates 15 % of the
 * deliveries (same message id, as at-least-once delivery may), the simulator injecting
 * latency, 5xx, hangs and lost responses; the gRPC interposer between the function processes
 * and the Firestore emulator slows, fails and hangs their Firestore calls in short seeded
 * windows (see FIRESTORE_FAULT_KINDS); meanwhile the executeIntent process is SIGKILLed
 * and restarted, and the kill switch is flipped on and off. Then the faults stop, the
 * emulator redelivers what was not acknowledged, the reconciler settles what is unknown, and
 * the invariants are counted (G2 from server commit times: see ./invariants.ts).
 * Every random choice comes from `seed`: a failing seed replays the same schedule (process
 * timing still varies, so a replay is the same storm, not the same interleaving).
 */

export interface ChaosOptions {
  seed: number;
  /** Valid intents to publish (a few invalid messages and republished duplicates come on top). */
  intents: number;
  strategies: number;
  /** SIGKILLs of the executeIntent process during publishing. */
  kills: number;
  /** Halt periods during publishing. */
  halts: number;
  /** Publishing window. */
  publishMs: number;
  /** Give up settling after this long (default 10 min; the reconciler needs RECONCILE_ABANDON_AFTER_MS, ≥ 60 s). */
  settleTimeoutMs?: number;
  log?: (line: string) => void;
  /** Start only these functions (default all; executeIntent and reconcileSubmissions are needed). */
  only?: string[];
  /** Function process logs (default: dropped). */
  functionLog?: LogSink;
  /**
   * Firestore fault windows during publishing (default 5: one of each kind, in a seeded order;
   * more repeat kinds at random). 0: none (the run then fails `stormProblems`).
   */
  firestoreFaultWindows?: number;
  /** The broker keys the simulator accepts and the functions get (default: the simulator's own). */
  brokerKeys?: { keyId: string; secretKey: string };
  /**
   * Restart the Firestore emulator once mid-publishing, its data exported and re-imported (an
   * emulator of the run's own, not the suite's; ./firestore-restart.ts). Default false. The
   * report's `firestore.restarts` says when, for how long, how many calls were held, and the
   * submission records counted before the export and after the start: fewer after is a
   * `stormProblems` failure (the restart lost data), as is a requested restart that never ran.
   */
  restartFirestore?: boolean;
  /** Intent ids are `<idPrefix>-<n>` (default `chaos-<seed>`), strategy ids `<strategyPrefix>-<n>` (default `chaos-strategy`). */
  idPrefix?: string;
  strategyPrefix?: string;
  /** Called after settling and the invariants, before the stack stops (e.g. to search what it left). */
  beforeStop?: (stack: LocalStack) => Promise<void>;
}

/**
 * The Firestore faults chaos injects at the interposer, each in a short window (a few
 * seconds, every fault bounded by `times`, cleared at the window's end, so firebase-admin's
 * own long UNAVAILABLE retries and haltgate's claim budget still let the run settle):
 *   - commitLatency: Commit delayed 150–1000 ms;
 *   - readLatency: BatchGetDocuments, RunQuery and RunAggregationQuery delayed 150–1000 ms;
 *   - unavailable: Commit, BatchGetDocuments or RunQuery answered UNAVAILABLE (never passed on);
 *   - deadlineExceeded: the same, answered DEADLINE_EXCEEDED;
 *   - hang: Commit or BatchGetDocuments neither passed on nor answered for 1–3 s, then passed
 *     on (unless the client cancelled meanwhile).
 * Counted per kind as the calls the interposer acted on (`faults.injected()`, per method,
 * windows one at a time so each call is attributed to one kind).
 */
export const FIRESTORE_FAULT_KINDS = ['commitLatency', 'readLatency', 'unavailable', 'deadlineExceeded', 'hang'] as const;
export type FirestoreFaultKind = (typeof FIRESTORE_FAULT_KINDS)[number];

interface FirestoreFaultWindow {
  kind: FirestoreFaultKind;
  /** Start, ms after publishing began. */
  atMs: number;
  holdMs: number;
  faults: Array<[FirestoreMethod, MethodFault]>;
}

export interface FirestoreRestart {
  /** When in the publishing window, and how long from the stop to the emulator answering again. */
  atMs: number;
  downMs: number;
  /** Calls of the function processes held at the interposer while it restarted. */
  heldCalls: number;
  /** Calls still at the emulator when it was exported (after a bounded wait): 0, or the run's evidence is weaker. */
  unfinishedAtExport: number;
  /** `submissions` documents counted just before the export and right after the start. */
  recordsBefore: number;
  recordsAfter: number;
}

export interface ChaosReport {
  seed: number;
  /** topUps: intents added after the storm because it had not reached the broker's faults yet. */
  published: { valid: number; republished: number; invalid: number; topUps: number };
  /** The driver's halt and resume writes: how many, and the slowest (it waits for claim transactions' read locks). */
  killSwitchWrites: { count: number; slowestMs: number };
  kills: number;
  haltPeriods: number;
  /** Push deliveries as the relay saw them: duplicates are its extra copies; outcomes by HTTP status (502: function down). */
  pubsub: { deliveries: number; duplicates: number; notAcked: number; outcomes: Record<string, number> };
  sim: { submits: number; faults: Record<string, number>; orders: number };
  /** Firestore calls of the function processes the interposer faulted, per kind and per method, and the windows run. */
  firestore: { faults: Record<FirestoreFaultKind, number>; byMethod: Record<string, number>; windows: number; restarts?: FirestoreRestart[] };
  /** Whether a restart was asked for (ChaosOptions.restartFirestore). */
  restartRequested: boolean;
  states: Record<string, number>;
  /** `refused` records by reason (halted, ...). */
  refusedReasons: Record<string, number>;
  /** Claim commits seen on the wire (server commit times) and checked against the kill switch. */
  claimsChecked: number;
  /** Records whose latest claim's claimCommittedAt was checked. */
  claimRequestsChecked: number;
  /** Latest claims not seen on the wire (killed mid-commit): checked by claimCommittedAt only. */
  claimsUnseen: number;
  reclaimed: number;
  invariants: Invariants;
  details: string[];
  settled: boolean;
  durationMs: number;
}

/** The functions' environment for chaos: short timeouts so the storm settles in about a minute. */
export const CHAOS_FUNCTIONS_ENV: Record<string, string> = {
  EXECUTE_TIMEOUT_SECONDS: '8',
  MIN_SUBMIT_BUDGET_MS: '3000',
  BROKER_TIMEOUT_MS: '1500',
  DEADLINE_MARGIN_MS: '500',
  OWNER_GRACE_MS: '1000',
  SHUTDOWN_DRAIN_TIMEOUT_MS: '2000',
  // The smallest the reconciler accepts (≥ 60 s and ≥ 10 × BROKER_TIMEOUT_MS).
  RECONCILE_ABANDON_AFTER_MS: '60000',
};

const SIM_FAULTS = {
  latencyMs: { min: 2, max: 60 },
  error5xxRate: 0.05,
  hangBeforePlaceRate: 0.015,
  hangAfterPlaceRate: 0.015,
  lostResponseRate: 0.03,
};

/** A storm that injected fewer broker faults than this tested nothing about them. */
export const MIN_INJECTED_FAULTS = 3;

const READ_METHODS: FirestoreMethod[] = ['BatchGetDocuments', 'RunQuery', 'RunAggregationQuery'];

/** One window of `kind`, its parameters drawn from `rand`. */
function firestoreFaultWindow(kind: FirestoreFaultKind, atMs: number, rand: () => number): FirestoreFaultWindow {
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] ?? xs[0]!;
  switch (kind) {
    case 'commitLatency':
      return { kind, atMs, holdMs: between(1500, 4000), faults: [['Commit', { latencyMs: between(150, 1000), times: between(20, 50) }]] };
    case 'readLatency':
      return { kind, atMs, holdMs: between(1500, 4000), faults: READ_METHODS.map((m) => [m, { latencyMs: between(150, 1000), times: between(20, 50) }] as [FirestoreMethod, MethodFault]) };
    case 'unavailable':
    case 'deadlineExceeded': {
      const failWith = kind === 'unavailable' ? GrpcStatus.UNAVAILABLE : GrpcStatus.DEADLINE_EXCEEDED;
      return { kind, atMs, holdMs: between(1000, 3000), faults: [[pick<FirestoreMethod>(['Commit', 'BatchGetDocuments', 'RunQuery']), { failWith, times: between(3, 10) }]] };
    }
    case 'hang':
      return { kind, atMs, holdMs: between(1000, 3000), faults: [[pick<FirestoreMethod>(['Commit', 'BatchGetDocuments']), { hang: true, times: between(2, 5) }]] };
  }
}

/** `count` windows spread over `spanMs`, one at a time: one of each kind first (seeded order), then kinds at random. */
function planFirestoreFaults(count: number, spanMs: number, rand: () => number): FirestoreFaultWindow[] {
  const kinds: FirestoreFaultKind[] = [];
  const shuffled = [...FIRESTORE_FAULT_KINDS].map((k) => ({ k, r: rand() })).sort((a, b) => a.r - b.r).map((x) => x.k);
  for (let i = 0; i < count; i += 1) kinds.push(i < shuffled.length ? shuffled[i]! : FIRESTORE_FAULT_KINDS[Math.floor(rand() * FIRESTORE_FAULT_KINDS.length)]!);
  const slot = spanMs / Math.max(1, count);
  return kinds.map((kind, i) => {
    const w = firestoreFaultWindow(kind, Math.round(i * slot + rand() * slot * 0.2), rand);
    // A window ends before the next one starts.
    return { ...w, holdMs: Math.max(500, Math.min(w.holdMs, Math.round(slot * 0.7))) };
  });
}

/**
 * Runs one window: sets its faults, waits `holdMs` and then, while calls are still to come
 * (the backlog may lag the publishing on a loaded machine), until every fault's `times` is
 * used up (any one of a window of several) or 3 × `holdMs` have passed; counts the calls they acted on and clears them
 * (releasing hung calls, which then go on to the emulator).
 */
async function runFirestoreFaultWindow(interposer: FirestoreInterposer, w: FirestoreFaultWindow, counts: { faults: Record<FirestoreFaultKind, number>; byMethod: Record<string, number>; windows: number }): Promise<void> {
  const before = interposer.faults.injected();
  const until = Date.now() + 3 * w.holdMs;
  for (const [method, fault] of w.faults) interposer.faults.set(method, fault);
  await sleep(w.holdMs);
  const usedUp = () => {
    const now = interposer.faults.injected();
    // Any one used up: RunAggregationQuery, say, may never be called in a window of reads.
    return w.faults.some(([method, f]) => (now[method] ?? 0) - (before[method] ?? 0) >= (f.times ?? Infinity));
  };
  while (Date.now() < until && !usedUp()) await sleep(100);
  const after = interposer.faults.injected();
  for (const [method] of w.faults) {
    interposer.faults.clear(method);
    const n = (after[method] ?? 0) - (before[method] ?? 0);
    counts.faults[w.kind] += n;
    counts.byMethod[method] = (counts.byMethod[method] ?? 0) + n;
  }
  counts.windows += 1;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const rand = mulberry32(opts.seed * 7919 + 17);
  // The in-process Pub/Sub client talks to the emulator: no GCE metadata server to probe for.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const ownFirestore: OwnFirestoreEmulator | null = opts.restartFirestore ? await startOwnFirestoreEmulator() : null;
  let stack: LocalStack;
  try {
    stack = await startChaosStack(opts, ownFirestore);
  } catch (err) {
    await ownFirestore?.stop();
    throw err;
  }
  try {
    return await runOnStack(opts, stack, ownFirestore, started, log, rand);
  } finally {
    await stack.stop();
    await ownFirestore?.stop();
  }
}

function startChaosStack(opts: ChaosOptions, ownFirestore: OwnFirestoreEmulator | null): Promise<LocalStack> {
  return startLocalStack({
    ...(ownFirestore ? { firestoreHost: ownFirestore.host } : {}),
    projectId: uniqueProjectId(),
    seed: opts.seed,
    quiet: true,
    auth: false,
    ...(opts.brokerKeys ? { sim: { keyId: opts.brokerKeys.keyId, secretKey: opts.brokerKeys.secretKey } } : {}),
    ...(opts.functionLog ? { log: opts.functionLog } : {}),
    ...(opts.only ? { only: opts.only } : {}),
    functionsEnv: CHAOS_FUNCTIONS_ENV,
    // The emulator redelivers 1 s after a non-2xx answer, and after the ack deadline (the
    // function's 8 s timeout + 5 s) when no answer came; the relay adds concurrent duplicates.
    pushRelay: { duplicateRate: 0.15, seed: opts.seed },
    // The function processes reach the emulator through it: it sees every claim's Commit and
    // the commit time the server answered (G2 evidence).
    interposer: true,
    // The reconciler runs all along, racing redeliveries, as in production (only faster).
    schedules: 2_000,
  });
}

async function runOnStack(opts: ChaosOptions, stack: LocalStack, ownFirestore: OwnFirestoreEmulator | null, started: number, log: (line: string) => void, rand: () => number): Promise<ChaosReport> {
  const relay = stack.relays.executeIntent;
  if (!relay) throw new Error('chaos needs the executeIntent function');
  const interposer = stack.interposer;
  if (!interposer) throw new Error('chaos needs the Firestore interposer');
  const firestore: ChaosReport['firestore'] = { faults: Object.fromEntries(FIRESTORE_FAULT_KINDS.map((k) => [k, 0])) as Record<FirestoreFaultKind, number>, byMethod: {}, windows: 0 };
  const pubsub = new PubSub({ projectId: stack.projectId, apiEndpoint: stack.pubsubHost, emulatorMode: true });
  const killSwitchWrites: KillSwitchWrite[] = [];
  let halted: boolean | null = null;
  let slowestKillSwitchWriteMs = 0;
  // While the Firestore emulator restarts, the driver writes nothing (a write between the
  // export and the stop would be lost: no production Firestore loses a committed write).
  let restarting: Promise<void> | null = null;
  let driverWrites = 0;
  const setHalted = async (value: boolean) => {
    while (restarting) await restarting;
    driverWrites += 1;
    try {
      await writeKillSwitch(value);
    } finally {
      driverWrites -= 1;
    }
  };
  const writeKillSwitch = async (value: boolean) => {
    const t0 = Date.now();
    const result = await stack.db.doc('ops/killSwitch').set({ halted: value, reason: value ? 'chaos halt' : 'chaos resume', updatedBy: 'chaos', updatedAt: new Date() });
    slowestKillSwitchWriteMs = Math.max(slowestKillSwitchWriteMs, Date.now() - t0);
    // The server's commit time of this write: G2 is checked against it.
    killSwitchWrites.push({ halted: value, writeMicros: timestampMicros(result.writeTime) });
    halted = value;
  };
  const injectedFaults = async () => {
    const res = await fetch(`${stack.simUrl}/__sim/requests`);
    const requests = (await res.json()) as Array<{ method: string; path: string; fault?: string }>;
    return requests.filter((r) => r.method === 'POST' && r.path === '/v2/orders' && r.fault !== undefined).length;
  };
  const simFaults = async (body: unknown) => {
    const res = await fetch(`${stack.simUrl}/__sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST /__sim/faults: ${res.status} ${await res.text()}`);
  };

  try {
    await setHalted(false);
    await simFaults({ ...SIM_FAULTS, seed: opts.seed });

    // ---- the storm: publishing, kills and halts on one seeded timeline
    const published: PublishedMessage[] = [];
    const idPrefix = opts.idPrefix ?? `chaos-${opts.seed}`;
    const publishes: Array<Promise<void>> = [];
    const symbols = ['AAPL', 'MSFT', 'SPY', 'NVDA', 'TSLA'];
    let republished = 0;
    let invalid = 0;
    const intervalMs = opts.publishMs / opts.intents;
    const topic = pubsub.topic('order-intents');
    const makeIntent = (intentId: string, i: number): OrderIntent => {
      const limit = rand() < 0.4;
      return {
        intentId,
        strategyId: `${opts.strategyPrefix ?? 'chaos-strategy'}-${i % opts.strategies}`,
        symbol: symbols[Math.floor(rand() * symbols.length)] ?? 'AAPL',
        side: rand() < 0.5 ? 'buy' : 'sell',
        qty: 1 + Math.floor(rand() * 10),
        type: limit ? 'limit' : 'market',
        ...(limit ? { limitPrice: 100 + Math.round(rand() * 5000) / 100 } : {}),
        timeInForce: 'day',
        createdAt: new Date().toISOString(),
      };
    };
    const publishOne = (intent: OrderIntent) => {
      const p = publishIntent(intent, { topic }).then((messageId) => void published.push({ messageId, intentId: intent.intentId }));
      publishes.push(p);
      return p;
    };
    const publishAll = async () => {
      for (let i = 0; i < opts.intents; i += 1) {
        const intent = makeIntent(`${idPrefix}-${i}`, i);
        const copies = rand() < 0.08 ? 2 : 1; // a publisher retrying after an unclear publish
        republished += copies - 1;
        for (let c = 0; c < copies; c += 1) void publishOne(intent);
        if (rand() < 0.02) {
          invalid += 1;
          publishes.push(
            topic
              .publishMessage({ data: Buffer.from(JSON.stringify({ intentId: `${idPrefix}-bad-${i}`, qty: -1 })) })
              .then((messageId) => void published.push({ messageId, intentId: null })),
          );
        }
        await sleep(intervalMs);
      }
    };
    const killTimes = Array.from({ length: opts.kills }, () => rand() * opts.publishMs).sort((a, b) => a - b);
    const kills = async () => {
      let t0 = 0;
      for (const at of killTimes) {
        await sleep(Math.max(0, at - t0));
        const down = 200 + rand() * 1300;
        log(`kill -9 executeIntent (pid ${stack.functionPid('executeIntent')}), down ${Math.round(down)} ms`);
        await stack.killFunction('executeIntent', 'SIGKILL');
        await sleep(down);
        await stack.startFunction('executeIntent');
        t0 = at + down;
      }
    };
    const haltTimes = Array.from({ length: opts.halts }, () => rand() * opts.publishMs).sort((a, b) => a - b);
    const halts = async () => {
      let t0 = 0;
      for (const at of haltTimes) {
        await sleep(Math.max(0, at - t0));
        const period = 300 + rand() * 2000;
        log(`halt for ${Math.round(period)} ms`);
        await setHalted(true);
        await sleep(period);
        await setHalted(false);
        t0 = at + period;
      }
    };
    const firestoreWindows = planFirestoreFaults(opts.firestoreFaultWindows ?? FIRESTORE_FAULT_KINDS.length, opts.publishMs, rand);
    let windowActive = false;
    const firestoreFaults = async () => {
      const t0 = Date.now();
      for (const w of firestoreWindows) {
        await sleep(Math.max(0, w.atMs - (Date.now() - t0)));
        while (restarting) await restarting;
        log(`Firestore ${w.kind} for ${w.holdMs} ms: ${w.faults.map(([m, f]) => `${m} ${JSON.stringify(f)}`).join(', ')}`);
        windowActive = true;
        try {
          await runFirestoreFaultWindow(interposer, w, firestore);
        } finally {
          windowActive = false;
        }
      }
    };
    // The restart: every new call of the function processes is held at the interposer, the
    // calls already passed on get a moment to finish, the driver writes nothing; export, stop,
    // start seeded from the export on the same port; then the held calls go on to it.
    const restartAtMs = ownFirestore ? Math.round(opts.publishMs * (0.3 + rand() * 0.4)) : 0;
    const firestoreRestart = async () => {
      if (!ownFirestore) return;
      await sleep(restartAtMs);
      let release: () => void = () => {};
      restarting = new Promise<void>((r) => (release = r));
      try {
        while (windowActive || driverWrites > 0) await sleep(50);
        const before = interposer.faults.injected();
        for (const m of Object.keys(FIRESTORE_METHODS) as FirestoreMethod[]) interposer.faults.set(m, { hang: true });
        // A commit still at the emulator when it is exported would be lost with the stop (no
        // production Firestore loses a committed write): let every call passed on finish first.
        const drainUntil = Date.now() + 30_000;
        while (interposer.stats.upstreamInFlight() > 0 && Date.now() < drainUntil) await sleep(20);
        const unfinishedAtExport = interposer.stats.upstreamInFlight();
        log(`Firestore emulator restart (export, stop, start seeded from the export)`);
        // The driver's client goes to the emulator directly (not through the interposer).
        const records = async () => (await stack.db.collection('submissions').count().get()).data().count;
        const recordsBefore = await records();
        const { downMs } = await ownFirestore.restart(stack.projectId);
        const recordsAfter = await records();
        const after = interposer.faults.injected();
        interposer.faults.clear();
        const heldCalls = Object.keys(after).reduce((n, m) => n + (after[m] ?? 0) - (before[m] ?? 0), 0);
        (firestore.restarts ??= []).push({ atMs: restartAtMs, downMs, heldCalls, unfinishedAtExport, recordsBefore, recordsAfter });
        log(`Firestore emulator back after ${downMs} ms; ${heldCalls} held calls released`);
      } finally {
        restarting = null;
        release();
      }
    };
    await Promise.all([publishAll(), kills(), halts(), firestoreFaults(), firestoreRestart()]);
    await Promise.all(publishes);
    // On a loaded machine the backlog reaches the broker after the publishing window: keep the
    // faults on until the storm has really hit the broker (bounded), rather than trusting timing.
    // A kill -9 in the middle of a claim transaction leaves its read lock on ops/killSwitch
    // until the emulator expires the transaction (about a minute): a halt or resume written
    // meanwhile waits, and the backlog may meet a long halt and be refused. If so, top the
    // storm up with more intents (gate open, faults on) until the broker has seen its faults.
    const stormUntil = Date.now() + 180_000;
    let topUps = 0;
    // The same for the Firestore faults: a kind whose windows met no call (the function was
    // down, or idle) gets another window while a top-up is in flight.
    const firestoreMissing = () => (firestoreWindows.length === 0 ? [] : FIRESTORE_FAULT_KINDS.filter((k) => firestore.faults[k] === 0));
    while (((await injectedFaults()) < MIN_INJECTED_FAULTS || firestoreMissing().length > 0) && Date.now() < stormUntil) {
      if (halted !== false) await setHalted(false);
      if (stack.functionPid('executeIntent') === null) await stack.startFunction('executeIntent');
      const batch = Array.from({ length: 10 }, () => {
        topUps += 1;
        return makeIntent(`${idPrefix}-top-${topUps}`, topUps);
      });
      await Promise.all(batch.map(publishOne));
      for (const kind of firestoreMissing()) await runFirestoreFaultWindow(interposer, firestoreFaultWindow(kind, 0, rand), firestore);
      const until = Date.now() + 15_000;
      while (Date.now() < until && (await injectedFaults()) < MIN_INJECTED_FAULTS && published.some((m) => !relay.isAcked(m.messageId))) await sleep(250);
    }
    if (topUps > 0) log(`topped the storm up with ${topUps} intents`);
    log(`published ${published.length} messages; faults off, settling`);

    // ---- settle: no faults, gate open, function up; wait for the backlog and the reconciler
    await simFaults({ clear: true, seed: opts.seed });
    interposer.faults.clear();
    if (halted !== false) await setHalted(false);
    if (stack.functionPid('executeIntent') === null) await stack.startFunction('executeIntent');
    const validIds = new Set(published.flatMap((m) => (m.intentId ? [m.intentId] : [])));
    const deadline = Date.now() + (opts.settleTimeoutMs ?? 600_000);
    let settled = false;
    let lastLine = '';
    while (Date.now() < deadline) {
      const records = await readRecords(stack);
      const stats = relay.stats();
      const open = [...records.values()].filter((r) => !TERMINAL_STATES.has(r.state)).length;
      const missing = [...validIds].filter((id) => !records.has(id)).length;
      // Acknowledged: the emulator got a 2xx for the message (it redelivers the others).
      const unacked = published.filter((m) => !relay.isAcked(m.messageId)).length;
      const line = `not acknowledged ${unacked}, in flight ${stats.inFlight}, non-terminal ${open}, no record yet ${missing}`;
      if (line !== lastLine) log(line);
      lastLine = line;
      if (open === 0 && missing === 0 && unacked === 0 && stats.inFlight === 0) {
        settled = true;
        break;
      }
      await sleep(1_000);
    }

    // ---- the invariants
    const records = await readRecords(stack);
    const invalidSnap = await stack.db.collection('invalidIntents').get();
    const invalidMessageIds = new Set(invalidSnap.docs.map((d) => String(d.get('messageId') ?? d.id)));
    const orders: SimOrder[] = stack.sim.orders();
    const claimCommits = interposer.commits
      .entries()
      .filter((c) => c.transactional)
      .flatMap((c) => c.serverValues.filter((d) => d.startsWith('submissions/')).map((d) => ({ intentId: d.slice('submissions/'.length), commitMicros: c.commitMicros })));
    const result = checkInvariants({ published, records, invalidMessageIds, orders, killSwitchWrites, claimCommits });
    const states: Record<string, number> = {};
    const refusedReasons: Record<string, number> = {};
    for (const r of records.values()) {
      states[r.state] = (states[r.state] ?? 0) + 1;
      if (r.state === 'refused') refusedReasons[r.reason ?? '?'] = (refusedReasons[r.reason ?? '?'] ?? 0) + 1;
    }
    const submits = stack.sim.requestLog.filter((r) => r.method === 'POST' && r.path === '/v2/orders');
    const faults: Record<string, number> = {};
    for (const r of submits) if (r.fault) faults[r.fault] = (faults[r.fault] ?? 0) + 1;
    const stats = relay.stats();
    await opts.beforeStop?.(stack);
    const acks = Object.entries(stats.outcomes).filter(([status]) => PUSH_ACK_STATUSES.has(Number(status))).reduce((n, [, v]) => n + v, 0);
    return {
      seed: opts.seed,
      published: { valid: validIds.size, republished, invalid, topUps },
      killSwitchWrites: { count: killSwitchWrites.length, slowestMs: slowestKillSwitchWriteMs },
      kills: killTimes.length,
      haltPeriods: haltTimes.length,
      pubsub: { deliveries: stats.deliveries, duplicates: stats.duplicates, notAcked: stats.deliveries - acks, outcomes: stats.outcomes },
      sim: { submits: submits.length, faults, orders: orders.length },
      firestore,
      restartRequested: ownFirestore !== null,
      states,
      refusedReasons,
      claimsChecked: result.claimsChecked,
      claimRequestsChecked: result.claimRequestsChecked,
      claimsUnseen: result.claimsUnseen,
      reclaimed: result.reclaimed,
      invariants: result.invariants,
      details: result.details,
      settled,
      durationMs: Date.now() - started,
    };
  } finally {
    await pubsub.close().catch(() => {});
  }
}

async function readRecords(stack: LocalStack): Promise<Map<string, RecordSnapshot>> {
  const snap = await stack.db.collection('submissions').get();
  const out = new Map<string, RecordSnapshot>();
  for (const d of snap.docs) {
    out.set(d.id, {
      intentId: d.id,
      state: d.get('state') as SubmissionState,
      brokerOrderId: (d.get('brokerOrderId') as string | null | undefined) ?? null,
      reason: (d.get('reason') as string | null | undefined) ?? null,
      claimCommittedMicros: claimMicros(d.get('claimCommittedAt')),
      claims: ((d.get('history') as Array<{ state: string }> | undefined) ?? []).filter((h) => h.state === 'submitting').length,
    });
  }
  return out;
}

/** `claimCommittedAt` (a Firestore Timestamp) in microseconds, or null. */
function claimMicros(value: unknown): number | null {
  const t = value as Timestamp | null | undefined;
  return t && typeof t.seconds === 'number' && typeof t.nanoseconds === 'number' ? timestampMicros(t) : null;
}

/** One line per invariant, for the console. */
export function formatReport(r: ChaosReport): string {
  const inv = Object.entries(r.invariants).map(([k, v]) => `  ${v === 0 ? 'ok  ' : 'FAIL'} ${k.padEnd(22)} ${v}`);
  return [
    `seed ${r.seed}: ${r.published.valid} intents (${r.published.topUps} of them top-ups; +${r.published.republished} republished, ${r.published.invalid} invalid), ` +
      `${r.kills} kill -9, ${r.haltPeriods} halts (slowest kill-switch write ${Math.round(r.killSwitchWrites.slowestMs)} ms), ${r.pubsub.deliveries} push deliveries (${r.pubsub.duplicates} duplicated, ${r.pubsub.notAcked} not acknowledged: ${JSON.stringify(r.pubsub.outcomes)}), ` +
      `${r.sim.submits} broker submits (faults ${JSON.stringify(r.sim.faults)}), ${r.sim.orders} orders, ` +
      `Firestore faults ${JSON.stringify(r.firestore.faults)} in ${r.firestore.windows} windows (by method ${JSON.stringify(r.firestore.byMethod)}), ` +
      (r.firestore.restarts ? `Firestore emulator restarts ${JSON.stringify(r.firestore.restarts)}, ` : '') +
      `G2: ${r.claimsChecked} claim commits checked on the wire, ${r.claimRequestsChecked} claimCommittedAt checked (${r.claimsUnseen} claims not seen on the wire, ${r.reclaimed} records claimed more than once), ` +
      `states ${JSON.stringify(r.states)} (refused: ${JSON.stringify(r.refusedReasons)}), ${r.settled ? 'settled' : 'NOT SETTLED'} in ${Math.round(r.durationMs / 1000)} s`,
    ...inv,
    ...r.details.map((d) => `    ${d}`),
  ].join('\n');
}

export function violations(r: ChaosReport): number {
  return Object.values(r.invariants).reduce((a, b) => a + b, 0) + (r.settled ? 0 : 1);
}

/** Total Firestore faults the interposer injected. */
export function firestoreFaultsInjected(r: ChaosReport): number {
  return Object.values(r.firestore.faults).reduce((a, b) => a + b, 0);
}

/** Total broker faults the simulator injected into submits. */
export function brokerFaultsInjected(r: ChaosReport): number {
  return Object.values(r.sim.faults).reduce((a, b) => a + b, 0);
}

/** Why a run was not the storm it claims to be (empty: it was): a run that injected no Firestore faults, or too few broker faults, tested nothing about them. */
export function stormProblems(r: ChaosReport): string[] {
  const problems: string[] = [];
  if (firestoreFaultsInjected(r) === 0) problems.push('no Firestore faults injected');
  if (brokerFaultsInjected(r) < MIN_INJECTED_FAULTS) problems.push(`only ${brokerFaultsInjected(r)} broker faults injected (fewer than ${MIN_INJECTED_FAULTS})`);
  if (r.kills === 0) problems.push('no kill -9');
  if (r.restartRequested && (r.firestore.restarts ?? []).length === 0) problems.push('a Firestore restart was asked for and none ran');
  for (const x of r.firestore.restarts ?? []) {
    if (x.unfinishedAtExport > 0) problems.push(`${x.unfinishedAtExport} Firestore calls were still at the emulator when it was exported`);
    if (x.recordsAfter < x.recordsBefore) problems.push(`the Firestore restart lost records: ${x.recordsBefore} before the export, ${x.recordsAfter} after the start`);
  }
  return problems;
}
