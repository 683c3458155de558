/**
 * The operator side of the exposure controls (issue 11), against the official Firestore
 * emulator and the Alpaca simulator over HTTP, through the exported `executeIntent` (whole
 * CloudEvents) and the ops API over HTTP with tokens of a local issuer:
 *  - per-strategy halt (`POST /strategies/{id}/halt` → breaker `manual`): refused
 *    `breaker:manual`, other strategies trade, the audited reset resumes it;
 *  - per-symbol halt and resume (`POST /symbols/{symbol}/halt|resume`), audited;
 *  - the reduce-only posture (`POST /reduce-only`, `POST /resume` clears it) in status and audit;
 *  - a halt under HALT_CANCEL_SCOPE=haltgate leaves foreign orders open;
 *  - the dead-man switch cancels a silent runner's strategy's own orders, once per silence.
 */
import { Timestamp } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import type { Broker } from '../../../functions/src/broker/broker.js';
import { systemClock } from '../../../functions/src/domain/clock.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { executeIntent } from '../../../functions/src/index.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { handleKillSwitchWrite } from '../../../functions/src/ops/halt-trigger.js';
import { opsStatusSchema } from '../../../functions/src/ops/status.js';
import { cancelHaltgateOpenOrders } from '../../../functions/src/reconcile/cancel-owned.js';
import { handleRunnerWatch } from '../../../functions/src/reconcile/runner-watch.js';
import { deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';
import { createTestIssuer, OPERATOR, VIEWER, type TestIssuer } from '../../support/id-tokens.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { markLedgerSynced } from '../../support/ledger.js';
import { startOpsServer, type OpsTestServer } from '../../support/ops-server.js';

let b: TestBackends;
let issuer: TestIssuer;
let ops: OpsTestServer;
let broker: Broker;
let n = 0;

beforeAll(async () => {
  b = await startTestBackends();
  issuer = createTestIssuer();
  ops = await startOpsServer(b.db, issuer.verifyIdToken);
  broker = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'alpaca-paper' });
});
afterAll(async () => {
  await ops?.stop();
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  await markLedgerSynced(b.db);
  b.sim.faults.set({ fillMode: 'none' });
});

const operator = () => issuer.mint('op-alice', OPERATOR);
async function call(method: string, path: string, body?: unknown, token = operator()) {
  const res = await fetch(`${ops.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  expect(text).not.toMatch(/\n\s+at /);
  return { status: res.status, json: JSON.parse(text) as any };
}

const deliver = (intent: OrderIntent) => deliveryError((executeIntent as unknown as (e: unknown) => Promise<unknown>)(pubsubCloudEvent(intent)));
async function send(over: Partial<OrderIntent>): Promise<Record<string, unknown>> {
  n += 1;
  const intent = makeIntent({ intentId: `oc-${n}-${Date.now()}`, symbol: 'AAPL', type: 'limit', limitPrice: 1, qty: 1, timeInForce: 'gtc', ...over });
  expect(await deliver(intent)).toBeNull();
  return (await b.db.doc(`submissions/${intent.intentId}`).get()).data() ?? {};
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('per-strategy halt (breaker manual)', () => {
  it('refuses that strategy breaker:manual, lets others trade, and the audited reset resumes it', async () => {
    expect((await send({ strategyId: 'alpha' })).state).toBe('submitted');

    const viewerTry = await call('POST', '/strategies/alpha/halt', { reason: 'x' }, issuer.mint('v', VIEWER));
    expect(viewerTry.status).toBe(403);
    expect((await call('POST', '/strategies/alpha/halt', {})).status).toBe(400);
    expect((await call('POST', '/strategies/alpha/halt', { reason: 'x', extra: 1 })).status).toBe(400);

    const halted = await call('POST', '/strategies/alpha/halt', { reason: 'runaway fills' });
    expect(halted.status).toBe(200);
    expect(halted.json).toMatchObject({ outcome: 'halted', changed: true, breaker: 'manual', by: 'op-alice', reason: 'runaway fills' });
    const stored = (await b.db.doc('strategies/alpha').get()).get('breakers.manual');
    expect(stored).toEqual({ tripped: true, breaker: 'manual', detail: 'runaway fills', reason: 'runaway fills', by: 'op-alice', trippedAt: expect.any(Number) });
    const audit = (await b.db.doc(`strategies/alpha/audit/${halted.json.auditId}`).get()).data();
    expect(audit).toMatchObject({ action: 'halt_strategy', who: 'op-alice', why: 'runaway fills', breaker: 'manual' });

    // A second halt changes nothing: the first operator's words stay.
    const again = await call('POST', '/strategies/alpha/halt', { reason: 'other words' });
    expect(again.json).toMatchObject({ outcome: 'already_halted', changed: false, reason: 'runaway fills' });

    const refused = await send({ strategyId: 'alpha' });
    expect(refused).toMatchObject({ state: 'refused', reason: 'breaker:manual' });
    expect((await send({ strategyId: 'beta' })).state).toBe('submitted');

    const status = opsStatusSchema.parse((await call('GET', '/status')).json);
    const alpha = status.strategies.find((s) => s.strategyId === 'alpha')!;
    expect(alpha.breakers[0]).toMatchObject({ name: 'manual', tripped: true, by: 'op-alice', reason: 'runaway fills', intentId: null, threshold: null });

    const reset = await call('POST', '/strategies/alpha/breakers/manual/reset', { reason: 'fixed' });
    expect(reset.status).toBe(200);
    expect((await b.db.doc(`strategies/alpha/audit/${reset.json.auditId}`).get()).data()).toMatchObject({ action: 'reset_breaker', breaker: 'manual', who: 'op-alice', before: { by: 'op-alice', reason: 'runaway fills' } });
    expect((await send({ strategyId: 'alpha' })).state).toBe('submitted');
  });

  it('halting a strategy with no document yet works; a malformed breaker state is refused 409', async () => {
    expect((await call('POST', '/strategies/fresh-1/halt', { reason: 'before it starts' })).status).toBe(200);
    expect((await send({ strategyId: 'fresh-1' })).reason).toBe('breaker:manual');
    await b.db.doc('strategies/bad-1').set({ breakers: { manual: { tripped: true, breaker: 'manual' } } });
    expect((await call('POST', '/strategies/bad-1/halt', { reason: 'x' })).status).toBe(409);
    expect((await call('POST', '/strategies/a%20b/halt', { reason: 'x' })).status).toBe(400);
  });
});

describe('per-symbol halt', () => {
  it('halts and resumes a symbol (crypto pairs too), audited, listed in status', async () => {
    const h = await call('POST', '/symbols/AAPL/halt', { reason: 'news pending' });
    expect(h.status).toBe(200);
    expect(h.json).toMatchObject({ symbol: 'AAPL', halted: true, changed: true });
    expect((await b.db.doc('symbolHalts/AAPL').get()).data()).toMatchObject({ halted: true, reason: 'news pending', updatedBy: 'op-alice', symbol: 'AAPL', updatedAt: expect.any(Timestamp) });
    expect((await b.db.doc(`symbolHalts/AAPL/audit/${h.json.auditId}`).get()).data()).toMatchObject({ action: 'halt_symbol', who: 'op-alice', why: 'news pending', before: null });
    expect((await call('POST', '/symbols/BTC%2FUSD/halt', { reason: 'exchange down' })).status).toBe(200);
    expect((await b.db.doc('symbolHalts/BTC_USD').get()).get('halted')).toBe(true);
    await b.db.doc('symbolHalts/MSFT').set({ halted: 'yes' });

    const status = opsStatusSchema.parse((await call('GET', '/status')).json);
    expect(status.symbolHalts!.map((s) => s.symbol).sort()).toEqual(['AAPL', 'BTC/USD', 'MSFT']);
    expect(status.symbolHalts!.find((s) => s.symbol === 'MSFT')!.problem).toMatch(/malformed/);

    const r = await call('POST', '/symbols/AAPL/resume', { reason: 'news out' });
    expect(r.json).toMatchObject({ halted: false, changed: true });
    expect((await b.db.doc(`symbolHalts/AAPL/audit/${r.json.auditId}`).get()).data()).toMatchObject({ action: 'resume_symbol', before: { halted: true } });
    expect((await call('POST', '/symbols/aapl/halt', { reason: 'x' })).status).toBe(400);
    expect((await call('POST', '/symbols/AAPL/halt', {})).status).toBe(400);
    expect((await call('POST', '/symbols/AAPL/halt', { reason: 'x' }, issuer.mint('v', VIEWER))).status).toBe(403);
  });
});

describe('reduce-only posture', () => {
  it('POST /reduce-only sets it (status, audit with posture), /resume clears it, /halt overrides it', async () => {
    await b.db.doc('ops/killSwitch').set({ halted: false, reason: 'open', updatedBy: 'op' });
    const r = await call('POST', '/reduce-only', { reason: 'wind down' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ reduceOnly: true, posture: 'reduce_only', changed: true });
    const doc = (await b.db.doc('ops/killSwitch').get()).data()!;
    expect(doc).toMatchObject({ halted: false, reduceOnly: true, reason: 'wind down', updatedBy: 'op-alice', via: 'api' });
    const status = opsStatusSchema.parse((await call('GET', '/status')).json);
    expect(status.killSwitch).toMatchObject({ halted: false, reduceOnly: true, posture: 'reduce_only' });

    // The trigger records the posture change and tells the runners (posture event).
    const published: unknown[] = [];
    const out = await handleKillSwitchWrite(
      { db: b.db, cancelAllOpenOrders: async () => ({ kind: 'done', results: [] }), publishOpsEvent: async (e) => (published.push(e), 'm1'), cancelOpenOrdersOnHalt: true, clock: systemClock, log: memoryEventLogger() },
      { eventId: `ro-${Date.now()}`, before: { halted: false, reason: 'open' }, after: doc, eventTimeMs: Date.now() },
    );
    expect(out).toMatchObject({ transition: 'none', cancelAll: 'skipped', publish: 'done' });
    expect(published).toEqual([expect.objectContaining({ type: 'posture', halted: false, reduceOnly: true, posture: 'reduce_only', reason: 'wind down' })]);
    const audit = await call('GET', '/kill-switch/audit?limit=5');
    expect(audit.json.entries[0]).toMatchObject({ before: { state: 'active' }, after: { state: 'reduce_only' } });

    const resumed = await call('POST', '/resume', { reason: 'normal', force: true });
    expect(resumed.status).toBe(200);
    expect((await b.db.doc('ops/killSwitch').get()).get('reduceOnly')).toBeUndefined();
    await call('POST', '/reduce-only', { reason: 'again' });
    await call('POST', '/halt', { reason: 'stop' });
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: true });
    expect((await b.db.doc('ops/killSwitch').get()).get('reduceOnly')).toBeUndefined();
  });

  it('from halted, reduce-only is refused while a resume precondition is unmet, unless forced', async () => {
    await b.db.doc('ops/killSwitch').set({ halted: true, reason: 'x', updatedBy: 'op' });
    await b.db.doc('submissions/stuck-1').set({ state: 'unknown', intentId: 'stuck-1', updatedAt: Timestamp.fromMillis(Date.now() - 3_600_000) });
    const refused = await call('POST', '/reduce-only', { reason: 'partial' });
    expect(refused.status).toBe(409);
    expect((await b.db.doc('ops/killSwitch').get()).get('halted')).toBe(true);
    const forced = await call('POST', '/reduce-only', { reason: 'partial', force: true });
    expect(forced.status).toBe(200);
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, reduceOnly: true, forced: true });
  });
});

describe('HALT_CANCEL_SCOPE=haltgate', () => {
  it("a halt cancels haltgate's open orders one by one and leaves foreign orders open", async () => {
    const mine = await send({ strategyId: 'alpha' });
    const theirs = await send({ strategyId: 'beta' });
    const foreign = b.sim.addForeignOrder({ symbol: 'AAPL', client_order_id: 'manual-order-1', status: 'new', type: 'limit', limit_price: '1' } as never);
    const foreignUuid = b.sim.addForeignOrder({ symbol: 'MSFT', status: 'new', type: 'limit', limit_price: '1' } as never);
    await b.sim.idle();
    const cancelAllCalls: number[] = [];
    const c = { eventId: `h-${Date.now()}`, before: { halted: false, reason: 'open', updatedBy: 'a' }, after: { halted: true, reason: 'stop', updatedBy: 'op' }, eventTimeMs: Date.now() };
    const out = await handleKillSwitchWrite(
      {
        db: b.db,
        cancelAllOpenOrders: async () => (cancelAllCalls.push(1), { kind: 'done', results: [] }),
        cancelScope: 'haltgate',
        cancelOwnOpenOrders: () => cancelHaltgateOpenOrders({ db: b.db, broker, timeoutMs: 5000 }),
        publishOpsEvent: async () => 'm',
        cancelOpenOrdersOnHalt: true,
        clock: systemClock,
        log: memoryEventLogger(),
      },
      c,
    );
    expect(out.cancelAll).toBe('done');
    expect(cancelAllCalls).toEqual([]);
    const byId = new Map(b.sim.orders().map((o) => [o.id, o.status]));
    expect(byId.get(String(mine.brokerOrderId))).toBe('canceled');
    expect(byId.get(String(theirs.brokerOrderId))).toBe('canceled');
    expect(byId.get(foreign.id)).not.toBe('canceled');
    expect(byId.get(foreignUuid.id)).not.toBe('canceled');
    expect(b.sim.requestLog.some((r) => r.method === 'DELETE' && r.path === '/v2/orders')).toBe(false);
    const audit = (await b.db.doc(`ops/killSwitch/audit/${c.eventId}`).get()).data()!;
    expect(audit.cancelAll).toMatchObject({ state: 'done', scope: 'haltgate', cancelled: 2, failed: 0 });
  });
});

describe('dead-man switch: cancel once', () => {
  it("a silent runner's strategy gets exactly its own open orders cancelled, once per silence", async () => {
    const a1 = await send({ strategyId: 'alpha' });
    const a2 = await send({ strategyId: 'alpha', symbol: 'MSFT' });
    const b1 = await send({ strategyId: 'beta' });
    const foreign = b.sim.addForeignOrder({ symbol: 'AAPL', client_order_id: 'manual-2', status: 'new', type: 'limit', limit_price: '1' } as never);
    await b.sim.idle();
    const silentAt = Date.now() - 60_000;
    await b.db.doc('strategies/alpha').set({ limits: { maxRunnerSilenceMs: 30_000 } }, { merge: true });
    await b.db.doc('strategies/beta').set({ limits: { maxRunnerSilenceMs: 30_000 } }, { merge: true });
    await b.db.doc('runners/alpha').set({ state: 'running', lastSeenAt: Timestamp.fromMillis(silentAt) });
    await b.db.doc('runners/beta').set({ state: 'running', lastSeenAt: Timestamp.now() });
    const deps = { db: b.db, broker, brokerTimeoutMs: 5000, clock: systemClock, log: memoryEventLogger() };
    const deletes = () => b.sim.requestLog.filter((r) => r.method === 'DELETE').map((r) => r.path);

    const first = await handleRunnerWatch(deps);
    expect(first.strategies.find((s) => s.strategyId === 'alpha')).toMatchObject({ stale: true, action: 'cancelled', cancelled: 2 });
    expect(first.strategies.find((s) => s.strategyId === 'beta')).toMatchObject({ stale: false, action: 'none' });
    const status = new Map(b.sim.orders().map((o) => [o.id, o.status]));
    expect(status.get(String(a1.brokerOrderId))).toBe('canceled');
    expect(status.get(String(a2.brokerOrderId))).toBe('canceled');
    expect(status.get(String(b1.brokerOrderId))).not.toBe('canceled');
    expect(status.get(foreign.id)).not.toBe('canceled');
    expect(deletes().sort()).toEqual([`/v2/orders/${String(a1.brokerOrderId)}`, `/v2/orders/${String(a2.brokerOrderId)}`].sort());
    expect((await b.db.doc('strategies/alpha').get()).get('runnerWatch')).toMatchObject({ episode: String(silentAt), state: 'done', cancelled: 2 });

    // The same silence again: nothing more is cancelled, not even a new order of alpha's.
    const later = await send({ strategyId: 'alpha', symbol: 'TSLA' });
    expect(later.state).toBe('refused'); // runner_stale (the claim's side)
    const second = await handleRunnerWatch(deps);
    expect(second.strategies.find((s) => s.strategyId === 'alpha')).toMatchObject({ action: 'already_done' });
    expect(deletes()).toHaveLength(2);

    // The runner comes back, alpha trades, then falls silent again: a new episode, cancelled again.
    await b.db.doc('runners/alpha').set({ state: 'running', lastSeenAt: Timestamp.now() });
    const a3 = await send({ strategyId: 'alpha', symbol: 'NVDA' });
    expect(a3.state).toBe('submitted');
    await b.sim.idle();
    const silentAgain = Date.now() - 45_000;
    await b.db.doc('runners/alpha').set({ state: 'running', lastSeenAt: Timestamp.fromMillis(silentAgain) });
    const third = await handleRunnerWatch(deps);
    expect(third.strategies.find((s) => s.strategyId === 'alpha')).toMatchObject({ action: 'cancelled', cancelled: 1, episode: String(silentAgain) });
    expect(new Map(b.sim.orders().map((o) => [o.id, o.status])).get(String(a3.brokerOrderId))).toBe('canceled');
    expect(new Map(b.sim.orders().map((o) => [o.id, o.status])).get(String(b1.brokerOrderId))).not.toBe('canceled');
    await sleep(0);
  });
});
