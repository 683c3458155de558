/**
 * The pipeline as a plain function, with a pinned clock and its own shutdown gate, against the
 * official Firestore emulator and the real Alpaca adapter over HTTP to the simulator.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import type { Broker } from '../../../functions/src/broker/broker.js';
import { createDryRunBroker } from '../../../functions/src/broker/dry-run.js';
import { loadRuntimeConfig } from '../../../functions/src/config.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';
import { handleExecuteIntent, type ExecuteIntentDeps } from '../../../functions/src/execution/handle-execute-intent.js';
import type { IntentDelivery } from '../../../functions/src/execution/intent-delivery.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { ShutdownGate } from '../../../functions/src/safety/shutdown-gate.js';
import { createFirestoreSubmissionStore, type SubmissionStore } from '../../../functions/src/store/submission-store.js';
import { createClaimLane } from '../../../functions/src/store/claim-lane.js';
import { deleteApp } from 'firebase-admin/app';
import { adminFirestore, deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';
import { makeIntent } from '../../support/intents.js';

let b: TestBackends;
const T0 = Date.parse('2026-11-26T15:00:00Z');

beforeAll(async () => {
  b = await startTestBackends();
});
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
});

function setup(overrides: Partial<ExecuteIntentDeps> = {}) {
  const clock = fixedClock(T0);
  const gate = new ShutdownGate();
  const log = memoryEventLogger();
  const alpaca = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'alpaca-paper' });
  const store = createFirestoreSubmissionStore(b.db, { clock });
  const deps: ExecuteIntentDeps = {
    store,
    brokerFor: (_config, mode) => (mode === 'dry_run' ? createDryRunBroker({ clock }) : alpaca),
    clock,
    gate,
    loadConfig: () => loadRuntimeConfig(b.env),
    instanceId: 'test-instance',
    log,
    ...overrides,
  };
  return { deps, clock, gate, log, store };
}

function delivery(intent: object, eventId = `ev-${Math.random().toString(36).slice(2)}`): IntentDelivery {
  return { eventId, messageId: eventId, publishTime: null, dataBase64: Buffer.from(JSON.stringify(intent)).toString('base64'), attributes: {} };
}

const recordOf = async (id: string) => (await b.db.doc(`submissions/${id}`).get()).data();
const intentAt = (offsetMs = 0) => makeIntent({ createdAt: new Date(T0 + offsetMs).toISOString() });

describe('refusals before any write', () => {
  it('a shutting-down instance writes nothing and asks for redelivery', async () => {
    const { deps, gate } = setup();
    gate.requestShutdown('SIGTERM');
    const intent = intentAt();
    const err = await deliveryError(handleExecuteIntent(deps, delivery(intent)));
    expect(err).toMatchObject({ name: 'ShutdownInProgressError', retryable: true });
    expect(await recordOf(intent.intentId)).toBeUndefined();
    expect(b.sim.requestLog).toHaveLength(0);
  });

  it('too little time left at entry: no write, no broker call; the redelivery submits', async () => {
    const intent = intentAt();
    // The store is slow to start: the clock has moved 56 s (of 60) by the time we check.
    const { deps, clock } = setup();
    const late: ExecuteIntentDeps = { ...deps, loadConfig: () => (clock.advance(56_000), loadRuntimeConfig(b.env)) };
    const err = await deliveryError(handleExecuteIntent(late, delivery(intent)));
    expect(err).toMatchObject({ name: 'DeadlineBudgetError', retryable: true });
    expect(await recordOf(intent.intentId)).toBeUndefined();
    expect(b.sim.requestLog).toHaveLength(0);

    const again = await handleExecuteIntent(setup().deps, delivery(intent));
    expect(again.outcome).toBe('submitted');
  });
});

describe('after the claim', () => {
  it('SIGTERM between claim and broker call releases the claim; nothing is sent', async () => {
    const { deps, gate } = setup();
    const store: SubmissionStore = {
      ...deps.store,
      claimSubmission: async (req) => {
        const decision = await deps.store.claimSubmission(req);
        gate.requestShutdown('SIGTERM'); // arrives while the claim commits
        return decision;
      },
    };
    const intent = intentAt();
    const err = await deliveryError(handleExecuteIntent({ ...deps, store }, delivery(intent)));
    expect(err).toMatchObject({ name: 'ShutdownInProgressError' });
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'released', attempts: 1 });
    expect(b.sim.requestLog).toHaveLength(0);

    const again = await handleExecuteIntent(setup().deps, delivery(intent));
    expect(again.outcome).toBe('submitted');
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitted', attempts: 2 });
  });

  it('the broker call timeout ends before the deadline minus the margin', async () => {
    const seen: number[] = [];
    const { deps, clock } = setup();
    const spy: Broker = {
      ...createDryRunBroker({ clock }),
      name: 'spy',
      submitOrder: async (order, opts) => {
        seen.push(opts.timeoutMs);
        return createDryRunBroker({ clock }).submitOrder(order, opts);
      },
    };
    const store: SubmissionStore = {
      ...deps.store,
      claimSubmission: async (req) => {
        const d = await deps.store.claimSubmission(req);
        clock.advance(53_500); // 6.5 s left of 60; margin 1 s; BROKER_TIMEOUT_MS 2 s
        return d;
      },
    };
    await handleExecuteIntent({ ...deps, store, brokerFor: () => spy }, delivery(intentAt()));
    expect(seen).toEqual([2000]);

    const tight = setup();
    const tightStore: SubmissionStore = {
      ...tight.deps.store,
      claimSubmission: async (req) => {
        const d = await tight.deps.store.claimSubmission(req);
        tight.clock.advance(54_000); // 6 s left
        return d;
      },
    };
    b.env.BROKER_TIMEOUT_MS = '10000';
    await handleExecuteIntent({ ...tight.deps, store: tightStore, brokerFor: () => spy }, delivery(intentAt()));
    expect(seen[1]).toBe(5000); // remaining 6 s − margin 1 s
    b.env.BROKER_TIMEOUT_MS = '2000';
  });
});

describe('the claim lane (MAX_OPEN_CLAIMS)', () => {
  const request = (intent: ReturnType<typeof intentAt>, startByMs: number) => ({
    intent,
    eventId: `ev-${intent.intentId}`,
    instanceId: 'test-instance',
    deadlineAtMs: T0 + 60_000,
    config: { ok: true as const, mode: 'paper' as const, maxIntentAgeMs: 0, ownerGraceMs: 1000 },
    haltedParam: 'false',
    startByMs,
  });

  it('a claim whose turn comes after its start-by time is not begun: no record, nothing read; one in time claims', async () => {
    const clock = fixedClock(T0);
    const lane = createClaimLane(1);
    const store = createFirestoreSubmissionStore(b.db, { clock, claimLane: lane });
    // The one turn is taken (another claim, open).
    let freeTurn!: () => void;
    const taken = lane.run(() => new Promise<void>((resolve) => (freeTurn = resolve)));
    const late = intentAt();
    const inTime = intentAt();
    const lateClaim = store.claimSubmission(request(late, T0 + 1_000));
    const inTimeClaim = store.claimSubmission(request(inTime, T0 + 60_000));
    expect(lane.stats()).toEqual({ open: 1, waiting: 2 });
    // The invocation gave the delivery back at its start-by time; the turn comes after.
    clock.advance(1_001);
    freeTurn();
    await taken;
    await expect(lateClaim).rejects.toMatchObject({ name: 'DeadlineBudgetError', reason: 'deadline_budget', retryable: true });
    expect((await inTimeClaim).kind).toBe('claim');
    expect(await recordOf(late.intentId)).toBeUndefined();
    expect(await recordOf(inTime.intentId)).toMatchObject({ state: 'submitting' });
    expect(lane.stats()).toEqual({ open: 0, waiting: 0 });
  });

  it('a claim stuck in Firestore keeps its turn only until its start-by time: the claim behind it goes through meanwhile', async () => {
    const clock = fixedClock(T0);
    const lane = createClaimLane(1);
    // Through the interposer, which holds the first claim's Commit (its read is done: it holds
    // its read locks) until the test clears the fault.
    const { app, db } = adminFirestore(b.projectId, b.firestoreHost);
    try {
      const store = createFirestoreSubmissionStore(db, { clock, claimLane: lane });
      b.interposer.faults.set('Commit', { hang: true, times: 1 });
      const stuck = intentAt();
      const behind = makeIntent({ strategyId: 'other-strategy', symbol: 'MSFT', createdAt: new Date(T0).toISOString() });
      const stuckClaim = store.claimSubmission(request(stuck, T0 + 300)); // pinned clock: 300 ms of real time
      const behindClaim = store.claimSubmission(request(behind, T0 + 60_000));
      // The turn passes at the stuck claim's start-by time; the one behind it claims.
      expect((await behindClaim).kind).toBe('claim');
      expect(await recordOf(behind.intentId)).toMatchObject({ state: 'submitting' });
      expect(await recordOf(stuck.intentId)).toBeUndefined();
      expect(b.interposer.faults.injected()).toMatchObject({ Commit: 1 });
      // The stuck transaction was never abandoned: let its Commit through and it commits.
      b.interposer.faults.clear('Commit');
      expect((await stuckClaim).kind).toBe('claim');
      expect(lane.stats()).toEqual({ open: 0, waiting: 0 });
    } finally {
      await deleteApp(app);
    }
  });
});

describe('claims owned by someone else', () => {
  async function orphanClaim(intent: ReturnType<typeof intentAt>, ownerDeadlineMs: number) {
    const owner = setup({ instanceId: 'owner' });
    // The owner claims, then "dies" before calling the broker.
    const decision = await owner.store.claimSubmission({
      intent,
      eventId: 'owner-event',
      instanceId: 'owner',
      deadlineAtMs: ownerDeadlineMs,
      config: { ok: true, mode: 'paper', maxIntentAgeMs: 0, ownerGraceMs: 1000 },
      haltedParam: 'false',
    });
    expect(decision.kind).toBe('claim');
  }

  it('a live owner holds the claim: the duplicate is refused for now, nothing sent', async () => {
    const intent = intentAt();
    await orphanClaim(intent, T0 + 60_000);
    const { deps } = setup();
    const err = await deliveryError(handleExecuteIntent(deps, delivery(intent)));
    expect(err).toMatchObject({ name: 'ClaimHeldError', retryable: true });
    expect(b.sim.requestLog).toHaveLength(0);
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitting' });
  });

  it('an owner gone before sending: looked up, not found, unknown — never resubmitted', async () => {
    const intent = intentAt();
    await orphanClaim(intent, T0 - 5_000);
    const { deps } = setup();
    const err = await deliveryError(handleExecuteIntent(deps, delivery(intent)));
    expect(err).toMatchObject({ name: 'BrokerOutcomeUnknownError' });
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'unknown', reason: 'owner_gone' });
    expect(b.sim.requestLog.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v2/orders:by_client_order_id']);
  });

  it('an owner gone after sending: the order is found and adopted', async () => {
    const intent = intentAt();
    await orphanClaim(intent, T0 - 5_000);
    // What the dead owner sent before it died.
    const alpaca = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'x' });
    const sent = await alpaca.submitOrder(
      { clientOrderId: intent.intentId, symbol: intent.symbol, side: intent.side, qty: intent.qty, type: intent.type, timeInForce: intent.timeInForce },
      { timeoutMs: 2000 },
    );
    expect(sent.kind).toBe('accepted');
    const result = await handleExecuteIntent(setup().deps, delivery(intent));
    expect(result.outcome).toBe('submitted');
    expect(b.sim.orders()).toHaveLength(1);
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitted', brokerOrderId: b.sim.orders()[0]!.id });
  });
});

describe('the outcome write', () => {
  it('does not overwrite a record another party settled meanwhile', async () => {
    const { deps } = setup();
    const intent = intentAt();
    const store: SubmissionStore = {
      ...deps.store,
      recordOutcome: async (id, expect_, update) => {
        // A reconciler settled the record while our broker call was out.
        await b.db.doc(`submissions/${id}`).update({ state: 'abandoned', attempts: 7 });
        return deps.store.recordOutcome(id, expect_, update);
      },
    };
    await handleExecuteIntent({ ...deps, store }, delivery(intent));
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'abandoned', attempts: 7 });
  });

  it('an unreadable record fails closed: nothing sent, retry', async () => {
    const intent = intentAt();
    await b.db.doc(`submissions/${intent.intentId}`).set({ state: 'submitted', garbage: true });
    const err = await deliveryError(handleExecuteIntent(setup().deps, delivery(intent)));
    expect(err).toMatchObject({ reason: 'record_unreadable', retryable: true });
    expect(b.sim.requestLog).toHaveLength(0);
  });
});
