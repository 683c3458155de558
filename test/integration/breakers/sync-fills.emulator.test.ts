/**
 * The fills ledger end to end: orders go through the exported `executeIntent` to the Alpaca
 * simulator (partial fills), `handleSyncFills` folds the broker's fills into FIFO lots and
 * realized P&L, and the consecutiveLosses breaker trips on the next intent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeIntent } from '../../../functions/src/index.js';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import { systemClock } from '../../../functions/src/domain/clock.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { handleSyncFills } from '../../../functions/src/reconcile/sync-fills.js';
import { createFirestoreFillsStore } from '../../../functions/src/store/fills-store.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';

let b: TestBackends;
const S = 'fills-strat';

async function send(intent: OrderIntent): Promise<Record<string, unknown>> {
  await deliveryError((executeIntent as unknown as (e: unknown) => Promise<unknown>)(pubsubCloudEvent(intent)));
  // The simulator fills after its answer, as Alpaca does: let the order run its course, so each
  // round trip's fills land in order (a buy filled before its sell).
  await b.sim.idle();
  return (await b.db.doc(`submissions/${intent.intentId}`).get()).data() ?? {};
}

function order(side: 'buy' | 'sell', qty: number, limitPrice: number): OrderIntent {
  return makeIntent({ strategyId: S, side, qty, type: 'limit', limitPrice });
}

function sync() {
  return handleSyncFills({
    store: createFirestoreFillsStore(b.db, { clock: systemClock }),
    // Pages of 3 fills: the run must read every page before applying any.
    broker: createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'alpaca-sim', fillsPageSize: 3 }),
    clock: systemClock,
    log: memoryEventLogger(),
    timeZone: 'America/New_York',
    brokerTimeoutMs: 2000,
  });
}

async function stats() {
  return (await b.db.doc(`strategies/${S}`).get()).data()?.stats;
}

beforeAll(async () => {
  b = await startTestBackends();
});
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  b.sim.faults.set({ fillMode: 'partial' });
});

describe('syncFills', () => {
  it('partial fills of a losing close are one realized event; two in a row trip consecutiveLosses', async () => {
    await b.db.doc(`strategies/${S}`).set({ limits: { maxConsecutiveLosses: 2 } });
    // A P&L-guarded strategy trades only on a ledger that has synced (breaker:ledgerStale).
    await sync();
    // Round trip 1: buy 10 @ 100, sell 10 @ 95 (each filled in two partials) → −50.
    expect((await send(order('buy', 10, 100))).state).toBe('submitted');
    expect((await send(order('sell', 10, 95))).state).toBe('submitted');
    // A fill of an order that is not haltgate's is ignored.
    const foreign = createAlpacaBroker({ baseUrl: b.sim.url, keyId: b.sim.keyId, secretKey: b.sim.secretKey, name: 'other' });
    await foreign.submitOrder({ clientOrderId: 'not-haltgate-1', symbol: 'AAPL', side: 'buy', qty: 2, type: 'market', timeInForce: 'day' }, { timeoutMs: 2000 });
    await b.sim.idle();
    expect(b.sim.fills()).toHaveLength(6);

    const first = await sync();
    expect(first).toMatchObject({ fetched: 6, applied: 4, ignored: 2, realizedEvents: 2 });
    let s = await stats();
    expect(s.recentRealized).toHaveLength(1);
    expect(s.recentRealized[0].pnlMicros).toBe(-50_000_000);
    expect(s.daily.realizedMicros).toBe(-50_000_000);
    expect((await b.db.doc(`strategies/${S}/positions/AAPL`).get()).data()).toEqual({ symbol: 'AAPL', lots: [] });
    expect((await b.db.collection(`strategies/${S}/fills`).get()).size).toBe(4);
    expect((await b.db.collection(`strategies/${S}/pnl`).get()).size).toBe(2);

    // Idempotent: a second run over the same fills changes nothing.
    const again = await sync();
    expect(again).toMatchObject({ applied: 0, realizedEvents: 0 });
    expect(await stats()).toEqual(s);

    // One loss is not two: the strategy still trades. Round trip 2: buy 4 @ 50, sell 4 @ 49.
    expect((await send(order('buy', 4, 50))).state).toBe('submitted');
    expect((await send(order('sell', 4, 49))).state).toBe('submitted');
    const second = await sync();
    expect(second).toMatchObject({ applied: 4, realizedEvents: 2 });
    s = await stats();
    expect(s.recentRealized.map((e: { pnlMicros: number }) => e.pnlMicros)).toEqual([-50_000_000, -4_000_000]);

    const refused = await send(order('buy', 1, 50));
    expect(refused).toMatchObject({ state: 'refused', reason: 'breaker:consecutiveLosses' });
    expect((await b.db.doc(`strategies/${S}`).get()).data()?.breakers?.consecutiveLosses).toMatchObject({ value: 2, threshold: 2 });
  });

  it('a break-even close is not a loss and ends the streak', async () => {
    await b.db.doc(`strategies/${S}`).set({ limits: { maxConsecutiveLosses: 2 } });
    await sync();
    for (const [buy, sell] of [
      [100, 90],
      [100, 100],
      [100, 90],
    ] as const) {
      expect((await send(order('buy', 2, buy))).state).toBe('submitted');
      expect((await send(order('sell', 2, sell))).state).toBe('submitted');
    }
    await sync();
    expect((await stats()).recentRealized.map((e: { pnlMicros: number }) => e.pnlMicros)).toEqual([-20_000_000, 0, -20_000_000]);
    expect((await send(order('buy', 1, 50))).state).toBe('submitted');
  });
});
