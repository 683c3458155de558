/**
 * onKillSwitchWrite's handler against the official Firestore emulator, the Alpaca simulator
 * (cancel-all over HTTP) and the official Pub/Sub emulator (the real @google-cloud/pubsub
 * client publishing ops-events; a pull subscription of the test's own on the topic shows
 * exactly what runners would get, and that nothing else came).
 */
import type { PubSub } from '@google-cloud/pubsub';
import { Timestamp } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import type { Broker, CancelAllOutcome } from '../../../functions/src/broker/broker.js';
import { systemClock } from '../../../functions/src/domain/clock.js';
import { isRetryable } from '../../../functions/src/errors.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { CANCEL_LEASE_MS, handleKillSwitchWrite, transitionOf, type HaltTriggerDeps, type KillSwitchChange } from '../../../functions/src/ops/halt-trigger.js';
import { opsEventSchema, pubsubOpsEventPublisher, type OpsEvent } from '../../../functions/src/ops/ops-events.js';
import { OPS_EVENTS_TOPIC } from '../../../functions/src/topics.js';
import { startTestBackends, TEST_PROJECT_ID, type TestBackends } from '../../support/backends.js';
import { deferred } from '../../support/deferred.js';
import { emulatorPubSub, recordTopic, type TopicRecorder } from '../../support/pubsub.js';

let b: TestBackends;
let pubsub: PubSub;
let broker: Broker;
let opsEvents: TopicRecorder;

/** Every ops event the topic received since the test began, each validated as runners parse it. */
async function received(): Promise<OpsEvent[]> {
  return (await opsEvents.pullAll()).map((m) => opsEventSchema.parse(m.json));
}

beforeAll(async () => {
  process.env.METADATA_SERVER_DETECTION = 'none';
  b = await startTestBackends();
  pubsub = emulatorPubSub(TEST_PROJECT_ID);
  opsEvents = await recordTopic(TEST_PROJECT_ID, OPS_EVENTS_TOPIC, { pubsub });
  broker = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'alpaca-paper' });
});
afterAll(async () => {
  await opsEvents?.close();
  await pubsub?.close();
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  await opsEvents.pullAll();
  opsEvents.messages.length = 0;
});

function deps(overrides: Partial<HaltTriggerDeps> = {}): HaltTriggerDeps & { cancelCalls: () => number } {
  let calls = 0;
  return {
    db: b.db,
    cancelAllOpenOrders: () => {
      calls += 1;
      return broker.cancelAllOpenOrders({ timeoutMs: 2000 });
    },
    publishOpsEvent: pubsubOpsEventPublisher(pubsub),
    cancelOpenOrdersOnHalt: true,
    clock: systemClock,
    log: memoryEventLogger(),
    ...overrides,
    cancelCalls: () => calls,
  };
}

const active = { halted: false, reason: 'open', updatedBy: 'op-alice', updatedAt: Timestamp.now() };
const halted = { halted: true, reason: 'runaway strategy', updatedBy: 'op-bob', updatedAt: Timestamp.now() };
let n = 0;
const change = (before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined, eventId = `evt-${Date.now()}-${++n}`): KillSwitchChange => ({
  eventId,
  before,
  after,
  eventTimeMs: Date.now(),
});

const cancelRequests = () => b.sim.requestLog.filter((r) => r.method === 'DELETE' && r.path === '/v2/orders');

async function openOrder(id: string) {
  const out = await broker.submitOrder({ clientOrderId: id, symbol: 'AAPL', side: 'buy', qty: 1, type: 'limit', limitPrice: 1, timeInForce: 'gtc' }, { timeoutMs: 2000 });
  expect(out.kind).toBe('accepted');
}

describe('transitions', () => {
  it('halt, resume, none — missing or malformed documents count as halted (fail closed)', () => {
    expect(transitionOf({ before: active, after: halted })).toBe('halt');
    expect(transitionOf({ before: halted, after: active })).toBe('resume');
    expect(transitionOf({ before: halted, after: { ...halted, reason: 'new words' } })).toBe('none');
    expect(transitionOf({ before: active, after: undefined })).toBe('halt');
    expect(transitionOf({ before: active, after: { halted: 'yes' } })).toBe('halt');
    expect(transitionOf({ before: undefined, after: halted })).toBe('none');
  });
});

describe('onKillSwitchWrite', () => {
  it('a halt audits before/after/who/when, cancels open orders once, and publishes on ops-events', async () => {
    b.sim.faults.set({ fillMode: 'none' });
    await openOrder('o1');
    await openOrder('o2');
    const d = deps();
    const c = change(active, halted);
    const out = await handleKillSwitchWrite(d, c);
    expect(out).toEqual({ transition: 'halt', cancelAll: 'done', publish: 'done' });

    const audit = (await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).data()!;
    expect(audit).toMatchObject({ eventId: c.eventId, who: 'op-bob', reason: 'runaway strategy', transition: 'halt' });
    expect(audit.before).toMatchObject({ halted: false });
    expect(audit.after).toMatchObject({ halted: true });
    expect(audit.when).toBeInstanceOf(Timestamp);
    expect(audit.cancelAll).toMatchObject({ state: 'done', cancelled: 2, failed: 0 });
    expect(audit.publish.state).toBe('done');
    expect(cancelRequests()).toHaveLength(1);
    expect(b.sim.orders().every((o) => o.status === 'canceled')).toBe(true);

    // The handler returned after the publish was acknowledged: the message is in the subscription.
    expect(await received()).toEqual([expect.objectContaining({ type: 'halt', halted: true, reason: 'runaway strategy', updatedBy: 'op-bob', changeId: c.eventId })]);
    // The audit names the message the topic actually received.
    expect(opsEvents.messages.map((m) => m.id)).toEqual([audit.publish.messageId]);
  });

  it('re-delivery of the same change (twice in a row, and twice at once) cancels once, audits once, publishes once', async () => {
    const d = deps();
    const c = change(active, halted);
    await handleKillSwitchWrite(d, c);
    expect(await handleKillSwitchWrite(d, c)).toEqual({ transition: 'halt', cancelAll: 'done', publish: 'done' });
    const c2 = change(active, halted);
    const both = await Promise.allSettled([handleKillSwitchWrite(d, c2), handleKillSwitchWrite(d, c2)]);
    // A delivery that found a step leased to the other one is not acknowledged: it is
    // redelivered, and then finds every step recorded.
    for (const out of both) {
      if (out.status === 'rejected') {
        expect(isRetryable(out.reason)).toBe(true);
        expect(String(out.reason)).toMatch(/in progress in another delivery/);
      }
    }
    expect(await handleKillSwitchWrite(d, c2)).toEqual({ transition: 'halt', cancelAll: 'done', publish: 'done' });

    expect(d.cancelCalls()).toBe(2); // one per halt event, not per delivery
    expect(cancelRequests()).toHaveLength(2);
    const audit = await b.db.collection('ops/killSwitch/audit').get();
    expect(audit.docs.map((x) => x.id).sort()).toEqual([c.eventId, c2.eventId].sort());
    expect((await received()).map((e) => e.changeId).sort()).toEqual([c.eventId, c2.eventId].sort());
  });

  it('a change made by hand in the console (no updatedBy) is audited too; not a halt → no cancel', async () => {
    const d = deps();
    const c = change(halted, { halted: true, note: 'typed in the console' });
    expect((await handleKillSwitchWrite(d, c)).transition).toBe('none');
    const audit = (await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).data()!;
    expect(audit.who).toMatch(/unknown/);
    expect(audit.after).toMatchObject({ note: 'typed in the console' });
    expect(audit.cancelAll.state).toBe('skipped');
    expect(d.cancelCalls()).toBe(0);
    // Not a transition: runners hear nothing.
    expect(audit.publish.state).toBe('skipped');
    expect(await received()).toEqual([]);
  });

  it('a resume publishes a resume event and cancels nothing', async () => {
    const d = deps();
    const out = await handleKillSwitchWrite(d, change(halted, active));
    expect(out).toEqual({ transition: 'resume', cancelAll: 'skipped', publish: 'done' });
    expect(d.cancelCalls()).toBe(0);
    expect((await received()).map((e) => e.type)).toEqual(['resume']);
  });

  it('HALT_CANCEL_OPEN_ORDERS=false: audited and published, no cancel', async () => {
    const d = deps({ cancelOpenOrdersOnHalt: false });
    const c = change(active, halted);
    expect((await handleKillSwitchWrite(d, c)).cancelAll).toBe('skipped');
    expect(d.cancelCalls()).toBe(0);
    expect((await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).get('cancelAll.detail')).toMatch(/HALT_CANCEL_OPEN_ORDERS/);
  });

  it('a cancel-all whose outcome is unknown throws retryable; the redelivery retries it and records the result', async () => {
    let fail = true;
    const d = deps({
      cancelAllOpenOrders: async (): Promise<CancelAllOutcome> => {
        if (fail) return { kind: 'unknown', message: 'timeout' };
        return { kind: 'done', results: [] };
      },
    });
    const c = change(active, halted);
    const err = await handleKillSwitchWrite(d, c).then(() => null, (e: unknown) => e);
    expect(err).not.toBeNull();
    expect(isRetryable(err)).toBe(true);
    const audit = (await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).data()!;
    expect(audit.cancelAll.state).toBe('failed');
    // The runners were told in that same delivery: a broker that cannot cancel does not keep them trading.
    expect(audit.publish.state).toBe('done');
    expect((await received()).map((e) => e.changeId)).toEqual([c.eventId]);
    fail = false;
    expect(await handleKillSwitchWrite(d, c)).toEqual({ transition: 'halt', cancelAll: 'done', publish: 'done' });
    expect((await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).get('cancelAll.attempts')).toBe(2);
    // The redelivery did not tell the runners a second time.
    expect((await received()).map((e) => e.changeId)).toEqual([c.eventId]);
  });

  it('a delivery that dies holding the cancel-all lease is not answered for: the next is redelivered until the lease is dead, then cancels', async () => {
    b.sim.faults.set({ fillMode: 'none' });
    await openOrder('hg-lease-1');
    const stuck = deferred<CancelAllOutcome>();
    const dying = deps({ cancelAllOpenOrders: () => stuck.promise });
    const c = change(active, halted);
    const first = handleKillSwitchWrite(dying, c);
    await vi.waitFor(async () => expect((await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).get('cancelAll.state')).toBe('running'), { timeout: 5_000, interval: 25 });

    // While the lease is live, a redelivery must not ack: if it did, the event would be over.
    const d = deps();
    const err = await handleKillSwitchWrite(d, c).then(() => null, (e: unknown) => e);
    expect(isRetryable(err)).toBe(true);
    expect(String(err)).toMatch(/cancelAll.*in progress in another delivery/);
    expect(d.cancelCalls()).toBe(0);

    // Once the lease is dead (its delivery presumed gone), the redelivery cancels.
    const later = deps({ clock: { now: () => Date.now() + CANCEL_LEASE_MS + 1_000 } });
    expect(await handleKillSwitchWrite(later, c)).toEqual({ transition: 'halt', cancelAll: 'done', publish: 'done' });
    expect(later.cancelCalls()).toBe(1);
    expect(b.sim.orders().every((o) => o.status === 'canceled')).toBe(true);
    const audit = (await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).data()!;
    expect(audit.cancelAll.attempts).toBe(2);
    expect((await received()).map((e) => e.changeId)).toEqual([c.eventId]);

    stuck.resolve({ kind: 'done', results: [] });
    await first;
  });
});
