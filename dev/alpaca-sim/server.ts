import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  defaultFaultConfig,
  faultConfigProblems,
  faultConfigSchema,
  faultRequestSchema,
  mulberry32,
  rollFault,
  submitFaultSchema,
} from './faults.js';
import type { FaultConfig, FaultPatch, FillMode, SubmitFault } from './faults.js';

export { FillMode, SubmitFault } from './faults.js';
export type { FaultConfig, FaultPatch } from './faults.js';

/**
 * An Alpaca Trading API v2 simulator (the subset haltgate uses), for tests, the local stack,
 * chaos tests and the benchmark. Not deployed.
 *
 * Alpaca semantics it keeps: both auth headers are required (401); `client_order_id` is unique
 * forever, also after a cancel (422 / 40010001 "client_order_id must be unique"); invalid
 * orders are refused with 422 / 40010001 and nothing is kept; buying-power refusals are 403;
 * `DELETE /v2/orders` answers 207 with `[{ id, status, body }]`; fills are account activities
 * paged by `page_token` (the last activity id). Every accepted order is kept until `reset()`.
 *
 * Faults (see faults.ts) are set programmatically (`sim.faults`) or over HTTP by another
 * process: `POST /__sim/faults`, `GET /__sim/faults`, `GET /__sim/orders`, `GET /__sim/fills`,
 * `GET /__sim/requests`, `POST /__sim/reset`, `POST /__sim/orders/:id/fill`. The `/__sim`
 * routes need no auth and see no faults.
 */

export const SIM_DEFAULT_KEY_ID = 'sim-key-id';
export const SIM_DEFAULT_SECRET_KEY = 'sim-secret-key';

/** An order as Alpaca renders it (the fields the simulator maintains). */
export interface SimOrder {
  id: string;
  client_order_id: string;
  created_at: string;
  updated_at: string;
  submitted_at: string;
  filled_at: string | null;
  expired_at: string | null;
  canceled_at: string | null;
  failed_at: string | null;
  asset_id: string;
  symbol: string;
  asset_class: 'us_equity';
  notional: null;
  qty: string;
  filled_qty: string;
  filled_avg_price: string | null;
  order_class: '';
  order_type: string;
  type: string;
  side: string;
  time_in_force: string;
  limit_price: string | null;
  stop_price: null;
  status: string;
  extended_hours: boolean;
}

/** A trade activity as `GET /v2/account/activities/FILL` renders it. */
export interface SimFill {
  activity_type: 'FILL';
  id: string;
  order_id: string;
  symbol: string;
  side: string;
  qty: string;
  price: string;
  cum_qty: string;
  leaves_qty: string;
  transaction_time: string;
  type: 'fill' | 'partial_fill';
  order_status: string;
}

export interface SimRequestLogEntry {
  method: string;
  path: string;
  query: string;
  /** HTTP status sent; 0 when no answer was sent (hang, lost response). */
  status: number;
  /** Epoch ms when the outcome was decided. */
  at: number;
  /** The fault applied, when not `ok`. */
  fault?: SubmitFault;
  /** False when the client had gone or the fault withheld the answer. */
  delivered: boolean;
}

export interface FaultControls {
  /** Merges a patch into the current configuration (validated; throws on an invalid one). */
  set(patch: FaultPatch): FaultConfig;
  get(): FaultConfig;
  /** Back to the start configuration; empties the `next` queue. */
  clear(): void;
  /** Forces the outcome of the next submits, in order, before any rate applies. */
  next(outcomes: SubmitFault[]): void;
  /** The forced outcomes not used yet. */
  pending(): SubmitFault[];
}

export interface AlpacaSimulatorOptions {
  /** 0 (default): a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  keyId?: string;
  secretKey?: string;
  fillMode?: FillMode;
  seed?: number;
  /** Initial fault configuration (also what `clear()`/`reset()` return to). */
  faults?: FaultPatch;
  /** Clock for timestamps. Default `Date.now`. */
  now?: () => number;
}

export interface AlpacaSimulator {
  /** `http://127.0.0.1:<port>`: the adapter's `baseUrl`. */
  url: string;
  port: number;
  keyId: string;
  secretKey: string;
  /** Every order ever accepted (until `reset()`), oldest first, as copies. */
  orders(): SimOrder[];
  /** Every fill activity, oldest first, as copies. */
  fills(): SimFill[];
  /** Fills an open order now: `qty` defaults to what is left, `price` to the fill price rule. */
  fill(orderId: string, opts?: { qty?: number; price?: number }): SimOrder;
  faults: FaultControls;
  /** Every API request (not `/__sim`), in the order outcomes were decided. */
  requestLog: SimRequestLogEntry[];
  /** Forgets orders, fills, used client order ids and the log; faults back to the start; ends hung requests. */
  reset(): void;
  /** Closes the server, including hung and keep-alive connections. */
  stop(): Promise<void>;
}

interface SimResponse {
  status: number;
  body?: unknown;
  /** Sent as-is with this content type instead of JSON. */
  text?: { contentType: string; body: string };
  headers?: Record<string, string>;
}

const CLOSED_STATUSES = new Set(['filled', 'canceled', 'expired', 'rejected', 'replaced', 'done_for_day', 'stopped', 'suspended']);
const TIME_IN_FORCE = new Set(['day', 'gtc', 'opg', 'cls', 'ioc', 'fok']);
const DECIMAL = /^\d+(\.\d+)?$/;
const SYMBOL = /^[A-Z0-9][A-Z0-9./-]{0,20}$/;
const MAX_BODY_BYTES = 1024 * 1024;

function alpacaError(status: number, code: number, message: string): SimResponse {
  return { status, body: { code, message } };
}

export async function startAlpacaSimulator(opts: AlpacaSimulatorOptions = {}): Promise<AlpacaSimulator> {
  const keyId = opts.keyId ?? SIM_DEFAULT_KEY_ID;
  const secretKey = opts.secretKey ?? SIM_DEFAULT_SECRET_KEY;
  const now = opts.now ?? Date.now;
  const startConfig = validated({
    ...defaultFaultConfig({ ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(opts.fillMode !== undefined ? { fillMode: opts.fillMode } : {}) }),
    ...Object.fromEntries(Object.entries(opts.faults ?? {}).filter(([, v]) => v !== undefined)),
  });

  // ---- state ---------------------------------------------------------------------------
  let config: FaultConfig = { ...startConfig };
  let rand = mulberry32(config.seed);
  let forced: SubmitFault[] = [];
  const orders = new Map<string, SimOrder>(); // insertion order = submission order
  const byClientOrderId = new Map<string, SimOrder>();
  const usedClientOrderIds = new Set<string>();
  const fills: SimFill[] = [];
  const requestLog: SimRequestLogEntry[] = [];
  const held = new Set<http.ServerResponse>(); // hung requests, never answered
  const sockets = new Set<Socket>();
  const timers = new Map<NodeJS.Timeout, () => void>();
  let stopped = false;

  function validated(candidate: FaultConfig): FaultConfig {
    const parsed = faultConfigSchema.parse(candidate);
    const problems = faultConfigProblems(parsed);
    if (problems.length > 0) throw new Error(`invalid fault configuration: ${problems.join('; ')}`);
    return parsed;
  }

  const faults: FaultControls = {
    set(patch) {
      const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as FaultPatch;
      const next = validated({ ...config, ...defined });
      config = next;
      if (defined.seed !== undefined) rand = mulberry32(config.seed);
      return structuredClone(config);
    },
    get: () => structuredClone(config),
    clear() {
      config = { ...startConfig };
      rand = mulberry32(config.seed);
      forced = [];
    },
    next(outcomes) {
      forced.push(...outcomes.map((o) => submitFaultSchema.parse(o)));
    },
    pending: () => [...forced],
  };

  // ---- helpers ---------------------------------------------------------------------------
  const iso = (ms = now()) => new Date(ms).toISOString();

  /** A pause that `stop()` cuts short (the caller then sees `stopped`). */
  function sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.set(t, resolve);
    });
  }

  function latency(): number {
    const l = config.latencyMs;
    if (typeof l === 'number') return l;
    return l.min + rand() * (l.max - l.min);
  }

  function priceFor(order: SimOrder): number {
    if (order.limit_price !== null) return Number(order.limit_price);
    return config.prices[order.symbol] ?? config.defaultPrice;
  }

  function fmt(n: number): string {
    // Enough precision for fractional shares, no float noise in the common cases.
    return String(Number(n.toFixed(9)));
  }

  function applyFill(order: SimOrder, qty: number, price: number): void {
    const total = Number(order.qty);
    const before = Number(order.filled_qty);
    const after = Math.min(total, before + qty);
    const done = after - before;
    if (done <= 0) throw new Error(`order ${order.id} has nothing left to fill`);
    const prevAvg = order.filled_avg_price === null ? 0 : Number(order.filled_avg_price);
    const avg = (prevAvg * before + price * done) / after;
    const t = now();
    const complete = after >= total;
    order.filled_qty = fmt(after);
    order.filled_avg_price = fmt(avg);
    order.status = complete ? 'filled' : 'partially_filled';
    order.updated_at = iso(t);
    if (complete) order.filled_at = iso(t);
    const stamp = iso(t).replace(/[-:TZ.]/g, '');
    fills.push({
      activity_type: 'FILL',
      id: `${stamp}::${randomUUID()}`,
      order_id: order.id,
      symbol: order.symbol,
      side: order.side,
      qty: fmt(done),
      price: fmt(price),
      cum_qty: fmt(after),
      leaves_qty: fmt(total - after),
      transaction_time: iso(t),
      type: complete ? 'fill' : 'partial_fill',
      order_status: order.status,
    });
  }

  function fillAfterAccept(order: SimOrder): void {
    const price = priceFor(order);
    if (config.fillMode === 'instant') {
      applyFill(order, Number(order.qty), price);
    } else if (config.fillMode === 'partial') {
      const total = Number(order.qty);
      const first = total >= 2 ? Math.floor(total / 2) : Number(fmt(total / 2));
      applyFill(order, first, price);
      applyFill(order, total - first, price);
    }
  }

  const copy = (o: SimOrder): SimOrder => ({ ...o });

  // ---- Alpaca routes ---------------------------------------------------------------------
  function submitOrder(body: unknown, fault: SubmitFault): SimResponse {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return alpacaError(400, 40010000, 'request body format is invalid');
    }
    const b = body as Record<string, unknown>;
    const invalid = (message: string) => alpacaError(422, 40010001, message);

    const symbol = b.symbol;
    if (typeof symbol !== 'string' || symbol === '') return invalid('symbol is required');
    if (!SYMBOL.test(symbol)) return invalid(`asset "${symbol}" not found`);
    if (b.notional !== undefined) return invalid('notional orders are not supported by the simulator');
    const qtyText = typeof b.qty === 'number' ? String(b.qty) : b.qty;
    if (typeof qtyText !== 'string' || qtyText === '') return invalid('qty is required');
    if (!DECIMAL.test(qtyText) || !(Number(qtyText) > 0)) return invalid('qty must be > 0');
    const side = b.side;
    if (side !== 'buy' && side !== 'sell') return invalid('invalid side');
    const type = b.type;
    if (type !== 'market' && type !== 'limit') return invalid(`invalid order type for the simulator: ${String(type)}`);
    const tif = b.time_in_force;
    if (typeof tif !== 'string' || !TIME_IN_FORCE.has(tif)) return invalid('invalid time_in_force');
    let limitPrice: string | null = null;
    if (type === 'limit') {
      const lp = typeof b.limit_price === 'number' ? String(b.limit_price) : b.limit_price;
      if (lp === undefined || lp === null) return invalid('limit_price is required for limit orders');
      if (typeof lp !== 'string' || !DECIMAL.test(lp) || !(Number(lp) > 0)) return invalid('invalid limit_price');
      limitPrice = lp;
    } else if (b.limit_price !== undefined && b.limit_price !== null) {
      return invalid('limit_price is not allowed for market orders');
    }
    const cid = b.client_order_id ?? randomUUID();
    if (typeof cid !== 'string' || cid === '') return invalid('invalid client_order_id');
    if (cid.length > 48) return invalid('client_order_id must be no more than 48 characters');
    if (usedClientOrderIds.has(cid)) return invalid('client_order_id must be unique');

    const qty = Number(qtyText);
    const marketPrice = limitPrice !== null ? Number(limitPrice) : (config.prices[symbol] ?? config.defaultPrice);
    if (
      fault === 'insufficient_buying_power' ||
      (side === 'buy' &&
        (config.insufficientBuyingPowerSymbols.includes(symbol) ||
          (config.maxOrderNotional !== null && qty * marketPrice > config.maxOrderNotional)))
    ) {
      return alpacaError(403, 40310000, 'insufficient buying power');
    }

    const t = iso();
    const order: SimOrder = {
      id: randomUUID(),
      client_order_id: cid,
      created_at: t,
      updated_at: t,
      submitted_at: t,
      filled_at: null,
      expired_at: null,
      canceled_at: null,
      failed_at: null,
      asset_id: `asset-${symbol}`,
      symbol,
      asset_class: 'us_equity',
      notional: null,
      qty: qtyText,
      filled_qty: '0',
      filled_avg_price: null,
      order_class: '',
      order_type: type,
      type,
      side,
      time_in_force: tif,
      limit_price: limitPrice,
      stop_price: null,
      status: 'new',
      extended_hours: false,
    };
    orders.set(order.id, order);
    byClientOrderId.set(cid, order);
    usedClientOrderIds.add(cid);
    const answer = copy(order); // as accepted; fills land right after
    fillAfterAccept(order);
    return { status: 200, body: answer };
  }

  function listOrders(q: URLSearchParams): SimResponse {
    const status = q.get('status') ?? 'open';
    if (!['open', 'closed', 'all'].includes(status)) return alpacaError(422, 40010001, 'invalid status');
    const limitText = q.get('limit');
    const limit = limitText === null ? 50 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) return alpacaError(422, 40010001, 'invalid limit');
    const direction = q.get('direction') ?? 'desc';
    if (direction !== 'asc' && direction !== 'desc') return alpacaError(422, 40010001, 'invalid direction');
    const after = parseTime(q.get('after'));
    const until = parseTime(q.get('until'));
    if (after === 'invalid' || until === 'invalid') return alpacaError(422, 40010001, 'invalid timestamp');
    let list = [...orders.values()].filter((o) => {
      const closed = CLOSED_STATUSES.has(o.status);
      if (status === 'open' && closed) return false;
      if (status === 'closed' && !closed) return false;
      const at = Date.parse(o.submitted_at);
      if (after !== null && !(at > after)) return false;
      if (until !== null && !(at < until)) return false;
      return true;
    });
    if (direction === 'desc') list = list.reverse();
    return { status: 200, body: list.slice(0, Math.min(limit, 500)).map(copy) };
  }

  function lookup(q: URLSearchParams): SimResponse {
    const cid = q.get('client_order_id');
    if (cid === null || cid === '') return alpacaError(422, 40010001, 'client_order_id is missing');
    const order = byClientOrderId.get(cid);
    return order === undefined ? alpacaError(404, 40410000, 'order not found') : { status: 200, body: copy(order) };
  }

  function getOrder(id: string): SimResponse {
    const order = orders.get(id);
    return order === undefined ? alpacaError(404, 40410000, 'order not found') : { status: 200, body: copy(order) };
  }

  function cancel(order: SimOrder): void {
    const t = iso();
    order.status = 'canceled';
    order.canceled_at = t;
    order.updated_at = t;
  }

  function cancelOne(id: string): SimResponse {
    const order = orders.get(id);
    if (order === undefined) return alpacaError(404, 40410000, 'order not found');
    if (CLOSED_STATUSES.has(order.status)) return alpacaError(422, 42210000, `order is already in "${order.status}" state`);
    cancel(order);
    return { status: 204 };
  }

  function cancelAll(): SimResponse {
    const results: Array<{ id: string; status: number; body: SimOrder }> = [];
    for (const order of orders.values()) {
      if (CLOSED_STATUSES.has(order.status)) continue;
      cancel(order);
      results.push({ id: order.id, status: 200, body: copy(order) });
    }
    return { status: 207, body: results };
  }

  function listFills(q: URLSearchParams): SimResponse {
    const direction = q.get('direction') ?? 'desc';
    if (direction !== 'asc' && direction !== 'desc') return alpacaError(422, 40010001, 'invalid direction');
    const sizeText = q.get('page_size');
    const pageSize = sizeText === null ? 100 : Number(sizeText);
    if (!Number.isInteger(pageSize) || pageSize < 1) return alpacaError(422, 40010001, 'invalid page_size');
    const after = parseTime(q.get('after'));
    const until = parseTime(q.get('until'));
    if (after === 'invalid' || until === 'invalid') return alpacaError(422, 40010001, 'invalid timestamp');
    let list = fills.filter((f) => {
      const at = Date.parse(f.transaction_time);
      if (after !== null && !(at > after)) return false;
      if (until !== null && !(at < until)) return false;
      return true;
    });
    if (direction === 'desc') list = list.reverse();
    const token = q.get('page_token');
    if (token !== null && token !== '') {
      const at = list.findIndex((f) => f.id === token);
      if (at < 0) return alpacaError(422, 40010001, 'invalid page_token');
      list = list.slice(at + 1);
    }
    return { status: 200, body: list.slice(0, Math.min(pageSize, 100)).map((f) => ({ ...f })) };
  }

  function route(method: string, path: string, q: URLSearchParams, body: unknown, fault: SubmitFault): SimResponse {
    if (path === '/v2/orders') {
      if (method === 'POST') return submitOrder(body, fault);
      if (method === 'GET') return listOrders(q);
      if (method === 'DELETE') return cancelAll();
    }
    if (path === '/v2/orders:by_client_order_id' && method === 'GET') return lookup(q);
    const one = /^\/v2\/orders\/([^/]+)$/.exec(path);
    if (one !== null) {
      const id = decodeURIComponent(one[1] ?? '');
      if (method === 'GET') return getOrder(id);
      if (method === 'DELETE') return cancelOne(id);
    }
    if (path === '/v2/account/activities/FILL' && method === 'GET') return listFills(q);
    return { status: 404, text: { contentType: 'text/plain; charset=utf-8', body: '404 page not found' } };
  }

  function isKnownRoute(method: string, path: string): boolean {
    if (path === '/v2/orders') return method === 'GET' || method === 'POST' || method === 'DELETE';
    if (/^\/v2\/orders\/[^/]+$/.test(path)) return method === 'GET' || method === 'DELETE';
    return method === 'GET' && (path === '/v2/orders:by_client_order_id' || path === '/v2/account/activities/FILL');
  }

  // ---- control routes --------------------------------------------------------------------
  function control(method: string, path: string, body: unknown): SimResponse {
    const state = () => ({ config: faults.get(), pending: faults.pending() });
    if (path === '/__sim/orders' && method === 'GET') return { status: 200, body: [...orders.values()].map(copy) };
    if (path === '/__sim/fills' && method === 'GET') return { status: 200, body: fills.map((f) => ({ ...f })) };
    if (path === '/__sim/requests' && method === 'GET') return { status: 200, body: requestLog };
    if (path === '/__sim/faults' && method === 'GET') return { status: 200, body: state() };
    if (path === '/__sim/faults' && method === 'POST') {
      const parsed = faultRequestSchema.safeParse(body ?? {});
      if (!parsed.success) {
        return { status: 400, body: { message: 'invalid fault request', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) } };
      }
      const { next, clear, ...patch } = parsed.data;
      try {
        if (clear === true) faults.clear();
        faults.set(patch);
        if (next !== undefined) faults.next(next);
      } catch (err) {
        return { status: 400, body: { message: (err as Error).message } };
      }
      return { status: 200, body: state() };
    }
    if (path === '/__sim/reset' && method === 'POST') {
      reset();
      return { status: 200, body: { ok: true } };
    }
    const fillMatch = /^\/__sim\/orders\/([^/]+)\/fill$/.exec(path);
    if (fillMatch !== null && method === 'POST') {
      const b = (body ?? {}) as { qty?: unknown; price?: unknown };
      try {
        const order = fillOrder(decodeURIComponent(fillMatch[1] ?? ''), {
          ...(typeof b.qty === 'number' ? { qty: b.qty } : {}),
          ...(typeof b.price === 'number' ? { price: b.price } : {}),
        });
        return { status: 200, body: order };
      } catch (err) {
        return { status: 422, body: { message: (err as Error).message } };
      }
    }
    return { status: 404, body: { message: `no simulator control route ${method} ${path}` } };
  }

  function fillOrder(orderId: string, fillOpts: { qty?: number; price?: number } = {}): SimOrder {
    const order = orders.get(orderId);
    if (order === undefined) throw new Error(`no order ${orderId}`);
    if (CLOSED_STATUSES.has(order.status)) throw new Error(`order ${orderId} is ${order.status}`);
    const left = Number(order.qty) - Number(order.filled_qty);
    applyFill(order, fillOpts.qty ?? left, fillOpts.price ?? priceFor(order));
    return copy(order);
  }

  // ---- HTTP plumbing ---------------------------------------------------------------------
  function send(res: http.ServerResponse, r: SimResponse): boolean {
    if (res.destroyed || res.writableEnded || res.socket === null || res.socket.destroyed) return false;
    const headers: Record<string, string> = { ...r.headers };
    let payload = '';
    if (r.text !== undefined) {
      headers['content-type'] = r.text.contentType;
      payload = r.text.body;
    } else if (r.body !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
      payload = JSON.stringify(r.body);
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(r.status, headers);
    res.end(payload);
    return true;
  }

  function hold(res: http.ServerResponse): void {
    held.add(res);
    res.on('close', () => held.delete(res));
  }

  function readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          reject(new Error('request body too large'));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  function errorResponseFor(fault: SubmitFault): SimResponse | null {
    switch (fault) {
      case '5xx':
      case '500':
        return alpacaError(500, 50010000, 'internal server error');
      case '503':
        // Like a load balancer in front of the API: not JSON.
        return { status: 503, text: { contentType: 'text/html', body: '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>' } };
      case 'rate_limit': {
        const headers: Record<string, string> = {
          'x-ratelimit-limit': '200',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.ceil(now() / 1000) + (config.retryAfterSeconds ?? 1)),
        };
        if (config.retryAfterSeconds !== null) headers['retry-after'] = String(config.retryAfterSeconds);
        return { ...alpacaError(429, 42910000, 'rate limit exceeded'), headers };
      }
      default:
        return null;
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const text = await readBody(req);
    let body: unknown;
    let bodyIsJson = true;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        bodyIsJson = false;
      }
    }

    if (path.startsWith('/__sim/')) {
      send(res, bodyIsJson ? control(method, path, body) : { status: 400, body: { message: 'body is not JSON' } });
      return;
    }

    await sleep(latency());
    if (stopped) return;

    const log = (status: number, delivered: boolean, fault?: SubmitFault) => {
      requestLog.push({
        method,
        path,
        query: url.search,
        status,
        at: now(),
        delivered,
        ...(fault !== undefined && fault !== 'ok' ? { fault } : {}),
      });
    };

    if (req.headers['apca-api-key-id'] !== keyId || req.headers['apca-api-secret-key'] !== secretKey) {
      const r = alpacaError(401, 40110000, 'request is not authorized');
      log(401, send(res, r));
      return;
    }

    const known = isKnownRoute(method, path);
    const isSubmit = method === 'POST' && path === '/v2/orders';
    let fault: SubmitFault = 'ok';
    if (isSubmit) {
      fault = forced.shift() ?? rollFault(config, rand());
    } else if (known && config.applyRatesTo === 'all') {
      fault = rollFault(config, rand());
    }

    if (fault === 'hang_before_place') {
      log(0, false, fault);
      hold(res);
      return;
    }
    const early = errorResponseFor(fault);
    if (early !== null) {
      log(early.status, send(res, early), fault);
      return;
    }

    const r = isSubmit && !bodyIsJson ? alpacaError(400, 40010000, 'request body format is invalid') : route(method, path, url.searchParams, body, fault);

    if (fault === 'lost_response') {
      log(0, false, fault);
      res.socket?.destroy();
      return;
    }
    if (fault === 'hang_after_place') {
      log(0, false, fault);
      hold(res);
      return;
    }
    log(r.status, send(res, r), fault);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!send(res, { status: 500, body: { code: 50000000, message: `simulator error: ${(err as Error).message}` } })) res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  function endHeld(): void {
    for (const res of held) res.socket?.destroy();
    held.clear();
  }

  function reset(): void {
    endHeld();
    orders.clear();
    byClientOrderId.clear();
    usedClientOrderIds.clear();
    fills.length = 0;
    requestLog.length = 0;
    faults.clear();
  }

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    keyId,
    secretKey,
    orders: () => [...orders.values()].map(copy),
    fills: () => fills.map((f) => ({ ...f })),
    fill: fillOrder,
    faults,
    requestLog,
    reset,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const [t, wake] of timers) {
        clearTimeout(t);
        wake();
      }
      timers.clear();
      endHeld();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

function parseTime(value: string | null): number | null | 'invalid' {
  if (value === null || value === '') return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? 'invalid' : t;
}
