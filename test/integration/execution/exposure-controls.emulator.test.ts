/**
 * Exposure controls (issue 11) through the exported functions — `executeIntent` (whole
 * CloudEvents), `syncFills` and `syncOrders` (their scheduled handlers) — against the official
 * Firestore emulator and the Alpaca simulator over HTTP, in paper mode:
 * the exposure ledger `strategies/{id}/exposure/{symbol}` (pending from the claim, position
 * from fills, the unfilled rest released once), the reduce-only posture, the position limit
 * under concurrent claims, per-symbol halts and the dead-man switch's refusal.
 */
import { FieldValue, Timestamp } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeIntent, syncFills, syncOrders } from '../../../functions/src/index.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';
import { markLedgerSynced } from '../../support/ledger.js';

let b: TestBackends;
const S = 'strat-x';
let n = 0;

const deliver = (intent: OrderIntent) => deliveryError((executeIntent as unknown as (e: unknown) => Promise<unknown>)(pubsubCloudEvent(intent)));
const scheduled = (fn: unknown, jobName: string) => (fn as { run: (e: unknown) => Promise<unknown> }).run({ scheduleTime: new Date().toISOString(), jobName });

async function send(over: Partial<OrderIntent>): Promise<Record<string, unknown>> {
  n += 1;
  const intent = makeIntent({ intentId: `exp-${n}`, strategyId: S, symbol: 'AAPL', type: 'limit', limitPrice: 100, qty: 1, ...over });
  await deliver(intent);
  return (await b.db.doc(`submissions/${intent.intentId}`).get()).data() ?? {};
}
const exposure = async (symbol = 'AAPL', strategyId = S) => (await b.db.doc(`strategies/${strategyId}/exposure/${symbol}`).get()).data();
const seedExposure = (position: string, pendingBuy = '0', pendingSell = '0', symbol = 'AAPL', lastPrice: string | null = '100') =>
  b.db.doc(`strategies/${S}/exposure/${symbol}`).set({ position, pendingBuy, pendingSell, lastPrice, updatedAt: FieldValue.serverTimestamp() });
const reduceOnly = () => b.db.doc('ops/killSwitch').set({ halted: false, reduceOnly: true, reason: 'wind down', updatedBy: 'test' });
const limits = (l: Record<string, unknown>) => b.db.doc(`strategies/${S}`).set({ limits: l }, { merge: true });

beforeAll(async () => {
  b = await startTestBackends();
});
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  await markLedgerSynced(b.db);
  b.sim.faults.set({ fillMode: 'none' });
});

describe('the exposure ledger', () => {
  it('a claim makes its quantity pending; fills move it into the position; a cancel releases the unfilled rest once', async () => {
    const r = await send({ side: 'buy', qty: 10 });
    expect(r.state).toBe('submitted');
    expect(await exposure()).toMatchObject({ position: '0', pendingBuy: '10', pendingSell: '0', lastPrice: '100' });

    const orderId = String(r.brokerOrderId);
    await b.sim.idle();
    b.sim.fill(orderId, { qty: 4, price: 99.5 });
    await scheduled(syncFills, 'syncFills');
    expect(await exposure()).toMatchObject({ position: '4', pendingBuy: '6', lastPrice: '99.5' });

    // The rest is cancelled at the broker: syncOrders sees the final view and releases 6.
    const cancel = await fetch(`${b.sim.url}/v2/orders/${orderId}`, { method: 'DELETE', headers: { 'APCA-API-KEY-ID': b.sim.keyId, 'APCA-API-SECRET-KEY': b.sim.secretKey } });
    expect(cancel.status).toBeLessThan(300);
    await scheduled(syncOrders, 'syncOrders');
    expect((await b.db.doc(`submissions/${String(r.intentId)}`).get()).get('order')).toMatchObject({ status: 'canceled', filledQty: '4', final: true });
    expect(await exposure()).toMatchObject({ position: '4', pendingBuy: '0' });
    // Again: nothing moves twice.
    await scheduled(syncOrders, 'syncOrders');
    await scheduled(syncFills, 'syncFills');
    expect(await exposure()).toMatchObject({ position: '4', pendingBuy: '0', pendingSell: '0' });
  });

  it('an order the broker refuses releases its pending quantity with the rejection', async () => {
    b.sim.faults.next(['insufficient_buying_power']);
    const r = await send({ side: 'sell', qty: 3 });
    expect(r.state).toBe('rejected');
    expect(await exposure()).toMatchObject({ position: '0', pendingSell: '0' });
  });

  it('dry_run claims keep no pending exposure (nothing will fill)', async () => {
    process.env.EXECUTION_MODE = 'dry_run';
    try {
      expect((await send({ qty: 5 })).state).toBe('dry_run');
    } finally {
      process.env.EXECUTION_MODE = 'paper';
    }
    expect(await exposure()).toBeUndefined();
  });

  it('a corrupt exposure document refuses the symbol (config_invalid), others trade', async () => {
    await seedExposure('ten');
    expect(await send({})).toMatchObject({ state: 'refused', reason: 'config_invalid', detail: expect.stringContaining('exposure/AAPL is unreadable') });
    expect((await send({ symbol: 'MSFT' })).state).toBe('submitted');
  });
});

describe('reduce-only posture', () => {
  it('a flat strategy opens nothing, on either side; nothing reaches the broker', async () => {
    await reduceOnly();
    expect(await send({ side: 'buy' })).toMatchObject({ state: 'refused', reason: 'reduce_only', detail: expect.stringContaining('flat') });
    expect(await send({ side: 'sell' })).toMatchObject({ state: 'refused', reason: 'reduce_only' });
    expect(b.sim.orders()).toEqual([]);
  });

  it('long 10 with a pending sell of 6 may sell 4, not 5; a buy would grow it', async () => {
    await seedExposure('10', '0', '6');
    await reduceOnly();
    expect(await send({ side: 'sell', qty: 5 })).toMatchObject({ state: 'refused', reason: 'reduce_only', detail: expect.stringContaining('at most 4') });
    expect(await send({ side: 'buy', qty: 1 })).toMatchObject({ state: 'refused', reason: 'reduce_only', detail: expect.stringContaining('grow') });
    expect((await send({ side: 'sell', qty: 4 })).state).toBe('submitted');
    expect(await exposure()).toMatchObject({ position: '10', pendingSell: '10' });
    // Nothing left to reduce until something fills or dies.
    expect(await send({ side: 'sell', qty: 1 })).toMatchObject({ state: 'refused', reason: 'reduce_only' });
    expect(b.sim.orders().map((o) => [o.side, o.qty])).toEqual([['sell', '4']]);
  });

  it('a reduceOnly that is not a boolean halts', async () => {
    await b.db.doc('ops/killSwitch').set({ halted: false, reduceOnly: 'yes' });
    expect(await send({})).toMatchObject({ state: 'refused', reason: 'halted' });
  });
});

describe('position limit', () => {
  it('two concurrent claims against one remaining unit: exactly one passes, the other trips the latched breaker', async () => {
    await limits({ maxPositionQty: 10 });
    await seedExposure('9');
    const [x, y] = await Promise.all([send({ side: 'buy', qty: 1 }), send({ side: 'buy', qty: 1 })]);
    const states = [x.state, y.state].sort();
    expect(states).toEqual(['refused', 'submitted']);
    expect([x, y].find((r) => r.state === 'refused')).toMatchObject({ reason: 'breaker:position' });
    expect(b.sim.orders()).toHaveLength(1);
    expect(await exposure()).toMatchObject({ position: '9', pendingBuy: '1' });
    expect((await b.db.doc(`strategies/${S}`).get()).get('breakers.position')).toMatchObject({ tripped: true, breaker: 'position', threshold: 10 });
  });

  it('gross exposure values the other symbols at their last price; without one it refuses', async () => {
    await limits({ maxGrossExposure: 2_000 });
    await seedExposure('-5', '0', '0', 'MSFT', '200');
    expect((await send({ qty: 10, limitPrice: 100 })).state).toBe('submitted');
    await b.db.doc(`strategies/${S}`).update({ breakers: {} });
    expect(await send({ qty: 1, limitPrice: 100 })).toMatchObject({ state: 'refused', reason: 'breaker:grossExposure' });
    await b.db.doc(`strategies/${S}`).update({ breakers: {} });
    await seedExposure('1', '0', '0', 'TSLA', null);
    expect(await send({ symbol: 'SPY', qty: 1 })).toMatchObject({ state: 'refused', reason: 'breaker:grossExposure', detail: expect.stringContaining('TSLA') });
  });
});

describe('per-symbol halt', () => {
  it('halts one symbol for every strategy; malformed halts; missing or halted: false trades', async () => {
    await b.db.doc('symbolHalts/AAPL').set({ halted: true, reason: 'news pending', updatedBy: 'ops' });
    expect(await send({})).toMatchObject({ state: 'refused', reason: 'symbol_halted', detail: expect.stringContaining('news pending') });
    expect(await send({ strategyId: 'other' })).toMatchObject({ state: 'refused', reason: 'symbol_halted' });
    expect((await send({ symbol: 'MSFT' })).state).toBe('submitted');
    await b.db.doc('symbolHalts/AAPL').set({ halted: 'no' });
    expect(await send({})).toMatchObject({ state: 'refused', reason: 'symbol_halted', detail: expect.stringContaining('malformed') });
    await b.db.doc('symbolHalts/AAPL').set({ halted: false });
    expect((await send({})).state).toBe('submitted');
    await b.db.doc('symbolHalts/BTC_USD').set({ halted: true });
    expect(await send({ symbol: 'BTC/USD' })).toMatchObject({ state: 'refused', reason: 'symbol_halted' });
  });
});

describe('dead-man switch (refusal)', () => {
  it('with limits.maxRunnerSilenceMs, a strategy whose runner is silent is refused runner_stale', async () => {
    await limits({ maxRunnerSilenceMs: 30_000 });
    expect(await send({})).toMatchObject({ state: 'refused', reason: 'runner_stale', detail: expect.stringContaining('no runner heartbeat') });
    await b.db.doc(`runners/${S}`).set({ runnerId: S, state: 'running', lastSeenAt: FieldValue.serverTimestamp() });
    expect((await send({})).state).toBe('submitted');
    await b.db.doc(`runners/${S}`).set({ runnerId: S, state: 'running', lastSeenAt: Timestamp.fromMillis(Date.now() - 60_000) });
    expect(await send({})).toMatchObject({ state: 'refused', reason: 'runner_stale' });
    // Other strategies have no dead-man switch.
    expect((await send({ strategyId: 'other' })).state).toBe('submitted');
  });
});
