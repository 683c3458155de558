import type { z } from 'zod';
import {
  alpacaCancelAllSchema,
  alpacaErrorSchema,
  alpacaListSchema,
  alpacaOrderSchema,
  describeIssues,
  parseFillItems,
  parseOrderItems,
  toBrokerOrder,
} from './alpaca-schemas.js';
import type {
  Broker,
  BrokerFill,
  BrokerOrder,
  CallOptions,
  CancelAllOutcome,
  CancelOneOutcome,
  ListOutcome,
  LookupOutcome,
  OrderRequest,
  RateLimited,
  SubmitOutcome,
} from './broker.js';
import type { RateLimitInfo } from '../domain/order-lifecycle.js';

/**
 * Alpaca Trading API v2 adapter over `fetch`.
 *
 * Every call is bounded by its own `timeoutMs` (G4) and never throws for anything the broker
 * or the network does: it answers a classified outcome. The classification of a submit is the
 * heart of G1 and errs one way only — whenever the order *may* be at the broker the answer is
 * `unknown` (the pipeline then resolves it by looking the order up by `client_order_id`, never
 * by sending it again); `rejected` / `not_placed` are reserved for answers that prove nothing
 * was placed.
 *
 * | broker answer                                          | submit outcome |
 * |--------------------------------------------------------|----------------|
 * | 2xx + a valid order body for our client_order_id        | accepted       |
 * | 2xx + unreadable / invalid body / someone else's order  | unknown        |
 * | 4xx whose message says client_order_id must be unique  | duplicate      |
 * | 400, 403, 404, 422 (any other message)                 | rejected       |
 * | 422 with no readable error body                        | unknown        |
 * | 401                                                    | rejected (see below) |
 * | 429                                                    | not_placed (+ retryAfterMs) |
 * | 5xx, 3xx, any other status, timeout, network error     | unknown        |
 *
 * The secret key only ever travels in the request header; every message this module produces
 * is passed through `redact` in case a transport error echoes it.
 */

export const ALPACA_BASE_URLS = {
  paper: 'https://paper-api.alpaca.markets',
  live: 'https://api.alpaca.markets',
} as const;
export type AlpacaEnvironment = keyof typeof ALPACA_BASE_URLS;

/**
 * Alpaca's *generic* "invalid request" code. It is NOT specific to duplicates: Alpaca answers
 * 422/40010001 for "qty must be > 0", "invalid activity type", "order_id is missing" and the
 * duplicate `client_order_id` alike. Keying `duplicate` on the code alone would turn every
 * validation refusal into "the broker already holds this order", so the duplicate decision
 * rests on the message (below); the code is only kept for the record.
 */
export const ALPACA_INVALID_REQUEST_CODE = 40010001;
/** Alpaca's "not found" code (`GET /v2/orders:by_client_order_id` for an id it never saw). */
export const ALPACA_NOT_FOUND_CODE = 40410000;

/**
 * Alpaca's duplicate-id refusal: "client_order_id must be unique" (spelt with spaces in some
 * API revisions). Also matches "... already exists" / "duplicate ..." phrasings.
 */
const DUPLICATE_CLIENT_ORDER_ID =
  /client[\s_-]?order[\s_-]?id\b.*\b(must be unique|already (exists|in use|used|taken)|duplicate)|duplicate[\s_-]+client[\s_-]?order[\s_-]?id/i;

/** Alpaca: at most 500 orders per `GET /v2/orders`, at most 100 activities per page. */
export const ALPACA_MAX_ORDERS_LIMIT = 500;
export const ALPACA_MAX_FILLS_PAGE_SIZE = 100;

export interface AlpacaBrokerOptions {
  /** `ALPACA_BASE_URLS.paper`, `ALPACA_BASE_URLS.live`, or a simulator's URL. */
  baseUrl: string;
  keyId: string;
  secretKey: string;
  /** For logs and records: `alpaca-paper`, `alpaca-live`. */
  name: string;
  fetch?: typeof fetch;
  /** Fills per page (1..100, default 100). A smaller page is only useful to tests. */
  fillsPageSize?: number;
  /** Wall clock used to turn an HTTP-date `Retry-After` into a delay. Default `Date.now`. */
  now?: () => number;
}

/** The body of a response, or why it could not be read. */
type BodyRead = { ok: true; text: string } | { ok: false; detail: string };

type Exchange =
  | { kind: 'response'; status: number; headers: Headers; body: BodyRead }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'network'; detail: string };

interface ErrorInfo {
  code?: number;
  message?: string;
  /** Whether the body was a JSON error object we could read. */
  structured: boolean;
  /** Short rendering of the body for messages. */
  snippet: string;
}

const MAX_SNIPPET = 300;

export function createAlpacaBroker(opts: AlpacaBrokerOptions): Broker {
  let base: URL;
  try {
    base = new URL(opts.baseUrl);
  } catch {
    throw new Error(`alpaca broker ${opts.name}: baseUrl ${JSON.stringify(opts.baseUrl)} is not a URL`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new Error(`alpaca broker ${opts.name}: baseUrl must be http(s), got ${base.protocol}`);
  }
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const fetchImpl = opts.fetch ?? globalThis.fetch;
  const now = opts.now ?? Date.now;
  const fillsPageSize = opts.fillsPageSize ?? ALPACA_MAX_FILLS_PAGE_SIZE;
  if (!Number.isInteger(fillsPageSize) || fillsPageSize < 1 || fillsPageSize > ALPACA_MAX_FILLS_PAGE_SIZE) {
    throw new Error(`alpaca broker ${opts.name}: fillsPageSize must be an integer in 1..${ALPACA_MAX_FILLS_PAGE_SIZE}`);
  }
  const name = opts.name;
  const secret = opts.secretKey;

  /** Removes the secret from any text that leaves this module. */
  function redact(text: string): string {
    return secret.length > 0 ? text.split(secret).join('[redacted]') : text;
  }

  async function exchange(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query: Record<string, string | undefined> | undefined,
    body: unknown,
    callOpts: CallOptions,
  ): Promise<Exchange> {
    const timeoutMs = callOpts.timeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      // A programming error in the caller, raised before anything is sent.
      throw new RangeError(`alpaca broker ${name}: timeoutMs must be a positive number, got ${timeoutMs}`);
    }
    let url = `${baseUrl}${path}`;
    if (query !== undefined) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
      const qs = params.toString();
      if (qs !== '') url += `?${qs}`;
    }
    const headers: Record<string, string> = {
      'APCA-API-KEY-ID': opts.keyId,
      'APCA-API-SECRET-KEY': secret,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    // Raced against fetch and the body read, so even a fetch that ignores its signal is
    // abandoned on time.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => undefined);

    try {
      let res: Response;
      try {
        res = await Promise.race([
          fetchImpl(url, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: controller.signal,
            redirect: 'manual',
          }),
          aborted,
        ]);
      } catch (err) {
        if (timedOut) return { kind: 'timeout', timeoutMs };
        return { kind: 'network', detail: redact(describeFetchError(err)) };
      }
      let read: BodyRead;
      try {
        read = { ok: true, text: await Promise.race([res.text(), aborted]) };
      } catch (err) {
        read = {
          ok: false,
          detail: timedOut ? `body not received within ${timeoutMs} ms` : redact(describeFetchError(err)),
        };
      }
      return { kind: 'response', status: res.status, headers: res.headers, body: read };
    } finally {
      clearTimeout(timer);
    }
  }

  function errorInfo(body: BodyRead): ErrorInfo {
    if (!body.ok) return { structured: false, snippet: `(body unreadable: ${body.detail})` };
    const snippet = snippetOf(body.text);
    const json = parseJson(body.text);
    if (json.ok) {
      const parsed = alpacaErrorSchema.safeParse(json.value);
      if (parsed.success && (parsed.data.code !== undefined || parsed.data.message !== undefined)) {
        return {
          ...(parsed.data.code !== undefined ? { code: parsed.data.code } : {}),
          ...(parsed.data.message !== undefined ? { message: redact(parsed.data.message.slice(0, MAX_SNIPPET)) } : {}),
          structured: true,
          snippet,
        };
      }
    }
    return { structured: false, snippet };
  }

  function snippetOf(text: string): string {
    const oneLine = text.replace(/\s+/g, ' ').trim();
    if (oneLine === '') return '(empty body)';
    return redact(oneLine.length > MAX_SNIPPET ? `${oneLine.slice(0, MAX_SNIPPET)}…` : oneLine);
  }

  function said(status: number, info: ErrorInfo): string {
    const text = info.message ?? info.snippet;
    const code = info.code !== undefined ? ` (code ${info.code})` : '';
    return `${name} answered ${status}: ${text}${code}`;
  }

  function withCode(info: ErrorInfo): { code?: number } {
    return info.code !== undefined ? { code: info.code } : {};
  }

  function parseBody<S extends z.ZodType>(
    body: BodyRead,
    schema: S,
  ): { ok: true; value: z.output<S> } | { ok: false; detail: string } {
    if (!body.ok) return { ok: false, detail: `body unreadable: ${body.detail}` };
    const json = parseJson(body.text);
    if (!json.ok) return { ok: false, detail: `body is not JSON: ${snippetOf(body.text)}` };
    const parsed = schema.safeParse(json.value);
    if (!parsed.success) return { ok: false, detail: `unexpected body: ${redact(describeIssues(parsed.error))}` };
    return { ok: true, value: parsed.data };
  }

  function transportMessage(ex: Exclude<Exchange, { kind: 'response' }>, what: string): string {
    return ex.kind === 'timeout'
      ? `${name}: no answer to ${what} within ${ex.timeoutMs} ms`
      : `${name}: network error on ${what}: ${ex.detail}`;
  }

  function retryAfterMs(headers: Headers): number | undefined {
    const retryAfter = headers.get('retry-after');
    if (retryAfter !== null) {
      const trimmed = retryAfter.trim();
      if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
      const at = Date.parse(trimmed);
      if (!Number.isNaN(at)) return Math.max(0, at - now());
    }
    // Alpaca documents X-RateLimit-Reset: the Unix time (seconds) the window resets.
    const reset = headers.get('x-ratelimit-reset');
    if (reset !== null && /^\d+$/.test(reset.trim())) {
      return Math.max(0, Number(reset.trim()) * 1000 - now());
    }
    return undefined;
  }

  /** Alpaca's `X-RateLimit-Limit/Remaining/Reset` (reset in Unix seconds), when any is sent. */
  function rateLimitOf(headers: Headers): RateLimitInfo | undefined {
    const int = (header: string): number | null => {
      const v = headers.get(header)?.trim();
      return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
    };
    const limit = int('x-ratelimit-limit');
    const remaining = int('x-ratelimit-remaining');
    const reset = int('x-ratelimit-reset');
    if (limit === null && remaining === null && reset === null) return undefined;
    return { limit, remaining, resetAtMs: reset === null ? null : reset * 1000 };
  }

  /** What a lookup or listing tells its caller about the key's rate limit (429: how long to wait). */
  function paced(ex: Exchange): RateLimited {
    if (ex.kind !== 'response') return {};
    const info = rateLimitOf(ex.headers);
    const wait = ex.status === 429 ? retryAfterMs(ex.headers) : undefined;
    return { ...(info === undefined ? {} : { rateLimit: info }), ...(wait === undefined ? {} : { retryAfterMs: wait }) };
  }

  async function submitOrder(order: OrderRequest, callOpts: CallOptions): Promise<SubmitOutcome> {
    const what = `POST /v2/orders (client_order_id ${order.clientOrderId})`;
    const payload: Record<string, string> = {
      symbol: order.symbol,
      qty: decimalString(order.qty),
      side: order.side,
      type: order.type,
      time_in_force: order.timeInForce,
      client_order_id: order.clientOrderId,
    };
    if (order.type === 'limit' && order.limitPrice !== undefined) payload.limit_price = decimalString(order.limitPrice);

    const ex = await exchange('POST', '/v2/orders', undefined, payload, callOpts);
    if (ex.kind !== 'response') {
      return { kind: 'unknown', message: `${transportMessage(ex, what)}; the order may have been placed` };
    }
    const { status } = ex;

    if (status >= 200 && status < 300) {
      const parsed = parseBody(ex.body, alpacaOrderSchema);
      if (!parsed.ok) {
        return {
          kind: 'unknown',
          httpStatus: status,
          message: `${name} answered ${status} to ${what} but the ${parsed.detail}; the order may have been placed`,
        };
      }
      if (parsed.value.client_order_id !== order.clientOrderId) {
        return {
          kind: 'unknown',
          httpStatus: status,
          message: `${name} answered ${status} to ${what} with an order for client_order_id ${JSON.stringify(redact(parsed.value.client_order_id))}; the order may have been placed`,
        };
      }
      return { kind: 'accepted', order: toBrokerOrder(parsed.value) };
    }

    const info = errorInfo(ex.body);

    if (status >= 400 && status < 500 && info.message !== undefined && DUPLICATE_CLIENT_ORDER_ID.test(info.message)) {
      return { kind: 'duplicate', httpStatus: status, ...withCode(info), message: said(status, info) };
    }

    switch (status) {
      case 401:
        // Bad or revoked keys. Nothing was placed (Alpaca authenticates before it reads the
        // order), so this is safe to record as final; `not_placed` would instead release the
        // claim and have Pub/Sub redeliver the intent for a day against keys that will not
        // start working by themselves. The operator fixes the key parameters; intents refused
        // meanwhile stay `rejected` (httpStatus 401 marks them as an auth problem, not a
        // trading decision) and strategies re-issue what still makes sense.
        return {
          kind: 'rejected',
          httpStatus: 401,
          ...withCode(info),
          message: `broker refused the API keys (401); check the key id / secret parameters of ${name}: ${info.message ?? info.snippet}`,
        };
      case 429: {
        const wait = retryAfterMs(ex.headers);
        return {
          kind: 'not_placed',
          httpStatus: 429,
          message: `${said(429, info)}; rate limited, nothing placed`,
          ...(wait !== undefined ? { retryAfterMs: wait } : {}),
        };
      }
      case 422:
        // 422 is both "invalid order" and "duplicate client_order_id": without a readable
        // message we cannot tell which, and a duplicate means the order IS at the broker.
        if (info.message === undefined) {
          return {
            kind: 'unknown',
            httpStatus: 422,
            message: `${said(422, info)}; cannot tell an invalid order from a duplicate client_order_id, the order may be at the broker`,
          };
        }
        return { kind: 'rejected', httpStatus: 422, ...withCode(info), message: said(422, info) };
      case 400:
      case 403: // insufficient buying power / qty, account restricted, PDT, ...
      case 404: // unknown asset, wrong endpoint
        return { kind: 'rejected', httpStatus: status, ...withCode(info), message: said(status, info) };
      default:
        return {
          kind: 'unknown',
          httpStatus: status,
          message: `${said(status, info)}; the order may have been placed`,
        };
    }
  }

  async function getOrderByClientOrderId(clientOrderId: string, callOpts: CallOptions): Promise<LookupOutcome> {
    const what = `GET /v2/orders:by_client_order_id (client_order_id ${clientOrderId})`;
    const ex = await exchange('GET', '/v2/orders:by_client_order_id', { client_order_id: clientOrderId }, undefined, callOpts);
    if (ex.kind !== 'response') return { kind: 'unknown', message: transportMessage(ex, what) };
    const { status } = ex;
    if (status === 200) {
      const parsed = parseBody(ex.body, alpacaOrderSchema);
      if (!parsed.ok) return { kind: 'unknown', httpStatus: status, message: `${name} answered 200 to ${what} but the ${parsed.detail}` };
      if (parsed.value.client_order_id !== clientOrderId) {
        return {
          kind: 'unknown',
          httpStatus: status,
          message: `${name} answered ${what} with an order for client_order_id ${JSON.stringify(redact(parsed.value.client_order_id))}`,
        };
      }
      return { kind: 'found', order: toBrokerOrder(parsed.value) };
    }
    const info = errorInfo(ex.body);
    // `not_found` lets the reconciler conclude an order never reached the broker, so it needs
    // Alpaca's own answer, not any 404 (a wrong base URL or a proxy page also says 404).
    if (status === 404 && info.structured && (info.code === ALPACA_NOT_FOUND_CODE || /not found/i.test(info.message ?? ''))) {
      return { kind: 'not_found' };
    }
    if (status === 401) {
      return { kind: 'unknown', httpStatus: 401, message: `broker refused the API keys (401); check the key id / secret parameters of ${name}` };
    }
    return { kind: 'unknown', httpStatus: status, message: `${said(status, info)} (${what})` };
  }

  async function cancelAllOpenOrders(callOpts: CallOptions): Promise<CancelAllOutcome> {
    const what = 'DELETE /v2/orders';
    const ex = await exchange('DELETE', '/v2/orders', undefined, undefined, callOpts);
    if (ex.kind !== 'response') return { kind: 'unknown', message: transportMessage(ex, what) };
    const { status } = ex;
    if (status >= 200 && status < 300) {
      if (status === 204) return { kind: 'done', results: [] };
      const parsed = parseBody(ex.body, alpacaCancelAllSchema);
      if (!parsed.ok) return { kind: 'unknown', httpStatus: status, message: `${name} answered ${status} to ${what} but the ${parsed.detail}` };
      return { kind: 'done', results: parsed.value.map((r) => ({ orderId: r.id, httpStatus: r.status })) };
    }
    return { kind: 'unknown', httpStatus: status, message: `${said(status, errorInfo(ex.body))} (${what})` };
  }

  async function cancelOrder(orderId: string, callOpts: CallOptions): Promise<CancelOneOutcome> {
    const what = `DELETE /v2/orders/${orderId}`;
    const ex = await exchange('DELETE', `/v2/orders/${encodeURIComponent(orderId)}`, undefined, undefined, callOpts);
    if (ex.kind !== 'response') return { kind: 'unknown', message: transportMessage(ex, what) };
    const { status } = ex;
    // Alpaca answers 204 (the cancel is accepted; the order goes pending_cancel, then canceled).
    if (status >= 200 && status < 300) return { kind: 'cancelled' };
    const info = errorInfo(ex.body);
    if (status === 422) return { kind: 'not_cancellable', httpStatus: 422, message: `${said(422, info)} (${what})` };
    if (status === 404 && info.structured) return { kind: 'not_found', message: `${said(404, info)} (${what})` };
    return { kind: 'unknown', httpStatus: status, message: `${said(status, info)} (${what})` };
  }

  async function listOrders(
    query: { since: Date; until?: Date; status?: 'open' | 'closed' | 'all'; limit?: number; direction?: 'asc' | 'desc' },
    callOpts: CallOptions,
  ): Promise<ListOutcome<BrokerOrder>> {
    const what = 'GET /v2/orders';
    const requested = query.limit !== undefined && Number.isFinite(query.limit) ? Math.floor(query.limit) : ALPACA_MAX_ORDERS_LIMIT;
    const limit = Math.min(ALPACA_MAX_ORDERS_LIMIT, Math.max(1, requested));
    const ex = await exchange(
      'GET',
      '/v2/orders',
      {
        status: query.status ?? 'all',
        after: query.since.toISOString(),
        until: query.until?.toISOString(),
        limit: String(limit),
        direction: query.direction ?? 'asc',
      },
      undefined,
      callOpts,
    );
    if (ex.kind !== 'response') return { kind: 'unknown', message: transportMessage(ex, what) };
    const pace = paced(ex);
    if (ex.status !== 200) return { kind: 'unknown', httpStatus: ex.status, message: `${said(ex.status, errorInfo(ex.body))} (${what})`, ...pace };
    const parsed = parseBody(ex.body, alpacaListSchema);
    if (!parsed.ok) return { kind: 'unknown', httpStatus: 200, message: `${name} answered 200 to ${what} but the ${parsed.detail}`, ...pace };
    // Item by item: a multi-leg or other odd order is set aside, never the whole listing.
    const { items, unreadable } = parseOrderItems(parsed.value);
    return unreadable.length > 0 ? { kind: 'ok', items, unreadable, ...pace } : { kind: 'ok', items, ...pace };
  }

  async function getOrderById(orderId: string, callOpts: CallOptions): Promise<LookupOutcome> {
    const what = `GET /v2/orders/${orderId}`;
    const ex = await exchange('GET', `/v2/orders/${encodeURIComponent(orderId)}`, undefined, undefined, callOpts);
    if (ex.kind !== 'response') return { kind: 'unknown', message: transportMessage(ex, what) };
    const pace = paced(ex);
    if (ex.status === 200) {
      const parsed = parseBody(ex.body, alpacaOrderSchema);
      if (!parsed.ok) return { kind: 'unknown', httpStatus: 200, message: `${name} answered 200 to ${what} but the ${parsed.detail}`, ...pace };
      if (parsed.value.id !== orderId) {
        return { kind: 'unknown', httpStatus: 200, message: `${name} answered ${what} with order ${JSON.stringify(redact(parsed.value.id))}`, ...pace };
      }
      return { kind: 'found', order: toBrokerOrder(parsed.value), ...pace };
    }
    const info = errorInfo(ex.body);
    if (ex.status === 404 && info.structured && (info.code === ALPACA_NOT_FOUND_CODE || /not found/i.test(info.message ?? ''))) {
      return { kind: 'not_found', ...pace };
    }
    return { kind: 'unknown', httpStatus: ex.status, message: `${said(ex.status, info)} (${what})`, ...pace };
  }

  async function listFills(query: { since: Date; pageToken?: string }, callOpts: CallOptions): Promise<ListOutcome<BrokerFill>> {
    const what = 'GET /v2/account/activities/FILL';
    const ex = await exchange(
      'GET',
      '/v2/account/activities/FILL',
      {
        after: query.since.toISOString(),
        direction: 'asc',
        page_size: String(fillsPageSize),
        page_token: query.pageToken,
      },
      undefined,
      callOpts,
    );
    if (ex.kind !== 'response') return { kind: 'unknown', message: transportMessage(ex, what) };
    if (ex.status !== 200) return { kind: 'unknown', httpStatus: ex.status, message: `${said(ex.status, errorInfo(ex.body))} (${what})` };
    const parsed = parseBody(ex.body, alpacaListSchema);
    if (!parsed.ok) return { kind: 'unknown', httpStatus: 200, message: `${name} answered 200 to ${what} but the ${parsed.detail}` };
    // Item by item: a fill that cannot be read is handed back in `unreadable` (the ledger
    // quarantines it), the others are used.
    const { items, unreadable } = parseFillItems(parsed.value);
    const extra = unreadable.length > 0 ? { unreadable } : {};
    if (parsed.value.length < fillsPageSize) return { kind: 'ok', items, ...extra };
    // A full page may have a successor; the next page starts after the last activity's id —
    // the last one the broker sent, readable or not.
    const lastId: unknown = (parsed.value[parsed.value.length - 1] as { id?: unknown } | null)?.id;
    if (typeof lastId !== 'string' || lastId === '') {
      return { kind: 'unknown', httpStatus: 200, message: `${name} answered 200 to ${what} with a full page whose last activity has no id: the next page cannot be asked for` };
    }
    return { kind: 'ok', items, nextPageToken: lastId, ...extra };
  }

  return { name, submitOrder, getOrderByClientOrderId, getOrderById, cancelAllOpenOrders, cancelOrder, listOrders, listFills };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    let text = `${err.name}: ${err.message}`;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      text += ` (${typeof code === 'string' ? `${code} ` : ''}${cause.message})`;
    }
    return text;
  }
  return String(err);
}

/** A positive decimal as Alpaca expects it: plain notation, never `1e-7`. */
export function decimalString(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/i.exec(s);
  if (m === null) return s;
  // Shift the decimal point of the shortest round-trip digits: exact, no float artefacts.
  const [, sign = '', int = '', frac = '', expText = '0'] = m;
  const digits = `${int}${frac}`;
  const exp = Number(expText) - frac.length;
  if (exp >= 0) return `${sign}${digits}${'0'.repeat(exp)}`;
  const padded = digits.padStart(-exp + 1, '0');
  const point = padded.length + exp;
  const out = `${padded.slice(0, point)}.${padded.slice(point)}`.replace(/\.?0+$/, '');
  return `${sign}${out}`;
}
