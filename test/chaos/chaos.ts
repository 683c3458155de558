import { PubSub } from '@google-cloud/pubsub';
import { mulberry32 } from '../../dev/alpaca-sim/faults.js';
import type { SimOrder } from '../../dev/alpaca-sim/server.js';
import type { LogSink } from '../../dev/stack/function-process.js';
import { startLocalStack, type LocalStack } from '../../dev/stack/stack.js';
import type { OrderIntent } from '../../functions/src/domain/intent.js';
import { TERMINAL_STATES, type SubmissionState } from '../../functions/src/domain/submission.js';
import { publishIntent } from '../../runner/src/index.js';
import { checkInvariants, type Invariants, type PublishedMessage, type RecordSnapshot } from './invariants.js';

/**
 * The chaos scenario, through the whole local stack: executeIntent and the reconciler in their
 * own functions-framework processes, Pub/Sub pushing with duplicate deliveries, the simulator
 * injecting latency, 5xx, hangs and lost responses; meanwhile the executeIntent process is
 * SIGKILLed and restarted, and the kill switch is flipped on and off. Then the faults stop,
 * the backlog drains, the reconciler settles what is unknown, and the invariants are counted.
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
  /** Give up settling after this long (the reconciler needs RECONCILE_ABANDON_AFTER_MS, ≥ 60 s). */
  settleTimeoutMs?: number;
  log?: (line: string) => void;
  /** Start only these functions (default all; executeIntent and reconcileSubmissions are needed). */
  only?: string[];
  /** Function process logs (default: dropped). */
  functionLog?: LogSink;
}

export interface ChaosReport {
  seed: number;
  published: { valid: number; republished: number; invalid: number };
  kills: number;
  haltPeriods: number;
  pubsub: { deliveries: number; duplicates: number; nacked: number; outcomes: Record<string, number> };
  sim: { submits: number; faults: Record<string, number>; orders: number };
  states: Record<string, number>;
  claimsChecked: number;
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
const MIN_INJECTED_FAULTS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const rand = mulberry32(opts.seed * 7919 + 17);
  const stack = await startLocalStack({
    seed: opts.seed,
    quiet: true,
    ...(opts.functionLog ? { log: opts.functionLog } : {}),
    ...(opts.only ? { only: opts.only } : {}),
    functionsEnv: CHAOS_FUNCTIONS_ENV,
    pubsub: { minBackoffMs: 200, maxBackoffMs: 2_000, ackDeadlineMs: 12_000, duplicateRate: 0.15, duplicateCount: 1 },
    // The reconciler runs all along, racing redeliveries, as in production (only faster).
    schedules: 2_000,
  });
  // The in-process Pub/Sub client talks to the emulator: no GCE metadata server to probe for.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const pubsub = new PubSub({ projectId: stack.projectId, apiEndpoint: stack.pubsubHost });
  const killSwitchWrites: boolean[] = [];
  const setHalted = async (halted: boolean) => {
    // Recorded before the write: the log check pairs the k-th kill-switch commit with the k-th value.
    killSwitchWrites.push(halted);
    await stack.db.doc('ops/killSwitch').set({ halted, reason: halted ? 'chaos halt' : 'chaos resume', updatedBy: 'chaos', updatedAt: new Date() });
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
    const publishes: Array<Promise<void>> = [];
    const symbols = ['AAPL', 'MSFT', 'SPY', 'NVDA', 'TSLA'];
    let republished = 0;
    let invalid = 0;
    const intervalMs = opts.publishMs / opts.intents;
    const publishAll = async () => {
      const topic = pubsub.topic('order-intents');
      for (let i = 0; i < opts.intents; i += 1) {
        const limit = rand() < 0.4;
        const intent: OrderIntent = {
          intentId: `chaos-${opts.seed}-${i}`,
          strategyId: `chaos-strategy-${i % opts.strategies}`,
          symbol: symbols[Math.floor(rand() * symbols.length)] ?? 'AAPL',
          side: rand() < 0.5 ? 'buy' : 'sell',
          qty: 1 + Math.floor(rand() * 10),
          type: limit ? 'limit' : 'market',
          ...(limit ? { limitPrice: 100 + Math.round(rand() * 5000) / 100 } : {}),
          timeInForce: 'day',
          createdAt: new Date().toISOString(),
        };
        const copies = rand() < 0.08 ? 2 : 1; // a publisher retrying after an unclear publish
        republished += copies - 1;
        for (let c = 0; c < copies; c += 1) {
          publishes.push(publishIntent(intent, { topic }).then((messageId) => void published.push({ messageId, intentId: intent.intentId })));
        }
        if (rand() < 0.02) {
          invalid += 1;
          publishes.push(
            topic
              .publishMessage({ data: Buffer.from(JSON.stringify({ intentId: `chaos-bad-${opts.seed}-${i}`, qty: -1 })) })
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
    await Promise.all([publishAll(), kills(), halts()]);
    await Promise.all(publishes);
    // On a loaded machine the backlog reaches the broker after the publishing window: keep the
    // faults on until the storm has really hit the broker (bounded), rather than trusting timing.
    const stormUntil = Date.now() + 60_000;
    while ((await injectedFaults()) < MIN_INJECTED_FAULTS && Date.now() < stormUntil) await sleep(250);
    log(`published ${published.length} messages; faults off, settling`);

    // ---- settle: no faults, gate open, function up; wait for the backlog and the reconciler
    await simFaults({ clear: true, seed: opts.seed });
    if (killSwitchWrites.at(-1) !== false) await setHalted(false);
    if (stack.functionPid('executeIntent') === null) await stack.startFunction('executeIntent');
    const validIds = new Set(published.flatMap((m) => (m.intentId ? [m.intentId] : [])));
    const deadline = Date.now() + (opts.settleTimeoutMs ?? 180_000);
    let settled = false;
    let lastLine = '';
    while (Date.now() < deadline) {
      const [records, stats] = [await readRecords(stack), stack.pubsub.stats()];
      const sub = Object.values(stats.subscriptions).find((s) => s.name === stack.subscriptions.executeIntent);
      const open = [...records.values()].filter((r) => !TERMINAL_STATES.has(r.state)).length;
      const missing = [...validIds].filter((id) => !records.has(id)).length;
      const line = `backlog ${sub?.unacked ?? '?'}, in flight ${sub?.inFlight ?? '?'}, non-terminal ${open}, no record yet ${missing}`;
      if (line !== lastLine) log(line);
      lastLine = line;
      if (open === 0 && missing === 0 && sub?.unacked === 0 && sub.inFlight === 0) {
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
    const result = checkInvariants({ published, records, invalidMessageIds, orders, commits: stack.firestore.commitLog.entries(), killSwitchWrites });
    const states: Record<string, number> = {};
    for (const r of records.values()) states[r.state] = (states[r.state] ?? 0) + 1;
    const submits = stack.sim.requestLog.filter((r) => r.method === 'POST' && r.path === '/v2/orders');
    const faults: Record<string, number> = {};
    for (const r of submits) if (r.fault) faults[r.fault] = (faults[r.fault] ?? 0) + 1;
    const stats = stack.pubsub.stats();
    const sub = Object.values(stats.subscriptions).find((s) => s.name === stack.subscriptions.executeIntent);
    return {
      seed: opts.seed,
      published: { valid: validIds.size, republished, invalid },
      kills: killTimes.length,
      haltPeriods: haltTimes.length,
      pubsub: { deliveries: sub?.deliveries ?? 0, duplicates: sub?.duplicates ?? 0, nacked: sub?.nacked ?? 0, outcomes: sub?.outcomes ?? {} },
      sim: { submits: submits.length, faults, orders: orders.length },
      states,
      claimsChecked: result.claimsChecked,
      invariants: result.invariants,
      details: result.details,
      settled,
      durationMs: Date.now() - started,
    };
  } finally {
    await pubsub.close().catch(() => {});
    await stack.stop();
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
      history: ((d.get('history') as Array<{ state: string }> | undefined) ?? []).map((h) => ({ state: h.state })),
    });
  }
  return out;
}

/** One line per invariant, for the console. */
export function formatReport(r: ChaosReport): string {
  const inv = Object.entries(r.invariants).map(([k, v]) => `  ${v === 0 ? 'ok  ' : 'FAIL'} ${k.padEnd(22)} ${v}`);
  return [
    `seed ${r.seed}: ${r.published.valid} intents (+${r.published.republished} republished, ${r.published.invalid} invalid), ` +
      `${r.kills} kill -9, ${r.haltPeriods} halts, ${r.pubsub.deliveries} deliveries (${r.pubsub.duplicates} duplicated, ${r.pubsub.nacked} nacked: ${JSON.stringify(r.pubsub.outcomes)}), ` +
      `${r.sim.submits} broker submits (faults ${JSON.stringify(r.sim.faults)}), ${r.sim.orders} orders, ${r.claimsChecked} claims checked, ` +
      `states ${JSON.stringify(r.states)}, ${r.settled ? 'settled' : 'NOT SETTLED'} in ${Math.round(r.durationMs / 1000)} s`,
    ...inv,
    ...r.details.map((d) => `    ${d}`),
  ].join('\n');
}

export function violations(r: ChaosReport): number {
  return Object.values(r.invariants).reduce((a, b) => a + b, 0) + (r.settled ? 0 : 1);
}
