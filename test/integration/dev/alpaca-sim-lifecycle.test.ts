/**
 * The simulator's Alpaca-like behaviour over plain HTTP (issue 10): asynchronous order course
 * with its delays, reject / expire / replace, foreign and raw activities, `X-RateLimit-*` and
 * the enforced limit, the `/__sim` routes another process uses. The SDK's view of the same
 * answers is alpaca-sim-sdk.test.ts. No emulators.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAlpacaSimulator } from '../../../dev/alpaca-sim/server.js';
import type { AlpacaSimulator, SimOrder } from '../../../dev/alpaca-sim/server.js';

let sim: AlpacaSimulator;
let clock: number | null = null;

async function api(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: {
      'APCA-API-KEY-ID': key ?? sim.keyId,
      'APCA-API-SECRET-KEY': sim.secretKey,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    // not JSON (the 404 page)
  }
  return { status: res.status, json, headers: res.headers };
}

async function control(path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

const submit = (cid: string, extra: Record<string, unknown> = {}) =>
  api('POST', '/v2/orders', { symbol: 'AAPL', qty: '10', side: 'buy', type: 'market', time_in_force: 'day', client_order_id: cid, ...extra });

const statusOf = async (id: string) => ((await api('GET', `/v2/orders/${id}`)).json as SimOrder).status;

beforeAll(async () => {
  sim = await startAlpacaSimulator({ now: () => clock ?? Date.now() });
});

afterAll(async () => {
  await sim.stop();
});

beforeEach(() => {
  sim.reset();
  clock = null;
});

describe('the order runs its course after the answer', () => {
  it('instant (defaults 5 ms / 10 ms): accepted or pending_new, then new, then filled', async () => {
    const placed = await submit('c-1');
    expect(placed.status).toBe(200);
    const order = placed.json as SimOrder;
    expect(['accepted', 'pending_new']).toContain(order.status);
    expect(order).toMatchObject({ order_class: 'simple', legs: null, filled_qty: '0', position_intent: 'buy_to_open', replaced_by: null, replaces: null });
    await sim.idle();
    expect(await statusOf(order.id)).toBe('filled');
    expect(sim.events().map((e) => e.event)).toEqual([order.status, 'new', 'fill']);
    // A sell after the buy closes the position.
    expect(((await submit('c-2', { side: 'sell' })).json as SimOrder).position_intent).toBe('sell_to_close');
  });

  it('the delays are configurable and real: new only after acceptDelayMs, each fill fillDelayMs later', async () => {
    sim.faults.set({ acceptDelayMs: 60, fillDelayMs: 80, fillMode: 'partial' });
    const started = performance.now();
    const id = ((await submit('d-1')).json as SimOrder).id;
    // Watch the order: lower bounds on each moment hold however loaded the machine is.
    const firstSeen = new Map<string, number>();
    while (!firstSeen.has('filled')) {
      const status = await statusOf(id);
      if (!firstSeen.has(status)) firstSeen.set(status, performance.now() - started);
      await new Promise((r) => setTimeout(r, 5));
    }
    const seen = [...firstSeen.keys()];
    expect(seen.slice(1)).toEqual(['new', 'partially_filled', 'filled']);
    expect(['accepted', 'pending_new']).toContain(seen[0]);
    expect(firstSeen.get('new')!).toBeGreaterThanOrEqual(60 - 5);
    expect(firstSeen.get('partially_filled')!).toBeGreaterThanOrEqual(60 + 80 - 5);
    expect(firstSeen.get('filled')!).toBeGreaterThanOrEqual(60 + 2 * 80 - 5);
    expect(sim.fills().map((f) => [f.type, f.qty])).toEqual([
      ['partial_fill', '5'],
      ['fill', '5'],
    ]);
  });

  it('none stays new until filled; advance runs the next step now; a control ends the course', async () => {
    sim.faults.set({ fillMode: 'none', acceptDelayMs: 60_000, submitStatus: 'pending_new' });
    const id = ((await submit('n-1')).json as SimOrder).id;
    expect(await statusOf(id)).toBe('pending_new');
    expect((await control(`/__sim/orders/${id}/advance`)).json).toMatchObject({ status: 'new' });
    expect(await control('/__sim/idle')).toEqual({ status: 200, json: { idle: true } });
    expect(await statusOf(id)).toBe('new');
    expect((await control(`/__sim/orders/${id}/advance`)).status).toBe(422); // nothing pending

    sim.faults.set({ fillMode: 'instant', fillDelayMs: 60_000 });
    const other = ((await submit('n-2')).json as SimOrder).id;
    sim.fill(other, { qty: 2 }); // acknowledges, fills a part, ends the automatic course
    await sim.idle();
    expect(sim.orders().find((o) => o.id === other)).toMatchObject({ status: 'partially_filled', filled_qty: '2' });
  });
});

describe('rejected, expired, replaced', () => {
  beforeEach(() => sim.faults.set({ fillMode: 'none' }));

  it('reject and expire over HTTP; expire keeps filled_qty; closed orders refuse more', async () => {
    const a = ((await submit('r-1')).json as SimOrder).id;
    const rejected = await control(`/__sim/orders/${a}/reject`, { reason: 'no locate' });
    expect(rejected.json).toMatchObject({ status: 'rejected', failed_at: expect.any(String) });
    expect(sim.events().at(-1)).toMatchObject({ orderId: a, event: 'rejected', reason: 'no locate' });
    expect((await control(`/__sim/orders/${a}/expire`)).status).toBe(422);

    const b = ((await submit('e-1')).json as SimOrder).id;
    await control(`/__sim/orders/${b}/fill`, { qty: 4 });
    expect((await control(`/__sim/orders/${b}/expire`)).json).toMatchObject({ status: 'expired', filled_qty: '4', expired_at: expect.any(String) });
    expect(await api('DELETE', `/v2/orders/${b}`)).toMatchObject({ status: 422 });
  });

  it('PATCH /v2/orders/{id} and POST /__sim/orders/:id/replace', async () => {
    sim.faults.set({ acceptDelayMs: 60_000 });
    const old = (await submit('p-1', { type: 'limit', limit_price: '10' })).json as SimOrder;
    expect(await api('PATCH', `/v2/orders/${old.id}`, { limit_price: '11' })).toMatchObject({ status: 422 }); // not new yet
    sim.advance(old.id);
    expect(await api('PATCH', `/v2/orders/${old.id}`, { client_order_id: 'p-1' })).toMatchObject({ status: 422 }); // id in use
    expect(await api('PATCH', `/v2/orders/${old.id}`, {})).toMatchObject({ status: 422 });
    const patched = await api('PATCH', `/v2/orders/${old.id}`, { qty: 4, limit_price: '10.5' });
    expect(patched.status).toBe(200);
    const next = patched.json as SimOrder;
    expect(next).toMatchObject({ replaces: old.id, qty: '4', limit_price: '10.5', type: 'limit', filled_qty: '0' });
    expect(next.client_order_id).not.toBe('p-1');
    expect(sim.orders().find((o) => o.id === old.id)).toMatchObject({ status: 'replaced', replaced_by: next.id, replaced_at: expect.any(String) });
    expect(await api('PATCH', `/v2/orders/${old.id}`, { qty: 5 })).toMatchObject({ status: 422 });

    // The control acknowledges first, so it works on an order still `accepted`.
    const third = await control(`/__sim/orders/${next.id}/replace`, { time_in_force: 'gtc', client_order_id: 'p-3' });
    expect(third.json).toMatchObject({ replaces: next.id, client_order_id: 'p-3', time_in_force: 'gtc', qty: '4' });
    expect(await api('PATCH', '/v2/orders/nope', { qty: 1 })).toMatchObject({ status: 404 });
  });
});

describe('what Alpaca also sends', () => {
  it('403 with buying_power and cost_basis, also for the forced fault', async () => {
    sim.faults.set({ insufficientBuyingPowerSymbols: ['TSLA'], maxOrderNotional: 500, prices: { TSLA: 300 } });
    expect(await submit('b-1', { symbol: 'TSLA', qty: '1' })).toMatchObject({
      status: 403,
      json: { code: 40310000, message: 'insufficient buying power', buying_power: '0', cost_basis: '300' },
    });
    expect(await submit('b-2', { qty: '6' })).toMatchObject({ status: 403, json: { buying_power: '500', cost_basis: '600' } });
    sim.faults.next(['insufficient_buying_power']);
    expect(await submit('b-3', { qty: '1' })).toMatchObject({ status: 403, json: { buying_power: '0', cost_basis: '100' } });
  });

  it('client_order_id up to 128 characters', async () => {
    expect((await submit('a'.repeat(128))).status).toBe(200);
    expect(await submit('b'.repeat(129))).toMatchObject({ status: 422, json: { code: 40010001 } });
  });

  it('GET /v2/orders defaults to open, 50, desc; limit above 500 is clamped; bad parameters are 422', async () => {
    sim.faults.set({ fillMode: 'none' });
    clock = Date.parse('2026-03-02T15:00:00Z');
    for (let i = 0; i < 55; i++) {
      clock += 1;
      await submit(`o-${i}`);
    }
    const page = (await api('GET', '/v2/orders')).json as SimOrder[];
    expect(page).toHaveLength(50);
    expect(page[0]!.client_order_id).toBe('o-54');
    expect(((await api('GET', '/v2/orders?limit=1000')).json as SimOrder[]).length).toBe(55);
    for (const bad of ['status=done', 'limit=0', 'direction=up', 'nested=yes', 'after=noon', 'side=short']) {
      expect((await api('GET', `/v2/orders?${bad}`)).status, bad).toBe(422);
    }
  });

  it('foreign orders and raw fills over HTTP; a raw fill pages like any other', async () => {
    const mleg = await control('/__sim/foreign-orders', {
      order_class: 'mleg',
      status: 'partially_filled',
      legs: [
        { symbol: 'SPY260320P00500000', side: 'buy', qty: '2', filled_qty: '1', asset_class: 'us_option' },
        { symbol: 'SPY260320P00490000', side: 'sell', qty: '2', asset_class: 'us_option' },
      ],
      fill_price: 3,
    });
    expect(mleg.status).toBe(200);
    expect(mleg.json).toMatchObject({ order_class: 'mleg', symbol: '', side: '', legs: [{ ratio_qty: '2' }, { ratio_qty: '2' }] });
    expect((await control('/__sim/foreign-orders', { side: 'buy' })).status).toBe(422); // no symbol
    expect((await control('/__sim/foreign-orders', { symbol: 'AAPL', colour: 'red' })).status).toBe(422);

    expect((await control('/__sim/fills/raw', { activity_type: 'FILL', id: 'raw::1', order_id: 'x', symbol: 'AAPL', qty: '1' })).status).toBe(200);
    const fills = await api('GET', '/v2/account/activities/FILL?direction=asc&page_size=1');
    expect(fills.json).toMatchObject([{ symbol: 'SPY260320P00500000', qty: '1', price: '3', type: 'partial_fill' }]);
    const next = await api('GET', `/v2/account/activities/FILL?direction=asc&page_size=1&page_token=${encodeURIComponent((fills.json as Array<{ id: string }>)[0]!.id)}`);
    expect(next.json).toEqual([{ activity_type: 'FILL', id: 'raw::1', order_id: 'x', symbol: 'AAPL', qty: '1' }]);
    sim.addRawFill('not even an object');
    expect(sim.fills().at(-1)).toBe('not even an object');
  });
});

describe('rate limit', () => {
  it('X-RateLimit-* on every API answer (401 and 404 too), per key, none on /__sim', async () => {
    clock = Date.parse('2026-03-02T15:00:30Z');
    const a = await api('GET', '/v2/orders');
    expect([a.headers.get('x-ratelimit-limit'), a.headers.get('x-ratelimit-remaining'), a.headers.get('x-ratelimit-reset')]).toEqual([
      '200',
      '199',
      String(Date.parse('2026-03-02T15:01:00Z') / 1000),
    ]);
    expect((await api('GET', '/v2/nothing')).headers.get('x-ratelimit-remaining')).toBe('198');
    const stranger = await api('GET', '/v2/orders', undefined, 'someone-else');
    expect(stranger.status).toBe(401);
    expect(stranger.headers.get('x-ratelimit-remaining')).toBe('199');
    const ctl = await fetch(`${sim.url}/__sim/orders`);
    expect(ctl.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('not enforced by default; enforced: 429 beyond the limit, without Retry-After, until the next minute', async () => {
    clock = Date.parse('2026-03-02T15:00:00Z');
    sim.faults.set({ rateLimitPerMinute: 2 });
    for (let i = 0; i < 3; i++) expect((await api('GET', '/v2/orders')).status).toBe(200);
    sim.faults.set({ enforceRateLimit: true });
    const limited = await api('GET', '/v2/orders');
    expect(limited).toMatchObject({ status: 429, json: { code: 42910000 } });
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('retry-after')).toBeNull();
    expect((await submit('rl-1')).status).toBe(429);
    expect(sim.orders()).toEqual([]);
    clock += 60_000;
    expect((await submit('rl-1')).status).toBe(200);
  });

  it('the random rateLimitRate fault keeps its Retry-After and reports the configured limit', async () => {
    sim.faults.set({ rateLimitPerMinute: 150 });
    sim.faults.set({ rateLimitRate: 1 });
    const r = await submit('f-1');
    expect(r.status).toBe(429);
    expect([r.headers.get('retry-after'), r.headers.get('x-ratelimit-limit'), r.headers.get('x-ratelimit-remaining')]).toEqual(['1', '150', '0']);
  });
});
