/**
 * Firestore trigger delivery in the local stack (a project of its own on the official Firestore
 * emulator): a hand write to `ops/killSwitch` (as in the console) reaches the real
 * `onKillSwitchWrite` process as an Eventarc-style CloudEvent, which
 * audits it in `ops/killSwitch/audit/{eventId}`, cancels open orders at the simulator on a
 * halt (one `DELETE /v2/orders`) and tells the runners. A function answering non-2xx is
 * retried with the same event id.
 *
 * A pattern (`submissions/{intentId}`, onSubmissionWrite) is delivered from a collection
 * listener, one CloudEvent per change: an intent published on `order-intents` (executeIntent's
 * push subscription) is seen on `order-updates` as submitted with its order, then — once the
 * simulator fills it and syncOrders runs (POSTed as the stack's scheduler does) — filled; each
 * updateId once after dedupe. `submitting` is seen unless the listener coalesced it with the
 * submit (a limit of the local stack, dev/stack/firestore-triggers.ts); a deletion is a
 * `deleted` event that publishes nothing.
 */
import { Timestamp } from 'firebase-admin/firestore';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../dev/stack/stack.js';
import { ORDER_INTENTS_TOPIC, ORDER_UPDATES_TOPIC } from '../../functions/src/topics.js';
import { uniqueProjectId } from '../support/emulators.js';
import { makeIntent } from '../support/intents.js';
import { collectOrderUpdates } from '../support/order-updates.js';

let stack: LocalStack | undefined;

async function startKillSwitchStack(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  stack = await startLocalStack({
    projectId: uniqueProjectId(),
    only: ['onKillSwitchWrite'],
    openKillSwitch: { reason: 'e2e', updatedBy: 'trigger test' },
    quiet: true,
    schedules: 'off',
    auth: false,
    // Orders stay open until cancelled, so cancel-all has something to do.
    sim: { fillMode: 'none' },
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const audits = async (s: LocalStack) => (await s.db.collection('ops/killSwitch/audit').get()).docs.map((d) => ({ id: d.id, ...d.data() }) as Record<string, unknown> & { id: string });

describe('Firestore triggers in the local stack', () => {
  beforeAll(startKillSwitchStack, 120_000);
  afterAll(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('a hand write to ops/killSwitch is audited by the real function process; a halt cancels all open orders once', async () => {
    const s = stack!;
    const trigger = s.firestoreTriggers.onKillSwitchWrite!;
    expect(trigger.wired).toBe(true);

    // The stack's own opening write (missing → halted:false) is a change too: a resume.
    const opened = await waitFor('the audit of the opening write', async () => {
      const a = await audits(s);
      return a.length >= 1 ? a : null;
    });
    expect(opened[0]).toMatchObject({ transition: 'resume', who: 'trigger test', before: null });

    // An open order, so cancel-all has something to cancel.
    const res = await fetch(`${s.simUrl}/v2/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'APCA-API-KEY-ID': s.sim.keyId, 'APCA-API-SECRET-KEY': s.sim.secretKey },
      body: JSON.stringify({ symbol: 'AAPL', qty: '1', side: 'buy', type: 'limit', limit_price: '1', time_in_force: 'day', client_order_id: 'trigger-e2e-1' }),
    });
    expect(res.status).toBeLessThan(300);
    const cancelsBefore = s.sim.requestLog.filter((r) => r.method === 'DELETE' && r.path === '/v2/orders').length;

    // By hand, as in the console: a typed Timestamp, a map, a null, a number.
    const when = Timestamp.fromMillis(Date.UTC(2026, 10, 26, 12, 0, 0, 123));
    await s.db.doc('ops/killSwitch').set({ halted: true, reason: 'console drill', updatedBy: 'op-console', updatedAt: when, note: { ticket: 'OPS-1', level: 2 }, extra: null });

    const halt = await waitFor('the halt audit with cancel-all done', async () => {
      const a = (await audits(s)).find((x) => x.transition === 'halt');
      return a && (a.cancelAll as { state?: string }).state === 'done' && (a.publish as { state?: string }).state === 'done' ? a : null;
    });
    expect(halt).toMatchObject({ who: 'op-console', reason: 'console drill', before: { halted: false, reason: 'e2e' } });
    // Field values arrive with their types (the trigger's own Firestore write kept them).
    const after = halt.after as Record<string, unknown>;
    expect(after).toMatchObject({ halted: true, note: { ticket: 'OPS-1', level: 2 }, extra: null });
    expect((after.updatedAt as Timestamp).toMillis()).toBe(when.toMillis());
    expect(halt).toMatchObject({ cancelAll: { state: 'done', cancelled: 1, failed: 0 } });

    const cancels = s.sim.requestLog.filter((r) => r.method === 'DELETE' && r.path === '/v2/orders').length;
    expect(cancels - cancelsBefore).toBe(1);
    expect(s.sim.orders().find((o) => o.client_order_id === 'trigger-e2e-1')?.status).toBe('canceled');

    // The audit id is the event id the stack delivered, delivered once. The function writes the
    // audit before it answers, so the stack may record the 204 a moment after the audit appears.
    const delivered = await waitFor('the stack to record the delivery', async () => {
      const d = trigger.deliveries().find((x) => x.eventId === halt.id);
      return d && d.state !== 'pending' ? d : null;
    });
    expect(delivered).toMatchObject({ kind: 'updated', state: 'delivered', attempts: 1, lastStatus: 204 });

    // A write that changes nothing about halting is audited as such, with no cancel-all.
    await s.db.doc('ops/killSwitch').update({ reason: 'console drill (ticket OPS-1)' });
    await waitFor('the audit of the reason change', async () => ((await audits(s)).some((x) => x.transition === 'none') ? true : null));
    await new Promise((r) => setTimeout(r, 300));
    expect(s.sim.requestLog.filter((r) => r.method === 'DELETE' && r.path === '/v2/orders').length).toBe(cancels);
  }, 60_000);

  it('retries with the same event id while the function process is down', async () => {
    const s = stack!;
    const trigger = s.firestoreTriggers.onKillSwitchWrite!;
    await s.killFunction('onKillSwitchWrite');
    const seen = trigger.deliveries().length;
    await s.db.doc('ops/killSwitch').set({ halted: false, reason: 'back', updatedBy: 'op-console' });
    const pending = await waitFor('a failed attempt', async () => {
      const d = trigger.deliveries().slice(seen)[0];
      return d && d.attempts >= 1 ? d : null;
    });
    expect(pending.state).toBe('pending');
    await s.startFunction('onKillSwitchWrite');
    const done = await waitFor('the redelivery', async () => {
      const d = trigger.deliveries().find((x) => x.eventId === pending.eventId);
      return d?.state === 'delivered' ? d : null;
    });
    expect(done.attempts).toBeGreaterThan(1);
    const audit = await waitFor('the audit of the resume', async () => {
      const snap = await s.db.doc(`ops/killSwitch/audit/${pending.eventId}`).get();
      return snap.exists ? snap.data()! : null;
    });
    expect(audit).toMatchObject({ transition: 'resume', who: 'op-console', reason: 'back' });
  }, 60_000);
});

describe('a Firestore trigger on a pattern (submissions/{intentId}) in the local stack', () => {
  let s: LocalStack | undefined;
  beforeAll(async () => {
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    s = await startLocalStack({
      projectId: uniqueProjectId(),
      only: ['executeIntent', 'onSubmissionWrite', 'syncOrders'],
      openKillSwitch: { reason: 'e2e', updatedBy: 'trigger test' },
      quiet: true,
      // syncOrders is POSTed by the test, as the stack's scheduler does.
      schedules: 'off',
      auth: false,
      // The order stays open until the test fills it at the simulator.
      sim: { fillMode: 'none' },
    });
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('each change of a submission is one CloudEvent; onSubmissionWrite publishes it on order-updates, each updateId once', async () => {
    const st = s!;
    const trigger = st.firestoreTriggers.onSubmissionWrite!;
    expect(trigger.wired).toBe(true);
    // The stack created every topic of the contract, order-updates among them.
    expect((await st.pubsub.topic(ORDER_UPDATES_TOPIC).exists())[0]).toBe(true);

    const intent = makeIntent({ strategyId: `e2e-updates-${Date.now().toString(36)}` });
    const updates = await collectOrderUpdates(st.pubsub, { name: `e2e-order-updates-${Date.now().toString(36)}`, strategyId: intent.strategyId });
    try {
      await st.pubsub.topic(ORDER_INTENTS_TOPIC).publishMessage({ json: intent });
      const submitted = await waitFor('the submitted update with its order', async () => updates.unique().find((u) => u.message.state === 'submitted' && u.message.order !== null) ?? null, 30_000);
      expect(submitted.message).toMatchObject({ intentId: intent.intentId, strategyId: intent.strategyId, reason: null, order: { final: false, filledQty: '0' } });
      expect(submitted.attributes).toMatchObject({ intentId: intent.intentId, strategyId: intent.strategyId, state: 'submitted', orderStatus: submitted.message.order!.status });
      expect(submitted.updateId).toBe(`${intent.intentId}:1:submitted:${submitted.message.order!.status}:0`);

      // The trigger's events name the document; firebase-functions read the intentId from it.
      // (Delivered independently: the submitted one may have been answered first.)
      const events = await waitFor('every event of the record delivered', async () => {
        const mine = trigger.deliveries().filter((d) => d.document === `submissions/${intent.intentId}`);
        return mine.length > 0 && mine.every((d) => d.state === 'delivered') ? mine : null;
      });
      expect(events[0]).toMatchObject({ kind: 'created', state: 'delivered' });
      expect(events.slice(1).every((d) => d.kind === 'updated')).toBe(true);

      // Filled at the broker; syncOrders follows it into the record, and the change is published.
      const order = st.sim.orders().find((o) => o.client_order_id === clientOrderIdFor(intent.intentId))!;
      st.sim.fill(order.id, { price: 101.5 });
      const filled = await waitFor('the filled update', async () => {
        expect(await st.invokeScheduled('syncOrders')).toBeLessThan(300);
        return updates.unique().find((u) => u.message.order?.status === 'filled') ?? null;
      }, 30_000);
      expect(filled.message).toMatchObject({ state: 'submitted', order: { status: 'filled', filledQty: '1', filledAvgPrice: '101.5', final: true } });
      expect(filled.updateId).toBe(`${intent.intentId}:1:submitted:filled:1`);

      // Let late repeats arrive, then: one entry per change (messages are not ordered).
      await new Promise((r) => setTimeout(r, 1_500));
      const unique = updates.unique();
      const seen = unique.map((u) => u.updateId).sort();
      const submittingId = `${intent.intentId}:1:submitting:-:-`;
      // `submitting` may have been coalesced with the submit by the listener (see the header).
      const expected = [submittingId, submitted.updateId, filled.updateId].filter((id) => id !== submittingId || seen.includes(id)).sort();
      expect(seen).toEqual(expected);
      const submitting = unique.find((u) => u.updateId === submittingId);
      if (submitting) expect(submitting.message).toMatchObject({ state: 'submitting', order: null });

      // A deletion is a `deleted` event (no after): delivered, nothing published.
      const before = updates.all().length;
      await st.db.doc(`submissions/${intent.intentId}`).delete();
      const deleted = await waitFor('the deleted event', async () => trigger.deliveries().find((d) => d.document === `submissions/${intent.intentId}` && d.kind === 'deleted' && d.state === 'delivered') ?? null);
      expect(deleted.attempts).toBe(1);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(updates.all().length).toBe(before);
    } finally {
      await updates.stop();
    }
  }, 90_000);
});
