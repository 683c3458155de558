/**
 * Bad input at every door (issue 14): the Alpaca adapter against arbitrary broker answers —
 * any status, any body (valid orders, near misses, someone else's order, error bodies, garbage,
 * the secret echoed back), headers, network errors, bodies that fail midway, no answer — through
 * an injected fetch, and a few through a raw local TCP server and the real fetch.
 *
 * The oracle is the adapter's documented table (alpaca.ts), written out again here:
 *   2xx + a valid order body for our client_order_id        accepted
 *   2xx + anything else                                      unknown
 *   4xx whose message says client_order_id must be unique   duplicate
 *   400, 401, 403, 404, 422 with a readable message          rejected
 *   422 without a readable error body                        unknown
 *   429                                                      not_placed
 *   3xx, 5xx, any other status, timeout, network error       unknown
 * and for lookups: found only for a 200 with our order, not_found only for Alpaca's own 404.
 * What G1 rests on, checked on its own as well: `rejected` / `not_placed` (which allow the
 * record to end or the intent to be sent again) only for answers that prove nothing was placed,
 * and nothing ever throws.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlpacaBroker } from '../../../functions/src/broker/alpaca.js';
import type { OrderRequest } from '../../../functions/src/broker/broker.js';

const SECRET = 'sk-FUZZ-SECRET-91c2';
const OUR = 'intent-fuzz-1';
const ORDER: OrderRequest = { clientOrderId: OUR, symbol: 'AAPL', side: 'buy', qty: 10, type: 'market', timeInForce: 'day' };

// ----------------------------------------------------------------------------------------
// Answers

const nonEmpty = (v: unknown) => typeof v === 'string' && v.length > 0;
const decimalOk = (v: unknown) => nonEmpty(v) || (typeof v === 'number' && Number.isFinite(v));
const optDecimalOk = (v: unknown) => v === undefined || v === null || decimalOk(v);
const optStringOk = (v: unknown) => v === undefined || v === null || typeof v === 'string';

/** An order body the adapter must believe (independent of alpaca-schemas.ts). */
function validOrder(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return (
    nonEmpty(o.id) &&
    typeof o.client_order_id === 'string' &&
    nonEmpty(o.status) &&
    nonEmpty(o.symbol) &&
    nonEmpty(o.side) &&
    optDecimalOk(o.qty) &&
    decimalOk(o.filled_qty) &&
    optDecimalOk(o.filled_avg_price) &&
    nonEmpty(o.type) &&
    optDecimalOk(o.limit_price) &&
    optStringOk(o.submitted_at) &&
    nonEmpty(o.created_at)
  );
}

/** Alpaca's error body `{ code?, message? }`, read the way its documentation describes it. */
function errorBody(text: string): { structured: boolean; code?: number; message?: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { structured: false };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { structured: false };
  const o = v as Record<string, unknown>;
  const codeOk = o.code === undefined || (typeof o.code === 'number' && Number.isInteger(o.code));
  const messageOk = o.message === undefined || typeof o.message === 'string';
  if (!codeOk || !messageOk || (o.code === undefined && o.message === undefined)) return { structured: false };
  return { structured: true, ...(o.code === undefined ? {} : { code: o.code as number }), ...(o.message === undefined ? {} : { message: o.message as string }) };
}

/** "client_order_id must be unique" and the phrasings alpaca.ts documents beside it. */
const DUPLICATE = /client[\s_-]?order[\s_-]?id\b.*\b(must be unique|already (exists|in use|used|taken)|duplicate)|duplicate[\s_-]+client[\s_-]?order[\s_-]?id/i;

type Answer =
  | { kind: 'response'; status: number; body: string; headers: Record<string, string> }
  | { kind: 'network'; message: string }
  | { kind: 'hang' }
  | { kind: 'body_fails'; status: number };

/** A body that fails midway is an unreadable body: the status still counts. */
const readable = (a: Answer): { status: number; body: string | null } | null =>
  a.kind === 'response' ? { status: a.status, body: a.body } : a.kind === 'body_fails' ? { status: a.status, body: null } : null;

function expectedSubmit(a: Answer): string {
  const r = readable(a);
  if (r === null) return 'unknown';
  const { status } = r;
  const body = r.body ?? '\u0000unreadable';
  if (status >= 200 && status < 300) {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      return 'unknown';
    }
    return validOrder(v) && v.client_order_id === OUR ? 'accepted' : 'unknown';
  }
  const e = errorBody(body);
  if (status >= 400 && status < 500 && e.message !== undefined && DUPLICATE.test(e.message.slice(0, 300))) return 'duplicate';
  if (status === 429) return 'not_placed';
  if (status === 401 || status === 400 || status === 403 || status === 404) return 'rejected';
  if (status === 422) return e.message !== undefined ? 'rejected' : 'unknown';
  return 'unknown';
}

function expectedLookup(a: Answer): string {
  const r = readable(a);
  if (r === null) return 'unknown';
  const { status } = r;
  const body = r.body ?? '\u0000unreadable';
  if (status === 200) {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      return 'unknown';
    }
    return validOrder(v) && v.client_order_id === OUR ? 'found' : 'unknown';
  }
  const e = errorBody(body);
  if (status === 404 && e.structured && (e.code === 40410000 || /not found/i.test(e.message ?? ''))) return 'not_found';
  return 'unknown';
}

const orderBodyArb = fc
  .record(
    {
      id: fc.oneof(fc.uuid(), fc.constantFrom('', 7)),
      client_order_id: fc.oneof(fc.constant(OUR), fc.constantFrom('someone-else', '', `${OUR} `, SECRET)),
      status: fc.constantFrom('accepted', 'new', 'filled', '', null),
      symbol: fc.constantFrom('AAPL', ''),
      side: fc.constantFrom('buy', 'sell', 7),
      qty: fc.oneof(fc.constantFrom('10', 10, null, '', Number.NaN)),
      filled_qty: fc.constantFrom('0', 0, '', null),
      filled_avg_price: fc.constantFrom(null, '1.5', 1.5, ''),
      type: fc.constantFrom('market', 'limit', ''),
      limit_price: fc.constantFrom(null, '187.25', undefined),
      submitted_at: fc.constantFrom('2026-01-02T14:30:00Z', null, 5),
      created_at: fc.constantFrom('2026-01-02T14:30:00Z', ''),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));
/** Orders Alpaca would send: ours mostly, sometimes with representation changes. */
const goodOrderBodyArb = fc
  .record({
    id: fc.uuid(),
    client_order_id: fc.constantFrom(OUR, OUR, OUR, 'someone-else'),
    status: fc.constantFrom('accepted', 'new', 'partially_filled'),
    qty: fc.constantFrom('10', 10, null),
    filled_qty: fc.constantFrom('0', 0, '2.5'),
    filled_avg_price: fc.constantFrom(null, '101.25'),
    limit_price: fc.constantFrom(null, '187.25'),
    submitted_at: fc.constantFrom('2026-01-02T14:30:00.12Z', null),
    future_field: fc.jsonValue(),
  })
  .map((o) => JSON.stringify({ symbol: 'AAPL', side: 'buy', type: 'market', created_at: '2026-01-02T14:30:00.123456Z', ...o }));
const messageArb = fc.oneof(
  fc.constantFrom(
    'client_order_id must be unique',
    'client order id must be unique',
    'Client-Order-ID already exists',
    'duplicate client_order_id',
    'qty must be > 0',
    'insufficient buying power',
    'order not found',
    'Not Found',
    `bad key ${SECRET}`,
    '',
  ),
  fc.string({ maxLength: 20 }),
);
const errorBodyArb = fc
  .record({ code: fc.oneof(fc.constantFrom(40010001, 40410000, 42910000, 1.5, '40010001', null), fc.integer()), message: fc.oneof(messageArb, fc.constantFrom(null, 5)) }, { requiredKeys: [] })
  .map((o) => JSON.stringify(o));
/** Alpaca's not-found answer and look-alikes a proxy or a changed API could send. */
const notFoundishArb = fc.constantFrom(
  '{"code":40410000,"message":"order not found"}',
  '{"message":"Not Found"}',
  '{"code":40410000}',
  '{"code":"40410000","message":"order not found"}',
  '{"code":1.5,"message":"not found"}',
  '{"message":null,"code":40410000}',
  '<html><title>404 Not Found</title></html>',
  '["not found"]',
);
const bodyArb = fc.oneof(
  goodOrderBodyArb,
  orderBodyArb,
  errorBodyArb,
  fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', '<html>502 Bad Gateway</html>', '{', 'null', '[]', `{"message":"${SECRET}"}`, ' '.repeat(3)),
  fc.array(orderBodyArb, { maxLength: 2 }).map((a) => `[${a.join(',')}]`),
);
const statusArb = fc.oneof(
  fc.constantFrom(200, 201, 202, 204, 207, 301, 302, 304, 400, 401, 402, 403, 404, 405, 408, 409, 410, 413, 422, 429, 500, 502, 503, 504),
  fc.integer({ min: 200, max: 599 }),
);
const headersArb = fc.record(
  { 'retry-after': fc.constantFrom('1', '0.5', 'Wed, 21 Oct 2026 07:28:00 GMT', 'soon', '-1'), 'x-ratelimit-reset': fc.constantFrom('1893456000', 'x'), 'content-type': fc.constantFrom('application/json', 'text/html') },
  { requiredKeys: [] },
);
const answerArb: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('response' as const), status: statusArb, body: bodyArb, headers: headersArb }) },
  // Answers near the lines the table draws: Alpaca's own 404 and 422 bodies, our order on a 200.
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('response' as const), status: fc.constantFrom(200, 404, 422, 429), body: fc.oneof(errorBodyArb, goodOrderBodyArb, notFoundishArb), headers: headersArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('network' as const), message: fc.constantFrom('ECONNRESET', `socket hang up ${SECRET}`, 'ENOTFOUND') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('body_fails' as const), status: statusArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hang' as const }) },
);

const NULL_BODY = new Set([204, 205, 304]);

function fetchFor(a: Answer): typeof fetch {
  return (async (_input: unknown, init?: RequestInit) => {
    switch (a.kind) {
      case 'network':
        throw new TypeError('fetch failed', { cause: Object.assign(new Error(a.message), { code: 'ECONNRESET' }) });
      case 'hang':
        return new Promise<Response>(() => undefined); // ignores its signal: the adapter must give up on its own
      case 'body_fails': {
        const stream = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('{"id":'));
            c.error(new Error(`connection reset mid-body ${SECRET}`));
          },
        });
        return new Response(NULL_BODY.has(a.status) ? null : stream, { status: a.status });
      }
      case 'response':
        void init;
        return new Response(NULL_BODY.has(a.status) ? null : a.body, { status: a.status, headers: a.headers });
    }
  }) as typeof fetch;
}

const broker = (a: Answer) => createAlpacaBroker({ baseUrl: 'https://broker.example', keyId: 'PKFUZZ', secretKey: SECRET, name: 'alpaca-fuzz', fetch: fetchFor(a), now: () => Date.parse('2026-10-21T07:27:00Z') });
/** Generous, so a loaded machine never turns an answer into a timeout; short only where no answer comes. */
const callFor = (a: Answer) => ({ timeoutMs: a.kind === 'hang' ? 5 : 10_000 });

/** A 204/205/304 arrives without its body. */
const asDelivered = (a: Answer): Answer => (a.kind === 'response' && NULL_BODY.has(a.status) ? { ...a, body: '' } : a);
/** What G1 needs of `rejected` / `not_placed`: the status proves nothing was placed. */
const PROVES_NOT_PLACED = new Set([400, 401, 403, 404, 422, 429]);

describe('the Alpaca adapter against arbitrary answers', () => {
  it('submitOrder classifies every answer by the documented table, never throws, never says "not placed" without proof', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(answerArb, async (raw) => {
        const a = asDelivered(raw);
        const out = await broker(a).submitOrder(ORDER, callFor(a));
        seen.set(out.kind, (seen.get(out.kind) ?? 0) + 1);
        expect(out.kind, JSON.stringify(a)).toBe(expectedSubmit(a));
        if (out.kind === 'rejected' || out.kind === 'not_placed') {
          const r = readable(a);
          expect(r !== null && PROVES_NOT_PLACED.has(r.status), JSON.stringify(a)).toBe(true);
        }
        if (out.kind === 'accepted') expect(out.order.clientOrderId).toBe(OUR);
        expect(JSON.stringify(out)).not.toContain(SECRET);
      }),
      { seed: 1430, numRuns: 2500 },
    );
    for (const kind of ['accepted', 'rejected', 'duplicate', 'not_placed', 'unknown']) expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(5);
  });

  it('getOrderByClientOrderId: found only for our order, not_found only for Alpaca\'s own 404, never throws', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(answerArb, async (raw) => {
        const a = asDelivered(raw);
        const out = await broker(a).getOrderByClientOrderId(OUR, callFor(a));
        seen.set(out.kind, (seen.get(out.kind) ?? 0) + 1);
        expect(out.kind, JSON.stringify(a)).toBe(expectedLookup(a));
        if (out.kind === 'found') expect(out.order.clientOrderId).toBe(OUR);
        expect(JSON.stringify(out)).not.toContain(SECRET);
      }),
      { seed: 1431, numRuns: 2500 },
    );
    for (const kind of ['found', 'not_found', 'unknown']) expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(5);
  });

  it('cancel-all and the listings never throw and succeed only on a 2xx with a readable body', async () => {
    await fc.assert(
      fc.asyncProperty(answerArb, async (raw) => {
        const a = asDelivered(raw);
        const b = broker(a);
        const since = new Date('2026-01-01T00:00:00Z');
        const cancel = await b.cancelAllOpenOrders(callFor(a));
        const orders = await b.listOrders({ since }, callFor(a));
        const fills = await b.listFills({ since }, callFor(a));
        const status = a.kind === 'response' || a.kind === 'body_fails' ? a.status : 0;
        if (cancel.kind === 'done') expect(status >= 200 && status < 300).toBe(true);
        if (orders.kind === 'ok') expect(status).toBe(200);
        if (fills.kind === 'ok') expect(status).toBe(200);
        for (const out of [cancel, orders, fills]) expect(JSON.stringify(out)).not.toContain(SECRET);
      }),
      { seed: 1432, numRuns: 800 },
    );
  });
});

// ----------------------------------------------------------------------------------------
// Through the real fetch: a TCP server that writes whatever bytes the case says.

describe('the Alpaca adapter over real HTTP, arbitrary bytes on the wire', () => {
  let server: Server;
  let port = 0;
  let reply = Buffer.alloc(0);
  beforeAll(async () => {
    server = createServer((socket) => {
      socket.once('data', () => socket.end(reply));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const wireArb = fc.oneof(
    fc.tuple(fc.integer({ min: 100, max: 999 }), bodyArb).map(([status, body]) => Buffer.from(`HTTP/1.1 ${status} X\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)),
    fc.tuple(fc.constantFrom(200, 201, 422, 404), bodyArb).map(([status, body]) => Buffer.from(`HTTP/1.1 ${status} X\r\ncontent-length: ${Buffer.byteLength(body) + 5}\r\n\r\n${body}`)), // cut short
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
    fc.constantFrom(Buffer.from(''), Buffer.from('HTTP/1.1 200\r\n\r\n'), Buffer.from('HTTP/1.1 2000 OK\r\n\r\n'), Buffer.from('garbage\r\n\r\n')),
  );

  it('submitOrder never throws and never says accepted / rejected / not_placed without a well-formed answer that says so', async () => {
    const b = createAlpacaBroker({ baseUrl: `http://127.0.0.1:${port}`, keyId: 'PKFUZZ', secretKey: SECRET, name: 'alpaca-wire' });
    await fc.assert(
      fc.asyncProperty(wireArb, async (bytes) => {
        reply = bytes;
        const out = await b.submitOrder(ORDER, { timeoutMs: 2000 });
        const head = /^HTTP\/1\.1 (\d{3}) /.exec(bytes.toString('latin1'));
        if (out.kind === 'rejected' || out.kind === 'not_placed') {
          expect(head !== null && PROVES_NOT_PLACED.has(Number(head[1])), bytes.toString('latin1')).toBe(true);
        }
        if (out.kind === 'accepted') expect(out.order.clientOrderId).toBe(OUR);
        expect(JSON.stringify(out)).not.toContain(SECRET);
      }),
      { seed: 1433, numRuns: 150 },
    );
  });
});
