/**
 * The reconciler as a plain function, with a pinned clock, against the official Firestore emulator and
 * the real Alpaca adapter over HTTP to the simulator. Records are made the way crashes leave
 * them: by the pipeline itself (broker faults) or written as a dead owner left them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import type { Broker } from '../../../functions/src/broker/broker.js';
import { createDryRunBroker } from '../../../functions/src/broker/dry-run.js';
import { loadReconcileConfig, loadRuntimeConfig } from '../../../functions/src/config.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { SubmissionState, type SubmissionRecord } from '../../../functions/src/domain/submission.js';
import { handleExecuteIntent } from '../../../functions/src/execution/handle-execute-intent.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { handleReconcileSubmissions, type ReconcileDeps } from '../../../functions/src/reconcile/handle-reconcile.js';
import { ShutdownGate } from '../../../functions/src/safety/shutdown-gate.js';
import { createFirestoreReconcileStore } from '../../../functions/src/store/reconcile-store.js';
import { recordToDocument } from '../../../functions/src/store/submission-document.js';
import { createFirestoreSubmissionStore } from '../../../functions/src/store/submission-store.js';
import { deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';
import { makeIntent } from '../../support/intents.js';

let b: TestBackends;
const T0 = Date.parse('2026-11-26T15:00:00Z');
/** functionEnv: OWNER_GRACE_MS 1000; RECONCILE_ABANDON_AFTER_MS is left at its default. */
const OWNER_GRACE_MS = 1000;
const ABANDON_AFTER_MS = 900_000;

beforeAll(async () => {
  b = await startTestBackends();
});
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
});

function setup(overrides: Partial<ReconcileDeps> = {}) {
  const clock = fixedClock(T0);
  const log = memoryEventLogger();
  const alpaca = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'alpaca-paper' });
  const deps: ReconcileDeps = {
    store: createFirestoreReconcileStore(b.db, { clock }),
    brokerFor: (_config, mode) => (mode === 'dry_run' ? createDryRunBroker({ clock }) : alpaca),
    clock,
    loadConfig: () => loadReconcileConfig(b.env),
    log,
    ...overrides,
  };
  return { deps, clock, log, alpaca };
}

/** Runs the reconciler and checks the one thing it must never do: send an order. */
async function reconcile(deps: ReconcileDeps) {
  const postsBefore = submitRequests().length;
  const report = await handleReconcileSubmissions(deps);
  expect(submitRequests().length).toBe(postsBefore);
  return report;
}

const submitRequests = () => b.sim.requestLog.filter((r) => r.method === 'POST' && r.path === '/v2/orders');
const lookups = () => b.sim.requestLog.filter((r) => r.method === 'GET' && r.path.startsWith('/v2/orders:by_client_order_id'));
const recordOf = async (id: string) => (await b.db.doc(`submissions/${id}`).get()).data();
const ordersFor = (clientOrderId: string) => b.sim.orders().filter((o) => o.client_order_id === clientOrderId);

/** A record as a claim owner leaves it when it dies: `submitting`, its deadline in `deadlineAtMs`. */
async function seedRecord(intent: OrderIntent, overrides: Partial<SubmissionRecord> = {}): Promise<SubmissionRecord> {
  const rec: SubmissionRecord = {
    intentId: intent.intentId,
    state: SubmissionState.submitting,
    reason: null,
    detail: null,
    intent,
    strategyId: intent.strategyId,
    clientOrderId: intent.intentId,
    brokerOrderId: null,
    brokerStatus: null,
    attempts: 1,
    owner: { instanceId: 'dead-instance', eventId: 'ev-dead', deadlineAtMs: T0 - 60_000 },
    executionMode: 'paper',
    claimedAtMs: T0 - 120_000,
    updatedAtMs: T0 - 120_000,
    history: [{ state: SubmissionState.submitting, atMs: T0 - 120_000, attempt: 1 }],
    ...overrides,
  };
  await b.db.doc(`submissions/${rec.intentId}`).set(recordToDocument(rec));
  return rec;
}

/** An order that reached the broker before its sender died (sent by the test, not the reconciler). */
async function placeAtBroker(alpaca: Broker, intent: OrderIntent): Promise<string> {
  const out = await alpaca.submitOrder(
    { clientOrderId: intent.intentId, symbol: intent.symbol, side: intent.side, qty: intent.qty, type: 'market', timeInForce: 'day' },
    { timeoutMs: 2000 },
  );
  if (out.kind !== 'accepted') throw new Error(`setup: order not accepted: ${out.kind}`);
  return out.order.id;
}

const intentAt = () => makeIntent({ createdAt: new Date(T0 - 200_000).toISOString() });

describe('reconcileSubmissions: submitting records whose owner is gone', () => {
  it('found at the broker → submitted with the broker order; the run is reported at ops/reconciler', async () => {
    const { deps, alpaca } = setup();
    const intent = intentAt();
    await seedRecord(intent);
    const orderId = await placeAtBroker(alpaca, intent);

    const report = await reconcile(deps);
    expect(report).toMatchObject({ scanned: 1, submitted: 1, abandoned: 0, stillUnknown: 0, errors: 0 });
    expect(await recordOf(intent.intentId)).toMatchObject({
      state: 'submitted',
      brokerOrderId: orderId,
      brokerStatus: expect.any(String),
      attempts: 1,
    });
    expect((await recordOf(intent.intentId))!.history.map((h: { state: string }) => h.state)).toEqual(['submitting', 'submitted']);
    expect(ordersFor(intent.intentId)).toHaveLength(1);

    const status = (await b.db.doc('ops/reconciler').get()).data();
    expect(status).toMatchObject({ scanned: 1, submitted: 1, abandoned: 0, stillUnknown: 0, errors: 0, durationMs: 0 });
    expect(status!.lastRunAt.toMillis()).toBe(T0);
  });

  it('not at the broker → unknown (owner_gone); still not there after the grace period → abandoned', async () => {
    const { deps, clock } = setup();
    const intent = intentAt();
    await seedRecord(intent);

    expect(await reconcile(deps)).toMatchObject({ scanned: 1, markedUnknown: 1, stillUnknown: 1, abandoned: 0 });
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'unknown', reason: 'owner_gone', attempts: 1 });

    // The grace period counts from the unknown write (T0), the later of it and the deadline.
    clock.set(T0 + ABANDON_AFTER_MS);
    expect(await reconcile(deps)).toMatchObject({ scanned: 1, stillUnknown: 1, abandoned: 0 });
    expect((await recordOf(intent.intentId))!.state).toBe('unknown');

    clock.set(T0 + ABANDON_AFTER_MS + 1);
    expect(await reconcile(deps)).toMatchObject({ scanned: 1, abandoned: 1, stillUnknown: 0 });
    const rec = await recordOf(intent.intentId);
    expect(rec).toMatchObject({ state: 'abandoned', reason: 'not_at_broker', brokerOrderId: null });
    expect(rec!.history.map((h: { state: string }) => h.state)).toEqual(['submitting', 'unknown', 'abandoned']);
    expect(ordersFor(intent.intentId)).toHaveLength(0);

    // Terminal: later runs do not even read it.
    const before = lookups().length;
    expect(await reconcile(deps)).toMatchObject({ scanned: 0 });
    expect(lookups().length).toBe(before);
  });

  it("a live owner's submitting record is neither looked up nor touched", async () => {
    const { deps, clock } = setup();
    const intent = intentAt();
    // Deadline in the future (the owner is calling the broker right now), claimed long ago.
    const rec = await seedRecord(intent, { owner: { instanceId: 'live', eventId: 'ev-live', deadlineAtMs: T0 + 30_000 } });
    expect(await reconcile(deps)).toMatchObject({ submitted: 0, abandoned: 0, markedUnknown: 0, errors: 0 });
    // Up to and including deadline + grace the owner is still live.
    clock.set(T0 + 30_000 + OWNER_GRACE_MS);
    await reconcile(deps);
    expect(lookups()).toHaveLength(0);
    expect((await recordOf(intent.intentId))!.updatedAt.toMillis()).toBe(rec.updatedAtMs);
    expect((await recordOf(intent.intentId))!.state).toBe('submitting');
  });

  it('a recent claim is not even read (updatedAt within OWNER_GRACE_MS)', async () => {
    const { deps } = setup();
    const intent = intentAt();
    await seedRecord(intent, { claimedAtMs: T0 - 10, updatedAtMs: T0 - 10, owner: { instanceId: 'x', eventId: 'e', deadlineAtMs: T0 - 5_000 } });
    expect(await reconcile(deps)).toMatchObject({ scanned: 0 });
  });
});

describe('reconcileSubmissions: unknown records left by the pipeline', () => {
  it('hang_after_place (placed, answer never came) → the reconciler finds it → submitted', async () => {
    const { deps } = setup();
    const intent = intentAt();
    await pipelineLeavesUnknown(intent, 'hang_after_place');

    const report = await reconcile(deps);
    expect(report).toMatchObject({ scanned: 1, submitted: 1, errors: 0 });
    const orders = ordersFor(intent.intentId);
    expect(orders).toHaveLength(1);
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitted', brokerOrderId: orders[0]!.id });
    expect(submitRequests()).toHaveLength(1); // the pipeline's one
  });

  it('hang_before_place (never placed) → stays unknown within the grace period → abandoned after it', async () => {
    const { deps, clock } = setup();
    const intent = intentAt();
    const unknownAt = await pipelineLeavesUnknown(intent, 'hang_before_place');
    const deadline = (await recordOf(intent.intentId))!.owner.deadlineAt.toMillis();
    const graceStart = Math.max(unknownAt, deadline);

    clock.set(graceStart + 60_000);
    expect(await reconcile(deps)).toMatchObject({ scanned: 1, stillUnknown: 1, abandoned: 0, errors: 0 });
    expect((await recordOf(intent.intentId))!.state).toBe('unknown');

    clock.set(graceStart + ABANDON_AFTER_MS + 1);
    expect(await reconcile(deps)).toMatchObject({ abandoned: 1 });
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'abandoned', reason: 'not_at_broker' });
    expect(ordersFor(intent.intentId)).toHaveLength(0);
  });
});

describe('reconcileSubmissions: when it must not decide', () => {
  it('a failed lookup leaves submitting and unknown records as they are, and counts the errors', async () => {
    const { deps, clock } = setup();
    const a = intentAt();
    const u = intentAt();
    await seedRecord(a);
    await seedRecord(u, { state: SubmissionState.unknown, reason: 'broker_outcome_unknown', updatedAtMs: T0 - 60_000 });
    b.sim.faults.set({ error5xxRate: 1, applyRatesTo: 'all' });
    clock.set(T0 + 10 * ABANDON_AFTER_MS); // far past every grace period: still no guess

    const report = await reconcile(deps);
    expect(report).toMatchObject({ scanned: 2, submitted: 0, abandoned: 0, markedUnknown: 0, stillUnknown: 2, errors: 2 });
    expect(report.problems.join()).toMatch(/lookup failed/);
    expect((await recordOf(a.intentId))!.state).toBe('submitting');
    expect((await recordOf(u.intentId))!.state).toBe('unknown');
    expect((await b.db.doc('ops/reconciler').get()).data()).toMatchObject({ errors: 2, stillUnknown: 2 });
  });

  it('stops after three failed lookups in a row (the broker looks down)', async () => {
    const { deps } = setup();
    for (let i = 0; i < 5; i++) await seedRecord(intentAt(), { state: SubmissionState.unknown });
    b.sim.faults.set({ error5xxRate: 1, applyRatesTo: 'all' });
    const report = await reconcile(deps);
    expect(lookups()).toHaveLength(3);
    expect(report).toMatchObject({ scanned: 5, stillUnknown: 5 });
    expect(report.problems.join()).toMatch(/3 lookups failed in a row; 2 records left/);
  });

  it('an unreadable record is reported and not touched', async () => {
    const { deps } = setup();
    await b.db.doc('submissions/broken').set({ state: 'unknown', updatedAt: new Date(T0 - 1000) });
    const report = await reconcile(deps);
    expect(report).toMatchObject({ scanned: 1, errors: 1 });
    expect(report.problems.join()).toMatch(/submissions\/broken is unreadable/);
    expect(await recordOf('broken')).toEqual({ state: 'unknown', updatedAt: expect.anything() });
  });

  it('an invalid configuration changes nothing (fail closed) and says so', async () => {
    const { deps } = setup({ loadConfig: () => loadReconcileConfig({ ...b.env, RECONCILE_ABANDON_AFTER_MS: '1000' }) });
    const intent = intentAt();
    await seedRecord(intent);
    const report = await reconcile(deps);
    expect(report).toMatchObject({ scanned: 0, errors: 1 });
    expect(report.problems.join()).toMatch(/RECONCILE_ABANDON_AFTER_MS/);
    expect(lookups()).toHaveLength(0);
    expect((await recordOf(intent.intentId))!.state).toBe('submitting');
  });
});

describe('reconcileSubmissions: concurrent writers win', () => {
  it("the owner's own outcome, written while the reconciler looked up, is not overwritten", async () => {
    const intent = intentAt();
    const base = setup();
    const orderId = await placeAtBroker(base.alpaca, intent);
    await seedRecord(intent);
    const ownerStore = createFirestoreSubmissionStore(b.db, { clock: fixedClock(T0) });
    // The lookup raced the (slow, not quite dead) owner: the broker answered "not found" just
    // before the order showed up, and the owner recorded `submitted` meanwhile.
    const racing: Broker = {
      ...base.alpaca,
      async getOrderByClientOrderId() {
        const w = await ownerStore.recordOutcome(intent.intentId, { attempt: 1, from: ['submitting'] }, {
          state: 'submitted',
          reason: null,
          detail: 'owner',
          brokerOrderId: orderId,
          brokerStatus: 'accepted',
        });
        expect(w.applied).toBe(true);
        return { kind: 'not_found' };
      },
    };
    const { deps, log } = setup({ brokerFor: () => racing });
    const report = await reconcile(deps);
    expect(report).toMatchObject({ scanned: 1, markedUnknown: 0, submitted: 0, abandoned: 0 });
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitted', brokerOrderId: orderId, detail: 'owner' });
    expect(log.events.some((e) => e.event === 'outcome_not_applied' && e.fields.wanted === 'unknown')).toBe(true);
  });

  it('a record that moved on to a new attempt is not abandoned on the strength of the old one', async () => {
    const intent = intentAt();
    const old = await seedRecord(intent, { state: SubmissionState.unknown });
    const base = setup();
    // During the lookup the record is released and re-claimed (attempt 2, a live owner).
    const racing: Broker = {
      ...base.alpaca,
      async getOrderByClientOrderId() {
        await b.db.doc(`submissions/${intent.intentId}`).set(
          recordToDocument({
            ...old,
            state: SubmissionState.submitting,
            attempts: 2,
            owner: { instanceId: 'new', eventId: 'ev-2', deadlineAtMs: T0 + 10 * ABANDON_AFTER_MS },
          }),
        );
        return { kind: 'not_found' };
      },
    };
    const { deps, clock } = setup({ brokerFor: () => racing });
    clock.set(T0 + 2 * ABANDON_AFTER_MS);
    const report = await reconcile(deps);
    expect(report).toMatchObject({ abandoned: 0 });
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitting', attempts: 2 });
  });
});

/**
 * Runs the real pipeline into a broker fault that leaves the outcome unknown; returns when the
 * record was written `unknown` (ms, the pipeline's pinned clock).
 */
async function pipelineLeavesUnknown(intent: OrderIntent, fault: 'hang_after_place' | 'hang_before_place'): Promise<number> {
  const clock = fixedClock(T0);
  const env = { ...b.env, BROKER_TIMEOUT_MS: '300' };
  const alpaca = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'alpaca-paper' });
  b.sim.faults.next([fault]);
  const err = await deliveryError(
    handleExecuteIntent(
      {
        store: createFirestoreSubmissionStore(b.db, { clock }),
        brokerFor: () => alpaca,
        clock,
        gate: new ShutdownGate(),
        loadConfig: () => loadRuntimeConfig(env),
        instanceId: 'pipeline',
        log: memoryEventLogger(),
      },
      {
        eventId: `ev-${intent.intentId}`,
        messageId: null,
        publishTime: null,
        dataBase64: Buffer.from(JSON.stringify(intent)).toString('base64'),
        attributes: {},
      },
    ),
  );
  expect(err).toMatchObject({ name: 'BrokerOutcomeUnknownError' });
  expect(await recordOf(intent.intentId)).toMatchObject({ state: 'unknown', attempts: 1 });
  return clock.now();
}
