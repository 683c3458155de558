import { describe, expect, it } from 'vitest';
import { ALPACA_BASE_URLS, createAlpacaBroker, decimalString } from '../../../functions/src/broker/alpaca.js';
import type { OrderRequest } from '../../../functions/src/broker/broker.js';

const SECRET = 'sk-SECRET-7f3a9c';
const KEY_ID = 'PKTESTKEYID';
const BASE = 'https://broker.example';
const CALL = { timeoutMs: 1_000 };

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal | undefined;
}

type Responder = (call: Call) => Response | Promise<Response>;

function stubFetch(respond: Responder) {
  const calls: Call[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === 'string' ? init.body : undefined,
      signal: init?.signal ?? undefined,
    };
    calls.push(call);
    return respond(call);
  }) as typeof fetch;
  return { fetchImpl, calls };
}

function brokerWith(respond: Responder, extra: { fillsPageSize?: number; now?: () => number } = {}) {
  const { fetchImpl, calls } = stubFetch(respond);
  const broker = createAlpacaBroker({ baseUrl: BASE, keyId: KEY_ID, secretKey: SECRET, name: 'alpaca-test', fetch: fetchImpl, ...extra });
  return { broker, calls };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

function alpacaOrder(overrides: Record<string, unknown> = {}) {
  return {
    id: '61e69015-8549-4bfd-b9c3-01e75843f47d',
    client_order_id: 'intent-1',
    created_at: '2026-01-02T14:30:00.123456Z',
    updated_at: '2026-01-02T14:30:00.123456Z',
    submitted_at: '2026-01-02T14:30:00.120000Z',
    filled_at: null,
    asset_class: 'us_equity',
    symbol: 'AAPL',
    qty: '10',
    filled_qty: '0',
    filled_avg_price: null,
    order_type: 'market',
    type: 'market',
    side: 'buy',
    time_in_force: 'day',
    limit_price: null,
    stop_price: null,
    status: 'accepted',
    extended_hours: false,
    some_future_field: { nested: true },
    ...overrides,
  };
}

const marketOrder: OrderRequest = { clientOrderId: 'intent-1', symbol: 'AAPL', side: 'buy', qty: 10, type: 'market', timeInForce: 'day' };
const limitOrder: OrderRequest = { ...marketOrder, type: 'limit', limitPrice: 187.25, timeInForce: 'gtc' };

/** A fetch that only settles when its signal aborts, as undici does. */
const neverUntilAborted: Responder = (call) =>
  new Promise<Response>((_, reject) => {
    call.signal?.addEventListener('abort', () => reject(call.signal?.reason), { once: true });
  });

describe('ALPACA_BASE_URLS', () => {
  it('names the paper and live endpoints', () => {
    expect(ALPACA_BASE_URLS).toEqual({ paper: 'https://paper-api.alpaca.markets', live: 'https://api.alpaca.markets' });
  });
});

describe('submitOrder request shape', () => {
  it('posts to /v2/orders with both auth headers and string decimals', async () => {
    const { broker, calls } = brokerWith(() => json(200, alpacaOrder()));
    await broker.submitOrder(marketOrder, CALL);
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe(`${BASE}/v2/orders`);
    expect(call.headers['apca-api-key-id']).toBe(KEY_ID);
    expect(call.headers['apca-api-secret-key']).toBe(SECRET);
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.signal).toBeInstanceOf(AbortSignal);
    expect(JSON.parse(call.body!)).toEqual({
      symbol: 'AAPL',
      qty: '10',
      side: 'buy',
      type: 'market',
      time_in_force: 'day',
      client_order_id: 'intent-1',
    });
  });

  it('sends limit_price, as a string, only for a limit order', async () => {
    const { broker, calls } = brokerWith(() => json(200, alpacaOrder({ type: 'limit', limit_price: '187.25' })));
    await broker.submitOrder(limitOrder, CALL);
    expect(JSON.parse(calls[0]!.body!)).toMatchObject({ type: 'limit', limit_price: '187.25', time_in_force: 'gtc' });

    await broker.submitOrder({ ...marketOrder, limitPrice: 5 }, CALL);
    expect(JSON.parse(calls[1]!.body!)).not.toHaveProperty('limit_price');
  });

  it('never sends exponent notation', async () => {
    const { broker, calls } = brokerWith(() => json(200, alpacaOrder()));
    await broker.submitOrder({ ...marketOrder, qty: 1e-7 }, CALL);
    expect(JSON.parse(calls[0]!.body!).qty).toBe('0.0000001');
    expect(decimalString(1.23e-9)).toBe('0.00000000123');
    expect(decimalString(0.5)).toBe('0.5');
    expect(decimalString(1e21)).toBe('1000000000000000000000');
  });

  it('strips a trailing slash from the base URL', async () => {
    const { fetchImpl, calls } = stubFetch(() => json(200, alpacaOrder()));
    const broker = createAlpacaBroker({ baseUrl: `${BASE}/`, keyId: KEY_ID, secretKey: SECRET, name: 'x', fetch: fetchImpl });
    await broker.submitOrder(marketOrder, CALL);
    expect(calls[0]!.url).toBe(`${BASE}/v2/orders`);
  });

  it('refuses a non-positive timeout before sending anything', async () => {
    const { broker, calls } = brokerWith(() => json(200, alpacaOrder()));
    await expect(broker.submitOrder(marketOrder, { timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(broker.submitOrder(marketOrder, { timeoutMs: Number.NaN })).rejects.toThrow(RangeError);
    expect(calls).toHaveLength(0);
  });
});

describe('submitOrder classification', () => {
  it('201/200 with a valid order body → accepted, mapped to BrokerOrder', async () => {
    for (const status of [200, 201]) {
      const { broker } = brokerWith(() => json(status, alpacaOrder({ type: 'limit', limit_price: '187.25', filled_avg_price: null })));
      const outcome = await broker.submitOrder(limitOrder, CALL);
      expect(outcome).toEqual({
        kind: 'accepted',
        order: {
          id: '61e69015-8549-4bfd-b9c3-01e75843f47d',
          clientOrderId: 'intent-1',
          status: 'accepted',
          symbol: 'AAPL',
          side: 'buy',
          qty: '10',
          filledQty: '0',
          filledAvgPrice: null,
          type: 'limit',
          limitPrice: '187.25',
          submittedAt: '2026-01-02T14:30:00.120000Z',
          createdAt: '2026-01-02T14:30:00.123456Z',
          updatedAt: '2026-01-02T14:30:00.123456Z',
          assetClass: 'us_equity',
        },
      });
    }
  });

  it('accepts a notional order body (qty null) and absent optional fields', async () => {
    const body = alpacaOrder({ qty: null });
    delete (body as Record<string, unknown>).limit_price;
    delete (body as Record<string, unknown>).submitted_at;
    const { broker } = brokerWith(() => json(200, body));
    const outcome = await broker.submitOrder(marketOrder, CALL);
    expect(outcome.kind).toBe('accepted');
    if (outcome.kind === 'accepted') {
      expect(outcome.order.qty).toBeNull();
      expect(outcome.order.limitPrice).toBeNull();
      expect(outcome.order.submittedAt).toBeNull();
    }
  });

  it('2xx with a garbage body → unknown (the order may be placed)', async () => {
    const bodies: Array<() => Response> = [
      () => new Response('<html>ok</html>', { status: 200 }),
      () => new Response('', { status: 201 }),
      () => json(200, { id: 'x' }),
      () => json(200, [alpacaOrder()]),
      () => json(200, alpacaOrder({ filled_qty: null })),
    ];
    for (const make of bodies) {
      const { broker } = brokerWith(make);
      const outcome = await broker.submitOrder(marketOrder, CALL);
      expect(outcome).toMatchObject({ kind: 'unknown', httpStatus: expect.any(Number) });
      expect((outcome as { message: string }).message).toMatch(/may have been placed/);
    }
  });

  it('2xx with an order for another client_order_id → unknown', async () => {
    const { broker } = brokerWith(() => json(200, alpacaOrder({ client_order_id: 'someone-else' })));
    expect(await broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'unknown', httpStatus: 200 });
  });

  it('422 "client_order_id must be unique" → duplicate, code kept', async () => {
    const { broker } = brokerWith(() => json(422, { code: 40010001, message: 'client_order_id must be unique' }));
    expect(await broker.submitOrder(marketOrder, CALL)).toMatchObject({
      kind: 'duplicate',
      httpStatus: 422,
      code: 40010001,
      message: expect.stringContaining('client_order_id must be unique'),
    });
  });

  it('recognises the duplicate message without a code, in either spelling', async () => {
    for (const message of ['client order id must be unique', 'Client_Order_ID must be unique']) {
      const { broker } = brokerWith(() => json(422, { message }));
      expect(await broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'duplicate', httpStatus: 422 });
    }
  });

  it('422 with the generic code 40010001 but another message → rejected, not duplicate', async () => {
    // 40010001 is Alpaca's generic "invalid request" code; only the message identifies a duplicate.
    const { broker } = brokerWith(() => json(422, { code: 40010001, message: 'qty must be > 0' }));
    expect(await broker.submitOrder(marketOrder, CALL)).toMatchObject({
      kind: 'rejected',
      httpStatus: 422,
      code: 40010001,
      message: expect.stringContaining('qty must be > 0'),
    });
  });

  it('422 without a readable error body → unknown (could be a duplicate)', async () => {
    for (const make of [() => new Response('<html>422</html>', { status: 422 }), () => json(422, {})]) {
      const { broker } = brokerWith(make);
      expect(await broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'unknown', httpStatus: 422 });
    }
  });

  it('403 insufficient buying power → rejected', async () => {
    const { broker } = brokerWith(() => json(403, { code: 40310000, message: 'insufficient buying power' }));
    expect(await broker.submitOrder(marketOrder, CALL)).toEqual({
      kind: 'rejected',
      httpStatus: 403,
      code: 40310000,
      message: 'alpaca-test answered 403: insufficient buying power (code 40310000)',
    });
  });

  it('400 and 404 → rejected, even with a non-JSON body', async () => {
    for (const status of [400, 404]) {
      const { broker } = brokerWith(() => new Response('nope', { status }));
      const outcome = await broker.submitOrder(marketOrder, CALL);
      expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: status });
      expect(outcome).not.toHaveProperty('code');
    }
  });

  it('401 → rejected with an operator-facing message about the keys', async () => {
    const { broker } = brokerWith(() => json(401, { code: 40110000, message: 'request is not authorized' }));
    const outcome = await broker.submitOrder(marketOrder, CALL);
    expect(outcome).toMatchObject({ kind: 'rejected', httpStatus: 401, code: 40110000 });
    expect((outcome as { message: string }).message).toMatch(/^broker refused the API keys \(401\)/);
  });

  it('429 → not_placed with Retry-After in ms (seconds form)', async () => {
    const { broker } = brokerWith(() => json(429, { code: 42910000, message: 'rate limit exceeded' }, { 'retry-after': '3' }));
    expect(await broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'not_placed', httpStatus: 429, retryAfterMs: 3000 });
  });

  it('429 → not_placed with Retry-After as an HTTP date, or X-RateLimit-Reset, or neither', async () => {
    const now = Date.parse('2026-01-02T14:30:00Z');
    const dated = brokerWith(() => json(429, {}, { 'retry-after': 'Fri, 02 Jan 2026 14:30:05 GMT' }), { now: () => now });
    expect(await dated.broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'not_placed', retryAfterMs: 5000 });

    const reset = brokerWith(() => json(429, {}, { 'x-ratelimit-reset': String(now / 1000 + 7) }), { now: () => now });
    expect(await reset.broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'not_placed', retryAfterMs: 7000 });

    const bare = brokerWith(() => new Response('slow down', { status: 429 }));
    const outcome = await bare.broker.submitOrder(marketOrder, CALL);
    expect(outcome).toMatchObject({ kind: 'not_placed', httpStatus: 429 });
    expect(outcome).not.toHaveProperty('retryAfterMs');
  });

  it('500 and 503 → unknown', async () => {
    const five = brokerWith(() => json(500, { code: 50010000, message: 'internal server error' }));
    expect(await five.broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'unknown', httpStatus: 500 });
    const lb = brokerWith(() => new Response('<html>503 Service Unavailable</html>', { status: 503, headers: { 'content-type': 'text/html' } }));
    const outcome = await lb.broker.submitOrder(marketOrder, CALL);
    expect(outcome).toMatchObject({ kind: 'unknown', httpStatus: 503 });
    expect((outcome as { message: string }).message).toMatch(/503 Service Unavailable.*may have been placed/);
  });

  it('a redirect or an unexpected status → unknown', async () => {
    for (const status of [302, 409, 408]) {
      const { broker } = brokerWith(() => new Response(null, { status, headers: status === 302 ? { location: '/x' } : {} }));
      expect(await broker.submitOrder(marketOrder, CALL)).toMatchObject({ kind: 'unknown', httpStatus: status });
    }
  });

  it('fetch throws (network error) → unknown', async () => {
    const { broker } = brokerWith(() => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    });
    const outcome = await broker.submitOrder(marketOrder, CALL);
    expect(outcome.kind).toBe('unknown');
    expect(outcome).not.toHaveProperty('httpStatus');
    expect((outcome as { message: string }).message).toMatch(/network error.*UND_ERR_SOCKET other side closed.*may have been placed/);
  });

  it('no answer within timeoutMs → unknown, and the request signal is aborted', async () => {
    const { broker, calls } = brokerWith(neverUntilAborted);
    const started = Date.now();
    const outcome = await broker.submitOrder(marketOrder, { timeoutMs: 50 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outcome.kind).toBe('unknown');
    expect((outcome as { message: string }).message).toMatch(/no answer .* within 50 ms; the order may have been placed/);
    expect(calls[0]!.signal!.aborted).toBe(true);
  });

  it('times out even when fetch ignores its signal', async () => {
    const { broker } = brokerWith(() => new Promise<Response>(() => undefined));
    expect(await broker.submitOrder(marketOrder, { timeoutMs: 30 })).toMatchObject({ kind: 'unknown' });
  });

  it('times out while the body is still arriving → unknown with the status', async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"id":'));
      },
    });
    const { broker } = brokerWith(() => new Response(stalled, { status: 200 }));
    const outcome = await broker.submitOrder(marketOrder, { timeoutMs: 50 });
    expect(outcome).toMatchObject({ kind: 'unknown', httpStatus: 200 });
    expect((outcome as { message: string }).message).toMatch(/body not received within 50 ms/);
  });
});

describe('the secret key never leaves in an outcome', () => {
  const echoes: Responder[] = [
    () => json(200, alpacaOrder({ client_order_id: `leak-${SECRET}` })),
    () => json(200, { bogus: SECRET }),
    () => new Response(`not json ${SECRET}`, { status: 201 }),
    () => json(422, { code: 40010001, message: `bad key ${SECRET}` }),
    () => json(422, { code: 40010001, message: `client_order_id must be unique ${SECRET}` }),
    () => json(403, { message: `forbidden for ${SECRET}` }),
    () => json(401, { message: `unknown secret ${SECRET}` }),
    () => json(429, { message: SECRET }),
    () => new Response(`upstream said ${SECRET}`, { status: 500 }),
    () => new Response(`<html>${SECRET}</html>`, { status: 503 }),
    () => {
      throw new TypeError(`fetch failed for ${SECRET}`, { cause: new Error(`socket ${SECRET}`) });
    },
    neverUntilAborted,
  ];

  it('in submit, lookup, cancel-all and listing outcomes', async () => {
    for (const respond of echoes) {
      const { broker } = brokerWith(respond);
      const outcomes = [
        await broker.submitOrder(marketOrder, { timeoutMs: 50 }),
        await broker.getOrderByClientOrderId('intent-1', { timeoutMs: 50 }),
        await broker.cancelAllOpenOrders({ timeoutMs: 50 }),
        await broker.listOrders({ since: new Date(0) }, { timeoutMs: 50 }),
        await broker.listFills({ since: new Date(0) }, { timeoutMs: 50 }),
      ];
      for (const outcome of outcomes) expect(JSON.stringify(outcome)).not.toContain(SECRET);
    }
  });
});

describe('getOrderByClientOrderId', () => {
  it('GETs /v2/orders:by_client_order_id with the id as a query parameter', async () => {
    const { broker, calls } = brokerWith(() => json(200, alpacaOrder({ client_order_id: 'hg.a/b+c' })));
    const outcome = await broker.getOrderByClientOrderId('hg.a/b+c', CALL);
    expect(calls[0]!.method).toBe('GET');
    expect(calls[0]!.url).toBe(`${BASE}/v2/orders:by_client_order_id?client_order_id=hg.a%2Fb%2Bc`);
    expect(calls[0]!.headers['apca-api-secret-key']).toBe(SECRET);
    expect(outcome).toMatchObject({ kind: 'found', order: { clientOrderId: 'hg.a/b+c', id: '61e69015-8549-4bfd-b9c3-01e75843f47d' } });
  });

  it("404 with Alpaca's not-found body → not_found", async () => {
    const { broker } = brokerWith(() => json(404, { code: 40410000, message: 'order not found' }));
    expect(await broker.getOrderByClientOrderId('intent-1', CALL)).toEqual({ kind: 'not_found' });
  });

  it('a 404 that is not Alpaca speaking (proxy page, wrong base URL) → unknown', async () => {
    const { broker } = brokerWith(() => new Response('404 page not found', { status: 404 }));
    expect(await broker.getOrderByClientOrderId('intent-1', CALL)).toMatchObject({ kind: 'unknown', httpStatus: 404 });
  });

  it('everything else → unknown', async () => {
    const cases: Array<[Responder, number | undefined]> = [
      [() => json(401, { code: 40110000, message: 'request is not authorized' }), 401],
      [() => json(500, { message: 'boom' }), 500],
      [() => json(429, { message: 'slow' }), 429],
      [() => json(200, { garbage: true }), 200],
      [() => json(200, alpacaOrder({ client_order_id: 'other' })), 200],
      [neverUntilAborted, undefined],
      [
        () => {
          throw new TypeError('fetch failed');
        },
        undefined,
      ],
    ];
    for (const [respond, httpStatus] of cases) {
      const { broker } = brokerWith(respond);
      const outcome = await broker.getOrderByClientOrderId('intent-1', { timeoutMs: 50 });
      expect(outcome.kind).toBe('unknown');
      if (httpStatus === undefined) expect(outcome).not.toHaveProperty('httpStatus');
      else expect(outcome).toMatchObject({ httpStatus });
    }
  });
});

describe('cancelAllOpenOrders', () => {
  it('DELETE /v2/orders; 207 multi-status → done with per-order statuses', async () => {
    const { broker, calls } = brokerWith(() =>
      json(207, [
        { id: 'o1', status: 200, body: alpacaOrder({ id: 'o1', status: 'pending_cancel' }) },
        { id: 'o2', status: 500, body: { code: 50010000, message: 'cannot cancel' } },
      ]),
    );
    expect(await broker.cancelAllOpenOrders(CALL)).toEqual({
      kind: 'done',
      results: [
        { orderId: 'o1', httpStatus: 200 },
        { orderId: 'o2', httpStatus: 500 },
      ],
    });
    expect(calls[0]).toMatchObject({ method: 'DELETE', url: `${BASE}/v2/orders` });
  });

  it('200 [] and 204 → done with no results', async () => {
    expect(await brokerWith(() => json(200, [])).broker.cancelAllOpenOrders(CALL)).toEqual({ kind: 'done', results: [] });
    expect(await brokerWith(() => new Response(null, { status: 204 })).broker.cancelAllOpenOrders(CALL)).toEqual({ kind: 'done', results: [] });
  });

  it('an invalid body, an error status or a timeout → unknown', async () => {
    expect(await brokerWith(() => json(207, [{ status: 200 }])).broker.cancelAllOpenOrders(CALL)).toMatchObject({ kind: 'unknown', httpStatus: 207 });
    expect(await brokerWith(() => json(500, {})).broker.cancelAllOpenOrders(CALL)).toMatchObject({ kind: 'unknown', httpStatus: 500 });
    expect(await brokerWith(neverUntilAborted).broker.cancelAllOpenOrders({ timeoutMs: 30 })).toMatchObject({ kind: 'unknown' });
  });
});

describe('listOrders', () => {
  it('queries status/after/limit/direction and maps the orders', async () => {
    const { broker, calls } = brokerWith(() => json(200, [alpacaOrder(), alpacaOrder({ id: 'o2', client_order_id: 'intent-2', status: 'filled' })]));
    const outcome = await broker.listOrders({ since: new Date('2026-01-02T00:00:00Z'), status: 'closed', limit: 20 }, CALL);
    const url = new URL(calls[0]!.url);
    expect(url.pathname).toBe('/v2/orders');
    expect(Object.fromEntries(url.searchParams)).toEqual({ status: 'closed', after: '2026-01-02T00:00:00.000Z', limit: '20', direction: 'asc' });
    expect(outcome.kind).toBe('ok');
    if (outcome.kind === 'ok') expect(outcome.items.map((o) => [o.clientOrderId, o.status])).toEqual([
      ['intent-1', 'accepted'],
      ['intent-2', 'filled'],
    ]);
  });

  it('defaults to status=all and the maximum limit, clamping larger ones', async () => {
    const { broker, calls } = brokerWith(() => json(200, []));
    await broker.listOrders({ since: new Date(0) }, CALL);
    await broker.listOrders({ since: new Date(0), limit: 10_000 }, CALL);
    expect(new URL(calls[0]!.url).searchParams.get('status')).toBe('all');
    expect(new URL(calls[0]!.url).searchParams.get('limit')).toBe('500');
    expect(new URL(calls[1]!.url).searchParams.get('limit')).toBe('500');
  });

  // Issue 10: an odd element is set aside with its reason; it never makes the listing unknown.
  it('one invalid element is set aside with its reason, the others are used', async () => {
    const mleg = { ...alpacaOrder({ id: 'o-mleg', client_order_id: 'manual-mleg' }), symbol: '', side: '', order_class: 'mleg', legs: [{ symbol: 'AAPL260117C00200000' }] };
    const { broker } = brokerWith(() => json(200, [alpacaOrder(), { id: 'broken' }, mleg]));
    const outcome = await broker.listOrders({ since: new Date(0) }, CALL);
    expect(outcome).toMatchObject({ kind: 'ok', items: [{ clientOrderId: 'intent-1' }] });
    if (outcome.kind !== 'ok') return;
    expect(outcome.items).toHaveLength(1);
    expect(outcome.unreadable).toEqual([
      expect.objectContaining({ id: 'broken', clientOrderId: null, reason: expect.stringMatching(/unreadable order: client_order_id/) }),
      expect.objectContaining({ id: 'o-mleg', clientOrderId: 'manual-mleg', reason: expect.stringMatching(/^multi-leg order.*symbol/) }),
    ]);
  });

  it('until and direction are passed on; a body that is not a list is still unknown', async () => {
    const { broker, calls } = brokerWith(() => json(200, { orders: [] }));
    const outcome = await broker.listOrders({ since: new Date(0), until: new Date('2026-01-03T00:00:00Z'), direction: 'desc' }, CALL);
    expect(new URL(calls[0]!.url).searchParams.get('until')).toBe('2026-01-03T00:00:00.000Z');
    expect(new URL(calls[0]!.url).searchParams.get('direction')).toBe('desc');
    expect(outcome).toMatchObject({ kind: 'unknown', httpStatus: 200 });
  });
});

describe('listFills', () => {
  const fill = (id: string) => ({
    activity_type: 'FILL',
    id,
    order_id: 'o1',
    symbol: 'AAPL',
    side: 'buy',
    qty: '5',
    price: '187.2',
    cum_qty: '5',
    leaves_qty: '5',
    transaction_time: '2026-01-02T14:30:01.000Z',
    type: 'partial_fill',
  });

  it('asks for one ascending page after `since`, and hands back the last id when the page is full', async () => {
    const { broker, calls } = brokerWith(() => json(200, [fill('a::1'), fill('b::2')]), { fillsPageSize: 2 });
    const outcome = await broker.listFills({ since: new Date('2026-01-02T00:00:00Z') }, CALL);
    const url = new URL(calls[0]!.url);
    expect(url.pathname).toBe('/v2/account/activities/FILL');
    expect(Object.fromEntries(url.searchParams)).toEqual({ after: '2026-01-02T00:00:00.000Z', direction: 'asc', page_size: '2' });
    expect(outcome).toEqual({
      kind: 'ok',
      nextPageToken: 'b::2',
      items: [
        { id: 'a::1', orderId: 'o1', symbol: 'AAPL', side: 'buy', qty: '5', price: '187.2', transactionTime: '2026-01-02T14:30:01.000Z' },
        { id: 'b::2', orderId: 'o1', symbol: 'AAPL', side: 'buy', qty: '5', price: '187.2', transactionTime: '2026-01-02T14:30:01.000Z' },
      ],
    });
  });

  it('passes page_token on, and a short page has no successor', async () => {
    const { broker, calls } = brokerWith(() => json(200, [fill('c::3')]), { fillsPageSize: 2 });
    const outcome = await broker.listFills({ since: new Date(0), pageToken: 'b::2' }, CALL);
    expect(new URL(calls[0]!.url).searchParams.get('page_token')).toBe('b::2');
    expect(outcome).toMatchObject({ kind: 'ok', items: [{ id: 'c::3' }] });
    expect(outcome).not.toHaveProperty('nextPageToken');
  });

  // Issue 10: an unreadable fill is handed back for the ledger to quarantine, not a failed listing.
  it('an invalid fill is set aside with its reason; an error status or a non-list body → unknown', async () => {
    const outcome = await brokerWith(() => json(200, [fill('a'), { ...fill('x'), price: null }])).broker.listFills({ since: new Date(0) }, CALL);
    expect(outcome).toMatchObject({ kind: 'ok', items: [{ id: 'a' }], unreadable: [{ id: 'x', orderId: 'o1', time: '2026-01-02T14:30:01.000Z', reason: expect.stringMatching(/price/) }] });
    expect(outcome).not.toHaveProperty('nextPageToken');
    expect(await brokerWith(() => json(403, { message: 'no' })).broker.listFills({ since: new Date(0) }, CALL)).toMatchObject({ kind: 'unknown', httpStatus: 403 });
    expect(await brokerWith(() => json(200, { activities: [] })).broker.listFills({ since: new Date(0) }, CALL)).toMatchObject({ kind: 'unknown', httpStatus: 200 });
  });

  it('a full page pages on from its last activity, readable or not; without an id there it is unknown', async () => {
    const full = await brokerWith(() => json(200, [fill('a'), { ...fill('z'), qty: null }]), { fillsPageSize: 2 }).broker.listFills({ since: new Date(0) }, CALL);
    expect(full).toMatchObject({ kind: 'ok', nextPageToken: 'z', items: [{ id: 'a' }], unreadable: [{ id: 'z' }] });
    const noId = await brokerWith(() => json(200, [fill('a'), { ...fill('z'), id: undefined }]), { fillsPageSize: 2 }).broker.listFills({ since: new Date(0) }, CALL);
    expect(noId).toMatchObject({ kind: 'unknown', message: expect.stringMatching(/no id/) });
  });
});

describe('construction', () => {
  it('refuses a base URL that is not http(s) and a bad page size', () => {
    expect(() => createAlpacaBroker({ baseUrl: 'not a url', keyId: 'k', secretKey: 's', name: 'x' })).toThrow(/not a URL/);
    expect(() => createAlpacaBroker({ baseUrl: 'ftp://x', keyId: 'k', secretKey: 's', name: 'x' })).toThrow(/http/);
    expect(() => createAlpacaBroker({ baseUrl: BASE, keyId: 'k', secretKey: 's', name: 'x', fillsPageSize: 101 })).toThrow(/fillsPageSize/);
  });

  it('keeps the name it was given', () => {
    expect(createAlpacaBroker({ baseUrl: ALPACA_BASE_URLS.paper, keyId: 'k', secretKey: 's', name: 'alpaca-paper' }).name).toBe('alpaca-paper');
  });
});
