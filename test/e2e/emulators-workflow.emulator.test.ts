/**
 * `npm run emulators` end to end: firebase-tools' `emulators:start` with the compiled
 * functions in its functions emulator, the official Firestore/Pub/Sub/Auth emulators, the
 * Alpaca simulator (paper mode), and what ./dev/emulators adds for the emulator's gaps
 * (schedules, redelivery). Driven only as a user drives it: the real @google-cloud/pubsub
 * client publishing to `order-intents`, firebase-admin reading and writing Firestore, the
 * simulator's orders read through its API; what strategies receive read from a subscription
 * to `order-updates`.
 *
 * It runs at a port offset of its own (the suite `npm test` runs sits at
 * HALTGATE_EMULATOR_PORT_OFFSET), and leaves the work tree as it found it: no
 * functions/.env.local, no *-debug.log, the generated config removed, functions/.secret.local
 * removed again if this test created it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PubSub, type Topic } from '@google-cloud/pubsub';
import { deleteApp, type App } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_CACHE_DIR, portOffsetFromEnv, REPO_ROOT } from '../../dev/emulators/suite.js';
import { generatedConfigPath, readEmulatorParams, workflowPorts } from '../../dev/emulators/workflow-config.js';
import { busyPorts, startEmulatorsWorkflow, workflowFirestore, type EmulatorsWorkflow } from '../../dev/emulators/workflow.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import type { OrderIntent } from '../../functions/src/domain/intent.js';
import { ORDER_UPDATES_TOPIC } from '../../functions/src/topics.js';
import { makeIntent } from '../support/intents.js';
import { collectOrderUpdates } from '../support/order-updates.js';

const PROJECT_ID = 'demo-haltgate-workflow';
/** Files the workflow must not create or touch in the work tree. */
const WATCHED = [
  'functions/.env.local',
  'functions/.secret.local',
  'functions/firebase-debug.log',
  'firebase-debug.log',
  'firestore-debug.log',
  'pubsub-debug.log',
  'ui-debug.log',
  'database-debug.log',
].map((p) => join(REPO_ROOT, p));

const fileState = (p: string) => (existsSync(p) ? `${statSync(p).size}@${statSync(p).mtimeMs}` : 'absent');

let wf: EmulatorsWorkflow | undefined;
let app: App | undefined;
let db: Firestore;
let pubsub: PubSub;
let topic: Topic;
let offset = 0;
let before: Record<string, string> = {};
const logs: string[] = [];

/** An offset whose ports are all free: beside the suite `npm test` runs, else further off. */
async function freeOffset(): Promise<number> {
  const suite = portOffsetFromEnv();
  const params = readEmulatorParams();
  for (const candidate of [suite + 50, suite + 1050, suite + 2050, suite + 3050]) {
    if ((await busyPorts({ ...workflowPorts(candidate, params) })).length === 0) return candidate;
  }
  throw new Error('no free port offset for the emulators workflow');
}

beforeAll(async () => {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  before = Object.fromEntries(WATCHED.map((p) => [p, fileState(p)]));
  offset = await freeOffset();
  wf = await startEmulatorsWorkflow({
    offset,
    projectId: PROJECT_ID,
    // Orders stay open, so the halt's cancel-all has something to cancel.
    fillMode: 'none',
    schedules: 5_000,
    // Production's first retry comes after 10 s; later ones are kept short here.
    redelivery: { minBackoffMs: 2_000, maxBackoffMs: 10_000 },
    output: { file: outputFile() },
    log: (line) => logs.push(line),
    removeCreatedSecrets: true,
  });
  ({ app, db } = workflowFirestore(PROJECT_ID, wf.hosts.firestore));
  pubsub = new PubSub({ projectId: PROJECT_ID, apiEndpoint: wf.hosts.pubsub });
  topic = pubsub.topic('order-intents');
}, 240_000);

afterAll(async () => {
  await pubsub?.close();
  if (app) await deleteApp(app);
  await wf?.stop();
  if (wf) {
    // Everything it started is gone, and the work tree is as it was.
    await waitFor('every port of the workflow to be free again', async () => (await busyPorts({ ...wf!.ports })).length === 0, 15_000);
    expect(existsSync(generatedConfigPath(offset))).toBe(false);
    expect(Object.fromEntries(WATCHED.map((p) => [p, fileState(p)]))).toEqual(before);
  }
}, 120_000);

const outputFile = () => join(EMULATOR_CACHE_DIR, `workflow-${offset}.log`);

/** The end of firebase-tools' output (the functions' logs, workers started and killed): what a timeout needs explained. */
function outputTail(lines = 40): string {
  try {
    return readFileSync(outputFile(), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(not readable: ${String(err)})`;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, intervalMs = 500): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}\nworkflow log:\n${logs.slice(-30).join('\n')}\nfirebase-tools output:\n${outputTail()}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const publish = (data: unknown) => topic.publishMessage({ data: Buffer.from(typeof data === 'string' ? data : JSON.stringify(data)) });
const TERMINAL = new Set(['refused', 'submitted', 'rejected', 'abandoned', 'dry_run']);

async function records(ids: string[]): Promise<Map<string, FirebaseFirestore.DocumentData | undefined>> {
  const snaps = await db.getAll(...ids.map((id) => db.doc(`submissions/${id}`)));
  return new Map(snaps.map((s) => [s.id, s.data()]));
}

async function terminalRecord(intentId: string, timeoutMs = 60_000) {
  return waitFor(`a terminal record for ${intentId}`, async () => {
    const d = (await db.doc(`submissions/${intentId}`).get()).data();
    return d && TERMINAL.has(d.state) ? d : null;
  }, timeoutMs);
}

const ordersFor = (intents: OrderIntent[]) => {
  const ids = new Set(intents.map((i) => clientOrderIdFor(i.intentId)));
  return wf!.simulator.orders().filter((o) => ids.has(o.client_order_id));
};

/** No message of the intents topic is still waiting for a (re)delivery. */
const redeliveryIdle = () => waitFor('redelivery to have nothing pending', async () => wf!.redelivery.get('executeIntent')!.stats().pending === 0, 90_000);

async function setKillSwitch(data: Record<string, unknown> | null) {
  const ref = db.doc('ops/killSwitch');
  if (data === null) await ref.delete();
  else await ref.set({ updatedBy: 'emulators-workflow test', updatedAt: new Date(), ...data });
}

describe('npm run emulators: firebase-tools functions emulator, paper mode against the simulator', () => {
  it('loads all seven functions, runs the schedules, and points the broker at the simulator', async () => {
    const w = wf!;
    expect(w.functions.map((f) => f.name).sort()).toEqual([
      'executeIntent',
      'onKillSwitchWrite',
      'onSubmissionWrite',
      'ops',
      'reconcileSubmissions',
      'syncFills',
      'syncOrders',
    ]);
    // Every topic of the contract exists, order-updates among them (a deploy creates them).
    for (const name of ['order-intents', 'ops-events', ORDER_UPDATES_TOPIC]) expect((await pubsub.topic(name).exists())[0], name).toBe(true);
    expect(w.params.EXECUTION_MODE).toBe('paper');
    expect(w.params.ALPACA_BASE_URL).toBe(w.simulator.url);
    // reconcileSubmissions records each run in ops/reconciler: it ran on its schedule.
    await waitFor('a scheduled reconcileSubmissions run', async () => (await db.doc('ops/reconciler').get()).exists, 60_000);
    await waitFor('a scheduled syncFills run', async () => (w.scheduleRuns().syncFills?.['200'] ?? 0) > 0, 60_000);
    await waitFor('a scheduled syncOrders run', async () => (w.scheduleRuns().syncOrders?.['200'] ?? 0) > 0, 60_000);
  }, 90_000);

  it('refuses while ops/killSwitch is missing, and while it is malformed', async () => {
    await setKillSwitch(null);
    const missing = makeIntent({ strategyId: 'wf-missing' });
    await publish(missing);
    const r1 = await terminalRecord(missing.intentId);
    expect([r1.state, r1.reason]).toEqual(['refused', 'halted']);

    await setKillSwitch({ halted: 'no' });
    const malformed = makeIntent({ strategyId: 'wf-malformed' });
    await publish(malformed);
    const r2 = await terminalRecord(malformed.intentId);
    expect([r2.state, r2.reason]).toEqual(['refused', 'halted']);
    expect(ordersFor([missing, malformed])).toEqual([]);
  }, 120_000);

  it('one order for an intent published three times', async () => {
    await setKillSwitch({ halted: false, reason: 'e2e' });
    const intent = makeIntent({ strategyId: 'wf-dup' });
    await Promise.all([publish(intent), publish(intent), publish(intent)]);
    const r = await terminalRecord(intent.intentId);
    expect(r.state).toBe('submitted');
    await redeliveryIdle();
    const orders = ordersFor([intent]);
    expect(orders).toHaveLength(1);
    expect(r.brokerOrderId).toBe(orders[0]!.id);
  }, 150_000);

  it('an intent is followed on order-updates: submitting, submitted with its order, then filled (onSubmissionWrite natively, syncOrders on its schedule)', async () => {
    const intent = makeIntent({ strategyId: `wf-updates-${Date.now().toString(36)}` });
    const updates = await collectOrderUpdates(pubsub, { name: `wf-order-updates-${Date.now().toString(36)}`, strategyId: intent.strategyId });
    try {
      await publish(intent);
      const r = await terminalRecord(intent.intentId);
      expect(r.state).toBe('submitted');
      const submitted = await waitFor('the submitted update with its order', async () => updates.unique().find((u) => u.message.state === 'submitted' && u.message.order !== null), 30_000);
      expect(submitted.message).toMatchObject({ intentId: intent.intentId, reason: null, order: { final: false, filledQty: '0' } });
      expect(submitted.attributes).toMatchObject({ intentId: intent.intentId, strategyId: intent.strategyId, state: 'submitted', orderStatus: submitted.message.order!.status });
      await redeliveryIdle();
      const [order] = ordersFor([intent]);
      wf!.simulator.fill(order!.id, { price: 99.25 });
      // syncOrders runs every 5 s here (POSTed by the workflow, as Cloud Scheduler would).
      const filled = await waitFor('the filled update', async () => updates.unique().find((u) => u.message.order?.status === 'filled'), 60_000);
      expect(filled.message).toMatchObject({ state: 'submitted', order: { status: 'filled', filledQty: '1', filledAvgPrice: '99.25', final: true } });
      expect(filled.updateId).toBe(`${intent.intentId}:1:submitted:filled:1`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      // After dedupe by updateId: one entry per change. firebase-tools delivers every write, so
      // `submitting` is there; between the submit and the fill syncOrders may have seen the
      // order move on while still open (e.g. accepted → new).
      const ids = updates.unique().map((u) => u.updateId);
      expect(ids).toContain(`${intent.intentId}:1:submitting:-:-`);
      expect(ids).toContain(submitted.updateId);
      const others = ids.filter((id) => ![`${intent.intentId}:1:submitting:-:-`, submitted.updateId, filled.updateId].includes(id));
      for (const id of others) expect(id).toMatch(new RegExp(`^${intent.intentId}:1:submitted:(new|accepted|pending_new):0$`));
    } finally {
      await updates.stop();
    }
  }, 150_000);

  it('a burst of 60 intents, each published 3 times, settles with exactly 60 orders', async () => {
    const burst = Array.from({ length: 60 }, (_, i) => makeIntent({ strategyId: `wf-burst-${i % 4}`, symbol: ['AAPL', 'MSFT', 'SPY'][i % 3]! }));
    // Each intent three times back to back, as from a publisher that retried at once: most
    // copies find the claim held, throw for redelivery, and get their worker killed.
    const startedMs = Date.now();
    await Promise.all(burst.flatMap((intent) => [publish(intent), publish(intent), publish(intent)]));
    const ids = burst.map((i) => i.intentId);
    await waitFor(
      '60 terminal records',
      async () => {
        const all = await records(ids);
        return [...all.values()].every((d) => d && TERMINAL.has(d.state));
      },
      180_000,
      1_000,
    );
    const settledMs = Date.now() - startedMs;
    const all = await records(ids);
    expect([...all.values()].map((d) => d!.state)).toEqual(ids.map(() => 'submitted'));
    await redeliveryIdle();
    const orders = ordersFor(burst);
    expect(orders).toHaveLength(60);
    expect(new Set(orders.map((o) => o.client_order_id)).size).toBe(60);
    console.log(`burst of 60 x 3 settled in ${(settledMs / 1000).toFixed(1)} s; redelivery ${JSON.stringify(wf!.redelivery.get('executeIntent')!.stats())}`);
  }, 300_000);

  it('keeps invalid messages in invalidIntents, a conflicting payload included', async () => {
    const valid = makeIntent({ strategyId: 'wf-conflict' });
    await publish(valid);
    await terminalRecord(valid.intentId);
    const notJson = await publish('{ not json');
    const noSymbol = await publish({ ...makeIntent(), symbol: undefined });
    const conflict = await publish({ ...valid, qty: 7 });
    const kept = await waitFor(
      'three invalidIntents documents',
      async () => {
        const snap = await db.collection('invalidIntents').where('messageId', 'in', [notJson, noSymbol, conflict]).get();
        return snap.size === 3 ? new Map(snap.docs.map((d) => [d.get('messageId') as string, d.data()])) : null;
      },
      60_000,
    );
    expect(kept.get(conflict)!.failure).toBe('intent_conflict');
    expect(kept.get(conflict)!.intentId).toBe(valid.intentId);
    expect(kept.get(notJson)!.rawData).toBe('{ not json');
    expect(kept.get(noSymbol)!.issues.length).toBeGreaterThan(0);
    await redeliveryIdle();
    expect(ordersFor([valid])).toHaveLength(1);
  }, 120_000);

  it('a broker answer that proves nothing was placed (429: released) is delivered again and submitted', async () => {
    // Without redelivery this record would stay `released` for good: the functions emulator
    // acks the failed delivery, and the reconciler never submits.
    wf!.simulator.faults.next(['rate_limit']);
    const intent = makeIntent({ strategyId: 'wf-released' });
    await publish(intent);
    const r = await terminalRecord(intent.intentId, 90_000);
    expect(r.state).toBe('submitted');
    expect(r.attempts).toBe(2);
    expect(r.history.map((h: { state: string }) => h.state)).toEqual(['submitting', 'released', 'submitting', 'submitted']);
    expect(ordersFor([intent])).toHaveLength(1);
  }, 120_000);

  it('an unknown broker outcome (response lost) is settled by lookup, still one order', async () => {
    wf!.simulator.faults.next(['lost_response']);
    const intent = makeIntent({ strategyId: 'wf-lost' });
    await publish(intent);
    const r = await terminalRecord(intent.intentId, 90_000);
    expect(r.state).toBe('submitted');
    expect(r.history.map((h: { state: string }) => h.state)).toContain('unknown');
    expect(ordersFor([intent])).toHaveLength(1);
  }, 120_000);

  it('a halt written to Firestore refuses new intents; the trigger audits it and cancels the open orders', async () => {
    const open = wf!.simulator.orders().filter((o) => o.status === 'new' || o.status === 'accepted');
    expect(open.length).toBeGreaterThan(0);
    const deletesBefore = wf!.simulator.requestLog.filter((e) => e.method === 'DELETE' && e.path === '/v2/orders').length;
    await setKillSwitch({ halted: true, reason: 'e2e halt' });
    const audit = await waitFor('the halt audited with cancel-all done', async () => {
      const snap = await db.collection('ops/killSwitch/audit').where('transition', '==', 'halt').get();
      const done = snap.docs.map((d) => d.data()).find((d) => d.reason === 'e2e halt' && d.cancelAll?.state === 'done');
      return done ?? null;
    });
    expect(audit.after.halted).toBe(true);
    expect(audit.who).toBe('emulators-workflow test');
    expect(wf!.simulator.requestLog.filter((e) => e.method === 'DELETE' && e.path === '/v2/orders').length).toBeGreaterThan(deletesBefore);
    const stillOpen = wf!.simulator.orders().filter((o) => open.some((x) => x.id === o.id) && o.status !== 'canceled');
    expect(stillOpen).toEqual([]);

    const after = makeIntent({ strategyId: 'wf-after-halt' });
    await publish(after);
    const r = await terminalRecord(after.intentId);
    expect([r.state, r.reason]).toEqual(['refused', 'halted']);
    expect(ordersFor([after])).toEqual([]);
  }, 120_000);

  it('a cancel-all that fails is retried until the audit says done', async () => {
    await setKillSwitch({ halted: false, reason: 'e2e resume' });
    const intent = makeIntent({ strategyId: 'wf-retry-cancel' });
    await publish(intent);
    expect((await terminalRecord(intent.intentId)).state).toBe('submitted');
    wf!.simulator.faults.set({ error5xxRate: 1, applyRatesTo: 'all' });
    await setKillSwitch({ halted: true, reason: 'e2e halt, broker down' });
    const failedOnce = await waitFor('the cancel-all to fail', async () => {
      const snap = await db.collection('ops/killSwitch/audit').where('reason', '==', 'e2e halt, broker down').get();
      const d = snap.docs[0];
      return d && (d.get('cancelAll.state') === 'failed' || (d.get('cancelAll.attempts') ?? 0) >= 1) ? d.id : null;
    });
    wf!.simulator.faults.clear();
    const done = await waitFor('the cancel-all to be done', async () => {
      const d = await db.doc(`ops/killSwitch/audit/${failedOnce}`).get();
      return d.get('cancelAll.state') === 'done' ? d.data() : null;
    }, 60_000);
    expect(done!.cancelAll.attempts).toBeGreaterThanOrEqual(2);
    expect(ordersFor([intent])[0]!.status).toBe('canceled');
  }, 120_000);
});
