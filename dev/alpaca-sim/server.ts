import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { alpacaError, createOrderBook } from './book.js';
import type { BookAnswer, SimOrderEvent } from './book.js';
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
import type { ForeignOrderInput, ReplacePatch, SimFill, SimOrder } from './orders.js';
import { createRateLimiter } from './rate-limit.js';

export { FillMode, SubmitFault } from './faults.js';
export type { FaultConfig, FaultPatch } from './faults.js';
export type { ForeignOrderInput, ReplacePatch, SimFill, SimOrder } from './orders.js';
export type { SimOrderEvent } from './book.js';

/**
 * An Alpaca Trading API v2 simulator (the subset haltgate uses), for tests, the local stack,
 * chaos tests and the benchmark. Not deployed. It answers as Alpaca documents, not cleaner:
 *
 * - `POST /v2/orders` answers 200 with status `accepted` or `pending_new` (config
 *   `submitStatus`, seeded by default); the order becomes `new` `acceptDelayMs` later and then
 *   fills per `fillMode`, `fillDelayMs` apart (book.ts). Orders may later be `rejected`,
 *   `expired` (keeping what filled) or `replaced` (`PATCH /v2/orders/{id}`: the old order gets
 *   `replaced_by`, the new one `replaces`).
 * - Orders carry every field Alpaca sends (`order_class: 'simple'`, `legs`, `position_intent`,
 *   `expires_at`, ...; orders.ts). The account may hold foreign orders: manual ones, multi-leg
 *   (`mleg`, `symbol: ''`, `side: ''`, `legs`), other asset classes — and fill activities no
 *   reader can use (`addRawFill`).
 * - Both auth headers are required (401); `client_order_id` is at most 128 characters and
 *   unique forever, also after a cancel (422 / 40010001 "client_order_id must be unique");
 *   invalid orders are 422 / 40010001 and nothing is kept; buying-power refusals are 403 with
 *   `buying_power` and `cost_basis`; `DELETE /v2/orders` answers 207 with `[{ id, status, body }]`.
 * - `GET /v2/orders`: `status` open|closed|all (open), `limit` (50, at most 500), `after` /
 *   `until` (exclusive, on submission time), `direction` (desc), `nested`, `symbols`, `side`;
 *   no page token: a client pages by moving `after`/`until`. FILL activities page by
 *   `page_token` (the last activity id), `page_size` at most 100, `after`/`until`/`date`.
 * - Every API answer carries `X-RateLimit-Limit/Remaining/Reset`, counted per key per minute
 *   (`rateLimitPerMinute`, 200); beyond it a request is answered 429 only when
 *   `enforceRateLimit` is on (rate-limit.ts). The random `rateLimitRate` fault is apart.
 *
 * Faults (faults.ts) are set programmatically (`sim.faults`) or over HTTP by another process.
 * Control routes (no auth, no faults, no rate limit): `GET|POST /__sim/faults`,
 * `GET /__sim/orders`, `GET /__sim/fills`, `GET /__sim/events`, `GET /__sim/requests`,
 * `POST /__sim/reset`, `POST /__sim/idle`, `POST /__sim/orders/:id/{fill,reject,expire,replace,advance}`,
 * `POST /__sim/foreign-orders`, `POST /__sim/fills/raw`.
 */

export const SIM_DEFAULT_KEY_ID = 'sim-key-id';
export const SIM_DEFAULT_SECRET_KEY = 'sim-secret-key';

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
  /** Refused by the enforced per-minute limit (`enforceRateLimit`). */
  rateLimited?: true;
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
  /** Clock for timestamps and rate-limit windows. Default `Date.now`. Delays use real timers. */
  now?: () => number;
}

export interface AlpacaSimulator {
  /** `http://127.0.0.1:<port>`: the adapter's `baseUrl`. */
  url: string;
  port: number;
  keyId: string;
  secretKey: string;
  /** Every order ever kept (until `reset()`), oldest first, as copies. */
  orders(): SimOrder[];
  /** Every fill activity, oldest first, as copies; raw ones (`addRawFill`) as they were given. */
  fills(): SimFill[];
  /** Every order change, as Alpaca's trade_updates stream would tell it. */
  events(): SimOrderEvent[];
  /**
   * Fills an open order now (acknowledging it first if still `accepted`/`pending_new`): `qty`
   * defaults to what is left, `price` to the fill price rule. Ends its automatic course.
   */
  fill(orderId: string, opts?: { qty?: number; price?: number }): SimOrder;
  /** An open order becomes `rejected` (`failed_at` set); the reason goes to `events()`. */
  reject(orderId: string, reason?: string): SimOrder;
  /** An open order becomes `expired`, keeping `filled_qty` so far. */
  expire(orderId: string): SimOrder;
  /** Alpaca's replace, acknowledging the order first; answers the new order. Throws where Alpaca would refuse. */
  replace(orderId: string, patch: ReplacePatch): SimOrder;
  /** Runs the order's next automatic step (acknowledge, fill) now. Throws when none is pending. */
  advance(orderId: string): SimOrder;
  /** Resolves once no order has an automatic step pending. */
  idle(): Promise<void>;
  /** Puts an order haltgate did not place on the account (with its fill activities if filled). */
  addForeignOrder(order: ForeignOrderInput): SimOrder;
  /** Appends any JSON to the FILL activities. */
  addRawFill(activity: unknown): void;
  faults: FaultControls;
  /** Every API request (not `/__sim`), in the order outcomes were decided. */
  requestLog: SimRequestLogEntry[];
  /** Forgets orders, fills, events, used client order ids, rate windows and the log; faults back to the start; ends hung requests. */
  reset(): void;
  /** Closes the server, including hung and keep-alive connections. */
  stop(): Promise<void>;
}

interface SimResponse extends BookAnswer {
  /** Sent as-is with this content type instead of JSON. */
  text?: { contentType: string; body: string };
  headers?: Record<string, string>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const IDLE_WAIT_MAX_MS = 10_000;
/** Distinct from the fault dice so the submit status never shifts a chaos run's faults. */
const LIFECYCLE_SEED_SALT = 0x5bd1e995;

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
  let lifeRand = mulberry32(config.seed ^ LIFECYCLE_SEED_SALT);
  let forced: SubmitFault[] = [];
  const book = createOrderBook({ now, config: () => config, lifeRand: () => lifeRand() });
  const limiter = createRateLimiter();
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

  function reseed(): void {
    rand = mulberry32(config.seed);
    lifeRand = mulberry32(config.seed ^ LIFECYCLE_SEED_SALT);
  }

  const faults: FaultControls = {
    set(patch) {
      const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as FaultPatch;
      const next = validated({ ...config, ...defined });
      config = next;
      if (defined.seed !== undefined) reseed();
      return structuredClone(config);
    },
    get: () => structuredClone(config),
    clear() {
      config = { ...startConfig };
      reseed();
      forced = [];
    },
    next(outcomes) {
      forced.push(...outcomes.map((o) => submitFaultSchema.parse(o)));
    },
    pending: () => [...forced],
  };

  // ---- helpers ---------------------------------------------------------------------------
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

  // ---- Alpaca routes ---------------------------------------------------------------------
  const ORDER_PATH = /^\/v2\/orders\/([^/]+)$/;

  function route(method: string, path: string, q: URLSearchParams, body: unknown, fault: SubmitFault): SimResponse {
    if (path === '/v2/orders') {
      if (method === 'POST') return book.submit(body, fault === 'insufficient_buying_power');
      if (method === 'GET') return book.list(q);
      if (method === 'DELETE') return book.cancelAll();
    }
    if (path === '/v2/orders:by_client_order_id' && method === 'GET') return book.byClientId(q);
    const one = ORDER_PATH.exec(path);
    if (one !== null) {
      const id = decodeURIComponent(one[1] ?? '');
      if (method === 'GET') return book.get(id);
      if (method === 'DELETE') return book.cancelOne(id);
      if (method === 'PATCH') return book.replace(id, body);
    }
    if (path === '/v2/account/activities/FILL' && method === 'GET') return book.listFills(q);
    return { status: 404, text: { contentType: 'text/plain; charset=utf-8', body: '404 page not found' } };
  }

  function isKnownRoute(method: string, path: string): boolean {
    if (path === '/v2/orders') return method === 'GET' || method === 'POST' || method === 'DELETE';
    if (ORDER_PATH.test(path)) return method === 'GET' || method === 'DELETE' || method === 'PATCH';
    return method === 'GET' && (path === '/v2/orders:by_client_order_id' || path === '/v2/account/activities/FILL');
  }

  // ---- control routes --------------------------------------------------------------------
  /** Runs a control that throws on a refusal: 422 with its message. */
  function attempt(run: () => unknown): SimResponse {
    try {
      return { status: 200, body: run() ?? { ok: true } };
    } catch (err) {
      return { status: 422, body: { message: (err as Error).message } };
    }
  }

  async function control(method: string, path: string, body: unknown): Promise<SimResponse> {
    const state = () => ({ config: faults.get(), pending: faults.pending() });
    if (method === 'GET') {
      if (path === '/__sim/orders') return { status: 200, body: book.orders() };
      if (path === '/__sim/fills') return { status: 200, body: book.fills() };
      if (path === '/__sim/events') return { status: 200, body: book.events() };
      if (path === '/__sim/requests') return { status: 200, body: requestLog };
      if (path === '/__sim/faults') return { status: 200, body: state() };
    }
    if (method !== 'POST') return { status: 404, body: { message: `no simulator control route ${method} ${path}` } };
    if (path === '/__sim/faults') {
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
    if (path === '/__sim/reset') {
      reset();
      return { status: 200, body: { ok: true } };
    }
    if (path === '/__sim/idle') {
      let timer: NodeJS.Timeout | undefined;
      const idle = await Promise.race([
        book.idle().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), IDLE_WAIT_MAX_MS))),
      ]);
      clearTimeout(timer);
      return { status: 200, body: { idle } };
    }
    if (path === '/__sim/foreign-orders') return attempt(() => book.addForeignOrder((body ?? {}) as ForeignOrderInput));
    if (path === '/__sim/fills/raw') return attempt(() => book.addRawFill(body ?? null));
    const m = /^\/__sim\/orders\/([^/]+)\/(fill|reject|expire|replace|advance)$/.exec(path);
    if (m !== null) {
      const id = decodeURIComponent(m[1] ?? '');
      const b = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
      switch (m[2]) {
        case 'fill':
          return attempt(() =>
            book.fill(id, {
              ...(typeof b.qty === 'number' ? { qty: b.qty } : {}),
              ...(typeof b.price === 'number' ? { price: b.price } : {}),
            }),
          );
        case 'reject':
          return attempt(() => book.reject(id, typeof b.reason === 'string' ? b.reason : undefined));
        case 'expire':
          return attempt(() => book.expire(id));
        case 'replace':
          return attempt(() => book.replaceControl(id, b as ReplacePatch));
        default:
          return attempt(() => book.advance(id));
      }
    }
    return { status: 404, body: { message: `no simulator control route ${method} ${path}` } };
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
          'x-ratelimit-limit': String(config.rateLimitPerMinute),
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
      send(res, bodyIsJson ? await control(method, path, body) : { status: 400, body: { message: 'body is not JSON' } });
      return;
    }

    await sleep(latency());
    if (stopped) return;

    const log = (status: number, delivered: boolean, fault?: SubmitFault, rateLimited?: true) => {
      requestLog.push({
        method,
        path,
        query: url.search,
        status,
        at: now(),
        delivered,
        ...(fault !== undefined && fault !== 'ok' ? { fault } : {}),
        ...(rateLimited ? { rateLimited } : {}),
      });
    };

    // Counted per key before anything else, as every answer reports the budget left.
    const keyHeader = req.headers['apca-api-key-id'];
    const budget = limiter.take(typeof keyHeader === 'string' ? keyHeader : '', now(), config.rateLimitPerMinute);
    const answer = (r: SimResponse): boolean => send(res, { ...r, headers: { ...budget.headers, ...r.headers } });

    if (budget.exceeded && config.enforceRateLimit) {
      // Alpaca sends no Retry-After here: X-RateLimit-Reset says when the window restarts.
      log(429, answer(alpacaError(429, 42910000, 'rate limit exceeded')), undefined, true);
      return;
    }

    if (req.headers['apca-api-key-id'] !== keyId || req.headers['apca-api-secret-key'] !== secretKey) {
      const r = alpacaError(401, 40110000, 'request is not authorized');
      log(401, answer(r));
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
      log(early.status, answer(early), fault);
      return;
    }

    const r = (isSubmit || method === 'PATCH') && !bodyIsJson ? alpacaError(400, 40010000, 'request body format is invalid') : route(method, path, url.searchParams, body, fault);

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
    log(r.status, answer(r), fault);
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
    book.reset();
    limiter.clear();
    requestLog.length = 0;
    faults.clear();
  }

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    keyId,
    secretKey,
    orders: book.orders,
    fills: book.fills,
    events: book.events,
    fill: book.fill,
    reject: book.reject,
    expire: book.expire,
    replace: book.replaceControl,
    advance: book.advance,
    idle: book.idle,
    addForeignOrder: book.addForeignOrder,
    addRawFill: book.addRawFill,
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
      book.halt();
      endHeld();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
