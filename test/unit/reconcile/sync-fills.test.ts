import { describe, expect, it } from 'vitest';
import type { Broker, BrokerFill, BrokerOrder, UnreadableItem } from '../../../functions/src/broker/broker.js';
import { createDryRunBroker } from '../../../functions/src/broker/dry-run.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { FILLS_OVERLAP_MS, handleSyncFills, MAX_FILL_PAGES } from '../../../functions/src/reconcile/sync-fills.js';
import type { FillsStore, OwnedFill, QuarantineEntry } from '../../../functions/src/store/fills-store.js';

const NOW = Date.parse('2026-03-10T15:00:00Z');

function fill(id: string, orderId: string, atMs: number, side = 'buy'): BrokerFill {
  return { id, orderId, symbol: 'AAPL', side, qty: '1', price: '10', transactionTime: new Date(atMs).toISOString() };
}

function order(id: string, clientOrderId: string, over: Partial<BrokerOrder> = {}): BrokerOrder {
  const t = new Date(NOW - 10_000).toISOString();
  return { id, clientOrderId, status: 'filled', symbol: 'AAPL', side: 'buy', qty: '1', filledQty: '1', filledAvgPrice: '10', type: 'market', limitPrice: null, submittedAt: t, createdAt: t, ...over };
}

function fakeStore(cursor: number | null, clientOrderOwners: Record<string, string> = {}) {
  const applied: OwnedFill[][] = [];
  const successes: Array<{ cursorMs: number; run: Record<string, number> }> = [];
  const failures: string[] = [];
  const quarantined: QuarantineEntry[] = [];
  const cidLookups: string[] = [];
  const store: FillsStore = {
    readCursor: async () => cursor,
    recordSyncSuccess: async (input) => {
      successes.push(input);
      const byStrategy: Record<string, number> = {};
      let unattributed = 0;
      for (const q of quarantined) {
        if (q.strategyId === null) unattributed += 1;
        else byStrategy[q.strategyId] = (byStrategy[q.strategyId] ?? 0) + 1;
      }
      return { byStrategy, unattributed, truncated: false };
    },
    recordSyncFailure: async (m) => void failures.push(m),
    quarantineFills: async (entries) => {
      quarantined.push(...entries);
      return entries.length;
    },
    ownerByBrokerOrderId: async (orderId) => (orderId.startsWith('hg-') ? { strategyId: 's1', intentId: `i-${orderId}` } : null),
    ownerByClientOrderId: async (cid) => {
      cidLookups.push(cid);
      const strategyId = clientOrderOwners[cid];
      return strategyId === undefined ? null : { strategyId, intentId: cid };
    },
    applyFills: async (_s, fills) => {
      applied.push([...fills]);
      return { applied: fills.length, skipped: 0, realizedEvents: 0 };
    },
  };
  return { store, applied, successes, failures, quarantined, cidLookups };
}

type Page = { items: BrokerFill[]; unreadable?: UnreadableItem[] };

function pagedBroker(pages: Page[], seen: Array<{ since: Date; pageToken?: string }> = [], orders: { items: BrokerOrder[]; unreadable?: UnreadableItem[] } = { items: [] }): Broker {
  return {
    ...createDryRunBroker({ clock: fixedClock(NOW) }),
    listFills: async (q) => {
      seen.push(q);
      const i = q.pageToken === undefined ? 0 : Number(q.pageToken);
      const page = pages[i] ?? { items: [] };
      const base = { kind: 'ok' as const, items: page.items, ...(page.unreadable ? { unreadable: page.unreadable } : {}) };
      return i + 1 < pages.length ? { ...base, nextPageToken: String(i + 1) } : base;
    },
    listOrders: async () => ({ kind: 'ok', items: orders.items, ...(orders.unreadable ? { unreadable: orders.unreadable } : {}) }),
  };
}

const deps = (store: FillsStore, broker: Broker) => ({ store, broker, clock: fixedClock(NOW), log: memoryEventLogger(), timeZone: 'America/New_York', brokerTimeoutMs: 1000 });

const unreadableFill = (id: string | null, orderId: string | null, atMs: number, reason = 'unreadable fill: price: Invoked'): UnreadableItem => ({
  id,
  clientOrderId: null,
  orderId,
  time: new Date(atMs).toISOString(),
  reason,
  raw: { id, order_id: orderId, price: null },
});

describe('handleSyncFills', () => {
  it('reads every page, then applies in compareFills order; foreign fills are ignored; the cursor moves to the newest fill', async () => {
    const { store, applied, successes } = fakeStore(NOW - 60_000);
    const seen: Array<{ since: Date; pageToken?: string }> = [];
    const pages = [{ items: [fill('f3', 'hg-1', NOW - 1000), fill('x1', 'foreign', NOW - 500)] }, { items: [fill('f1', 'hg-1', NOW - 3000), fill('f2', 'hg-2', NOW - 2000)] }];
    const r = await handleSyncFills(deps(store, pagedBroker(pages, seen)));
    expect(seen[0]!.since.getTime()).toBe(NOW - 60_000 - FILLS_OVERLAP_MS);
    expect(applied.flat().map((f) => f.fill.id)).toEqual(['f1', 'f2', 'f3']);
    expect(r).toMatchObject({ fetched: 4, applied: 3, ignored: 1, quarantined: 0 });
    expect(successes.map((s) => s.cursorMs)).toEqual([NOW - 500]);
  });

  it('a run with no fills still records a success (the ledger is current) and keeps the cursor', async () => {
    const { store, successes } = fakeStore(NOW - 60_000);
    await handleSyncFills(deps(store, pagedBroker([{ items: [] }])));
    expect(successes.map((s) => s.cursorMs)).toEqual([NOW - 60_000]);
  });

  it('a broker failure applies nothing, records the failure and no success', async () => {
    const { store, applied, successes, failures } = fakeStore(NOW - 60_000);
    const broker: Broker = { ...pagedBroker([]), listFills: async () => ({ kind: 'unknown', message: 'boom', httpStatus: 503 }) };
    await expect(handleSyncFills(deps(store, broker))).rejects.toThrow(/boom/);
    expect(applied).toEqual([]);
    expect(successes).toEqual([]);
    expect(failures).toEqual([expect.stringMatching(/boom/)]);
  });

  it('an unreadable fill of a haltgate order is quarantined with its reason; the others apply and the cursor moves past it', async () => {
    const { store, applied, successes, quarantined } = fakeStore(null);
    const bad = { ...fill('f1', 'hg-1', NOW - 1000), price: '-3' };
    const r = await handleSyncFills(deps(store, pagedBroker([{ items: [fill('f0', 'hg-1', NOW - 2000), bad] }])));
    expect(applied.flat().map((f) => f.fill.id)).toEqual(['f0']);
    expect(quarantined).toEqual([expect.objectContaining({ fillId: 'f1', orderId: 'hg-1', strategyId: 's1', intentId: 'i-hg-1', reason: expect.stringMatching(/price "-3"/) })]);
    expect(successes.map((s) => s.cursorMs)).toEqual([NOW - 1000]);
    expect(r).toMatchObject({ applied: 1, quarantined: 1, newlyQuarantined: 1, openQuarantine: { byStrategy: { s1: 1 }, unattributed: 0 } });
  });

  it('a fill the adapter could not parse (no price) is quarantined too; one without an order id is unattributed', async () => {
    const { store, quarantined } = fakeStore(NOW - 60_000);
    const page = { items: [fill('f0', 'hg-1', NOW - 2000)], unreadable: [unreadableFill('f9', 'hg-2', NOW - 1500), unreadableFill(null, null, NOW - 1200)] };
    const r = await handleSyncFills(deps(store, pagedBroker([page])));
    expect(quarantined.map((q) => [q.fillId, q.strategyId])).toEqual([
      ['f9', 's1'],
      [null, null],
    ]);
    expect(quarantined[1]!.reason).toMatch(/its order cannot be told/);
    expect(r).toMatchObject({ applied: 1, quarantined: 2, fetched: 3, openQuarantine: { unattributed: 1 } });
  });

  it('an unreadable fill of a foreign order is set aside, not quarantined', async () => {
    const { store, quarantined } = fakeStore(NOW - 60_000);
    const broker = pagedBroker([{ items: [], unreadable: [unreadableFill('m1', 'manual-order', NOW - 1000)] }], [], { items: [order('manual-order', '9f1c1c3e-2b7a-4c1e-9a51-6c1d1f1b2a3c')] });
    const r = await handleSyncFills(deps(store, broker));
    expect(quarantined).toEqual([]);
    expect(r).toMatchObject({ ignored: 1, quarantined: 0 });
  });

  it('owners of orders not on a record come from the order list; foreign, multi-leg and unreadable orders are set aside item by item', async () => {
    const { store, applied, cidLookups } = fakeStore(NOW - 60_000, { 'intent-7': 's2' });
    const orders = {
      items: [order('o-lost', 'intent-7'), order('o-manual', 'web-9f1c'), order('o-crypto', 'x'.repeat(60), { assetClass: 'crypto', symbol: 'BTC/USD' })],
      unreadable: [{ id: 'o-mleg', clientOrderId: 'mleg-1', orderId: null, time: new Date(NOW - 9000).toISOString(), reason: 'multi-leg order', raw: {} }],
    };
    const pages = [{ items: [fill('a', 'o-lost', NOW - 4000), fill('b', 'o-manual', NOW - 3000), fill('c', 'o-crypto', NOW - 2000), fill('d', 'o-mleg', NOW - 1000), fill('e', 'o-gone', NOW - 900)] }];
    const log = memoryEventLogger();
    const r = await handleSyncFills({ ...deps(store, pagedBroker(pages, [], orders)), log });
    expect(applied.flat().map((f) => [f.fill.id, f.strategyId, f.intentId])).toEqual([['a', 's2', 'intent-7']]);
    expect(r).toMatchObject({ applied: 1, ignored: 4, unreadableOrders: 1 });
    // A client order id haltgate can never produce (60 characters) is not even looked up.
    expect(cidLookups.sort()).toEqual(['intent-7', 'mleg-1', 'web-9f1c']);
    const reasons = log.events.filter((e) => e.event === 'fill_unmatched').map((e) => String(e.fields.reason));
    expect(reasons).toEqual([
      expect.stringMatching(/web-9f1c.*not on any submission record/),
      expect.stringMatching(/asset class crypto/),
      expect.stringMatching(/mleg-1/),
      expect.stringMatching(/nor in the broker's order list/),
    ]);
  });

  it('a fill stamped in the future does not move the cursor past the run time', async () => {
    const { store, successes } = fakeStore(NOW - 60_000);
    await handleSyncFills(deps(store, pagedBroker([{ items: [fill('f', 'hg-1', NOW + 86_400_000)] }])));
    expect(successes.map((s) => s.cursorMs)).toEqual([NOW]);
  });

  it('a broker that never stops paging fails the run with a clear error (nothing applied, no success)', async () => {
    const { store, applied, successes, failures } = fakeStore(NOW - 60_000);
    let n = 0;
    const endless: Broker = {
      ...pagedBroker([]),
      listFills: async () => {
        n += 1;
        return { kind: 'ok', items: [fill(`f${n}`, 'hg-1', NOW - 1000)], nextPageToken: `t${n}` };
      },
    };
    await expect(handleSyncFills(deps(store, endless))).rejects.toThrow(new RegExp(`more than ${MAX_FILL_PAGES} pages`));
    expect(n).toBe(MAX_FILL_PAGES);
    expect(applied).toEqual([]);
    expect(successes).toEqual([]);
    expect(failures).toHaveLength(1);
  });

  it('a broker repeating a page fails the run instead of looping', async () => {
    const { store, successes } = fakeStore(NOW - 60_000);
    const repeating: Broker = { ...pagedBroker([]), listFills: async () => ({ kind: 'ok', items: [fill('same', 'hg-1', NOW - 1000)], nextPageToken: 'same' }) };
    await expect(handleSyncFills(deps(store, repeating))).rejects.toThrow(/no progress/);
    expect(successes).toEqual([]);
  });
});
