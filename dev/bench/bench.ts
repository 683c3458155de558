/**
 * `npm run bench`: haltgate's cost, measured against the local stack in one run.
 *
 *   npm run bench [-- --latency-ms 100 --levels 1,8,32,64 --out bench-results/bench.json]
 *
 * The simulator answers after a fixed latency. Measured:
 *   - Firestore round trips per accepted order and per refused (halted) intent: RPCs counted
 *     at the embedded Firestore server (stats.counts deltas), per method;
 *   - throughput of ONE executeIntent process at several concurrency levels (Pub/Sub push
 *     maxInflight = concurrency), as a ratio to the Little's-law bound (concurrency / broker
 *     latency) and to a bare loop POSTing to the simulator at the same concurrency;
 *   - gate overhead: message arrival at the function (a recording pass-through proxy in front
 *     of it) → broker call start (the order's created_at at the simulator minus the fixed
 *     latency), p50/p99;
 *   - halt-to-quiet: from the halt's commit time (embedded Firestore commit log) to the last
 *     broker call start, under load; and claims committed after the halt (must be 0).
 * Prints a table and writes it as JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PubSub, type Topic } from '@google-cloud/pubsub';
import { startLocalStack, type LocalStack } from '../stack/stack.js';
import { publishIntent } from '../../runner/src/index.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { claimCommits } from '../../test/chaos/invariants.js';
import { startArrivalProxy, type ArrivalProxy } from './arrival-proxy.js';
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

let proxy: ArrivalProxy | undefined;
const stack: LocalStack = await startLocalStack({
  quiet: true,
  only: ['executeIntent'],
  schedules: 'off',
  sim: { faults: { latencyMs } },
  openKillSwitch: { reason: 'bench', updatedBy: 'bench' },
  pushEndpoint: async (_fn, url) => {
    proxy = await startArrivalProxy(url);
    return proxy.url;
  },
});
const pubsub = new PubSub({ projectId: stack.projectId, apiEndpoint: stack.pubsubHost });

let run = 0;
/** A topic with its own push subscription (maxInflight = concurrency) into the executeIntent process. */
function topicWithConcurrency(concurrency: number): Topic {
  run += 1;
  const name = `bench-${run}-c${concurrency}`;
  stack.pubsub.addPushSubscription({ topic: name, name, endpoint: proxy!.url, maxInflight: concurrency, minBackoffMs: 1000, maxBackoffMs: 10_000, ackDeadlineMs: 65_000 });
  return pubsub.topic(name);
}

let seq = 0;
async function publishBatch(topic: Topic, n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: n }, () => {
      seq += 1;
      const intentId = `bench-${tag}-${seq}`;
      ids.push(intentId);
      return publishIntent(
        { intentId, strategyId: `bench-${seq % 4}`, symbol: 'AAPL', side: 'buy', qty: 1, type: 'market', timeInForce: 'day', createdAt: new Date().toISOString() },
        { topic },
      );
    }),
  );
  return ids;
}

async function drain(topic: Topic): Promise<void> {
  await stack.pubsub.drain(600_000, { subscriptions: [topic.name.split('/').pop()!] });
}

async function statesOf(ids: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < ids.length; i += 100) {
    const refs = ids.slice(i, i + 100).map((id) => stack.db.doc(`submissions/${id}`));
    for (const snap of await stack.db.getAll(...refs)) {
      const s = String(snap.get('state') ?? 'missing');
      out[s] = (out[s] ?? 0) + 1;
    }
  }
  return out;
}

function rpcDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

async function setHalted(halted: boolean) {
  await stack.db.doc('ops/killSwitch').set({ halted, reason: halted ? 'bench halt' : 'bench resume', updatedBy: 'bench', updatedAt: new Date() });
}

/** Broker call start per client_order_id: the order's creation at the simulator minus the fixed latency. */
function brokerStarts(): Map<string, number> {
  return new Map(stack.sim.orders().map((o) => [o.client_order_id, Date.parse(o.created_at) - latencyMs]));
}

try {
  // Warm-up: first-call costs (module init, connections, JIT) out of the measurements.
  const warm = topicWithConcurrency(8);
  await publishBatch(warm, 16, 'warm');
  await drain(warm);

  // ---- 1. Firestore round trips per accepted order (one at a time: no contention retries)
  const rtTopic = topicWithConcurrency(1);
  let before = { ...stack.firestore.stats.counts };
  const acceptedIds = await publishBatch(rtTopic, rtIntents, 'rt-accept');
  await drain(rtTopic);
  const acceptedRpc = rpcDelta(before, stack.firestore.stats.counts);
  const acceptedStates = await statesOf(acceptedIds);

  // ---- 2. ... and per refused intent (halted)
  await setHalted(true);
  before = { ...stack.firestore.stats.counts };
  const refusedIds = await publishBatch(rtTopic, rtIntents, 'rt-refuse');
  await drain(rtTopic);
  const refusedRpc = rpcDelta(before, stack.firestore.stats.counts);
  const refusedStates = await statesOf(refusedIds);
  await setHalted(false);
  const per = (d: Record<string, number>, n: number) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, round(v / n)]));
  const total = (d: Record<string, number>) => Object.values(d).reduce((a, b) => a + b, 0);

  // ---- 3. throughput and gate overhead per concurrency level
  const throughput: Array<Record<string, number>> = [];
  for (const c of levels) {
    const n = Math.max(40, c * 6);
    const topic = topicWithConcurrency(c);
    const t0 = performance.now();
    const ids = await publishBatch(topic, n, `tp-c${c}`);
    await drain(topic);
    const elapsedS = (performance.now() - t0) / 1000;
    const states = await statesOf(ids);
    const perSecond = n / elapsedS;
    const bound = c / (latencyMs / 1000);
    const bare = await bareLoopThroughput({ simUrl: stack.simUrl, keyId: stack.sim.keyId, secretKey: stack.sim.secretKey, concurrency: c, orders: n, tag: `c${c}-${run}` });
    const starts = brokerStarts();
    const overhead = ids.flatMap((id) => {
      const arrived = proxy!.arrivals.get(id);
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
    });
  }

  // ---- 4. halt-to-quiet under load
  const haltC = Math.max(...levels);
  const haltTopic = topicWithConcurrency(haltC);
  const haltLoad = publishBatch(haltTopic, haltC * 8, 'halt');
  await sleep(1_500);
  await setHalted(true);
  const haltCommit = stack.firestore.commitLog.entries().filter((c) => c.writes.includes('ops/killSwitch')).at(-1)!;
  const haltIds = await haltLoad;
  await drain(haltTopic);
  const haltStates = await statesOf(haltIds);
  const lastStart = Math.max(...stack.sim.requestLog.filter((r) => r.method === 'POST' && r.path === '/v2/orders' && !r.path.startsWith('/__sim')).map((r) => r.at - latencyMs));
  const snap = await stack.db.collection('submissions').get();
  const records = snap.docs.map((d) => ({
    intentId: d.id,
    state: d.get('state'),
    brokerOrderId: d.get('brokerOrderId') ?? null,
    history: ((d.get('history') as Array<{ state: string }>) ?? []).map((h) => ({ state: h.state })),
  }));
  const { claims, unverifiable } = claimCommits(records, stack.firestore.commitLog.entries());
  const claimsAfterHalt = claims.filter((c) => c.seq > haltCommit.seq).length;

  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}` };
  const result = {
    measuredAt: new Date().toISOString(),
    machine,
    brokerLatencyMs: latencyMs,
    roundTrips: {
      acceptedOrder: { perIntent: round(total(acceptedRpc) / rtIntents), byMethod: per(acceptedRpc, rtIntents), states: acceptedStates },
      refusedIntent: { perIntent: round(total(refusedRpc) / rtIntents), byMethod: per(refusedRpc, rtIntents), states: refusedStates },
    },
    throughput,
    haltToQuiet: {
      concurrency: haltC,
      haltCommitTime: haltCommit.commitTime.toISOString(),
      lastBrokerCallStartAfterHaltMs: round(Math.max(0, lastStart - haltCommit.commitTime.getTime()), 1),
      claimsAfterHalt,
      unverifiableRecords: unverifiable.length,
      states: haltStates,
    },
  };

  const lines = [
    `haltgate bench — ${machine.cpu}, ${machine.nproc} CPUs, Node ${machine.node}; broker latency ${latencyMs} ms (fixed)`,
    '',
    '| Firestore round trips (counted at the server) | per intent | by RPC |',
    '|---|---|---|',
    `| accepted order | ${result.roundTrips.acceptedOrder.perIntent} | ${JSON.stringify(result.roundTrips.acceptedOrder.byMethod)} |`,
    `| refused intent (halted) | ${result.roundTrips.refusedIntent.perIntent} | ${JSON.stringify(result.roundTrips.refusedIntent.byMethod)} |`,
    '',
    '| concurrency | intents | orders/s | Little bound/s | ratio | bare loop/s | ratio | gate p50 ms | gate p99 ms |',
    '|---|---|---|---|---|---|---|---|---|',
    ...throughput.map((t) => `| ${t.concurrency} | ${t.intents} | ${t.ordersPerSecond} | ${t.littleBound} | ${t.ratioToLittle} | ${t.bareLoopPerSecond} | ${t.ratioToBare} | ${t.gateOverheadP50Ms} | ${t.gateOverheadP99Ms} |`),
    '',
    `| halt-to-quiet (concurrency ${haltC}) | last broker call start after the halt commit | claims after halt |`,
    '|---|---|---|',
    `| | ${result.haltToQuiet.lastBrokerCallStartAfterHaltMs} ms | ${claimsAfterHalt} |`,
  ];
  console.log(lines.join('\n'));
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify({ ...result, table: lines.join('\n') }, null, 2)}\n`);
  console.log(`\nwritten to ${values.out}`);
  if (claimsAfterHalt > 0 || unverifiable.length > 0) process.exitCode = 1;
} finally {
  await pubsub.close().catch(() => {});
  await proxy?.stop();
  await stack.stop();
}
