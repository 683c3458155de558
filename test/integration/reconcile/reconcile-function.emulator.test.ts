/**
 * The deployed binding of reconcileSubmissions: an `onSchedule` function is an HTTP function
 * (Cloud Scheduler POSTs to it), served here by a real functions-framework process on the
 * compiled functions — the way the local stack triggers it on a timer.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import { SubmissionState } from '../../../functions/src/domain/submission.js';
import { recordToDocument } from '../../../functions/src/store/submission-document.js';
import { startTestBackends, type TestBackends } from '../../support/backends.js';
import { buildFunctionsIfStale, post, startFramework } from '../../support/functions-framework.js';
import { makeIntent } from '../../support/intents.js';

let b: TestBackends;
const started: ChildProcess[] = [];

beforeAll(async () => {
  buildFunctionsIfStale();
  b = await startTestBackends();
}, 120_000);
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
});
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('reconcileSubmissions under the functions framework', () => {
  it('a Cloud Scheduler style POST runs a reconcile: 200, the record settled, ops/reconciler written; no order sent', async () => {
    const now = Date.now();
    const intent = makeIntent({ createdAt: new Date(now - 300_000).toISOString() });
    await b.db.doc(`submissions/${intent.intentId}`).set(
      recordToDocument({
        intentId: intent.intentId,
        state: SubmissionState.unknown,
        reason: 'broker_outcome_unknown',
        detail: 'timeout',
        intent,
        strategyId: intent.strategyId,
        clientOrderId: intent.intentId,
        brokerOrderId: null,
        brokerStatus: null,
        attempts: 1,
        owner: { instanceId: 'gone', eventId: 'ev-1', deadlineAtMs: now - 200_000 },
        executionMode: 'paper',
        claimedAtMs: now - 260_000,
        updatedAtMs: now - 250_000,
        history: [],
      }),
    );
    const alpaca = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'alpaca-paper' });
    const placed = await alpaca.submitOrder(
      { clientOrderId: intent.intentId, symbol: 'AAPL', side: 'buy', qty: 1, type: 'market', timeInForce: 'day' },
      { timeoutMs: 2000 },
    );
    expect(placed.kind).toBe('accepted');
    const postsBefore = b.sim.requestLog.filter((r) => r.method === 'POST').length;

    const fn = await startFramework({ target: 'reconcileSubmissions', signatureType: 'http', env: { ...b.env }, started });
    const res = await post(
      fn.url,
      {},
      { 'content-type': 'application/json', 'X-CloudScheduler-JobName': 'reconcileSubmissions', 'X-CloudScheduler-ScheduleTime': new Date().toISOString() },
    );
    expect(res, fn.output()).toMatchObject({ ok: true, status: 200 });

    const rec = (await b.db.doc(`submissions/${intent.intentId}`).get()).data();
    expect(rec).toMatchObject({ state: 'submitted', brokerOrderId: placed.kind === 'accepted' ? placed.order.id : '' });
    const status = (await b.db.doc('ops/reconciler').get()).data();
    expect(status).toMatchObject({ scanned: 1, submitted: 1, abandoned: 0, stillUnknown: 0, errors: 0 });
    expect(status!.lastRunAt.toMillis()).toBeGreaterThanOrEqual(now);
    expect(b.sim.requestLog.filter((r) => r.method === 'POST').length).toBe(postsBefore);
  });
});
