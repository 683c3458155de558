import { describe, expect, it } from 'vitest';
import type { Broker, BrokerFill } from '../../../functions/src/broker/broker.js';
import { createDryRunBroker } from '../../../functions/src/broker/dry-run.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { FILLS_OVERLAP_MS, handleSyncFills } from '../../../functions/src/reconcile/sync-fills.js';
import type { FillsStore, OwnedFill } from '../../../functions/src/store/fills-store.js';

const NOW = Date.parse('2026-03-10T15:00:00Z');

function fill(id: string, orderId: string, atMs: number, side = 'buy'): BrokerFill {
  return { id, orderId, symbol: 'AAPL', side, qty: '1', price: '10', transactionTime: new Date(atMs).toISOString() };
}

function fakeStore(cursor: number | null) {
  const applied: OwnedFill[][] = [];
  const cursors: number[] = [];
  const store: FillsStore = {
    readCursor: async () => cursor,
    writeCursor: async (ms) => void cursors.push(ms),
    ownerByBrokerOrderId: async (orderId) => (orderId.startsWith('hg-') ? { strategyId: 's1', intentId: `i-${orderId}` } : null),
    ownerByClientOrderId: async () => null,
    applyFills: async (_s, fills) => {
      applied.push([...fills]);
      return { applied: fills.length, skipped: 0, realizedEvents: 0 };
    },
  };
  return { store, applied, cursors };
}

function pagedBroker(pages: BrokerFill[][], seen: Array<{ since: Date; pageToken?: string }> = []): Broker {
  return {
    ...createDryRunBroker({ clock: fixedClock(NOW) }),
    listFills: async (q) => {
      seen.push(q);
      const i = q.pageToken === undefined ? 0 : Number(q.pageToken);
      const items = pages[i] ?? [];
      return i + 1 < pages.length ? { kind: 'ok', items, nextPageToken: String(i + 1) } : { kind: 'ok', items };
    },
  };
}

const deps = (store: FillsStore, broker: Broker) => ({ store, broker, clock: fixedClock(NOW), log: memoryEventLogger(), timeZone: 'America/New_York', brokerTimeoutMs: 1000 });

describe('handleSyncFills', () => {
  it('reads every page, then applies in compareFills order; foreign fills are ignored; the cursor moves to the newest fill', async () => {
    const { store, applied, cursors } = fakeStore(NOW - 60_000);
    const seen: Array<{ since: Date; pageToken?: string }> = [];
    const pages = [[fill('f3', 'hg-1', NOW - 1000), fill('x1', 'foreign', NOW - 500)], [fill('f1', 'hg-1', NOW - 3000), fill('f2', 'hg-2', NOW - 2000)]];
    const r = await handleSyncFills(deps(store, pagedBroker(pages, seen)));
    expect(seen[0]!.since.getTime()).toBe(NOW - 60_000 - FILLS_OVERLAP_MS);
    expect(applied.flat().map((f) => f.fill.id)).toEqual(['f1', 'f2', 'f3']);
    expect(r).toMatchObject({ fetched: 4, applied: 3, ignored: 1 });
    expect(cursors).toEqual([NOW - 500]);
  });

  it('a broker failure applies nothing and leaves the cursor', async () => {
    const { store, applied, cursors } = fakeStore(NOW - 60_000);
    const broker: Broker = { ...pagedBroker([]), listFills: async () => ({ kind: 'unknown', message: 'boom', httpStatus: 503 }) };
    await expect(handleSyncFills(deps(store, broker))).rejects.toThrow(/boom/);
    expect(applied).toEqual([]);
    expect(cursors).toEqual([]);
  });

  it('an unreadable fill stops the run before anything is applied', async () => {
    const { store, applied, cursors } = fakeStore(null);
    const bad = { ...fill('f1', 'hg-1', NOW - 1000), price: '-3' };
    await expect(handleSyncFills(deps(store, pagedBroker([[fill('f0', 'hg-1', NOW - 2000), bad]])))).rejects.toThrow(/price/);
    expect(applied).toEqual([]);
    expect(cursors).toEqual([]);
  });
});
