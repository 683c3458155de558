/**
 * `npm run bench`: haltgate's cost, measured against the local stack on the official
 * emulators in one run (the script runs it under dev/emulators/exec.ts).
 *
 *   npm run bench [-- --latency-ms 100 --levels 1,8,32,64 --halts 5 --out bench-results/bench.json]
 *
 * The simulator answers after a fixed latency. The executeIntent process reaches the Firestore
 * emulator through the gRPC interposer (dev/firestore-interposer), which counts its RPCs and
 * logs every commit with the server's commit time. Deliveries come from the Pub/Sub emulator's
 * push subscriptions through a push relay (dev/stack/push-relay.ts) that bounds the requests in
 * flight at the function, as Cloud Run's per-instance concurrency does. The emulator pushes at
 * most 2 messages at a time per subscription (two push loops, each waiting for the answer), so
 * a level of concurrency c is fed from ceil(c/2) topics, each with its own push subscription.
 *
 * Workload: claims of one strategy in one symbol write the same exposure document
 * (strategies/{id}/exposure/{symbol}) and serialise, so the main levels spread intents round
 * robin over 4 strategies × 50 symbols (no two intents in flight share a pair); one extra row,
 * "contended", sends every intent of 1 strategy in 1 symbol at c=8 to state that cost.
 *
 * First a warm-up (--warmup intents through the whole path at the top level, orders/s per chunk
 * reported): the emulators' JVMs compile as they go, and a cold Firestore emulator takes
 * several times the latency and CPU per transaction it takes later.
 *
 * Measured, in one run (ratios within the run are what to compare; the machine is shared):
 *   1. Firestore round trips per accepted order and per refused (halted) intent (interposer).
 *   2. Per level: orders/s of ONE executeIntent process, as a ratio to the Little's-law bound
 *      (c / broker latency), to a bare loop POSTing to the simulator at the same c, and to the
 *      floor loop (./floor-loop.ts: the bare loop plus an order's 3 round trips); gate
 *      overhead (arrival at the function → broker call start, the order's created_at at the
 *      simulator minus the fixed latency) p50/p99; CPU ms per order of the function process
 *      and each process's CPU share over the level (/proc/<pid>/stat: the function, the
 *      Firestore and Pub/Sub emulator JVMs, this process — simulator, relay, interposer,
 *      publisher — and the machine as a whole; ./cpu.ts).
 *   3. Two executeIntent processes behind one relay (./balancer.ts, least requests in flight)
 *      at the top level against one, in the same run (one, two, one again).
 *   4. Halt under continuous load at the top level: intents published at a steady rate above
 *      what one process serves, halt/resume cycles written directly (firebase-admin set), through
 *      the ops API (POST /halt with the local operator's ID token from the Auth emulator) and
 *      through the CLI (`node cli/haltgate.js halt`). Per halt, from server commit times: issue
 *      → commit, claims that committed while it waited, the last broker call start after the
 *      commit, claims after the commit (before the next resume; must be 0).
 *   5. Cold start of executeIntent: a fresh process spawned, one intent published once it
 *      listens, until that intent was settled (answered 2xx with a terminal record); median of 3.
 *   6. The chaos test's invariants (test/chaos/invariants.ts: G1 at most one order per intent,
 *      G2 no claim while halted, from server commit times) over everything this run published.
 * Prints tables and writes them with the numbers as JSON (bench-results/ is git-ignored).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Timestamp } from 'firebase-admin/firestore';
import { startPushRelay, type PushRelay } from '../stack/push-relay.js';
import { LOCAL_PROJECT_ID, startLocalStack, type LocalStack } from '../stack/stack.js';
import { FunctionProcess } from '../stack/function-process.js';
import { freePort } from '../stack/ports.js';
import { REPO_ROOT } from '../stack/discover.js';
import { publishIntent } from '../../runner/src/index.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { TERMINAL_STATES, type SubmissionState } from '../../functions/src/domain/submission.js';
import { checkInvariants, timestampMicros, type KillSwitchWrite, type PublishedMessage, type RecordSnapshot } from '../../test/chaos/invariants.js';
import { initializeApp } from 'firebase-admin/app';
import { firestoreAt } from '../emulators/firestore-at.js';
import { bareLoopThroughput } from './bare-loop.js';
import { floorLoopThroughput } from './floor-loop.js';
import { startBalancer, type Balancer } from './balancer.js';
import { cpuWindow, emulatorPid, processCpuMs, type CpuTarget, type CpuWindow } from './cpu.js';

const { values } = parseArgs({
  options: {
    'latency-ms': { type: 'string', default: '100' },
    levels: { type: 'string', default: '1,8,32,64' },
    'rt-intents': { type: 'string', default: '40' },
    warmup: { type: 'string', default: '3000' },
    // KEY=VALUE for the function processes (a param under test), repeatable
    env: { type: 'string', multiple: true, default: [] },
    halts: { type: 'string', default: '5' },
    'ops-halts': { type: 'string', default: '3' },
    'cli-halts': { type: 'string', default: '3' },
    'cold-starts': { type: 'string', default: '3' },
    out: { type: 'string', default: 'bench-results/bench.json' },
  },
});
const latencyMs = Number(values['latency-ms']);
const levels = values.levels.split(',').map(Number);
const topC = Math.max(...levels);
const rtIntents = Number(values['rt-intents']);
const warmupTotal = Math.max(16, Number(values.warmup));
/** --env KEY=VALUE, for the function processes. */
const functionsEnv = Object.fromEntries(
  values.env.map((kv) => {
    const at = kv.indexOf('=');
    if (at < 1) throw new Error(`--env ${kv}: expected KEY=VALUE`);
    return [kv.slice(0, at), kv.slice(at + 1)];
  }),
);
process.env.METADATA_SERVER_DETECTION ??= 'none';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const median = (xs: number[]) => pct(xs, 50);
const round = (x: number, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);
/** A Firestore Timestamp in microseconds (the server's commit-time resolution). */
const micros = (t: Timestamp) => timestampMicros(t);

const STRATEGIES = 4;
const SYMBOLS = Array.from({ length: 50 }, (_, i) => `SY${String.fromCharCode(65 + Math.floor(i / 26))}${String.fromCharCode(65 + (i % 26))}`);
type Workload = 'spread' | 'contended';
/** Round robin over strategies × symbols: consecutive intents never share an exposure document. */
const pairOf = (k: number, w: Workload) => (w === 'contended' ? { strategyId: 'bench-hot', symbol: 'AAPL' } : { strategyId: `bench-${k % STRATEGIES}`, symbol: SYMBOLS[Math.floor(k / STRATEGIES) % SYMBOLS.length]! });

const loadBefore = loadavg();
const runTag = Date.now().toString(36);
// The suite's own project: the Auth emulator signs in (email/password) for it only, and the
// halt through the ops API needs the local operator's ID token. exec.ts gives the run its own suite.
const stack: LocalStack = await startLocalStack({
  projectId: LOCAL_PROJECT_ID,
  quiet: true,
  only: ['executeIntent', 'ops'],
  schedules: 'off',
  interposer: true,
  sim: { faults: { latencyMs } },
  functionsEnv,
  // Written below, so that its commit time is in the kill-switch history the invariants need.
  openKillSwitch: false,
});
const interposer = stack.interposer!;
// The floor loop's own client, through the interposer as the function's is (the same hop).
const floorDb = firestoreAt(initializeApp({ projectId: stack.projectId }, `bench-floor-${process.pid}`), interposer.host);
const relays: PushRelay[] = [];
const extraProcesses: FunctionProcess[] = [];
const balancers: Balancer[] = [];
const executeFn = stack.functions.find((f) => f.name === 'executeIntent')!;
const quietLog = () => {};

/** Every write of ops/killSwitch in this run with its server commit time (for G2). */
const killSwitchWrites: KillSwitchWrite[] = [];
/** Every message this run published. */
const published: PublishedMessage[] = [];

async function setHalted(halted: boolean) {
  const w = await stack.db.doc('ops/killSwitch').set({ halted, reason: halted ? 'bench halt' : 'bench resume', updatedBy: 'bench', updatedAt: new Date() });
  killSwitchWrites.push({ halted, writeMicros: micros(w.writeTime) });
  return w;
}
/** The commit time of the last write of ops/killSwitch (for halts written by the ops API and the CLI). */
async function killSwitchCommitMicros(): Promise<number> {
  const snap = await stack.db.doc('ops/killSwitch').get();
  if (snap.get('halted') !== true || !snap.updateTime) throw new Error('ops/killSwitch is not halted after the halt');
  return micros(snap.updateTime);
}

let run = 0;
let seq = 0;
/**
 * A feed into `target` (default: the executeIntent process) with at most `concurrency`
 * requests in flight: a relay bounding it, and ceil(concurrency / 2) topics with a push
 * subscription each into the relay.
 */
async function feed(concurrency: number, target = stack.functionUrls.executeIntent!): Promise<{ relay: PushRelay; publish: (n: number, tag: string, w?: Workload) => Promise<string[]> }> {
  run += 1;
  const relay = await startPushRelay(target, { maxConcurrent: concurrency });
  relays.push(relay);
  const topics: string[] = [];
  for (let k = 0; k < Math.ceil(concurrency / 2); k += 1) {
    const name = `bench-${runTag}-${run}-c${concurrency}-${k}`;
    await stack.addPushSubscription({ topic: name, name, endpoint: relay.url, ackDeadlineSeconds: 120 });
    topics.push(name);
  }
  let next = 0;
  const publish = async (n: number, tag: string, w: Workload = 'spread') => {
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: n }, () => {
        const k = seq++;
        const intentId = `bench-${runTag}-${tag}-${k}`;
        ids.push(intentId);
        const topic = topics[next++ % topics.length]!;
        return publishIntent(
          { intentId, ...pairOf(k, w), side: 'buy', qty: 1, type: 'market', timeInForce: 'day', createdAt: new Date().toISOString() },
          { topic: stack.pubsub.topic(topic) },
        ).then((messageId) => published.push({ messageId, intentId }));
      }),
    );
    return ids;
  };
  return { relay, publish };
}

/** Until the `expected` messages `relay` got are acknowledged and nothing is in flight. */
async function drain(relay: PushRelay, expected: number, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = relay.stats();
    if (s.acked >= expected && s.inFlight === 0) return;
    if (Date.now() > until) throw new Error(`drain: ${s.acked}/${expected} acknowledged, ${s.inFlight} in flight after ${timeoutMs} ms`);
    await sleep(25);
  }
}

interface Rec {
  id: string;
  state: string;
  claimCommittedAt: Timestamp | null;
}
async function recordsOf(ids: string[]): Promise<Rec[]> {
  const out: Rec[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const refs = ids.slice(i, i + 100).map((id) => stack.db.doc(`submissions/${id}`));
    for (const snap of await stack.db.getAll(...refs)) {
      out.push({ id: snap.id, state: String(snap.get('state') ?? 'missing'), claimCommittedAt: (snap.get('claimCommittedAt') as Timestamp | null | undefined) ?? null });
    }
  }
  return out;
}
const countStates = (records: Array<{ state: string }>) => {
  const out: Record<string, number> = {};
  for (const r of records) out[r.state] = (out[r.state] ?? 0) + 1;
  return out;
};

/** Broker call start per client_order_id: the order's creation at the simulator minus the fixed latency. */
function brokerStarts(): Map<string, number> {
  return new Map(stack.sim.orders().map((o) => [o.client_order_id, Date.parse(o.created_at) - latencyMs]));
}
/** Claim commits seen at the interposer (transactional commits setting a server value on submissions/<id>). */
function claimCommits(): Array<{ intentId: string; commitMicros: number }> {
  return interposer.commits
    .entries()
    .filter((c) => c.transactional)
    .flatMap((c) => c.serverValues.filter((d) => d.startsWith('submissions/')).map((d) => ({ intentId: d.slice('submissions/'.length), commitMicros: c.commitMicros })));
}

// ---- CPU accounting targets
const firestorePort = Number(stack.firestoreHost.split(':').pop());
const pubsubPort = Number(stack.pubsubHost.split(':').pop());
const firestoreJvm = emulatorPid(firestorePort);
const pubsubJvm = emulatorPid(pubsubPort);
function cpuTargets(functionPids: number[]): CpuTarget[] {
  const t: CpuTarget[] = functionPids.map((pid, i) => ({ name: functionPids.length === 1 ? 'executeIntent' : `executeIntent#${i + 1}`, pid, mainThread: true }));
  if (firestoreJvm !== null) t.push({ name: 'firestoreEmulator', pid: firestoreJvm });
  if (pubsubJvm !== null) t.push({ name: 'pubsubEmulator', pid: pubsubJvm });
  t.push({ name: 'bench (sim, relay, interposer, publisher)', pid: process.pid, mainThread: true });
  return t;
}
const sharesOf = (w: CpuWindow) => {
  const out: Record<string, number | null> = {};
  for (const [name, p] of Object.entries(w.processes)) {
    out[name] = p.cores === null ? null : round(p.cores);
    if (p.mainThreadCores !== undefined) out[`${name} main thread`] = p.mainThreadCores === null ? null : round(p.mainThreadCores);
  }
  const ours = Object.values(w.processes).reduce((a, p) => a + (p.cores ?? 0), 0);
  out.machine = w.machineCores === null ? null : round(w.machineCores);
  out['other (rest of the machine)'] = w.machineCores === null ? null : round(Math.max(0, w.machineCores - ours));
  return out;
};

/** One throughput level: n intents at concurrency c into `target`, with the CPU of `functionPids`. */
async function level(o: { label: string; c: number; n: number; workload: Workload; target?: string; functionPids: number[]; bare: boolean }) {
  const f = await feed(o.c, o.target);
  interposer.stats.reset();
  const win = cpuWindow(cpuTargets(o.functionPids));
  const t0 = performance.now();
  const ids = await f.publish(o.n, `tp-${o.label.replace(/[^A-Za-z0-9]+/g, '-')}`, o.workload);
  await drain(f.relay, o.n);
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = win.end();
  const rpc = interposer.stats.counts();
  const states = countStates(await recordsOf(ids));
  const perSecond = o.n / elapsedS;
  const bound = o.c / (latencyMs / 1000);
  const bare = o.bare ? await bareLoopThroughput({ simUrl: stack.simUrl, keyId: stack.sim.keyId, secretKey: stack.sim.secretKey, concurrency: o.c, orders: o.n, tag: `${runTag}-${run}`, symbols: SYMBOLS }) : NaN;
  const floor = o.bare ? await floorLoop(o.c, o.n) : null;
  const starts = brokerStarts();
  const overhead = ids.flatMap((id) => {
    const arrived = f.relay.arrivals.get(id);
    const start = starts.get(clientOrderIdFor(id));
    return arrived !== undefined && start !== undefined ? [start - arrived] : [];
  });
  const fnCpuMs = o.functionPids.reduce((a, _pid, i) => a + (cpu.processes[o.functionPids.length === 1 ? 'executeIntent' : `executeIntent#${i + 1}`]?.cpuMs ?? NaN), 0);
  const total = Object.values(rpc).reduce((a, b) => a + b, 0);
  return {
    label: o.label,
    concurrency: o.c,
    workload: o.workload,
    instances: o.functionPids.length,
    intents: o.n,
    submitted: states.submitted ?? 0,
    states,
    seconds: round(elapsedS, 2),
    ordersPerSecond: round(perSecond, 1),
    littleBound: round(bound, 1),
    ratioToLittle: round(perSecond / bound),
    bareLoopPerSecond: round(bare, 1),
    ratioToBare: round(perSecond / bare),
    floorLoopPerSecond: round(floor?.perSecond ?? NaN, 1),
    ratioToFloor: round(perSecond / (floor?.perSecond ?? NaN)),
    floorRatioToBare: round((floor?.perSecond ?? NaN) / bare),
    floorClaimP50Ms: round(median(floor?.claimMs ?? []), 1),
    floorOutcomeP50Ms: round(median(floor?.outcomeMs ?? []), 1),
    gateOverheadP50Ms: round(pct(overhead, 50), 1),
    gateOverheadP99Ms: round(pct(overhead, 99), 1),
    functionCpuMsPerOrder: round(fnCpuMs / o.n, 1),
    // Every process of the run that the row's orders go through: functions, both JVMs, this one.
    runCpuMsPerOrder: round(Object.values(cpu.processes).reduce((x, p) => x + (p.cpuMs ?? 0), 0) / o.n, 1),
    // More than an accepted order's own: transaction retries (ABORTED under contention).
    firestoreRpcPerIntent: round(total / o.n),
    rollbacksPerIntent: round((rpc.Rollback ?? 0) / o.n),
    cpuCores: sharesOf(cpu),
  };
}
type Level = Awaited<ReturnType<typeof level>>;

let floorRun = 0;
/** The floor loop (./floor-loop.ts) at concurrency c: the bare loop plus an order's 3 round trips. */
function floorLoop(c: number, n: number) {
  floorRun += 1;
  return floorLoopThroughput({ db: floorDb, simUrl: stack.simUrl, keyId: stack.sim.keyId, secretKey: stack.sim.secretKey, concurrency: c, orders: n, tag: `${runTag}-${floorRun}`, symbols: SYMBOLS, strategies: STRATEGIES });
}

async function signInOperator(): Promise<string> {
  const a = stack.auth;
  if (!a || !a.signInWorks) throw new Error('the Auth emulator cannot sign the local operator in for this project');
  const res = await fetch(`http://${a.host}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=${a.webApiKey}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: a.operator.email, password: a.operator.password, returnSecureToken: true }),
  });
  const body = (await res.json()) as { idToken?: string };
  if (!res.ok || !body.idToken) throw new Error(`sign-in failed: ${res.status} ${JSON.stringify(body)}`);
  return body.idToken;
}

/** `node cli/haltgate.js halt`: ms from spawn to its output and to its exit. */
function cliHalt(reason: string): Promise<{ outputMs: number; exitMs: number; code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let outputMs = NaN;
    let stdout = '';
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'cli', 'haltgate.js'), 'halt', '--reason', reason, '--project', stack.projectId, '--as', 'bench-cli'], {
      cwd: REPO_ROOT,
      env: { ...process.env, FIRESTORE_EMULATOR_HOST: stack.firestoreHost, PUBSUB_EMULATOR_HOST: stack.pubsubHost },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => {
      if (Number.isNaN(outputMs)) outputMs = performance.now() - t0;
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ outputMs, exitMs: performance.now() - t0, code, stdout }));
  });
}

let exitCode = 0;
try {
  await setHalted(false);
  const fnPid = stack.functionPid('executeIntent')!;
  // Warm-up to a steady state, through the whole path at the top level: first-call costs
  // (module init, connections) and, above all, the JIT of the emulators' JVMs and of the
  // function out of the measurements. Cold, the Firestore emulator takes several times the CPU
  // and latency per transaction it takes after a few thousand (measured with a plain client:
  // 28 → 7 ms per claim-shaped transaction at c=1). Throughput per chunk shows it levelled off.
  const warm = await feed(topC);
  const warmupChunks: number[] = [];
  for (let done = 0; done < warmupTotal; ) {
    const n = Math.min(500, warmupTotal - done);
    const w0 = performance.now();
    await warm.publish(n, 'warm');
    done += n;
    await drain(warm.relay, done);
    warmupChunks.push(round(n / ((performance.now() - w0) / 1000), 1));
  }
  await floorLoop(topC, Math.min(1000, Math.ceil(warmupTotal / 3)));
  console.error(`warm-up: ${warmupTotal} intents at c=${topC}, orders/s per chunk ${warmupChunks.join(', ')}`);

  // ---- 1. Firestore round trips per accepted order (one at a time: no contention retries)
  const rt = await feed(1);
  interposer.stats.reset();
  const acceptedIds = await rt.publish(rtIntents, 'rt-accept');
  await drain(rt.relay, rtIntents);
  const acceptedRpc = interposer.stats.counts();
  const acceptedStates = countStates(await recordsOf(acceptedIds));
  // ... and per refused intent (halted)
  await setHalted(true);
  interposer.stats.reset();
  const refusedIds = await rt.publish(rtIntents, 'rt-refuse');
  await drain(rt.relay, 2 * rtIntents);
  const refusedRpc = interposer.stats.counts();
  const refusedStates = countStates(await recordsOf(refusedIds));
  await setHalted(false);
  const per = (d: Record<string, number>, n: number) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, round(v / n)]));
  const total = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

  // ---- 2. throughput, overhead and CPU per level (spread workload), then the contended row
  const rows: Level[] = [];
  for (const c of levels) rows.push(await level({ label: `c=${c}`, c, n: Math.max(60, c * 8), workload: 'spread', functionPids: [fnPid], bare: true }));
  const contended = await level({ label: 'contended: 1 strategy, 1 symbol, c=8', c: 8, n: 40, workload: 'contended', functionPids: [fnPid], bare: false });
  const spread8 = rows.find((r) => r.concurrency === 8);

  // ---- 3. two instances at the top level: one (the row above), two, one again
  const second = new FunctionProcess({ fn: executeFn, port: await freePort(), env: stack.functionsEnv, log: quietLog, stopGraceMs: 10_000, readyTimeoutMs: 60_000 });
  extraProcesses.push(second);
  await second.start();
  const balancer = await startBalancer([stack.functionUrls.executeIntent!, second.url]);
  balancers.push(balancer);
  // Its own warm-up, through the balancer.
  const warm2 = await feed(8, balancer.url);
  await warm2.publish(16, 'warm2');
  await drain(warm2.relay, 16);
  const nTop = Math.max(60, topC * 8);
  const two = await level({ label: `c=${topC}, 2 instances`, c: topC, n: nTop, workload: 'spread', target: balancer.url, functionPids: [fnPid, second.pid!], bare: false });
  const split = balancer.sent();
  await second.stop();
  const oneAgain = await level({ label: `c=${topC}, 1 instance (again)`, c: topC, n: nTop, workload: 'spread', functionPids: [fnPid], bare: true });
  const oneFirst = rows.find((r) => r.concurrency === topC)!;

  // ---- 4. halt under continuous load at the top level
  const hf = await feed(topC);
  const rate = Math.min(250, Math.max(20, 1.2 * Math.max(oneFirst.ordersPerSecond, oneAgain.ordersPerSecond)));
  let loading = true;
  const batches: Array<Promise<string[]>> = [];
  let publishedInHalt = 0;
  const loader = (async () => {
    const t0 = performance.now();
    while (loading) {
      const due = Math.floor(((performance.now() - t0) / 1000) * rate) - publishedInHalt;
      if (due > 0) {
        publishedInHalt += due;
        batches.push(hf.publish(due, 'halt'));
      }
      await sleep(20);
    }
  })();
  const idToken = await signInOperator();
  // The ops process's first request (token verification, its instance report) out of the halts.
  await (await fetch(`${stack.dashboardUrl}status`, { headers: { authorization: `Bearer ${idToken}` } })).arrayBuffer();
  const plan: Array<'direct' | 'ops' | 'cli'> = [
    ...Array<'direct'>(Number(values.halts)).fill('direct'),
    ...Array<'ops'>(Number(values['ops-halts'])).fill('ops'),
    ...Array<'cli'>(Number(values['cli-halts'])).fill('cli'),
  ];
  const haltCpu = cpuWindow(cpuTargets([fnPid]));
  await sleep(3_000); // to steady state: the relay full, a backlog at the emulator
  const cycles: Array<{ via: string; issuedMs: number; commitMicros: number; resumeMicros: number; returnedMs: number; exitMs?: number; status?: number }> = [];
  for (const via of plan) {
    await sleep(2_500);
    const issuedMs = Date.now();
    const p0 = performance.now();
    let commitMicros: number;
    let returnedMs: number;
    let exitMs: number | undefined;
    let status: number | undefined;
    if (via === 'direct') {
      const w = await stack.db.doc('ops/killSwitch').set({ halted: true, reason: 'bench halt', updatedBy: 'bench', updatedAt: new Date() });
      returnedMs = performance.now() - p0;
      commitMicros = micros(w.writeTime);
    } else if (via === 'ops') {
      const res = await fetch(`${stack.dashboardUrl}halt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${idToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'bench ops halt' }),
      });
      await res.arrayBuffer();
      returnedMs = performance.now() - p0;
      status = res.status;
      if (res.status !== 200) throw new Error(`POST /halt answered ${res.status}`);
      commitMicros = await killSwitchCommitMicros();
    } else {
      const r = await cliHalt('bench cli halt');
      returnedMs = r.outputMs;
      exitMs = r.exitMs;
      status = r.code ?? -1;
      if (r.code !== 0) throw new Error(`haltgate halt exited ${r.code}: ${r.stdout}`);
      commitMicros = await killSwitchCommitMicros();
    }
    killSwitchWrites.push({ halted: true, writeMicros: commitMicros });
    await sleep(1_000);
    const resume = await setHalted(false);
    cycles.push({ via, issuedMs, commitMicros, resumeMicros: micros(resume.writeTime), returnedMs, ...(exitMs !== undefined ? { exitMs } : {}), ...(status !== undefined ? { status } : {}) });
  }
  loading = false;
  await loader;
  const haltIds = (await Promise.all(batches)).flat();
  await drain(hf.relay, haltIds.length);
  const haltCpuWindow = haltCpu.end();
  const haltRecords = await recordsOf(haltIds);
  const haltIdSet = new Set(haltIds);
  const claimTimes = claimCommits().filter((c) => haltIdSet.has(c.intentId)).map((c) => c.commitMicros);
  const requestTimes = haltRecords.flatMap((r) => (r.claimCommittedAt ? [micros(r.claimCommittedAt)] : []));
  const haltCids = new Set(haltIds.map(clientOrderIdFor));
  const startsMs = [...brokerStarts()].filter(([cid]) => haltCids.has(cid)).map(([, s]) => s);
  const perHalt = cycles.map((cy) => {
    const inWindow = (t: number) => t >= cy.commitMicros && t < cy.resumeMicros;
    const before = claimTimes.filter((t) => t < cy.commitMicros);
    const lastBefore = before.length ? Math.max(...before) : NaN;
    const startsBeforeResume = startsMs.filter((s) => s * 1000 < cy.resumeMicros);
    return {
      via: cy.via,
      issueToCommitMs: round(cy.commitMicros / 1000 - cy.issuedMs, 1),
      // direct: set() returned; ops: the HTTP answer; cli: the first output line
      issueToAnswerMs: round(cy.returnedMs, 1),
      ...(cy.exitMs !== undefined ? { issueToExitMs: round(cy.exitMs, 1) } : {}),
      claimsWhileHaltWaited: claimTimes.filter((t) => t >= cy.issuedMs * 1000 && t < cy.commitMicros).length,
      lastClaimBeforeHaltMs: round((cy.commitMicros - lastBefore) / 1000, 1),
      lastBrokerCallStartAfterHaltMs: round(Math.max(...startsBeforeResume) - cy.commitMicros / 1000, 1),
      claimsAfterHalt: Math.max(claimTimes.filter(inWindow).length, requestTimes.filter(inWindow).length),
    };
  });
  const summarise = (via: string) => {
    const hs = perHalt.filter((h) => h.via === via);
    const f = (k: 'issueToCommitMs' | 'issueToAnswerMs' | 'lastBrokerCallStartAfterHaltMs' | 'claimsWhileHaltWaited') => hs.map((h) => h[k]);
    const exits = hs.flatMap((h) => ('issueToExitMs' in h && h.issueToExitMs !== undefined ? [h.issueToExitMs] : []));
    return {
      via,
      halts: hs.length,
      issueToCommitMs: { p50: median(f('issueToCommitMs')), p99: pct(f('issueToCommitMs'), 99), max: Math.max(...f('issueToCommitMs')) },
      issueToAnswerMs: { p50: median(f('issueToAnswerMs')), max: Math.max(...f('issueToAnswerMs')) },
      ...(exits.length ? { issueToExitMs: { p50: median(exits), max: Math.max(...exits) } } : {}),
      claimsWhileHaltWaited: { p50: median(f('claimsWhileHaltWaited')), max: Math.max(...f('claimsWhileHaltWaited')) },
      lastBrokerCallStartAfterHaltMs: { p50: median(f('lastBrokerCallStartAfterHaltMs')), max: Math.max(...f('lastBrokerCallStartAfterHaltMs')) },
      claimsAfterHalt: hs.reduce((a, h) => a + h.claimsAfterHalt, 0),
    };
  };
  const haltSummary = ['direct', 'ops', 'cli'].filter((v) => plan.includes(v as 'direct')).map(summarise);
  const claimsAfterHalts = perHalt.reduce((a, h) => a + h.claimsAfterHalt, 0);

  // ---- 5. cold start: a fresh executeIntent process, one intent once it listens, until settled
  const colds: Array<{ spawnToListenMs: number; spawnToSettledMs: number; listenToSettledMs: number; cpuMsToSettled: number | null; state: string }> = [];
  for (let i = 0; i < Number(values['cold-starts']); i += 1) {
    const proc = new FunctionProcess({ fn: executeFn, port: await freePort(), env: stack.functionsEnv, log: quietLog, stopGraceMs: 10_000, readyTimeoutMs: 60_000 });
    extraProcesses.push(proc);
    const f = await feed(1, proc.url);
    const t0 = performance.now();
    await proc.start();
    const tListen = performance.now();
    const [id] = await f.publish(1, `cold${i}`);
    const until = Date.now() + 60_000;
    while (f.relay.stats().acked < 1 && Date.now() < until) await sleep(2);
    const tSettled = performance.now();
    const cpuMs = proc.pid === null ? null : processCpuMs(proc.pid);
    const [rec] = await recordsOf([id!]);
    colds.push({ spawnToListenMs: round(tListen - t0, 0), spawnToSettledMs: round(tSettled - t0, 0), listenToSettledMs: round(tSettled - tListen, 0), cpuMsToSettled: cpuMs, state: rec?.state ?? 'missing' });
    await proc.stop();
  }
  const coldStart = {
    runs: colds,
    medianSpawnToSettledMs: median(colds.map((c) => c.spawnToSettledMs)),
    medianSpawnToListenMs: median(colds.map((c) => c.spawnToListenMs)),
    medianListenToSettledMs: median(colds.map((c) => c.listenToSettledMs)),
    medianCpuMsToSettled: median(colds.flatMap((c) => (c.cpuMsToSettled === null ? [] : [c.cpuMsToSettled]))),
  };

  // ---- 6. the chaos test's invariants over everything this run published
  const recordSnaps = new Map<string, RecordSnapshot>();
  const prefix = `bench-${runTag}-`;
  for (const d of (await stack.db.collection('submissions').get()).docs) {
    if (!d.id.startsWith(prefix)) continue;
    const t = d.get('claimCommittedAt') as Timestamp | null | undefined;
    recordSnaps.set(d.id, {
      intentId: d.id,
      state: d.get('state') as SubmissionState,
      brokerOrderId: (d.get('brokerOrderId') as string | null | undefined) ?? null,
      reason: (d.get('reason') as string | null | undefined) ?? null,
      claimCommittedMicros: t ? micros(t) : null,
      claims: ((d.get('history') as Array<{ state: string }> | undefined) ?? []).filter((h) => h.state === 'submitting').length,
    });
  }
  const invalidMessageIds = new Set((await stack.db.collection('invalidIntents').get()).docs.map((d) => String(d.get('messageId') ?? d.id)));
  // The baselines' orders (bare-…, floor-…) went past the gate on purpose.
  const gateOrders = stack.sim.orders().filter((o) => !o.client_order_id.startsWith('bare-') && !o.client_order_id.startsWith('floor-'));
  const inv = checkInvariants({ published, records: recordSnaps, invalidMessageIds, orders: gateOrders, killSwitchWrites, claimCommits: claimCommits().filter((c) => c.intentId.startsWith(prefix)) });
  const nonTerminal = [...recordSnaps.values()].filter((r) => !TERMINAL_STATES.has(r.state)).length;

  const loadAfter = loadavg();
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageBefore: loadBefore.map((x) => round(x)),
    loadAverageAfter: loadAfter.map((x) => round(x)),
  };
  const firebaseTools = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', 'firebase-tools', 'package.json'), 'utf8')) as { version: string }).version;
  const result = {
    measuredAt: new Date().toISOString(),
    machine,
    emulators: `official Firestore and Pub/Sub emulators under firebase-tools ${firebaseTools}`,
    brokerLatencyMs: latencyMs,
    workload: `${STRATEGIES} strategies × ${SYMBOLS.length} symbols round robin; contended: 1 strategy, 1 symbol`,
    warmup: { intents: warmupTotal, concurrency: topC, ordersPerSecondPerChunk: warmupChunks },
    pids: { executeIntent: fnPid, firestoreEmulator: firestoreJvm, pubsubEmulator: pubsubJvm, bench: process.pid },
    roundTrips: {
      acceptedOrder: { perIntent: round(total(acceptedRpc) / rtIntents), byMethod: per(acceptedRpc, rtIntents), states: acceptedStates },
      refusedIntent: { perIntent: round(total(refusedRpc) / rtIntents), byMethod: per(refusedRpc, rtIntents), states: refusedStates },
    },
    throughput: rows,
    contended: { ...contended, ratioToSpreadC8: spread8 ? round(contended.ordersPerSecond / spread8.ordersPerSecond) : NaN },
    twoInstances: {
      oneInstance: oneFirst.ordersPerSecond,
      oneInstanceAgain: oneAgain.ordersPerSecond,
      twoInstances: two.ordersPerSecond,
      ratioTwoToOne: round(two.ordersPerSecond / ((oneFirst.ordersPerSecond + oneAgain.ordersPerSecond) / 2)),
      requestsPerInstance: split,
      rows: [two, oneAgain],
    },
    halt: {
      concurrency: topC,
      publishRatePerSecond: round(rate, 1),
      intents: haltIds.length,
      states: countStates(haltRecords),
      summary: haltSummary,
      perHalt,
      claimsAfterHalts,
      cpuCores: sharesOf(haltCpuWindow),
    },
    coldStart,
    invariants: { ...inv.invariants, claimsChecked: inv.claimsChecked, claimRequestsChecked: inv.claimRequestsChecked, claimsUnseen: inv.claimsUnseen, records: recordSnaps.size, orders: gateOrders.length, killSwitchWrites: killSwitchWrites.length, details: inv.details },
  };
  const lines = render(result, nonTerminal);
  console.log(lines.join('\n'));
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify({ ...result, table: lines.join('\n') }, null, 2)}\n`);
  console.log(`\nwritten to ${values.out}`);
  const violations = Object.values(inv.invariants).reduce((a, b) => a + b, 0);
  if (claimsAfterHalts > 0 || violations > 0) exitCode = 1;
} finally {
  await floorDb.terminate();
  await stack.stop();
  await Promise.all(extraProcesses.map((p) => p.stop()));
  await Promise.all(balancers.map((b) => b.stop()));
  await Promise.all(relays.map((r) => r.stop()));
}
process.exitCode = exitCode;

/** The console tables (also stored in the JSON as `table`). */
function render(r: any, nonTerminal: number): string[] {
  const m = r.machine;
  const fmtCores = (c: Record<string, number | null>, name: string) => {
    const v = c[name];
    const main = c[`${name} main thread`];
    return v === undefined || v === null ? '–' : main === undefined || main === null ? `${v}` : `${v} (${main})`;
  };
  const fnCores = (c: Record<string, number | null>) =>
    Object.keys(c)
      .filter((k) => k.startsWith('executeIntent') && !k.endsWith('main thread'))
      .map((k) => fmtCores(c, k))
      .join(' + ');
  const all: any[] = [...r.throughput, r.contended, ...r.twoInstances.rows];
  const h = r.halt;
  const dash = (x: number) => (Number.isNaN(x) ? '–' : x);
  const range = (x: { p50: number; p99?: number; max: number }) => `${round(x.p50, 1)} / ${x.p99 === undefined ? '' : `${round(x.p99, 1)} / `}${round(x.max, 1)}`;
  return [
    `haltgate bench — ${m.cpu}, ${m.nproc} CPUs, Node ${m.node}; ${r.emulators}; broker latency ${r.brokerLatencyMs} ms (fixed); load average ${m.loadAverageBefore.join(' ')} before, ${m.loadAverageAfter.join(' ')} after`,
    `workload: ${r.workload}`,
    '',
    '| Firestore round trips (counted at the interposer) | per intent | by RPC |',
    '|---|---|---|',
    `| accepted order | ${r.roundTrips.acceptedOrder.perIntent} | ${JSON.stringify(r.roundTrips.acceptedOrder.byMethod)} |`,
    `| refused intent (halted) | ${r.roundTrips.refusedIntent.perIntent} | ${JSON.stringify(r.roundTrips.refusedIntent.byMethod)} |`,
    '',
    `warm-up: ${r.warmup.intents} intents at c=${r.warmup.concurrency}, orders/s per chunk: ${r.warmup.ordersPerSecondPerChunk.join(', ')}`,
    '',
    '| level | intents | orders/s | Little bound/s | ratio | bare loop/s | ratio | floor loop/s (bare + 3 round trips) | haltgate / floor | floor / bare | floor claim p50 ms | floor outcome p50 ms | gate p50 ms | gate p99 ms | executeIntent CPU ms/order | all processes CPU ms/order | Firestore RPCs/intent | rollbacks/intent |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...all.map(
      (t) =>
        `| ${t.label} | ${t.intents} | ${t.ordersPerSecond} | ${t.littleBound} | ${t.ratioToLittle} | ${dash(t.bareLoopPerSecond)} | ${dash(t.ratioToBare)} | ${dash(t.floorLoopPerSecond)} | ${dash(t.ratioToFloor)} | ${dash(t.floorRatioToBare)} | ${dash(t.floorClaimP50Ms)} | ${dash(t.floorOutcomeP50Ms)} | ${t.gateOverheadP50Ms} | ${t.gateOverheadP99Ms} | ${t.functionCpuMsPerOrder} | ${t.runCpuMsPerOrder} | ${t.firestoreRpcPerIntent} | ${t.rollbacksPerIntent} |`,
    ),
    '',
    `contended (1 strategy, 1 symbol, c=8) / spread c=8: ${r.contended.ratioToSpreadC8} of the throughput`,
    `two instances at c=${h.concurrency}: ${r.twoInstances.twoInstances} orders/s vs one ${r.twoInstances.oneInstance} and ${r.twoInstances.oneInstanceAgain} (ratio ${r.twoInstances.ratioTwoToOne}); requests per instance ${r.twoInstances.requestsPerInstance.join(' / ')}`,
    '',
    'CPU per level, in cores (1.0 = one core busy the whole level; in parentheses: the main thread, where JavaScript runs)',
    '',
    '| level | executeIntent | Firestore emulator JVM | Pub/Sub emulator JVM | bench process (sim, relay, interposer, publisher) | machine (of ' + m.nproc + ') | rest of the machine |',
    '|---|---|---|---|---|---|---|',
    ...[...all, { label: `halt phase (c=${h.concurrency}, continuous)`, cpuCores: h.cpuCores }].map(
      (t) =>
        `| ${t.label} | ${fnCores(t.cpuCores)} | ${fmtCores(t.cpuCores, 'firestoreEmulator')} | ${fmtCores(t.cpuCores, 'pubsubEmulator')} | ${fmtCores(t.cpuCores, 'bench (sim, relay, interposer, publisher)')} | ${fmtCores(t.cpuCores, 'machine')} | ${fmtCores(t.cpuCores, 'other (rest of the machine)')} |`,
    ),
    '',
    `halt under continuous load: c=${h.concurrency}, ${h.publishRatePerSecond} intents/s published throughout, ${h.intents} intents; ${JSON.stringify(h.states)}`,
    '',
    '| halt via | halts | issued → committed ms (p50 / p99 / max) | issued → answer ms (p50 / max) | issued → process exit ms (p50 / max) | claims committed while it waited (p50 / max) | last broker call start after the commit ms (p50 / max) | claims after the commit |',
    '|---|---|---|---|---|---|---|---|',
    ...h.summary.map(
      (s: any) =>
        `| ${s.via === 'direct' ? 'firebase-admin set()' : s.via === 'ops' ? 'ops API POST /halt' : 'CLI haltgate halt'} | ${s.halts} | ${range(s.issueToCommitMs)} | ${range(s.issueToAnswerMs)} | ${s.issueToExitMs ? range(s.issueToExitMs) : '–'} | ${range(s.claimsWhileHaltWaited)} | ${range(s.lastBrokerCallStartAfterHaltMs)} | ${s.claimsAfterHalt} |`,
    ),
    '',
    `cold start of executeIntent (median of ${r.coldStart.runs.length}): spawn → first intent settled ${r.coldStart.medianSpawnToSettledMs} ms (spawn → listening ${r.coldStart.medianSpawnToListenMs} ms, then ${r.coldStart.medianListenToSettledMs} ms for the first intent; ${r.coldStart.medianCpuMsToSettled} CPU ms); runs ${r.coldStart.runs.map((c: any) => `${c.spawnToSettledMs} ms (${c.state})`).join(', ')}`,
    '',
    `invariants over this run (test/chaos/invariants.ts; ${r.invariants.records} records, ${r.invariants.orders} broker orders, ${r.invariants.claimsChecked} claim commits, ${r.invariants.killSwitchWrites} kill-switch writes):`,
    ...['intentsWithTwoOrders', 'ordersWithoutRecord', 'ordersRecordMismatch', 'submittedWithoutOrder', 'nonTerminal', 'claimsWhileHalted', 'unaccounted', 'unverifiable'].map(
      (k) => `  ${r.invariants[k] === 0 ? 'ok  ' : 'FAIL'} ${k.padEnd(22)} ${r.invariants[k]}`,
    ),
    ...(r.invariants.details as string[]).map((d) => `  ${d}`),
    ...(nonTerminal ? [`  (${nonTerminal} records not terminal)`] : []),
  ];
}
