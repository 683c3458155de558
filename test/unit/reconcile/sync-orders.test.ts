import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Broker, BrokerOrder, ListOutcome, LookupOutcome } from '../../../functions/src/broker/broker.js';
import type { OrderView, RateLimitInfo } from '../../../functions/src/domain/order-lifecycle.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { handleSyncOrders, SWEEP_SKEW_MS, type SyncOrdersSettings } from '../../../functions/src/reconcile/sync-orders.js';
import type { OpenOrderCandidate, OpenOrderRecord, OrderSyncStore } from '../../../functions/src/store/order-sync-store.js';

const T0 = Date.parse('2026-03-02T15:00:00Z');
const SETTINGS: SyncOrdersSettings = { brokerTimeoutMs: 1_000, minRateRemaining: 40, sweepWindowMs: 86_400_000, timeBudgetMs: 100_000, pageSize: 2, brokerPageLimit: 3 };

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

const clock = { now: () => Date.now() };
const openView = (over: Partial<OrderView> = {}): OrderView => ({ status: 'new', filledQty: '0', filledAvgPrice: null, updatedAtMs: T0 - 1_000, final: false, ...over });

/** An in-memory store: versions are counters, a write over a stale version is refused. */
function memoryStore(records: OpenOrderRecord[], extra: OpenOrderCandidate[] = []) {
  const rows = new Map(records.map((r) => [r.intentId, { ...r, version: 1 }]));
  const writes: Array<{ intentId: string; order: OrderView }> = [];
  const pages: Array<string | undefined> = [];
  const store: OrderSyncStore & { rows: typeof rows } = {
    rows,
    async findOpenOrders({ limit, startAfterId }) {
      pages.push(startAfterId);
      const all: OpenOrderCandidate[] = [
        ...[...rows.values()].filter((r) => !r.order.final).map((r): OpenOrderCandidate => ({ ok: true, record: { ...r } })),
        ...extra,
      ].sort((a, b) => ((a.ok ? a.record.intentId : a.intentId) < (b.ok ? b.record.intentId : b.intentId) ? -1 : 1));
      const from = startAfterId === undefined ? 0 : all.findIndex((c) => (c.ok ? c.record.intentId : c.intentId) === startAfterId) + 1;
      return all.slice(from, from + limit);
    },
    async writeOrder(record, order) {
      const row = rows.get(record.intentId);
      if (!row || row.version !== record.version) return { applied: false, why: 'the record changed since it was read' };
      rows.set(record.intentId, { ...row, order, version: row.version + 1 });
      writes.push({ intentId: record.intentId, order });
      return { applied: true };
    },
  };
  return { store, writes, pages };
}

const rec = (intentId: string, brokerOrderId: string, claimedAtMs: number, order: OrderView = openView()): OpenOrderRecord => ({
  intentId,
  strategyId: 's1',
  executionMode: 'paper',
  intent: { symbol: 'AAPL', side: 'buy', qty: 1 },
  brokerOrderId,
  claimedAtMs,
  order,
  version: 1,
});

const bo = (id: string, over: Partial<BrokerOrder> = {}): BrokerOrder => ({
  id,
  clientOrderId: `c-${id}`,
  status: 'new',
  symbol: 'AAPL',
  side: 'buy',
  qty: '10',
  filledQty: '0',
  filledAvgPrice: null,
  type: 'market',
  limitPrice: null,
  submittedAt: new Date(T0 - 30_000).toISOString(),
  createdAt: new Date(T0 - 30_000).toISOString(),
  ...over,
});

/** A broker of orders by id; listings honour since/limit like Alpaca; no submit, no cancel. */
function fakeBroker(orders: BrokerOrder[], opts: { rate?: () => RateLimitInfo | undefined; listAnswer?: () => ListOutcome<BrokerOrder> | null; getAnswer?: (id: string) => LookupOutcome | null } = {}) {
  const calls: string[] = [];
  const forbidden = (what: string) => () => {
    throw new Error(`syncOrders must not call ${what}`);
  };
  const pace = () => {
    const r = opts.rate?.();
    return r === undefined ? {} : { rateLimit: r };
  };
  const broker: Broker = {
    name: 'fake',
    submitOrder: forbidden('submitOrder'),
    cancelAllOpenOrders: forbidden('cancelAllOpenOrders'),
    getOrderByClientOrderId: forbidden('getOrderByClientOrderId'),
    listFills: forbidden('listFills'),
    async listOrders(q) {
      calls.push(`list after=${q.since.toISOString()} limit=${q.limit} status=${q.status} direction=${q.direction}`);
      const forced = opts.listAnswer?.();
      if (forced) return forced;
      const items = orders
        .filter((o) => Date.parse(o.submittedAt ?? o.createdAt) > q.since.getTime())
        .sort((a, b) => Date.parse(a.submittedAt!) - Date.parse(b.submittedAt!))
        .slice(0, q.limit ?? 500);
      return { kind: 'ok', items: items.map((o) => ({ ...o })), ...pace() };
    },
    async getOrderById(id) {
      calls.push(`get ${id}`);
      const forced = opts.getAnswer?.(id);
      if (forced) return forced;
      const o = orders.find((x) => x.id === id);
      return o === undefined ? { kind: 'not_found', ...pace() } : { kind: 'found', order: { ...o }, ...pace() };
    },
  };
  return { broker, calls };
}

function run(store: OrderSyncStore, broker: Broker | null, settings: Partial<SyncOrdersSettings> = {}) {
  const log = memoryEventLogger();
  const slept: number[] = [];
  const p = handleSyncOrders({
    store,
    brokerFor: () => broker,
    clock,
    log,
    sleep: async (ms) => {
      slept.push(ms);
      vi.advanceTimersByTime(ms);
    },
    settings: { ...SETTINGS, ...settings },
  });
  return { p, log, slept };
}

describe('handleSyncOrders', () => {
  it('nothing open: no broker call', async () => {
    const { store } = memoryStore([]);
    const { broker, calls } = fakeBroker([]);
    const report = await run(store, broker).p;
    expect(report).toMatchObject({ open: 0, requests: 0, changed: 0 });
    expect(calls).toEqual([]);
  });

  it('one open order: one GET /v2/orders/{id}, no sweep; the fill is written', async () => {
    const { store, writes } = memoryStore([rec('i1', 'o1', T0 - 60_000)]);
    const { broker, calls } = fakeBroker([bo('o1', { status: 'filled', filledQty: '10', filledAvgPrice: '5', updatedAt: new Date(T0 - 10).toISOString() })]);
    const report = await run(store, broker).p;
    expect(calls).toEqual(['get o1']);
    expect(writes).toEqual([{ intentId: 'i1', order: { status: 'filled', filledQty: '10', filledAvgPrice: '5', updatedAtMs: T0 - 10, final: true } }]);
    expect(report).toMatchObject({ open: 1, followed: 1, changed: 1, final: 1, requests: 1, left: 0, problems: [] });
  });

  it('several open orders: Firestore read to exhaustion, one sweep paged by window to exhaustion, no lookup per order', async () => {
    // 5 records (pageSize 2: three Firestore pages), 7 orders at the broker (page limit 3: three broker pages).
    const recs = [1, 2, 3, 4, 5].map((n) => rec(`i${n}`, `o${n}`, T0 - 60_000 + n));
    const { store, writes, pages } = memoryStore(recs);
    const orders = [1, 2, 3, 4, 5, 6, 7].map((n) =>
      bo(`o${n}`, { submittedAt: new Date(T0 - 50_000 + n * 10).toISOString(), status: n % 2 ? 'partially_filled' : 'new', filledQty: n % 2 ? '2' : '0', filledAvgPrice: n % 2 ? '3' : null }),
    );
    const { broker, calls } = fakeBroker(orders);
    const report = await run(store, broker).p;
    expect(pages).toEqual([undefined, 'i2', 'i4']);
    const earliest = T0 - 60_000 + 1 - SWEEP_SKEW_MS;
    expect(calls[0]).toBe(`list after=${new Date(earliest).toISOString()} limit=3 status=all direction=asc`);
    expect(calls.every((c) => c.startsWith('list'))).toBe(true);
    // Each next window starts 1 ms before the newest submission of a full page (o3, o5, o7), so
    // the order at the boundary is read again (and dropped by id); the short page ends the sweep.
    expect(calls.slice(1)).toEqual([
      `list after=${new Date(T0 - 50_000 + 30 - 1).toISOString()} limit=3 status=all direction=asc`,
      `list after=${new Date(T0 - 50_000 + 50 - 1).toISOString()} limit=3 status=all direction=asc`,
      `list after=${new Date(T0 - 50_000 + 70 - 1).toISOString()} limit=3 status=all direction=asc`,
    ]);
    expect(writes.map((w) => w.intentId).sort()).toEqual(['i1', 'i3', 'i5']);
    expect(report).toMatchObject({ open: 5, followed: 5, changed: 3, final: 0, requests: 4 });
  });

  it('what the sweep did not show, and orders older than the sweep window, are looked up by id', async () => {
    const { store } = memoryStore([rec('i1', 'o1', T0 - 60_000), rec('i2', 'o2', T0 - 60_000), rec('old', 'o-old', T0 - 2 * 86_400_000)]);
    const twoDaysAgo = new Date(T0 - 2 * 86_400_000 + 5).toISOString();
    const { broker, calls } = fakeBroker([bo('o1'), bo('o2', { submittedAt: new Date(T0 - 200_000).toISOString() }), bo('o-old', { submittedAt: twoDaysAgo })]);
    await run(store, broker).p;
    expect(calls.filter((c) => c.startsWith('get')).sort()).toEqual(['get o-old', 'get o2']);
  });

  it('follows replaced_by: the replacement decides the status; fills are summed over the chain', async () => {
    const { store, writes } = memoryStore([rec('i1', 'o1', T0 - 60_000)]);
    const { broker, calls } = fakeBroker([
      bo('o1', { status: 'replaced', filledQty: '2', filledAvgPrice: '10', replacedBy: 'o2' }),
      bo('o2', { status: 'filled', filledQty: '8', filledAvgPrice: '10', updatedAt: new Date(T0).toISOString() }),
    ]);
    await run(store, broker).p;
    expect(calls).toEqual(['get o1', 'get o2']);
    expect(writes[0]?.order).toMatchObject({ status: 'filled', filledQty: '10', filledAvgPrice: '10', final: true });
  });

  it('a replacement not found yet: shown as replaced, not final', async () => {
    const { store, writes } = memoryStore([rec('i1', 'o1', T0 - 60_000)]);
    const { broker } = fakeBroker([bo('o1', { status: 'replaced', replacedBy: 'o2' })]);
    const report = await run(store, broker).p;
    expect(writes[0]?.order).toMatchObject({ status: 'replaced', final: false });
    expect(report.problems.join()).toMatch(/o2 is not at the broker/);
  });

  it('no change, no write; a record changed meanwhile is not overwritten', async () => {
    const { store, writes } = memoryStore([rec('i1', 'o1', T0 - 60_000), rec('i2', 'o2', T0 - 60_000)]);
    const { broker } = fakeBroker([bo('o1'), bo('o2', { status: 'filled', filledQty: '10', filledAvgPrice: '1' })], {
      listAnswer: () => {
        store.rows.get('i2')!.version = 7; // another writer, after our read
        return null;
      },
    });
    const { p, log } = run(store, broker);
    const report = await p;
    expect(writes).toEqual([]);
    expect(report.changed).toBe(0);
    expect(log.events.some((e) => e.event === 'outcome_not_applied' && e.fields.intentId === 'i2')).toBe(true);
  });

  it('low X-RateLimit-Remaining: waits for the reset when it fits, then goes on', async () => {
    const old = T0 - 3 * 86_400_000;
    const { store } = memoryStore([rec('i1', 'o1', old), rec('i2', 'o2', old), rec('i3', 'o3', old)]);
    let remaining = 41;
    const { broker, calls } = fakeBroker([bo('o1'), bo('o2'), bo('o3')], { rate: () => ({ limit: 200, remaining: remaining--, resetAtMs: Date.now() + 5_000 }) });
    const { p, slept } = run(store, broker);
    const report = await p;
    expect(calls).toEqual(['get o1', 'get o2', 'get o3']);
    expect(slept).toEqual([5_000]); // before the third request: the second answer said 40 left
    expect(report.rateLimited).toBe(true);
  });

  it('low X-RateLimit-Remaining with a far reset: stops and leaves the rest to the next run', async () => {
    const old = T0 - 3 * 86_400_000;
    const { store } = memoryStore([rec('i1', 'o1', old), rec('i2', 'o2', old), rec('i3', 'o3', old)]);
    const { broker, calls } = fakeBroker([bo('o1'), bo('o2'), bo('o3')], { rate: () => ({ limit: 200, remaining: 10, resetAtMs: Date.now() + 59_000 }) });
    const report = await run(store, broker).p;
    expect(calls).toEqual(['get o1']);
    expect(report).toMatchObject({ followed: 1, left: 2, rateLimited: true });
    expect(report.problems.join()).toMatch(/only 10 requests left/);
  });

  it('a 429 waits Retry-After and sends the same request again', async () => {
    const { store, writes } = memoryStore([rec('i1', 'o1', T0 - 60_000)]);
    let first = true;
    const { broker, calls } = fakeBroker([bo('o1', { status: 'canceled' })], {
      getAnswer: () => {
        if (!first) return null;
        first = false;
        return { kind: 'unknown', httpStatus: 429, message: 'rate limited', retryAfterMs: 2_000 };
      },
    });
    const { p, slept } = run(store, broker);
    await p;
    expect(calls).toEqual(['get o1', 'get o1']);
    expect(slept).toEqual([2_000]);
    expect(writes[0]?.order).toMatchObject({ status: 'canceled', final: true });
  });

  it('a failing broker: stops after three failures in a row; nothing written', async () => {
    const old = T0 - 3 * 86_400_000;
    const { store, writes } = memoryStore([1, 2, 3, 4, 5].map((n) => rec(`i${n}`, `o${n}`, old)));
    const { broker, calls } = fakeBroker([], { getAnswer: () => ({ kind: 'unknown', httpStatus: 503, message: 'down' }) });
    const report = await run(store, broker).p;
    expect(calls).toHaveLength(3);
    expect(writes).toEqual([]);
    expect(report.left).toBe(2 + 3); // two never tried, three whose lookups failed
  });

  it('stops starting requests when the time budget is used up', async () => {
    const old = T0 - 3 * 86_400_000;
    const { store } = memoryStore([rec('i1', 'o1', old), rec('i2', 'o2', old)]);
    const { broker, calls } = fakeBroker([bo('o1'), bo('o2')], {
      getAnswer: () => {
        vi.advanceTimersByTime(60_000); // a slow broker
        return null;
      },
    });
    // 60 s spent on the first answer; 60.5 s budget minus a 1 s broker timeout: no second request.
    const report = await run(store, broker, { timeBudgetMs: 60_500 }).p;
    expect(calls).toEqual(['get o1']);
    expect(report.problems.join()).toMatch(/time budget/);
  });

  it('records of a mode without a broker are left, unreadable records reported; neither is touched', async () => {
    const { store } = memoryStore([{ ...rec('i1', 'o1', T0), executionMode: 'dry_run' }], [{ ok: false, intentId: 'bad', problem: 'state: invalid' }]);
    const report = await run(store, null).p;
    expect(report).toMatchObject({ open: 1, left: 1, requests: 0 });
    expect(report.problems.join()).toMatch(/bad is unreadable/);
  });
});
