/**
 * The order lifecycle through the exported functions (issue 10): `executeIntent` (a Pub/Sub
 * CloudEvent), `syncOrders` (its scheduled handler) and `onSubmissionWrite` (the whole Firestore
 * CloudEvent, JSON data as Eventarc can deliver it, built from the emulator's own snapshots),
 * against the official Firestore and Pub/Sub emulators and the Alpaca simulator over HTTP; a pull
 * subscription of the test's own shows what `order-updates` received, and the runner kit's
 * `followOrders` reads the same topic as a strategy would.
 */
import type { DocumentSnapshot } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { documentJson } from '../../../dev/stack/firestore-event-json.js';
import { executeIntent, onSubmissionWrite, syncOrders } from '../../../functions/src/index.js';
import { readOpsStatus } from '../../../functions/src/ops/status-reader.js';
import { ORDER_UPDATES_TOPIC } from '../../../functions/src/topics.js';
import { followOrders, type OrderUpdate } from '../../../runner/src/follow-orders.js';
import { startTestBackends, TEST_PROJECT_ID, type TestBackends } from '../../support/backends.js';
import { EMULATORS } from '../../support/emulators.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { emulatorPubSub, recordTopic, type TopicRecorder } from '../../support/pubsub.js';

let b: TestBackends;
let updates: TopicRecorder;

beforeAll(async () => {
  b = await startTestBackends();
  b.env.PUBSUB_EMULATOR_HOST = EMULATORS.pubsub;
  b.env.METADATA_SERVER_DETECTION = 'none';
  b.resetEnv();
  updates = await recordTopic(TEST_PROJECT_ID, ORDER_UPDATES_TOPIC);
}, 120_000);
afterAll(async () => {
  await updates?.close();
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  await updates.pullAll(); // start each test with an empty subscription
  updates.messages.length = 0;
  // Orders stay open until the test fills, rejects or expires them.
  b.sim.faults.set({ fillMode: 'none' });
});

const DATABASE = `projects/${TEST_PROJECT_ID}/databases/(default)`;

/**
 * Eventarc for `submissions/{intentId}`, by hand: each call delivers the change from the last
 * snapshot delivered to the record as it is now — one event per write the test made.
 */
function triggerFor(intentId: string) {
  let previous: DocumentSnapshot | null = null;
  let n = 0;
  const eventOf = (before: DocumentSnapshot | null, after: DocumentSnapshot, id: string) => {
    const value = documentJson(after, DATABASE);
    const oldValue = before ? documentJson(before, DATABASE) : undefined;
    return {
      id,
      specversion: '1.0',
      source: `//firestore.googleapis.com/${DATABASE}`,
      type: 'google.cloud.firestore.document.v1.written',
      time: value?.updateTime ?? new Date().toISOString(),
      datacontenttype: 'application/json',
      project: TEST_PROJECT_ID,
      database: '(default)',
      namespace: '(default)',
      document: `submissions/${intentId}`,
      data: { ...(value ? { value } : {}), ...(oldValue ? { oldValue } : {}) },
    };
  };
  let last: unknown = null;
  return {
    async deliver(): Promise<void> {
      const now = await b.db.doc(`submissions/${intentId}`).get();
      n += 1;
      last = eventOf(previous, now, `evt-${intentId}-${n}`);
      previous = now;
      await (onSubmissionWrite as unknown as (e: unknown) => Promise<unknown>)(last);
    },
    /** The last event again, as a redelivery (same id). */
    async redeliver(): Promise<void> {
      await (onSubmissionWrite as unknown as (e: unknown) => Promise<unknown>)(last);
    },
  };
}

const runSyncOrders = () => (syncOrders as unknown as { run: (e: unknown) => Promise<unknown> }).run({ scheduleTime: new Date().toISOString(), jobName: 'syncOrders' });
const submit = (intent: ReturnType<typeof makeIntent>) => (executeIntent as unknown as (e: unknown) => Promise<unknown>)(pubsubCloudEvent(intent));
const recordOf = async (intentId: string) => (await b.db.doc(`submissions/${intentId}`).get()).data()!;
const orderOf = async (intentId: string) => {
  const o = (await recordOf(intentId)).order;
  return o === undefined ? undefined : { ...o, updatedAt: o.updatedAt.toMillis() };
};

async function waitUntil<T>(what: string, probe: () => T | null | Promise<T | null>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function status() {
  return readOpsStatus({ db: b.db, nowMs: Date.now(), config: null, haltedParam: 'false', instance: { instanceId: 't', shuttingDown: false, shutdownReason: null, inflight: 0 } });
}

describe('order lifecycle', () => {
  it('partial then full fill: order.final with the right quantities, one order-updates message per change, none for a run that changed nothing', async () => {
    const intent = makeIntent({ qty: 10, type: 'limit', limitPrice: 50 });
    const trigger = triggerFor(intent.intentId);
    const pubsub = emulatorPubSub(TEST_PROJECT_ID);
    const stop = new AbortController();
    const seen: OrderUpdate[] = [];
    const following = followOrders({ pubsub, strategyId: intent.strategyId, signal: stop.signal }, (u) => void seen.push(u));
    // followOrders' own subscription exists once it listens; give it a moment.
    await new Promise((r) => setTimeout(r, 500));

    await submit(intent);
    const rec = await recordOf(intent.intentId);
    expect(rec.state).toBe('submitted');
    // The accepted-order write carried the broker's first view: no extra round trip.
    expect(rec.order).toMatchObject({ filledQty: '0', filledAvgPrice: null, final: false });
    expect(Object.keys(rec.order).sort()).toEqual(['filledAvgPrice', 'filledQty', 'final', 'status', 'updatedAt']);
    await trigger.deliver();

    const orderId = rec.brokerOrderId as string;
    await waitUntil('the order to be new at the broker', () => (b.sim.orders().find((o) => o.id === orderId)?.status === 'new' ? true : null));
    const before = b.sim.requestLog.filter((r) => r.method === 'POST').length;

    // accepted/pending_new → new (a change of broker status).
    await runSyncOrders();
    expect(await orderOf(intent.intentId)).toMatchObject({ status: 'new', filledQty: '0', final: false });
    await trigger.deliver();

    b.sim.fill(orderId, { qty: 4, price: 49.5 });
    await runSyncOrders();
    expect(await orderOf(intent.intentId)).toMatchObject({ status: 'partially_filled', filledQty: '4', filledAvgPrice: '49.5', final: false });
    await trigger.deliver();
    await trigger.redeliver(); // the platform delivers again: same update id

    // A run with nothing new writes nothing.
    const unchanged = (await b.db.doc(`submissions/${intent.intentId}`).get()).updateTime!;
    await runSyncOrders();
    expect((await b.db.doc(`submissions/${intent.intentId}`).get()).updateTime!.isEqual(unchanged)).toBe(true);

    b.sim.fill(orderId, { qty: 6, price: 50 });
    await runSyncOrders();
    expect(await orderOf(intent.intentId)).toMatchObject({ status: 'filled', filledQty: '10', filledAvgPrice: '49.8', final: true });
    await trigger.deliver();
    // Final: not followed any more.
    const requestsBefore = b.sim.requestLog.length;
    await runSyncOrders();
    expect(b.sim.requestLog.length).toBe(requestsBefore);
    // Never a submit (or any other write) from following.
    expect(b.sim.requestLog.filter((r) => r.method !== 'GET').length).toBe(before);

    const got = await updates.waitFor(5);
    await new Promise((r) => setTimeout(r, 300));
    const all = await updates.pullAll();
    expect(all).toHaveLength(5); // 4 changes + the redelivery's repeat
    const ids = all.map((m) => m.attributes.updateId);
    expect(new Set(ids).size).toBe(4);
    const byId = new Map(all.map((m) => [m.attributes.updateId, m.json as { state: string; order: { status: string; filledQty: string; final: boolean } | null }]));
    expect([...byId.values()].map((m) => `${m.state}/${m.order?.status}/${m.order?.filledQty}/${m.order?.final}`)).toEqual([
      `submitted/${rec.order.status}/0/false`,
      'submitted/new/0/false',
      'submitted/partially_filled/4/false',
      'submitted/filled/10/true',
    ]);
    expect(got[0]!.json).toEqual({ intentId: intent.intentId, strategyId: intent.strategyId, state: 'submitted', reason: null, order: expect.any(Object) });
    expect(got[0]!.attributes).toMatchObject({ strategyId: intent.strategyId, intentId: intent.intentId });

    // The strategy's follower saw each change once.
    await waitUntil('followOrders to see the fill', () => (seen.some((u) => u.order?.final) ? true : null));
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.map((u) => u.updateId)).toEqual(ids.filter((id, i) => ids.indexOf(id) === i));
    stop.abort();
    await following;
    await pubsub.close();
  }, 60_000);

  it('a rejection after acceptance is in the record, the ops status and the feed; so is an unfilled expiry', async () => {
    const rejected = makeIntent({ strategyId: 'strat-bad', symbol: 'MSFT', qty: 2, type: 'limit', limitPrice: 10 });
    const expired = makeIntent({ strategyId: 'strat-bad', symbol: 'IBM', qty: 3, type: 'limit', limitPrice: 10 });
    const open = makeIntent({ strategyId: 'strat-open', qty: 1, type: 'limit', limitPrice: 10 });
    const triggers = [triggerFor(rejected.intentId), triggerFor(expired.intentId), triggerFor(open.intentId)];
    for (const i of [rejected, expired, open]) await submit(i);
    for (const t of triggers) await t.deliver();
    const idOf = async (intentId: string) => (await recordOf(intentId)).brokerOrderId as string;
    await waitUntil('orders new at the broker', () => (b.sim.orders().every((o) => o.status === 'new') ? true : null));

    const before = await status();
    expect(before.orders?.openByStrategy).toEqual([
      { strategyId: 'strat-bad', open: 2, oldestUpdatedAt: expect.any(String) },
      { strategyId: 'strat-open', open: 1, oldestUpdatedAt: expect.any(String) },
    ]);
    expect(before.orders?.badFinals).toEqual([]);

    b.sim.reject(await idOf(rejected.intentId));
    b.sim.expire(await idOf(expired.intentId));
    await runSyncOrders(); // two open orders in the window: one sweep
    for (const t of triggers) await t.deliver();

    // The record: state stays submitted (the broker accepted it), the order says what happened.
    const rec = await recordOf(rejected.intentId);
    expect(rec.state).toBe('submitted');
    expect(rec.order).toMatchObject({ status: 'rejected', filledQty: '0', final: true });
    expect((await recordOf(expired.intentId)).order).toMatchObject({ status: 'expired', filledQty: '0', final: true });

    // The status (and so the CLI, which renders it) shows them; open orders per strategy moved.
    const after = await status();
    expect(after.orders?.openByStrategy).toEqual([
      { strategyId: 'strat-open', open: 1, oldestUpdatedAt: expect.any(String) },
    ]);
    expect(after.orders?.badFinals.map((x) => [x.intentId, x.kind, x.status]).sort()).toEqual(
      [
        [rejected.intentId, 'rejected_after_acceptance', 'rejected'],
        [expired.intentId, 'expired_unfilled', 'expired'],
      ].sort(),
    );

    // The feed.
    const all = await updates.pullAll();
    const final = all.filter((m) => (m.json as { order: { final: boolean } | null }).order?.final);
    expect(final.map((m) => [(m.json as { intentId: string }).intentId, (m.json as { order: { status: string } }).order.status]).sort()).toEqual(
      [
        [rejected.intentId, 'rejected'],
        [expired.intentId, 'expired'],
      ].sort(),
    );
    expect(final.every((m) => m.attributes.strategyId === 'strat-bad')).toBe(true);
  }, 60_000);

  it('a refusal (halted) is published too, with its reason and no order', async () => {
    await b.db.doc('ops/killSwitch').set({ halted: true, reason: 'drill', updatedBy: 'test' });
    const intent = makeIntent();
    await submit(intent);
    await triggerFor(intent.intentId).deliver();
    const [m] = await updates.waitFor(1);
    expect(m!.json).toEqual({ intentId: intent.intentId, strategyId: intent.strategyId, state: 'refused', reason: 'halted', order: null });
    expect(m!.attributes.updateId).toBe(`${intent.intentId}:0:refused:-:-`);
  });
});
