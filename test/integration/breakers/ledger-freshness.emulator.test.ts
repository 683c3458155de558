/**
 * A fills ledger that cannot freeze (issue 10), through the exported `syncFills` and
 * `executeIntent` against the official Firestore emulator and the Alpaca simulator:
 * - a foreign multi-leg order, manual and crypto trades and an unreadable fill do not stop the
 *   ledger; the unreadable fill of haltgate's order is quarantined, its strategy's P&L breakers
 *   refuse (`breaker:ledgerIncomplete`) until an operator resolves it;
 * - a ledger that never synced, or stopped syncing, refuses P&L-guarded strategies
 *   (`breaker:ledgerStale`, not latched) and recovers with the next successful sync; the ops
 *   status shows its age;
 * - more than 500 orders in the window: the fill of a haltgate order whose outcome was lost is
 *   found on a later page of the order list (and fills are paged past 100).
 *
 * `syncFills` is an `onSchedule` function: its handler is invoked through `.run` (what Cloud
 * Scheduler's POST reaches after the HTTP wrapper, which only reads two headers).
 */
import { Timestamp } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../../functions/src/config.js';
import { executeIntent, syncFills } from '../../../functions/src/index.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { readOpsStatus } from '../../../functions/src/ops/status-reader.js';
import { FILLS_CURSOR_PATH, FILLS_QUARANTINE } from '../../../functions/src/store/paths.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';
import { markLedgerSynced } from '../../support/ledger.js';

let b: TestBackends;
const S = 'pnl-guarded';
const OTHER = 'pnl-guarded-too';
const PLAIN = 'no-pnl-breakers';

async function send(intent: OrderIntent): Promise<Record<string, unknown>> {
  await deliveryError((executeIntent as unknown as (e: unknown) => Promise<unknown>)(pubsubCloudEvent(intent)));
  return (await b.db.doc(`submissions/${intent.intentId}`).get()).data() ?? {};
}

const buy = (strategyId: string, qty = 1, limitPrice = 100) => makeIntent({ strategyId, side: 'buy', qty, type: 'limit', limitPrice });

async function runSyncFills(): Promise<void> {
  await b.sim.idle();
  await (syncFills as unknown as { run: (e: unknown) => Promise<unknown> }).run({ scheduleTime: new Date().toISOString(), jobName: 'syncFills' });
}

async function ledgerDoc(): Promise<Record<string, unknown>> {
  return (await b.db.doc(FILLS_CURSOR_PATH).get()).data() ?? {};
}

async function ledgerStatus() {
  // The reader's own configuration: this process's executeIntent reported its own once, in an
  // earlier test, and b.reset() cleared that report.
  const status = await readOpsStatus({ db: b.db, nowMs: Date.now(), config: loadRuntimeConfig(process.env), haltedParam: undefined, instance: { instanceId: 't', shuttingDown: false, shutdownReason: null, inflight: 0 } });
  return status.ledger!;
}

async function latchedBreakers(id: string) {
  return (await b.db.doc(`strategies/${id}`).get()).data()?.breakers ?? {};
}

beforeAll(async () => {
  b = await startTestBackends();
});
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  delete process.env.CB_LEDGER_MAX_AGE_MS;
  process.env.ALPACA_BASE_URL = b.sim.url;
  await b.db.doc(`strategies/${S}`).set({ limits: { maxConsecutiveLosses: 3 } });
  await b.db.doc(`strategies/${OTHER}`).set({ limits: { maxDailyLoss: 1000 } });
});

describe('a stale ledger refuses P&L-guarded strategies and recovers', () => {
  it('a fresh deployment (never synced) refuses them until the first successful syncFills; other strategies trade', async () => {
    const refused = await send(buy(S));
    expect(refused).toMatchObject({ state: 'refused', reason: 'breaker:ledgerStale', detail: expect.stringMatching(/never synced successfully/) });
    expect(await send(buy(OTHER))).toMatchObject({ state: 'refused', reason: 'breaker:ledgerStale' });
    expect(await send(buy(PLAIN))).toMatchObject({ state: 'submitted' });
    expect(await ledgerStatus()).toMatchObject({ lastSuccessAt: null, ageMs: null, stale: true, problem: 'never synced successfully' });

    await runSyncFills();
    const doc = await ledgerDoc();
    expect(doc.lastSuccessAt).toBeInstanceOf(Timestamp);
    expect(doc.lastError).toBeNull();
    // Not latched: nothing to reset, the strategy trades as soon as the ledger is current.
    expect(await latchedBreakers(S)).toEqual({});
    expect(await send(buy(S))).toMatchObject({ state: 'submitted' });
    expect(await send(buy(OTHER))).toMatchObject({ state: 'submitted' });
  });

  it('older than CB_LEDGER_MAX_AGE_MS refuses; a failing sync keeps it stale (and says why); the next good one recovers; the status shows the age', async () => {
    process.env.CB_LEDGER_MAX_AGE_MS = '60000';
    await markLedgerSynced(b.db, Date.now() - 120_000);

    const refused = await send(buy(S));
    expect(refused).toMatchObject({ state: 'refused', reason: 'breaker:ledgerStale', detail: expect.stringMatching(/more than CB_LEDGER_MAX_AGE_MS \(60000 ms\)/) });
    const stale = await ledgerStatus();
    expect(stale.stale).toBe(true);
    expect(stale.ageMs).toBeGreaterThan(119_000);

    // The broker cannot be reached: the run fails, records why, and the ledger ages on.
    process.env.ALPACA_BASE_URL = 'http://127.0.0.1:1';
    await runSyncFills();
    const failed = await ledgerDoc();
    expect(failed.lastError).toMatch(/listing fills failed/);
    expect((failed.lastSuccessAt as Timestamp).toMillis()).toBeLessThan(Date.now() - 119_000);
    expect(await send(buy(S))).toMatchObject({ state: 'refused', reason: 'breaker:ledgerStale' });
    expect(await ledgerStatus()).toMatchObject({ stale: true, lastError: expect.stringMatching(/listing fills failed/), lastFailureAt: expect.any(String) });

    process.env.ALPACA_BASE_URL = b.sim.url;
    await runSyncFills();
    const current = await ledgerStatus();
    expect(current).toMatchObject({ stale: false, lastError: null, maxAgeMs: 60_000 });
    expect(current.ageMs).toBeGreaterThanOrEqual(-1_000);
    expect(current.ageMs).toBeLessThan(30_000);
    expect(await send(buy(S))).toMatchObject({ state: 'submitted' });
    expect(await latchedBreakers(S)).toEqual({});
  });

  it('a malformed sync state fails closed', async () => {
    await b.db.doc(FILLS_CURSOR_PATH).set({ sinceMs: Date.now(), lastSuccessAt: 'yesterday' });
    expect(await send(buy(S))).toMatchObject({ state: 'refused', reason: 'breaker:ledgerStale', detail: expect.stringMatching(/lastSuccessAt is not a timestamp/) });
    expect(await send(buy(PLAIN))).toMatchObject({ state: 'submitted' });
  });
});

describe('odd orders and an unreadable fill do not stop the ledger', () => {
  it('a foreign multi-leg order, manual and crypto trades are set aside; an unreadable fill of ours is quarantined and refuses only its strategy until resolved', async () => {
    await runSyncFills();
    const opened = await send(buy(S, 10, 100));
    expect(opened).toMatchObject({ state: 'submitted' });
    await b.sim.idle();
    const ourOrderId = opened.brokerOrderId as string;

    // Things haltgate did not place, all filled.
    b.sim.addForeignOrder({
      order_class: 'mleg',
      status: 'filled',
      legs: [
        { symbol: 'AAPL270115C00200000', side: 'buy', ratio_qty: '1', asset_class: 'us_option' },
        { symbol: 'AAPL270115C00210000', side: 'sell', ratio_qty: '1', asset_class: 'us_option' },
      ],
      fill_price: 2.5,
    });
    const manual = b.sim.addForeignOrder({ client_order_id: '2f1d1b9e-6a0c-4c43-9a0e-1d4f2b3c4d5e', symbol: 'MSFT', side: 'buy', qty: '3', status: 'filled' });
    b.sim.addForeignOrder({ client_order_id: 'web-crypto-1', symbol: 'BTC/USD', asset_class: 'crypto', side: 'buy', qty: '0.000123456', status: 'filled', fill_price: 60_000 });
    const now = new Date().toISOString();
    // A fill of our order the ledger cannot read (no price), and an unreadable one of the manual trade.
    b.sim.addRawFill({ activity_type: 'FILL', id: 'raw-ours-1', order_id: ourOrderId, symbol: 'AAPL', side: 'sell', qty: '4', price: null, transaction_time: now, type: 'partial_fill' });
    b.sim.addRawFill({ activity_type: 'FILL', id: 'raw-manual-1', order_id: manual.id, symbol: 'MSFT', side: 'buy', qty: '1', price: 'n/a', transaction_time: now, type: 'fill' });

    await runSyncFills();
    const doc = await ledgerDoc();
    expect(doc.lastError).toBeNull();
    expect(doc.lastRun).toMatchObject({ applied: 1, quarantined: 1, newlyQuarantined: 1 });
    expect((doc.lastRun as { ignored: number }).ignored).toBeGreaterThanOrEqual(4); // 2 legs, MSFT, BTC, the unreadable MSFT fill
    expect(doc.quarantine).toEqual({ byStrategy: { [S]: 1 }, unattributed: 0, truncated: false });
    // Our readable fill was applied.
    expect((await b.db.collection(`strategies/${S}/fills`).get()).docs.map((d) => d.get('orderId'))).toEqual([ourOrderId]);
    // The unreadable one is kept with its reason.
    const entry = (await b.db.doc(`${FILLS_QUARANTINE}/raw-ours-1`).get()).data();
    expect(entry).toMatchObject({ open: true, fillId: 'raw-ours-1', orderId: ourOrderId, strategyId: S, intentId: opened.intentId, reason: expect.stringMatching(/price/) });
    expect(JSON.parse(entry!.raw as string)).toMatchObject({ id: 'raw-ours-1', price: null });
    expect((await b.db.collection(FILLS_QUARANTINE).get()).size).toBe(1);

    const status = await ledgerStatus();
    expect(status.quarantine).toMatchObject({ open: 1, byStrategy: { [S]: 1 }, recent: [expect.objectContaining({ id: 'raw-ours-1', strategyId: S })] });

    // Its P&L may be incomplete: refused, not latched; another P&L-guarded strategy trades.
    expect(await send(buy(S))).toMatchObject({ state: 'refused', reason: 'breaker:ledgerIncomplete', detail: expect.stringMatching(/quarantined/) });
    expect(await latchedBreakers(S)).toEqual({});
    expect(await send(buy(OTHER))).toMatchObject({ state: 'submitted' });

    // A later run re-reads the overlap: the entry is not duplicated nor reopened.
    await runSyncFills();
    expect((await ledgerDoc()).lastRun).toMatchObject({ quarantined: 1, newlyQuarantined: 0 });

    // The operator resolves it; the next run takes it out of the sync state.
    await b.db.doc(`${FILLS_QUARANTINE}/raw-ours-1`).update({ open: false, resolution: 'checked in the Alpaca dashboard', resolvedBy: 'ops@test' });
    expect(await send(buy(S))).toMatchObject({ state: 'refused', reason: 'breaker:ledgerIncomplete' });
    await runSyncFills();
    expect((await ledgerDoc()).quarantine).toEqual({ byStrategy: {}, unattributed: 0, truncated: false });
    expect((await b.db.doc(`${FILLS_QUARANTINE}/raw-ours-1`).get()).get('open')).toBe(false);
    expect(await send(buy(S))).toMatchObject({ state: 'submitted' });
  });
});

describe('more than 500 orders in the window', () => {
  it('the fill of a haltgate order whose outcome was lost is found on a later page of the order list', async () => {
    await runSyncFills();
    const start = Date.now() - 10 * 60_000;
    // 650 manual trades in the last ten minutes, filled: 6 full pages of fills too.
    for (let i = 0; i < 650; i++) {
      const t = new Date(start + i * 500).toISOString();
      b.sim.addForeignOrder({ client_order_id: `manual-${i}`, symbol: 'MSFT', side: 'buy', qty: '1', status: 'filled', submitted_at: t, created_at: t, updated_at: t, filled_at: t });
    }
    // Ours, placed after all of them; the answer is lost, so the record holds no broker order id.
    b.sim.faults.next(['lost_response']);
    const lost = await send(buy(PLAIN, 2, 100));
    expect(lost).toMatchObject({ state: 'unknown', brokerOrderId: null });
    await b.sim.idle();
    const ours = b.sim.orders().find((o) => o.client_order_id === lost.clientOrderId);
    expect(ours?.status).toBe('filled');

    const before = b.sim.requestLog.length;
    await runSyncFills();
    const doc = await ledgerDoc();
    expect(doc.lastError).toBeNull();
    expect(doc.lastRun).toMatchObject({ applied: 1, ignored: 650 });
    expect((doc.lastRun as { pages: number }).pages).toBeGreaterThanOrEqual(7);
    const fills = await b.db.collection(`strategies/${PLAIN}/fills`).get();
    expect(fills.docs.map((d) => [d.get('orderId'), d.get('intentId'), d.get('qty')])).toEqual([[ours!.id, lost.intentId, '2']]);
    // The order list was read past its first page of 500.
    const orderPages = b.sim.requestLog.slice(before).filter((r) => r.method === 'GET' && r.path === '/v2/orders');
    expect(orderPages.length).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
