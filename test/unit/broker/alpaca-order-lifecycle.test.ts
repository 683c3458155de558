/**
 * The adapter's part of the order lifecycle (issue 10): `GET /v2/orders/{id}`, the
 * `updated_at` / `replaced_by` fields, and the `X-RateLimit-*` headers on lookups and listings.
 */
import { describe, expect, it } from 'vitest';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';

const SECRET = 'sk-SECRET-lifecycle';
const BASE = 'https://broker.example';
const CALL = { timeoutMs: 1_000 };
const NOW = Date.parse('2026-03-02T15:00:00Z');

function brokerWith(respond: (url: string) => Response) {
  const urls: string[] = [];
  const fetchImpl = (async (input: string | URL | Request) => {
    urls.push(String(input));
    return respond(String(input));
  }) as typeof fetch;
  return { broker: createAlpacaBroker({ baseUrl: BASE, keyId: 'PK', secretKey: SECRET, name: 'alpaca-test', fetch: fetchImpl, now: () => NOW }), urls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const order = (over: Record<string, unknown> = {}) => ({
  id: 'o-1',
  client_order_id: 'intent-1',
  created_at: '2026-03-02T14:59:00.000001Z',
  updated_at: '2026-03-02T14:59:30.5Z',
  submitted_at: '2026-03-02T14:59:00.000001Z',
  symbol: 'AAPL',
  qty: '10',
  filled_qty: '4',
  filled_avg_price: '187.5',
  type: 'limit',
  side: 'buy',
  limit_price: '188',
  status: 'partially_filled',
  replaced_by: null,
  ...over,
});

const RATE = { 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '37', 'x-ratelimit-reset': String(NOW / 1000 + 12) };

describe('getOrderById', () => {
  it('GET /v2/orders/{id} (encoded) → found, with updatedAt and the rate-limit headers', async () => {
    const { broker, urls } = brokerWith(() => json(200, order(), RATE));
    const outcome = await broker.getOrderById!('o-1', CALL);
    expect(urls).toEqual([`${BASE}/v2/orders/o-1`]);
    expect(outcome).toMatchObject({
      kind: 'found',
      order: { id: 'o-1', status: 'partially_filled', filledQty: '4', filledAvgPrice: '187.5', updatedAt: '2026-03-02T14:59:30.5Z' },
      rateLimit: { limit: 200, remaining: 37, resetAtMs: NOW + 12_000 },
    });
    expect(outcome.kind === 'found' && 'replacedBy' in outcome.order).toBe(false);
    await broker.getOrderById!('a/b', CALL);
    expect(urls[1]).toBe(`${BASE}/v2/orders/a%2Fb`);
  });

  it('a replaced order names its successor', async () => {
    const { broker } = brokerWith(() => json(200, order({ status: 'replaced', replaced_by: 'o-2' })));
    expect(await broker.getOrderById!('o-1', CALL)).toMatchObject({ kind: 'found', order: { status: 'replaced', replacedBy: 'o-2' } });
  });

  it("Alpaca's 404 → not_found; a 404 that is not Alpaca speaking, someone else's order, garbage → unknown", async () => {
    expect((await brokerWith(() => json(404, { code: 40410000, message: 'order not found' })).broker.getOrderById!('o-1', CALL)).kind).toBe('not_found');
    expect(await brokerWith(() => new Response('404 page not found', { status: 404 })).broker.getOrderById!('o-1', CALL)).toMatchObject({ kind: 'unknown', httpStatus: 404 });
    expect(await brokerWith(() => json(200, order({ id: 'o-9' }))).broker.getOrderById!('o-1', CALL)).toMatchObject({ kind: 'unknown', httpStatus: 200 });
    expect(await brokerWith(() => json(200, { nope: true })).broker.getOrderById!('o-1', CALL)).toMatchObject({ kind: 'unknown', httpStatus: 200 });
  });

  it('429 → unknown with httpStatus 429 and the wait the broker asked for (Retry-After, else X-RateLimit-Reset)', async () => {
    const retry = await brokerWith(() => json(429, { message: 'too many requests' }, { 'retry-after': '3', ...RATE, 'x-ratelimit-remaining': '0' })).broker.getOrderById!('o-1', CALL);
    expect(retry).toMatchObject({ kind: 'unknown', httpStatus: 429, retryAfterMs: 3_000, rateLimit: { remaining: 0 } });
    const reset = await brokerWith(() => json(429, { message: 'too many requests' }, { ...RATE, 'x-ratelimit-remaining': '0' })).broker.getOrderById!('o-1', CALL);
    expect(reset).toMatchObject({ kind: 'unknown', httpStatus: 429, retryAfterMs: 12_000 });
  });

  it('never leaks the secret', async () => {
    const outcome = await brokerWith(() => json(500, { message: `bad key ${SECRET}` })).broker.getOrderById!('o-1', CALL);
    expect(JSON.stringify(outcome)).not.toContain(SECRET);
  });
});

describe('listOrders pacing and window', () => {
  it('sends after/until/direction/limit and hands back the rate-limit headers', async () => {
    const { broker, urls } = brokerWith(() => json(200, [order()], RATE));
    const outcome = await broker.listOrders({ since: new Date(NOW - 60_000), until: new Date(NOW), status: 'all', limit: 500, direction: 'asc' }, CALL);
    const q = new URL(urls[0]!).searchParams;
    expect(Object.fromEntries(q)).toEqual({ status: 'all', after: new Date(NOW - 60_000).toISOString(), until: new Date(NOW).toISOString(), limit: '500', direction: 'asc' });
    expect(outcome).toMatchObject({ kind: 'ok', items: [{ id: 'o-1', updatedAt: '2026-03-02T14:59:30.5Z' }], rateLimit: { limit: 200, remaining: 37 } });
  });

  it('no rate-limit headers: no rateLimit field; a 429 carries its wait', async () => {
    const plain = await brokerWith(() => json(200, [])).broker.listOrders({ since: new Date(NOW) }, CALL);
    expect(plain).toEqual({ kind: 'ok', items: [] });
    const limited = await brokerWith(() => json(429, { message: 'slow down' }, { 'retry-after': '1' })).broker.listOrders({ since: new Date(NOW) }, CALL);
    expect(limited).toMatchObject({ kind: 'unknown', httpStatus: 429, retryAfterMs: 1_000 });
  });

  it('unreadable header values are ignored, not guessed', async () => {
    const odd = await brokerWith(() => json(200, [], { 'x-ratelimit-remaining': 'lots', 'x-ratelimit-limit': '200' })).broker.listOrders({ since: new Date(NOW) }, CALL);
    expect(odd).toMatchObject({ rateLimit: { limit: 200, remaining: null, resetAtMs: null } });
  });
});
