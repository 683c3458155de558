/**
 * The simulator against Alpaca's own client: every endpoint haltgate uses, in every state the
 * simulator produces, through `@alpacahq/alpaca-trade-api` v4 (its generated Trading API models
 * and typed errors). The SDK does not validate answers strictly (its FromJSON mappers copy what
 * is there), so besides the values it parsed each order is checked against the SDK's model: its
 * required fields (`instanceOfOrder`), its enums, and every field the model declares present in
 * the wire JSON. No emulators.
 */
import { ApiError, NotFoundError, PermissionError, RateLimitError, ValidationError, trading } from '@alpacahq/alpaca-trade-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAlpacaSimulator } from '../../../dev/alpaca-sim/server.js';
import type { AlpacaSimulator } from '../../../dev/alpaca-sim/server.js';

const T0 = Date.parse('2026-03-02T15:00:00.000Z');
let clock = T0;
let sim: AlpacaSimulator;
let orders: trading.OrdersApi;
let activities: trading.AccountActivitiesApi;

/** The wire names of every field the SDK's Order model declares (its ToJSON writes each one). */
const ORDER_FIELDS = Object.keys(trading.OrderToJSON({} as trading.Order));
const LEG_FIELDS = Object.keys(trading.OrderLegToJSON({} as trading.OrderLeg));

/** The SDK's parse, plus the raw JSON it parsed. */
async function both<T>(call: Promise<{ raw: Response; value(): Promise<T> }>): Promise<{ value: T; json: Record<string, unknown> }> {
  const r = await call;
  const json = (await r.raw.clone().json()) as Record<string, unknown>;
  return { value: await r.value(), json };
}

/** An order as the SDK's model would have it. */
function conforms(value: trading.Order, json: Record<string, unknown>): void {
  expect(trading.instanceOfOrder(value)).toBe(true);
  expect(Object.keys(json)).toEqual(expect.arrayContaining(ORDER_FIELDS));
  expect(trading.instanceOfOrderStatus(value.status)).toBe(true);
  expect(trading.instanceOfOrderClass(value.orderClass)).toBe(true);
  expect(trading.instanceOfAssetClass(value.assetClass)).toBe(true);
  expect(trading.instanceOfOrderType(value.type)).toBe(true);
  expect(trading.instanceOfTimeInForce(value.timeInForce)).toBe(true);
  if (value.orderClass === 'mleg') {
    expect(value.symbol).toBe('');
    expect(value.legs?.length).toBeGreaterThan(0);
    for (const [i, leg] of (value.legs ?? []).entries()) {
      expect(trading.instanceOfOrderLeg(leg)).toBe(true);
      expect(trading.instanceOfOrderSide(leg.side)).toBe(true);
      expect(Object.keys((json.legs as Array<Record<string, unknown>>)[i]!)).toEqual(expect.arrayContaining(LEG_FIELDS));
    }
  } else {
    expect(value.legs).toBeUndefined(); // null on the wire
    expect(json.legs).toBeNull();
    expect(trading.instanceOfOrderSide(value.side)).toBe(true);
    expect(trading.instanceOfPositionIntent(value.positionIntent)).toBe(true);
  }
}

/** The SDK's typed error for a non-2xx, and the body it came with. */
async function failure(call: Promise<unknown>): Promise<{ err: ApiError; body: Record<string, unknown> }> {
  const err = await call.then(
    () => {
      throw new Error('expected the SDK to reject');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  const apiError = err as ApiError;
  return { err: apiError, body: (await apiError.response.json()) as Record<string, unknown> };
}

function post(clientOrderId: string, extra: Partial<trading.PostOrderRequest> = {}) {
  return orders.postOrderRaw({
    postOrderRequest: { symbol: 'AAPL', qty: '10', side: 'buy', type: 'market', timeInForce: 'day', clientOrderId, ...extra },
  });
}

beforeAll(async () => {
  sim = await startAlpacaSimulator({ now: () => clock, fillMode: 'none', faults: { prices: { AAPL: 200 } } });
  const config = new trading.Configuration({ basePath: sim.url, keyId: sim.keyId, secret: sim.secretKey });
  orders = new trading.OrdersApi(config);
  activities = new trading.AccountActivitiesApi(config);
});

afterAll(async () => {
  await sim.stop();
});

beforeEach(() => {
  sim.reset();
  clock = T0;
  // Long delays: each state stays until the test moves it on (advance, fill, ...).
  sim.faults.set({ acceptDelayMs: 60_000, fillDelayMs: 60_000 });
});

describe('the simulator through the official SDK', () => {
  it('POST /v2/orders: accepted, then new, partially_filled and filled, read back by id and client_order_id', async () => {
    sim.faults.set({ submitStatus: 'accepted' });
    const placed = await both(post('sdk-1'));
    conforms(placed.value, placed.json);
    expect(placed.value).toMatchObject({
      clientOrderId: 'sdk-1',
      status: 'accepted',
      orderClass: 'simple',
      assetClass: 'us_equity',
      symbol: 'AAPL',
      qty: '10',
      filledQty: '0',
      side: 'buy',
      positionIntent: 'buy_to_open',
      type: 'market',
      timeInForce: 'day',
      extendedHours: false,
      notional: null,
    });
    expect(placed.value.createdAt).toEqual(new Date(T0));
    expect(placed.value.expiresAt).toEqual(new Date('2026-03-02T20:00:00.000Z'));
    const id = placed.value.id!;

    const accepted = await both(orders.getOrderByOrderIDRaw({ orderId: id }));
    conforms(accepted.value, accepted.json);
    expect(accepted.value.status).toBe('accepted');

    sim.advance(id);
    clock += 1_000;
    const fresh = await both(orders.getOrderByClientOrderIdRaw({ clientOrderId: 'sdk-1' }));
    conforms(fresh.value, fresh.json);
    expect(fresh.value).toMatchObject({ id, status: 'new' });

    sim.fill(id, { qty: 4, price: 199.5 });
    const partial = await both(orders.getOrderByOrderIDRaw({ orderId: id }));
    conforms(partial.value, partial.json);
    expect(partial.value).toMatchObject({ status: 'partially_filled', filledQty: '4', filledAvgPrice: '199.5' });
    expect(partial.value.filledAt).toBeUndefined();

    clock += 1_000;
    sim.fill(id, { price: 200.5 });
    const filled = await both(orders.getOrderByClientOrderIdRaw({ clientOrderId: 'sdk-1' }));
    conforms(filled.value, filled.json);
    expect(filled.value).toMatchObject({ status: 'filled', filledQty: '10', filledAvgPrice: '200.1' });
    expect(filled.value.filledAt).toEqual(new Date(T0 + 2_000));
  });

  it('pending_new, and the seeded choice between the two', async () => {
    sim.faults.set({ submitStatus: 'pending_new' });
    const placed = await both(post('sdk-pn'));
    conforms(placed.value, placed.json);
    expect(placed.value.status).toBe('pending_new');

    sim.faults.set({ submitStatus: 'seeded', seed: 7 });
    const statuses: string[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await orders.postOrder(await body(`seed-${i}`))).status!);
    expect(new Set(statuses)).toEqual(new Set(['accepted', 'pending_new']));
    sim.reset();
    sim.faults.set({ acceptDelayMs: 60_000, submitStatus: 'seeded', seed: 7 });
    const again: string[] = [];
    for (let i = 0; i < 12; i++) again.push((await orders.postOrder(await body(`seed-${i}`))).status!);
    expect(again).toEqual(statuses);
  });

  it('GET /v2/orders with status, limit, after/until, direction, nested and symbols', async () => {
    const ids: string[] = [];
    for (const [i, symbol] of ['AAPL', 'MSFT', 'AAPL', 'TSLA'].entries()) {
      clock = T0 + i * 1_000;
      ids.push((await orders.postOrder(await body(`list-${i}`, { symbol }))).id!);
    }
    sim.fill(ids[0]!);
    const list = async (q: trading.GetAllOrdersRequest) => {
      const r = await orders.getAllOrdersRaw(q);
      const json = (await r.raw.clone().json()) as Array<Record<string, unknown>>;
      const value = await r.value();
      value.forEach((o, i) => conforms(o, json[i]!));
      return value.map((o) => o.clientOrderId);
    };
    expect(await list({})).toEqual(['list-3', 'list-2', 'list-1']); // open, newest first
    expect(await list({ status: 'all', direction: 'asc' })).toEqual(['list-0', 'list-1', 'list-2', 'list-3']);
    expect(await list({ status: 'closed' })).toEqual(['list-0']);
    expect(await list({ status: 'all', direction: 'asc', limit: 2 })).toEqual(['list-0', 'list-1']);
    // Paging by time window: after is exclusive, on submission time.
    expect(await list({ status: 'all', direction: 'asc', limit: 2, after: new Date(T0 + 1_000).toISOString() })).toEqual(['list-2', 'list-3']);
    expect(await list({ status: 'all', until: new Date(T0 + 2_000).toISOString() })).toEqual(['list-1', 'list-0']);
    expect(await list({ status: 'all', direction: 'asc', symbols: 'AAPL,TSLA', nested: true })).toEqual(['list-0', 'list-2', 'list-3']);
    expect(await list({ status: 'all', direction: 'asc', side: 'sell' })).toEqual([]);
    const { err } = await failure(orders.getAllOrders({ status: 'all', direction: 'sideways' as 'asc' }));
    expect(err).toBeInstanceOf(ValidationError);
  });

  it('DELETE /v2/orders and /v2/orders/{id}: canceled, read back', async () => {
    const a = (await orders.postOrder(await body('del-1'))).id!;
    const b = (await orders.postOrder(await body('del-2'))).id!;
    clock += 500;
    await orders.deleteOrderByOrderID({ orderId: a });
    const canceled = await both(orders.getOrderByOrderIDRaw({ orderId: a }));
    conforms(canceled.value, canceled.json);
    expect(canceled.value).toMatchObject({ status: 'canceled' });
    expect(canceled.value.canceledAt).toEqual(new Date(T0 + 500));

    const all = await orders.deleteAllOrders();
    expect(all).toEqual([{ id: b, status: 200 }]);
    expect((await orders.getOrderByOrderID({ orderId: b })).status).toBe('canceled');
    const again = await failure(orders.deleteOrderByOrderID({ orderId: a }));
    expect(again.err).toBeInstanceOf(ValidationError);
    expect(again.err).toMatchObject({ status: 422, code: 42210000 });
  });

  it('expired keeps what filled; rejected sets failed_at', async () => {
    const a = (await orders.postOrder(await body('exp-1'))).id!;
    sim.fill(a, { qty: 3 });
    clock += 1_000;
    sim.expire(a);
    const expired = await both(orders.getOrderByOrderIDRaw({ orderId: a }));
    conforms(expired.value, expired.json);
    expect(expired.value).toMatchObject({ status: 'expired', filledQty: '3', filledAvgPrice: '200' });
    expect(expired.value.expiredAt).toEqual(new Date(T0 + 1_000));

    const b = (await orders.postOrder(await body('rej-1'))).id!;
    sim.reject(b, 'halted by the exchange');
    const rejected = await both(orders.getOrderByClientOrderIdRaw({ clientOrderId: 'rej-1' }));
    conforms(rejected.value, rejected.json);
    expect(rejected.value).toMatchObject({ status: 'rejected', filledQty: '0' });
    expect(rejected.value.failedAt).toEqual(new Date(T0 + 1_000));
    expect(sim.events().find((e) => e.orderId === b && e.event === 'rejected')).toMatchObject({ reason: 'halted by the exchange' });
  });

  it('PATCH /v2/orders/{id}: replaced / replaced_by and replaces; refused before new', async () => {
    const placed = await orders.postOrder(await body('rep-1', { type: 'limit', limitPrice: '150', timeInForce: 'gtc' }));
    const early = await failure(orders.patchOrderByOrderId({ orderId: placed.id!, patchOrderRequest: { limitPrice: '151' } }));
    expect(early.err).toBeInstanceOf(ValidationError);
    expect(early.body).toMatchObject({ code: 42210000 });

    sim.advance(placed.id!);
    clock += 1_000;
    const replaced = await both(
      orders.patchOrderByOrderIdRaw({ orderId: placed.id!, patchOrderRequest: { qty: '6', limitPrice: '151.25', clientOrderId: 'rep-2' } }),
    );
    conforms(replaced.value, replaced.json);
    expect(replaced.value).toMatchObject({ clientOrderId: 'rep-2', replaces: placed.id, qty: '6', limitPrice: '151.25', timeInForce: 'gtc', type: 'limit' });
    expect(replaced.value.id).not.toBe(placed.id);

    const old = await both(orders.getOrderByOrderIDRaw({ orderId: placed.id! }));
    conforms(old.value, old.json);
    expect(old.value).toMatchObject({ status: 'replaced', replacedBy: replaced.value.id, qty: '10', limitPrice: '150' });
    expect(old.value.replacedAt).toEqual(new Date(T0 + 1_000));

    // Without a client_order_id the new order gets a fresh one.
    sim.advance(replaced.value.id!);
    const next = await orders.patchOrderByOrderId({ orderId: replaced.value.id!, patchOrderRequest: { timeInForce: 'day' } });
    expect(next.clientOrderId).not.toBe('rep-2');
    expect(next).toMatchObject({ replaces: replaced.value.id, qty: '6', timeInForce: 'day' });
  });

  it('foreign orders: a manual one, a multi-leg option order and crypto, with their fills', async () => {
    sim.addForeignOrder({ client_order_id: 'web-123', symbol: 'MSFT', side: 'sell', qty: '2', status: 'filled', fill_price: 410 });
    const mleg = sim.addForeignOrder({
      order_class: 'mleg',
      status: 'filled',
      qty: '1',
      type: 'limit',
      limit_price: '1.2',
      fill_price: 1.2,
      legs: [
        { symbol: 'AAPL260320C00200000', side: 'buy', qty: '1', ratio_qty: '1', asset_class: 'us_option', position_intent: 'buy_to_open' },
        { symbol: 'AAPL260320C00210000', side: 'sell', qty: '1', ratio_qty: '1', asset_class: 'us_option', position_intent: 'sell_to_open' },
      ],
    });
    sim.addForeignOrder({ symbol: 'BTC/USD', asset_class: 'crypto', qty: '0.01', time_in_force: 'gtc', position_intent: 'buy_to_open' });

    const r = await orders.getAllOrdersRaw({ status: 'all', direction: 'asc', nested: true });
    const json = (await r.raw.clone().json()) as Array<Record<string, unknown>>;
    const listed = await r.value();
    listed.forEach((o, i) => conforms(o, json[i]!));
    expect(listed.map((o) => [o.clientOrderId === 'web-123' ? 'web-123' : o.orderClass, o.assetClass, o.symbol, o.status])).toEqual([
      ['web-123', 'us_equity', 'MSFT', 'filled'],
      ['mleg', 'us_equity', '', 'filled'],
      ['simple', 'crypto', 'BTC/USD', 'new'],
    ]);
    expect(listed[1]!.side).toBe('');
    expect(listed[1]!.legs!.map((l) => [l.symbol, l.side, l.assetClass, l.status, l.filledQty])).toEqual([
      ['AAPL260320C00200000', 'buy', 'us_option', 'filled', '1'],
      ['AAPL260320C00210000', 'sell', 'us_option', 'filled', '1'],
    ]);
    expect((await orders.getOrderByOrderID({ orderId: mleg.id })).legs).toHaveLength(2);

    const fills = await fillPage({ direction: 'asc' });
    expect(fills.map((f) => [f.orderId, f.symbol, f.side, f.qty, f.price, f.type])).toEqual([
      [listed[0]!.id, 'MSFT', 'sell', '2', '410', 'fill'],
      [mleg.legs![0]!.id, 'AAPL260320C00200000', 'buy', '1', '1.2', 'fill'],
      [mleg.legs![1]!.id, 'AAPL260320C00210000', 'sell', '1', '1.2', 'fill'],
    ]);
  });

  it('GET /v2/account/activities/FILL pages by page_token (size at most 100), with after/until/date', async () => {
    for (const [i, qty] of ['3', '5'].entries()) {
      clock = T0 + i * 1_000;
      const id = (await orders.postOrder(await body(`fill-${i}`, { qty }))).id!;
      sim.fill(id, { qty: 1 });
      clock += 100;
      sim.fill(id);
    }
    const first = await fillPage({ direction: 'asc', pageSize: 3 });
    expect(first.map((f) => [f.qty, f.cumQty, f.leavesQty, f.type, f.orderStatus])).toEqual([
      ['1', '1', '2', 'partial_fill', 'partially_filled'],
      ['2', '3', '0', 'fill', 'filled'],
      ['1', '1', '4', 'partial_fill', 'partially_filled'],
    ]);
    expect(first.every((f) => f.activityType === 'FILL' && f.transactionTime instanceof Date)).toBe(true);
    const second = await fillPage({ direction: 'asc', pageSize: 3, pageToken: first[2]!.id! });
    expect(second.map((f) => [f.qty, f.price])).toEqual([['4', '200']]);
    expect(await fillPage({ direction: 'desc', pageSize: 1 })).toMatchObject([{ id: second[0]!.id }]);
    expect((await fillPage({ after: new Date(T0 + 500) })).map((f) => f.qty)).toEqual(['4', '1']);
    expect((await fillPage({ until: new Date(T0 + 500) })).map((f) => f.qty)).toEqual(['2', '1']);
    expect(await fillPage({ date: new Date('2026-03-01T00:00:00Z') })).toEqual([]);
    expect(await fillPage({ date: new Date('2026-03-02T00:00:00Z') })).toHaveLength(4);
    expect(sim.requestLog.filter((r) => r.path === '/v2/account/activities/FILL').map((r) => r.query)).toContain('?direction=asc&page_size=3');
    // The generated by-type call itself reads a FILL as a non-trade activity: it keeps the ids.
    const generated = await activities.getAccountActivitiesByActivityType({ activityType: 'FILL', direction: 'asc' });
    expect(generated.map((a) => a.id)).toEqual([...first, ...second].map((f) => f.id));
  });

  it('403 insufficient buying power carries buying_power and cost_basis', async () => {
    sim.faults.set({ maxOrderNotional: 1_000 });
    const { err, body: json } = await failure(post('bp-1', { qty: '10' }));
    expect(err).toBeInstanceOf(PermissionError);
    expect(err).toMatchObject({ status: 403, code: 40310000, message: 'insufficient buying power' });
    expect(json).toEqual({ code: 40310000, message: 'insufficient buying power', buying_power: '1000', cost_basis: '2000' });
  });

  it('422: a client_order_id beyond 128 characters, a duplicate; 128 is fine', async () => {
    const long = await failure(post('x'.repeat(129)));
    expect(long.err).toBeInstanceOf(ValidationError);
    expect(long.err).toMatchObject({ status: 422, code: 40010001 });
    expect(long.body.message).toContain('128');
    expect((await orders.postOrder(await body('y'.repeat(128)))).clientOrderId).toBe('y'.repeat(128));
    const dup = await failure(post('y'.repeat(128)));
    expect(dup.err).toMatchObject({ status: 422, code: 40010001, message: 'client_order_id must be unique' });
  });

  it('404 for an unknown order id or client_order_id', async () => {
    const byId = await failure(orders.getOrderByOrderID({ orderId: '00000000-0000-4000-8000-000000000000' }));
    expect(byId.err).toBeInstanceOf(NotFoundError);
    expect(byId.err).toMatchObject({ status: 404, code: 40410000 });
    const byCid = await failure(orders.getOrderByClientOrderId({ clientOrderId: 'nobody' }));
    expect(byCid.err).toBeInstanceOf(NotFoundError);
  });

  it('X-RateLimit-* on every answer; 429 beyond the limit when enforced', async () => {
    sim.faults.set({ rateLimitPerMinute: 3, enforceRateLimit: true });
    const reset = new Date(Date.parse('2026-03-02T15:01:00.000Z'));
    const r1 = await orders.getAllOrdersRaw({});
    expect(r1.raw.headers.get('x-ratelimit-limit')).toBe('3');
    expect(r1.raw.headers.get('x-ratelimit-remaining')).toBe('2');
    expect(r1.raw.headers.get('x-ratelimit-reset')).toBe(String(reset.getTime() / 1000));
    await orders.getAllOrders({});
    const notFound = await failure(orders.getOrderByClientOrderId({ clientOrderId: 'nobody' }));
    expect(notFound.err.rateLimit).toEqual({ limit: 3, remaining: 0, reset });
    const limited = await failure(orders.getAllOrders({}));
    expect(limited.err).toBeInstanceOf(RateLimitError);
    expect(limited.err).toMatchObject({ status: 429, code: 42910000, rateLimit: { limit: 3, remaining: 0, reset } });
    expect(sim.requestLog.at(-1)).toMatchObject({ status: 429, rateLimited: true });
    // The next minute is a new window.
    clock = reset.getTime();
    expect(await orders.getAllOrders({})).toEqual([]);
  });
});

async function body(clientOrderId: string, extra: Partial<trading.PostOrderRequest> = {}): Promise<trading.PostOrderOperationRequest> {
  return { postOrderRequest: { symbol: 'AAPL', qty: '10', side: 'buy', type: 'market', timeInForce: 'day', clientOrderId, ...extra } };
}

/** One page of FILL activities through the SDK, read with its TradingActivities model. */
async function fillPage(q: Omit<trading.GetAccountActivitiesByActivityTypeRequest, 'activityType'>): Promise<trading.TradingActivities[]> {
  const r = await activities.getAccountActivitiesByActivityTypeRaw({ activityType: 'FILL', ...q });
  const json = (await r.raw.json()) as unknown[];
  return json.map((a) => trading.TradingActivitiesFromJSON(a));
}
