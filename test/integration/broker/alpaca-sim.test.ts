import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAlpacaSimulator } from '../../../dev/alpaca-sim/server.js';
import type { AlpacaSimulator } from '../../../dev/alpaca-sim/server.js';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import type { Broker, OrderRequest, SubmitOutcome } from '../../../functions/src/broker/broker.js';

/** The real adapter over real HTTP against the simulator. */

let sim: AlpacaSimulator;
let broker: Broker;
const CALL = { timeoutMs: 2_000 };
const SHORT = { timeoutMs: 200 };

function order(id: string, extra: Partial<OrderRequest> = {}): OrderRequest {
  return { clientOrderId: id, symbol: 'AAPL', side: 'buy', qty: 10, type: 'market', timeInForce: 'day', ...extra };
}

async function control(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

beforeAll(async () => {
  sim = await startAlpacaSimulator();
  broker = createAlpacaBroker({ baseUrl: sim.url, keyId: sim.keyId, secretKey: sim.secretKey, name: 'alpaca-sim', fillsPageSize: 2 });
});

afterAll(async () => {
  await sim.stop();
});

beforeEach(() => {
  sim.reset();
});

describe('normal operation', () => {
  it('accepts an order; once it has run its course a lookup sees it filled at the market price', async () => {
    sim.faults.set({ prices: { AAPL: 187.25 } });
    const outcome = await broker.submitOrder(order('acc-1'), CALL);
    // As at Alpaca, the answer to the POST is the order as received, not yet routed or filled.
    expect(outcome).toMatchObject({
      kind: 'accepted',
      order: { clientOrderId: 'acc-1', status: expect.stringMatching(/^(accepted|pending_new)$/), qty: '10', filledQty: '0' },
    });
    expect(sim.orders()).toHaveLength(1);

    await sim.idle();
    const found = await broker.getOrderByClientOrderId('acc-1', CALL);
    expect(found).toMatchObject({ kind: 'found', order: { status: 'filled', filledQty: '10', filledAvgPrice: '187.25' } });
    if (outcome.kind === 'accepted' && found.kind === 'found') expect(found.order.id).toBe(outcome.order.id);
  });

  it('a limit order carries its limit price and fills at it', async () => {
    const outcome = await broker.submitOrder(order('lim-1', { type: 'limit', limitPrice: 99.5, timeInForce: 'gtc' }), CALL);
    expect(outcome).toMatchObject({ kind: 'accepted', order: { type: 'limit', limitPrice: '99.5' } });
    await sim.idle();
    expect(sim.orders()[0]).toMatchObject({ limit_price: '99.5', filled_avg_price: '99.5', time_in_force: 'gtc' });
  });

  it('lookup of an id the broker never saw → not_found', async () => {
    expect(await broker.getOrderByClientOrderId('never-sent', CALL)).toEqual({ kind: 'not_found' });
  });

  it('invalid orders are rejected (422) and nothing is kept', async () => {
    const noLimit = await broker.submitOrder(order('bad-1', { type: 'limit' }), CALL);
    expect(noLimit).toMatchObject({ kind: 'rejected', httpStatus: 422, code: 40010001, message: expect.stringContaining('limit_price is required') });
    const zero = await broker.submitOrder(order('bad-2', { qty: 0 }), CALL);
    expect(zero).toMatchObject({ kind: 'rejected', httpStatus: 422, message: expect.stringContaining('qty must be > 0') });
    // Alpaca takes client_order_id up to 128 characters (haltgate itself keeps to 48).
    const long = await broker.submitOrder(order('x'.repeat(129)), CALL);
    expect(long).toMatchObject({ kind: 'rejected', httpStatus: 422, message: expect.stringContaining('128 characters') });
    expect(sim.orders()).toEqual([]);
    // A refused id was never used: it can still be placed.
    expect(await broker.submitOrder(order('bad-1', { type: 'limit', limitPrice: 10 }), CALL)).toMatchObject({ kind: 'accepted' });
    expect(await broker.submitOrder(order('y'.repeat(128)), CALL)).toMatchObject({ kind: 'accepted' });
  });

  it('insufficient buying power → 403 rejected, nothing placed', async () => {
    sim.faults.set({ insufficientBuyingPowerSymbols: ['TSLA'], maxOrderNotional: 5_000 });
    expect(await broker.submitOrder(order('bp-1', { symbol: 'TSLA', qty: 1 }), CALL)).toMatchObject({
      kind: 'rejected',
      httpStatus: 403,
      code: 40310000,
      message: expect.stringContaining('insufficient buying power'),
    });
    expect(await broker.submitOrder(order('bp-2', { qty: 60 }), CALL)).toMatchObject({ kind: 'rejected', httpStatus: 403 });
    expect(await broker.submitOrder(order('bp-3', { side: 'sell', qty: 60 }), CALL)).toMatchObject({ kind: 'accepted' });
    sim.faults.next(['insufficient_buying_power']);
    expect(await broker.submitOrder(order('bp-4', { qty: 1 }), CALL)).toMatchObject({ kind: 'rejected', httpStatus: 403 });
    expect(sim.orders().map((o) => o.client_order_id)).toEqual(['bp-3']);
  });

  it('client_order_id stays unique after a cancel: resubmitting is a duplicate', async () => {
    sim.faults.set({ fillMode: 'none' });
    const first = await broker.submitOrder(order('dup-1'), CALL);
    expect(first.kind).toBe('accepted');
    const cancelled = await broker.cancelAllOpenOrders(CALL);
    expect(cancelled).toEqual({ kind: 'done', results: [{ orderId: sim.orders()[0]!.id, httpStatus: 200 }] });
    expect(sim.orders()[0]!.status).toBe('canceled');

    expect(await broker.submitOrder(order('dup-1'), CALL)).toMatchObject({
      kind: 'duplicate',
      httpStatus: 422,
      code: 40010001,
      message: expect.stringContaining('client_order_id must be unique'),
    });
    expect(sim.orders()).toHaveLength(1);
  });

  it('cancel-all answers 207 for the open orders only', async () => {
    sim.faults.set({ fillMode: 'none' });
    for (const id of ['c-1', 'c-2', 'c-3']) expect((await broker.submitOrder(order(id), CALL)).kind).toBe('accepted');
    const filled = sim.orders().find((o) => o.client_order_id === 'c-2')!;
    sim.fill(filled.id);

    const outcome = await broker.cancelAllOpenOrders(CALL);
    expect(outcome.kind).toBe('done');
    if (outcome.kind === 'done') {
      expect(outcome.results).toHaveLength(2);
      expect(outcome.results.every((r) => r.httpStatus === 200)).toBe(true);
    }
    expect(sim.orders().map((o) => [o.client_order_id, o.status])).toEqual([
      ['c-1', 'canceled'],
      ['c-2', 'filled'],
      ['c-3', 'canceled'],
    ]);
    expect(sim.requestLog.at(-1)).toMatchObject({ method: 'DELETE', path: '/v2/orders', status: 207 });
    expect(await broker.cancelAllOpenOrders(CALL)).toEqual({ kind: 'done', results: [] });
  });

  it('lists orders by status since a time', async () => {
    sim.faults.set({ fillMode: 'none' });
    const since = new Date(Date.now() - 1_000);
    await broker.submitOrder(order('l-1'), CALL);
    await broker.submitOrder(order('l-2'), CALL);
    sim.fill(sim.orders()[0]!.id);
    const ids = async (status: 'open' | 'closed' | 'all') => {
      const outcome = await broker.listOrders({ since, status }, CALL);
      if (outcome.kind !== 'ok') throw new Error(outcome.message);
      return outcome.items.map((o) => o.clientOrderId);
    };
    expect(await ids('all')).toEqual(['l-1', 'l-2']);
    expect(await ids('open')).toEqual(['l-2']);
    expect(await ids('closed')).toEqual(['l-1']);
    const later = await broker.listOrders({ since: new Date(Date.now() + 60_000) }, CALL);
    expect(later).toMatchObject({ kind: 'ok' });
    expect(later.kind === 'ok' ? later.items : null).toEqual([]);
  });

  it('pages through fills with page_token (partial fills)', async () => {
    sim.faults.set({ fillMode: 'partial', prices: { AAPL: 50 } });
    const since = new Date(Date.now() - 1_000);
    // One after the other: in flight together their fills would interleave, as at Alpaca.
    await broker.submitOrder(order('f-1', { qty: 10 }), CALL);
    await sim.idle();
    await broker.submitOrder(order('f-2', { qty: 3 }), CALL);
    await sim.idle();
    expect(sim.fills().map((f) => [f.type, f.qty])).toEqual([
      ['partial_fill', '5'],
      ['fill', '5'],
      ['partial_fill', '1'],
      ['fill', '2'],
    ]);

    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await broker.listFills({ since, ...(pageToken !== undefined ? { pageToken } : {}) }, CALL);
      if (page.kind !== 'ok') throw new Error(page.message);
      pages += 1;
      seen.push(...page.items.map((f) => `${f.qty}@${f.price}`));
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined && pages < 10);
    expect(seen).toEqual(['5@50', '5@50', '1@50', '2@50']);
    expect(pages).toBe(3); // 2 + 2 + an empty last page
    expect(sim.requestLog.filter((r) => r.path === '/v2/account/activities/FILL').map((r) => r.status)).toEqual([200, 200, 200]);
  });
});

describe('faults', () => {
  it('lost response: unknown, yet the order is placed; lookup finds it and a resubmit is a duplicate', async () => {
    sim.faults.next(['lost_response']);
    const outcome = await broker.submitOrder(order('lost-1'), CALL);
    expect(outcome.kind).toBe('unknown');
    expect(outcome).not.toHaveProperty('httpStatus');
    expect(sim.orders().map((o) => o.client_order_id)).toEqual(['lost-1']);

    expect(await broker.getOrderByClientOrderId('lost-1', CALL)).toMatchObject({ kind: 'found', order: { clientOrderId: 'lost-1' } });
    expect(await broker.submitOrder(order('lost-1'), CALL)).toMatchObject({ kind: 'duplicate' });
    expect(sim.orders()).toHaveLength(1);
    expect(sim.requestLog[0]).toMatchObject({ method: 'POST', path: '/v2/orders', status: 0, fault: 'lost_response', delivered: false });
  });

  it('5xx: unknown and nothing placed (500 JSON, 503 HTML)', async () => {
    sim.faults.next(['5xx', '503']);
    expect(await broker.submitOrder(order('e-1'), CALL)).toMatchObject({ kind: 'unknown', httpStatus: 500 });
    expect(await broker.submitOrder(order('e-1'), CALL)).toMatchObject({ kind: 'unknown', httpStatus: 503 });
    expect(sim.orders()).toEqual([]);
    expect(await broker.getOrderByClientOrderId('e-1', CALL)).toEqual({ kind: 'not_found' });
    // The queue is spent: the next submit behaves.
    expect(await broker.submitOrder(order('e-1'), CALL)).toMatchObject({ kind: 'accepted' });
  });

  it('hang before placing: the adapter times out → unknown, and nothing was placed', async () => {
    sim.faults.next(['hang_before_place']);
    const started = Date.now();
    expect(await broker.submitOrder(order('h-1'), SHORT)).toMatchObject({ kind: 'unknown' });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await broker.getOrderByClientOrderId('h-1', CALL)).toEqual({ kind: 'not_found' });
  });

  it('hang after placing: unknown, and the lookup finds the order', async () => {
    sim.faults.next(['hang_after_place']);
    const outcome = await broker.submitOrder(order('h-2'), SHORT);
    expect(outcome.kind).toBe('unknown');
    expect((outcome as { message: string }).message).toMatch(/within 200 ms/);
    expect(await broker.getOrderByClientOrderId('h-2', CALL)).toMatchObject({ kind: 'found' });
  });

  it('429: not_placed with Retry-After, nothing placed', async () => {
    sim.faults.set({ retryAfterSeconds: 2 });
    sim.faults.next(['rate_limit']);
    expect(await broker.submitOrder(order('r-1'), CALL)).toMatchObject({ kind: 'not_placed', httpStatus: 429, retryAfterMs: 2000 });
    expect(sim.orders()).toEqual([]);
  });

  it('latency: slower answers still succeed; past the timeout the answer is unknown but the order lands', async () => {
    sim.faults.set({ latencyMs: 150 });
    const started = Date.now();
    expect(await broker.submitOrder(order('lat-1'), CALL)).toMatchObject({ kind: 'accepted' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    expect(await broker.submitOrder(order('lat-2'), { timeoutMs: 50 })).toMatchObject({ kind: 'unknown' });
    await new Promise((r) => setTimeout(r, 250));
    sim.faults.set({ latencyMs: 0 });
    expect(await broker.getOrderByClientOrderId('lat-2', CALL)).toMatchObject({ kind: 'found' });
  });

  it('latency ranges stay within bounds', async () => {
    sim.faults.set({ latencyMs: { min: 20, max: 60 } });
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await broker.getOrderByClientOrderId('x', CALL);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(18);
      expect(took).toBeLessThan(1_000);
    }
  });

  it('seeded rates replay the same outcomes', async () => {
    const run = async (): Promise<Array<SubmitOutcome['kind']>> => {
      sim.reset();
      sim.faults.set({ seed: 42, error5xxRate: 0.3, rateLimitRate: 0.2, lostResponseRate: 0.2 });
      const kinds: Array<SubmitOutcome['kind']> = [];
      for (let i = 0; i < 25; i++) kinds.push((await broker.submitOrder(order(`seed-${i}`), CALL)).kind);
      return kinds;
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['accepted', 'unknown', 'not_placed']));
  });

  it('applyRatesTo "all" also hits reads', async () => {
    sim.faults.set({ error5xxRate: 1, applyRatesTo: 'all' });
    expect(await broker.getOrderByClientOrderId('x', CALL)).toMatchObject({ kind: 'unknown', httpStatus: expect.any(Number) });
    expect(await broker.listFills({ since: new Date(0) }, CALL)).toMatchObject({ kind: 'unknown' });
    sim.faults.set({ applyRatesTo: 'submit' });
    expect(await broker.getOrderByClientOrderId('x', CALL)).toEqual({ kind: 'not_found' });
  });

  it('refuses an impossible configuration', () => {
    expect(() => sim.faults.set({ error5xxRate: 0.7, lostResponseRate: 0.7 })).toThrow(/add up/);
    expect(() => sim.faults.set({ error5xxRate: 2 })).toThrow();
    expect(() => sim.faults.set({ latencyMs: { min: 10, max: 5 } })).toThrow(/min/);
    expect(() => sim.faults.set({ bogus: 1 } as never)).toThrow();
    expect(sim.faults.get().error5xxRate).toBe(0);
  });
});

describe('auth', () => {
  it('wrong keys: 401; submit is rejected, lookup unknown, nothing placed', async () => {
    const wrong = createAlpacaBroker({ baseUrl: sim.url, keyId: sim.keyId, secretKey: 'wrong-secret-123', name: 'alpaca-sim' });
    const outcome = await wrong.submitOrder(order('auth-1'), CALL);
    expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: 401, code: 40110000 });
    expect((outcome as { message: string }).message).toMatch(/broker refused the API keys \(401\)/);
    expect(JSON.stringify(outcome)).not.toContain('wrong-secret-123');
    expect(await wrong.getOrderByClientOrderId('auth-1', CALL)).toMatchObject({ kind: 'unknown', httpStatus: 401 });
    expect(sim.orders()).toEqual([]);
    expect(sim.requestLog.map((r) => r.status)).toEqual([401, 401]);
  });

  it('a missing header is a 401 too', async () => {
    const res = await fetch(`${sim.url}/v2/orders`, { headers: { 'APCA-API-KEY-ID': sim.keyId } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: 40110000, message: 'request is not authorized' });
  });
});

describe('HTTP fault control (for a separate chaos process)', () => {
  it('sets faults and a forced queue, shows orders and requests, resets', async () => {
    const set = await control('POST', '/__sim/faults', { next: ['lost_response', 'ok'], fillMode: 'none' });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ config: { fillMode: 'none' }, pending: ['lost_response', 'ok'] });
    expect(sim.faults.pending()).toEqual(['lost_response', 'ok']);

    expect((await broker.submitOrder(order('http-1'), CALL)).kind).toBe('unknown');
    expect((await broker.submitOrder(order('http-2'), CALL)).kind).toBe('accepted');

    // POST /__sim/idle answers once no order has a step pending: both are `new` by then.
    expect(await control('POST', '/__sim/idle')).toEqual({ status: 200, json: { idle: true } });
    const orders = await control('GET', '/__sim/orders');
    expect((orders.json as Array<{ client_order_id: string; status: string }>).map((o) => [o.client_order_id, o.status])).toEqual([
      ['http-1', 'new'],
      ['http-2', 'new'],
    ]);
    const requests = await control('GET', '/__sim/requests');
    expect((requests.json as Array<{ status: number }>).map((r) => r.status)).toEqual([0, 200]);

    const id = (orders.json as Array<{ id: string }>)[0]!.id;
    const filled = await control('POST', `/__sim/orders/${id}/fill`, { qty: 4, price: 12.5 });
    expect(filled.json).toMatchObject({ status: 'partially_filled', filled_qty: '4', filled_avg_price: '12.5' });
    expect(((await control('GET', '/__sim/fills')).json as unknown[]).length).toBe(1);

    expect((await control('POST', '/__sim/reset')).status).toBe(200);
    expect((await control('GET', '/__sim/orders')).json).toEqual([]);
    expect((await control('GET', '/__sim/faults')).json).toMatchObject({ config: { fillMode: 'instant' }, pending: [] });
  });

  it('refuses invalid or misspelt fault requests', async () => {
    expect((await control('POST', '/__sim/faults', { error5xxRate: 2 })).status).toBe(400);
    expect((await control('POST', '/__sim/faults', { errorRate: 0.5 })).status).toBe(400);
    expect((await control('POST', '/__sim/faults', { next: ['explode'] })).status).toBe(400);
    expect((await control('POST', '/__sim/faults', { error5xxRate: 0.9, rateLimitRate: 0.9 })).status).toBe(400);
    expect(sim.faults.get().error5xxRate).toBe(0);
  });

  it('clear: true returns to the start configuration first', async () => {
    sim.faults.set({ error5xxRate: 0.5 });
    sim.faults.next(['5xx']);
    const res = await control('POST', '/__sim/faults', { clear: true, latencyMs: 5 });
    expect(res.json).toMatchObject({ config: { error5xxRate: 0, latencyMs: 5 }, pending: [] });
  });
});

describe('stop', () => {
  it('closes hung connections instead of waiting for them', async () => {
    const own = await startAlpacaSimulator({ keyId: 'k', secretKey: 's' });
    own.faults.next(['hang_before_place']);
    const clientError = new Promise<string>((resolve) => {
      const req = http.request(`${own.url}/v2/orders`, {
        method: 'POST',
        headers: { 'APCA-API-KEY-ID': 'k', 'APCA-API-SECRET-KEY': 's', 'content-type': 'application/json' },
      });
      req.on('error', (err) => resolve(err.message));
      req.on('response', () => resolve('answered'));
      req.end(JSON.stringify({ symbol: 'AAPL', qty: '1', side: 'buy', type: 'market', time_in_force: 'day', client_order_id: 'hang' }));
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(own.requestLog).toHaveLength(1);
    const started = Date.now();
    await own.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await clientError).toMatch(/socket hang up|ECONNRESET/);
    expect(own.orders()).toEqual([]);
  });

  it('cuts a latency pause short', async () => {
    const own = await startAlpacaSimulator({ faults: { latencyMs: 10_000 } });
    const pending = fetch(`${own.url}/v2/orders`, { headers: { 'APCA-API-KEY-ID': own.keyId, 'APCA-API-SECRET-KEY': own.secretKey } }).then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await own.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await pending).toBe('failed');
  });
});
