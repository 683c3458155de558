/**
 * Fail closed when Firestore is unreachable (G6), and nothing lost (G5): with every call to
 * Firestore answered UNAVAILABLE at the gRPC interposer (what a client sees when the service
 * or the network is down), no broker call starts, every delivery fails retryably within its
 * own deadline (so Pub/Sub redelivers it), the ops API answers 503 naming the store within its
 * bound, and the runner kit's stop signal aborts once its grace is over. Once Firestore answers
 * again, redeliveries settle.
 *
 * firebase-admin itself keeps retrying UNAVAILABLE (measured: a read gives up after ~40 s, a
 * transaction after ~220 s); the bounds are haltgate's, so these tests take seconds.
 */
import { status } from '@grpc/grpc-js';
import { deleteApp, type App } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FIRESTORE_METHODS, type FirestoreMethod } from '../../../dev/firestore-interposer/interposer.js';
import { executeIntent } from '../../../functions/src/index.js';
import { createStopSignal } from '../../../runner/src/index.js';
import { adminFirestore, deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';
import { createTestIssuer, OPERATOR, VIEWER, type TestIssuer } from '../../support/id-tokens.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { startOpsServer, type OpsTestServer } from '../../support/ops-server.js';

let b: TestBackends;
let through: { app: App; db: Firestore };
let issuer: TestIssuer;
let ops: OpsTestServer;

beforeAll(async () => {
  b = await startTestBackends();
  // The ops API and the runner kit reach Firestore through the interposer, as the functions do.
  through = adminFirestore(b.projectId, b.interposer.host);
  issuer = createTestIssuer();
  ops = await startOpsServer(through.db, issuer.verifyIdToken, { storeTimeoutMs: 2_000 });
});
afterAll(async () => {
  await ops?.stop();
  if (through) await deleteApp(through.app);
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  // Short invocations: a claim gives up after 8 − 3 = 5 s, keeping an invalid message after 8 s.
  Object.assign(process.env, { EXECUTE_TIMEOUT_SECONDS: '8', MIN_SUBMIT_BUDGET_MS: '3000', DEADLINE_MARGIN_MS: '1000', BROKER_TIMEOUT_MS: '2000' });
});

/** Pub/Sub's part: deliver again until the delivery is acknowledged (bounded). */
async function redeliverUntilAcked(event: unknown, attempts = 20): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const err = await deliveryError(deliver(event));
    if (err === null) return;
    expect(err, 'only retryable failures are redelivered').toMatchObject({ retryable: true });
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`still not acknowledged after ${attempts} deliveries`);
}

/** Every Firestore method answers `code` until `restore()`. */
function cutFirestore(code: status = status.UNAVAILABLE): void {
  for (const method of Object.keys(FIRESTORE_METHODS) as FirestoreMethod[]) b.interposer.faults.set(method, { failWith: code });
}
const restore = () => b.interposer.faults.clear();
const deliver = (event: unknown) => (executeIntent as unknown as (e: unknown) => Promise<unknown>)(event);

describe('executeIntent with Firestore unreachable', () => {
  it('starts no broker call and fails every delivery retryably within its deadline; once Firestore is back a redelivery settles with one order', async () => {
    const intent = makeIntent();
    const event = pubsubCloudEvent(intent);
    cutFirestore();
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const err = await deliveryError(deliver(event));
      expect(err).toMatchObject({ name: 'DeadlineBudgetError', retryable: true });
      // Given back within the invocation's own timeout (8 s), not after the client's retries.
      expect(Date.now() - started).toBeLessThan(8_000);
    }
    expect(b.interposer.faults.injected().BatchGetDocuments ?? 0).toBeGreaterThan(0);
    expect(b.sim.requestLog).toHaveLength(0);

    restore();
    // The transactions given up on are still being retried by the client and may commit a claim
    // now: their invocation releases it, and a redelivery claims again.
    await redeliverUntilAcked(event);
    expect((await b.db.doc(`submissions/${intent.intentId}`).get()).data()).toMatchObject({ state: 'submitted' });
    expect(b.sim.orders().filter((o) => o.client_order_id === intent.intentId)).toHaveLength(1);
    expect(b.sim.requestLog.filter((r) => r.method === 'POST' && r.path === '/v2/orders')).toHaveLength(1);
  });

  it('an invalid message is not acknowledged while it cannot be kept (it would be lost), and is kept on redelivery', async () => {
    const event = pubsubCloudEvent(null, { rawData: '{"intentId": ' });
    cutFirestore();
    expect(await deliveryError(deliver(event))).toMatchObject({ name: 'StoreUnavailableError', retryable: true });
    restore();
    await redeliverUntilAcked(event);
    expect((await b.db.doc(`invalidIntents/${event.id}`).get()).data()).toMatchObject({ failure: 'not_json' });
  });
});

describe('the ops API with Firestore unreachable', () => {
  it('answers 503 naming the store for status, halt and resume within its bound, and nothing reaches Firestore', async () => {
    cutFirestore();
    const calls = [
      { method: 'GET', path: '/status', token: issuer.mint('v', VIEWER), body: undefined },
      { method: 'POST', path: '/halt', token: issuer.mint('o', OPERATOR), body: { reason: 'drill' } },
      { method: 'POST', path: '/resume', token: issuer.mint('o', OPERATOR), body: { reason: 'drill' } },
    ];
    for (const c of calls) {
      const res = await fetch(`${ops.url}${c.path}`, {
        method: c.method,
        headers: { authorization: `Bearer ${c.token}`, ...(c.body ? { 'content-type': 'application/json' } : {}) },
        body: c.body ? JSON.stringify(c.body) : undefined,
      });
      expect(res.status, c.path).toBe(503);
      // 2 s bound (storeTimeoutMs), far below the function's 30 s timeout.
      const body = (await res.json()) as { error: string; reason: string; message: string };
      expect(body).toMatchObject({ error: 'unavailable', reason: 'store_unavailable' });
      expect(body.message).toMatch(/Firestore could not be reached/);
    }
    // Nothing reached Firestore (read straight from the emulator, not through the interposer).
    // Once it is back, a write the client is still retrying may land: the 503 says exactly that.
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false });
    restore();
    const ok = await fetch(`${ops.url}/status`, { headers: { authorization: `Bearer ${issuer.mint('v', VIEWER)}` } });
    expect(ok.status).toBe(200);
  });
});

describe("the runner kit's stop signal with Firestore unreachable", () => {
  it('aborts (fail closed) once the kill switch has gone unconfirmed for its grace', async () => {
    const stop = createStopSignal({ db: through.db, listenerErrorGraceMs: 1_500, probeIntervalMs: 300, signals: [] });
    try {
      expect(await stop.ready).toBe(true);
      const cutAt = Date.now();
      cutFirestore();
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      expect(Date.now() - cutAt).toBeGreaterThanOrEqual(1_000);
      expect(String(stop.signal.reason)).toMatch(/could not be confirmed/);
    } finally {
      stop.dispose();
    }
  });

  it('never becomes ready when Firestore is unreachable from the start', async () => {
    cutFirestore();
    const stop = createStopSignal({ db: through.db, listenerErrorGraceMs: 1_000, probeIntervalMs: 200, signals: [] });
    try {
      expect(await stop.ready).toBe(false);
      expect(stop.signal.aborted).toBe(true);
    } finally {
      stop.dispose();
    }
  });
});
