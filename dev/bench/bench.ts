/**
 * `npm run bench`: haltgate's cost, measured against the local stack on the official
 * emulators in one run (the script runs it under dev/emulators/exec.ts).
 *
 *   npm run bench [-- --latency-ms 100 --levels 1,8,32,64 --out bench-results/bench.json]
 *
 * The simulator answers after a fixed latency. The executeIntent process reaches the Firestore
 * emulator through the gRPC interposer (dev/firestore-interposer), which counts its RPCs.
 * Deliveries come from the Pub/Sub emulator's push subscriptions through a push relay
 * (dev/stack/push-relay.ts) that bounds the requests in flight at the function, as Cloud Run's
 * per-instance concurrency does. The emulator pushes at most 2 messages at a time per
 * subscription (two push loops, each waiting for the answer), so a level of concurrency c is
 * fed from ceil(c/2) topics, each with its own push subscription. Measured:
 *   - Firestore round trips per accepted order and per refused (halted) intent: RPCs counted
 *     at the interposer, per method;
 *   - throughput of ONE executeIntent process at several concurrency levels, as a ratio to the
 *     Little's-law bound (concurrency / broker latency) and to a bare loop POSTing to the
 *     simulator at the same concurrency;
 *   - gate overhead: the request's arrival at the function (the relay's forward) → broker call
 *     start (the order's created_at at the simulator minus the fixed latency), p50/p99;
 *   - halt under load, from server commit times: the halt write's commit time (`writeTime`)
 *     against every claim's commit time as the server answered it (seen at the interposer)
 *     and its `claimCommittedAt` (claims after the halt: must be 0), how long
 *     the halt write took (it waits for the claim transactions holding read locks on
 *     ops/killSwitch), the last claim before it, and the last broker call start after it.
 * Prints a table and writes it as JSON.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Timestamp } from 'firebase-admin/firestore';
import { startPushRelay, type PushRelay } from '../stack/push-relay.js';
import { startLocalStack, type LocalStack } from '../stack/stack.js';
import { REPO_ROOT } from '../stack/discover.js';
import { publishIntent } from '../../runner/src/index.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { bareLoopThroughput } from './bare-loop.js';

const { values } = parseArgs({
  options: {
    'latency-ms': { type: 'string', default: '100' },
    levels: { type: 'string', default: '1,8,32,64' },
    'rt-intents': { type: 'string', default: '40' },
    out: { type: 'string', default: 'bench-results/bench.json' },
  },
});
const latencyMs = Number(values['latency-ms']);
const levels = values.levels.split(',').map(Number);
const rtIntents = Number(values['rt-intents']);
process.env.METADATA_SERVER_DETECTION ??= 'none';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
/** A Firestore Timestamp in microseconds (the server's commit-time resolution). */
const micros = (t: Timestamp) => t.seconds * 1_000_000 + Math.floor(t.nanoseconds / 1000);

const stack: LocalStack = await startLocalStack({
  projectId: `demo-bench-${Date.now().toString(36)}`,
  quiet: true,
  auth: false,
  only: ['executeIntent'],
  schedules: 'off',
  interposer: true,
  sim: { faults: { latencyMs } },
  openKillSwitch: { reason: 'bench', updatedBy: 'bench' },
});
const interposer = stack.interposer!;
const relays: PushRelay[] = [];

let run = 0;
/**
 * A feed into the executeIntent process with at most `concurrency` requests in flight: a relay
 * bounding it, and ceil(concurrency / 2) topics with a push subscription each into the relay.
 */
async function feed(concurrency: number): Promise<{ relay: PushRelay; publish: (n: number, tag: string) => Promise<string[]> }> {
  run += 1;
  const relay = await startPushRelay(stack.functionUrls.executeIntent!, { maxConcurrent: concurrency });
  relays.push(relay);
  const topics: string[] = [];
  for (let k = 0; k < Math.ceil(concurrency / 2); k += 1) {
    const name = `bench-${run}-c${concurrency}-${k}`;
    await stack.addPushSubscription({ topic: name, name, endpoint: relay.url, ackDeadlineSeconds: 120 });
    topics.push(name);
  }
  const publish = async (n: number, tag: string) => {
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        seq += 1;
        const intentId = `bench-${tag}-${seq}`;
        ids.push(intentId);
        return publishIntent(
          { intentId, strategyId: `bench-${seq % 4}`, symbol: 'AAPL', side: 'buy', qty: 1, type: 'market', timeInForce: 'day', createdAt: new Date().toISOString() },
          { topic: stack.pubsub.topic(topics[i % topics.length]!) },
        );
      }),
    );
    return ids;
  };
  return { relay, publish };
}
let seq = 0;

/** Until every message `relay` was sent so far and the `expected` ones are acknowledged and nothing is in flight. */
async function drain(relay: PushRelay, expected: number, timeoutMs = 600_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = relay.stats();
    if (s.acked >= expected && s.inFlight === 0) return;
    if (Date.now() > until) throw new Error(`drain: ${s.acked}/${expected} acknowledged, ${s.inFlight} in flight after ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function recordsOf(ids: string[]): Promise<Array<{ id: string; state: string; claimCommittedAt: Timestamp | null }>> {
  const out: Array<{ id: string; state: string; claimCommittedAt: Timestamp | null }> = [];
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

async function setHalted(halted: boolean) {
  return stack.db.doc('ops/killSwitch').set({ halted, reason: halted ? 'bench halt' : 'bench resume', updatedBy: 'bench', updatedAt: new Date() });
}

/** Broker call start per client_order_id: the order's creation at the simulator minus the fixed latency. */
function brokerStarts(): Map<string, number> {
  return new Map(stack.sim.orders().map((o) => [o.client_order_id, Date.parse(o.created_at) - latencyMs]));
}

try {
  // Warm-up: first-call costs (module init, connections, JIT) out of the measurements.
  const warm = await feed(8);
  await warm.publish(16, 'warm');
  await drain(warm.relay, 16);

  // ---- 1. Firestore round trips per accepted order (one at a time: no contention retries)
  const rt = await feed(1);
  interposer.stats.reset();
  const acceptedIds = await rt.publish(rtIntents, 'rt-accept');
  await drain(rt.relay, rtIntents);
  const acceptedRpc = interposer.stats.counts();
  const acceptedStates = countStates(await recordsOf(acceptedIds));

  // ---- 2. ... and per refused intent (halted)
  await setHalted(true);
  interposer.stats.reset();
  const refusedIds = await rt.publish(rtIntents, 'rt-refuse');
  await drain(rt.relay, 2 * rtIntents);
  const refusedRpc = interposer.stats.counts();
  const refusedStates = countStates(await recordsOf(refusedIds));
  await setHalted(false);
  const per = (d: Record<string, number>, n: number) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, round(v / n)]));
  const total = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

  // ---- 3. throughput and gate overhead per concurrency level
  const throughput: Array<Record<string, number>> = [];
  for (const c of levels) {
    const n = Math.max(40, c * 6);
    const f = await feed(c);
    interposer.stats.reset();
    const t0 = performance.now();
    const ids = await f.publish(n, `tp-c${c}`);
    await drain(f.relay, n);
    const elapsedS = (performance.now() - t0) / 1000;
    const rpc = interposer.stats.counts();
    const states = countStates(await recordsOf(ids));
    const perSecond = n / elapsedS;
    const bound = c / (latencyMs / 1000);
    const bare = await bareLoopThroughput({ simUrl: stack.simUrl, keyId: stack.sim.keyId, secretKey: stack.sim.secretKey, concurrency: c, orders: n, tag: `c${c}-${run}` });
    const starts = brokerStarts();
    const overhead = ids.flatMap((id) => {
      const arrived = f.relay.arrivals.get(id);
      const start = starts.get(clientOrderIdFor(id));
      return arrived !== undefined && start !== undefined ? [start - arrived] : [];
    });
    throughput.push({
      concurrency: c,
      intents: n,
      submitted: states.submitted ?? 0,
      ordersPerSecond: round(perSecond, 1),
      littleBound: round(bound, 1),
      ratioToLittle: round(perSecond / bound),
      bareLoopPerSecond: round(bare, 1),
      ratioToBare: round(perSecond / bare),
      gateOverheadP50Ms: round(pct(overhead, 50), 1),
      gateOverheadP99Ms: round(pct(overhead, 99), 1),
      // More than the 4 of an accepted order: transaction retries (ABORTED under contention).
      firestoreRpcPerIntent: round(total(rpc) / n),
      rollbacksPerIntent: round((rpc.Rollback ?? 0) / n),
    });
  }

  // ---- 4. halt under load, from server commit times
  const haltC = Math.max(...levels);
  const hf = await feed(haltC);
  const haltN = haltC * 8;
  const haltLoad = hf.publish(haltN, 'halt');
  await sleep(1_500);
  const issuedAt = Date.now();
  const halt = await setHalted(true);
  const haltReturnedAt = Date.now();
  const haltMicros = micros(halt.writeTime);
  const haltIds = await haltLoad;
  await drain(hf.relay, haltN);
  const haltRecords = await recordsOf(haltIds);
  // Claim commits as the server answered them (the transactional Commit that set the record's
  // server timestamp), and each record's claimCommittedAt (when the server took the request).
  const haltIdSet = new Set(haltIds.map((id) => `submissions/${id}`));
  const claimTimes = interposer.commits
    .entries()
    .filter((c) => c.transactional && c.serverValues.some((d) => haltIdSet.has(d)))
    .map((c) => c.commitMicros);
  const requestTimes = haltRecords.flatMap((r) => (r.claimCommittedAt ? [micros(r.claimCommittedAt)] : []));
  const claimsAfterHalt = Math.max(claimTimes.filter((t) => t >= haltMicros).length, requestTimes.filter((t) => t >= haltMicros).length);
  const before = claimTimes.filter((t) => t < haltMicros);
  const lastClaimBeforeHaltMs = before.length ? (haltMicros - Math.max(...before)) / 1000 : NaN;
  // Claims that committed after the halt was issued and before it committed: the halt waited for them.
  const claimsWhileHaltWaited = before.filter((t) => t >= issuedAt * 1000).length;
  const haltIdsSet = new Set(haltIds.map(clientOrderIdFor));
  const lastStart = Math.max(
    ...[...brokerStarts()].filter(([cid]) => haltIdsSet.has(cid)).map(([, start]) => start),
  );
  const unverifiable = haltRecords.filter((r) => r.state !== 'refused' && r.claimCommittedAt === null).length + Math.max(0, requestTimes.length - claimTimes.length);

  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}` };
  const firebaseTools = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', 'firebase-tools', 'package.json'), 'utf8')) as { version: string }).version;
  const result = {
    measuredAt: new Date().toISOString(),
    machine,
    emulators: `official Firestore and Pub/Sub emulators under firebase-tools ${firebaseTools}`,
    brokerLatencyMs: latencyMs,
    roundTrips: {
      acceptedOrder: { perIntent: round(total(acceptedRpc) / rtIntents), byMethod: per(acceptedRpc, rtIntents), states: acceptedStates },
      refusedIntent: { perIntent: round(total(refusedRpc) / rtIntents), byMethod: per(refusedRpc, rtIntents), states: refusedStates },
    },
    throughput,
    halt: {
      concurrency: haltC,
      intents: haltN,
      haltCommitTime: halt.writeTime.toDate().toISOString(),
      haltWriteMs: haltReturnedAt - issuedAt,
      issueToCommitMs: round(haltMicros / 1000 - issuedAt, 1),
      claimsWhileHaltWaited,
      lastClaimBeforeHaltMs: round(lastClaimBeforeHaltMs, 1),
      lastBrokerCallStartAfterHaltMs: round(lastStart - haltMicros / 1000, 1),
      claimsAfterHalt,
      unverifiableRecords: unverifiable,
      states: countStates(haltRecords),
    },
  };

  const h = result.halt;
  const lines = [
    `haltgate bench — ${machine.cpu}, ${machine.nproc} CPUs, Node ${machine.node}; ${result.emulators}; broker latency ${latencyMs} ms (fixed)`,
    '',
    '| Firestore round trips (counted at the interposer) | per intent | by RPC |',
    '|---|---|---|',
    `| accepted order | ${result.roundTrips.acceptedOrder.perIntent} | ${JSON.stringify(result.roundTrips.acceptedOrder.byMethod)} |`,
    `| refused intent (halted) | ${result.roundTrips.refusedIntent.perIntent} | ${JSON.stringify(result.roundTrips.refusedIntent.byMethod)} |`,
    '',
    '| concurrency | intents | orders/s | Little bound/s | ratio | bare loop/s | ratio | gate p50 ms | gate p99 ms | Firestore RPCs/intent |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...throughput.map(
      (t) =>
        `| ${t.concurrency} | ${t.intents} | ${t.ordersPerSecond} | ${t.littleBound} | ${t.ratioToLittle} | ${t.bareLoopPerSecond} | ${t.ratioToBare} | ${t.gateOverheadP50Ms} | ${t.gateOverheadP99Ms} | ${t.firestoreRpcPerIntent} |`,
    ),
    '',
    `| halt under load (concurrency ${haltC}, ${haltN} intents) | value |`,
    '|---|---|',
    `| halt write: issued → committed (server commit time) | ${h.issueToCommitMs} ms (set() returned after ${h.haltWriteMs} ms) |`,
    `| claims that committed while the halt waited | ${h.claimsWhileHaltWaited} |`,
    `| last claim commit before the halt commit | ${h.lastClaimBeforeHaltMs} ms before |`,
    `| last broker call start after the halt commit | ${h.lastBrokerCallStartAfterHaltMs} ms |`,
    `| claims committed after the halt commit | ${claimsAfterHalt} |`,
    `| records | ${JSON.stringify(h.states)} |`,
  ];
  console.log(lines.join('\n'));
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify({ ...result, table: lines.join('\n') }, null, 2)}\n`);
  console.log(`\nwritten to ${values.out}`);
  if (claimsAfterHalt > 0 || unverifiable > 0) process.exitCode = 1;
} finally {
  await stack.stop();
  await Promise.all(relays.map((r) => r.stop()));
}
