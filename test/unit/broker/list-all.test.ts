import { describe, expect, it } from 'vitest';
import type { Broker, BrokerOrder } from '../../../functions/src/broker/broker.js';
import { createDryRunBroker } from '../../../functions/src/broker/dry-run.js';
import { listAllOrders } from '../../../functions/src/broker/list-all.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';

const T0 = Date.parse('2026-03-10T14:00:00Z');
const CALL = { timeoutMs: 1000 };

function order(i: number, atMs: number): BrokerOrder {
  const t = new Date(atMs).toISOString();
  return { id: `o${i}`, clientOrderId: `c${i}`, status: 'filled', symbol: 'AAPL', side: 'buy', qty: '1', filledQty: '1', filledAvgPrice: '1', type: 'market', limitPrice: null, submittedAt: t, createdAt: t };
}

/** Answers like Alpaca: orders submitted strictly after `since`, oldest first, at most `limit`. */
function broker(orders: BrokerOrder[], seen: Date[] = []): Broker {
  return {
    ...createDryRunBroker({ clock: fixedClock(T0) }),
    listOrders: async (q) => {
      seen.push(q.since);
      const items = orders
        .filter((o) => Date.parse(o.submittedAt!) > q.since.getTime())
        .sort((a, b) => Date.parse(a.submittedAt!) - Date.parse(b.submittedAt!))
        .slice(0, q.limit ?? 500);
      return { kind: 'ok', items };
    },
  };
}

describe('listAllOrders', () => {
  it('pages by time window to exhaustion; orders sharing a millisecond across a page boundary are neither lost nor doubled', async () => {
    // 1234 orders, three per millisecond: every page boundary cuts through a millisecond.
    const orders = Array.from({ length: 1234 }, (_, i) => order(i, T0 + Math.floor(i / 3)));
    const seen: Date[] = [];
    const r = await listAllOrders(broker(orders, seen), { after: new Date(T0 - 1) }, CALL, { limit: 100 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.items.map((o) => o.id).sort()).toEqual(orders.map((o) => o.id).sort());
    expect(r.pages).toBe(seen.length);
    expect(r.pages).toBeGreaterThanOrEqual(13);
  });

  it('a short first page is the whole listing', async () => {
    const r = await listAllOrders(broker([order(1, T0)]), { after: new Date(T0 - 1) }, CALL);
    expect(r).toMatchObject({ ok: true, pages: 1, items: [{ id: 'o1' }] });
  });

  it('more orders in one millisecond than a page holds: an error, never a truncated list', async () => {
    const orders = Array.from({ length: 12 }, (_, i) => order(i, T0));
    const r = await listAllOrders(broker(orders), { after: new Date(T0 - 1) }, CALL, { limit: 10 });
    expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/no progress/) });
  });

  it('a broker that never ends is refused after maxPages', async () => {
    let n = 0;
    const endless: Broker = {
      ...broker([]),
      listOrders: async (q) => ({ kind: 'ok', items: Array.from({ length: q.limit ?? 500 }, () => order(n++, q.since.getTime() + 10)) }),
    };
    const r = await listAllOrders(endless, { after: new Date(T0) }, CALL, { maxPages: 5, limit: 3 });
    expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/more than 5 pages/) });
    expect(n).toBe(15);
  });

  it('a failed page fails the listing', async () => {
    const failing: Broker = { ...broker([]), listOrders: async () => ({ kind: 'unknown', message: '503 from broker', httpStatus: 503 }) };
    expect(await listAllOrders(failing, { after: new Date(0) }, CALL)).toEqual({ ok: false, message: 'listing orders failed: 503 from broker' });
  });

  it('unreadable orders are collected beside the readable ones, and a full page whose times cannot be read is an error', async () => {
    const odd = { id: 'm1', clientOrderId: 'x', orderId: null, time: new Date(T0).toISOString(), reason: 'multi-leg order', raw: {} };
    const oneOdd: Broker = { ...broker([]), listOrders: async () => ({ kind: 'ok', items: [order(1, T0)], unreadable: [odd] }) };
    expect(await listAllOrders(oneOdd, { after: new Date(0) }, CALL)).toMatchObject({ ok: true, items: [{ id: 'o1' }], unreadable: [{ id: 'm1' }] });
    const timeless: Broker = { ...broker([]), listOrders: async () => ({ kind: 'ok', items: [order(1, T0)], unreadable: [{ ...odd, time: null }] }) };
    expect(await listAllOrders(timeless, { after: new Date(0) }, CALL, { limit: 2 })).toMatchObject({ ok: false, message: expect.stringMatching(/submission time/) });
  });
});
