import { randomUUID } from 'node:crypto';
import type { FaultConfig, FillMode } from './faults.js';
import {
  CLOSED_STATUSES,
  NOT_REPLACEABLE_STATUSES,
  activityId,
  assetId,
  blankOrder,
  checkReplace,
  checkSubmit,
  copyOrder,
  expiresAt,
  fmt,
  foreignOrderSchema,
} from './orders.js';
import type { ForeignOrderInput, ReplacePatch, SimFill, SimOrder } from './orders.js';

/**
 * The simulator's account: its orders, their lifecycle and its fill activities. Everything an
 * Alpaca route or a `/__sim` control does to the account goes through here; server.ts only
 * speaks HTTP.
 *
 * Lifecycle of an order the simulator places, as at Alpaca: the POST answers `accepted` or
 * `pending_new`; `acceptDelayMs` later it is `new`; then per its fill mode (fixed when placed)
 * `fillDelayMs` later it fills (instant), or partly fills and `fillDelayMs` after that fills
 * (partial), or waits (none). A manual control (fill, cancel, reject, expire, replace) ends the
 * automatic course of that order; `advance()` runs its next automatic step now.
 */

/** One change of an order, as Alpaca's `trade_updates` stream would report it. */
export interface SimOrderEvent {
  at: string;
  orderId: string;
  clientOrderId: string;
  event: 'accepted' | 'pending_new' | 'new' | 'partial_fill' | 'fill' | 'canceled' | 'rejected' | 'expired' | 'replaced';
  /** For `rejected`: why (Alpaca's stream says it; the order document does not). */
  reason?: string;
}

/** What a route answers: an Alpaca body, or Alpaca's error `{ code, message, ...extra }`. */
export type BookAnswer = { status: number; body?: unknown };

export interface OrderBookDeps {
  now: () => number;
  config: () => FaultConfig;
  /** Seeded draws for the `seeded` submit status, apart from the fault dice. */
  lifeRand: () => number;
}

interface Activity {
  body: unknown;
  atMs: number;
  id: string | null;
}

export function alpacaError(status: number, code: number, message: string, extra: Record<string, unknown> = {}): BookAnswer {
  return { status, body: { code, message, ...extra } };
}

export function createOrderBook(deps: OrderBookDeps) {
  const { now } = deps;
  const orders = new Map<string, SimOrder>(); // insertion order = submission order
  const byClientOrderId = new Map<string, SimOrder>();
  const usedClientOrderIds = new Set<string>();
  const modes = new Map<string, FillMode>();
  const activities: Activity[] = [];
  const events: SimOrderEvent[] = [];
  /** Net filled position per symbol, for `position_intent`. */
  const positions = new Map<string, number>();
  /** The next automatic step of each order still on its course. */
  const pending = new Map<string, { timer: NodeJS.Timeout; run: () => void }>();
  let idleWaiters: Array<() => void> = [];

  const iso = (ms = now()) => new Date(ms).toISOString();
  const cfg = () => deps.config();

  function note(order: SimOrder, event: SimOrderEvent['event'], reason?: string): void {
    events.push({ at: iso(), orderId: order.id, clientOrderId: order.client_order_id, event, ...(reason !== undefined ? { reason } : {}) });
  }

  // ---- automatic course ------------------------------------------------------------------
  function notifyIdle(): void {
    if (pending.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }

  function schedule(orderId: string, delayMs: number, step: () => void): void {
    const run = () => {
      pending.delete(orderId);
      const order = orders.get(orderId);
      if (order !== undefined && !CLOSED_STATUSES.has(order.status)) step();
      notifyIdle();
    };
    pending.set(orderId, { timer: setTimeout(run, delayMs), run });
  }

  function endCourse(orderId: string): void {
    const p = pending.get(orderId);
    if (p === undefined) return;
    clearTimeout(p.timer);
    pending.delete(orderId);
    notifyIdle();
  }

  function acknowledge(order: SimOrder): void {
    if (order.status !== 'accepted' && order.status !== 'pending_new') return;
    order.status = 'new';
    order.updated_at = iso();
    note(order, 'new');
  }

  function startCourse(order: SimOrder): void {
    const mode = modes.get(order.id) ?? 'none';
    schedule(order.id, cfg().acceptDelayMs, () => {
      acknowledge(order);
      if (mode === 'instant') {
        schedule(order.id, cfg().fillDelayMs, () => applyFill(order, left(order), priceFor(order)));
      } else if (mode === 'partial') {
        const total = Number(order.qty);
        const first = total >= 2 ? Math.floor(total / 2) : Number(fmt(total / 2));
        schedule(order.id, cfg().fillDelayMs, () => {
          applyFill(order, first, priceFor(order));
          schedule(order.id, cfg().fillDelayMs, () => applyFill(order, left(order), priceFor(order)));
        });
      }
    });
  }

  // ---- fills -----------------------------------------------------------------------------
  function priceFor(order: SimOrder): number {
    if (order.limit_price !== null) return Number(order.limit_price);
    return cfg().prices[order.symbol] ?? cfg().defaultPrice;
  }

  const left = (order: SimOrder) => Number(order.qty) - Number(order.filled_qty);

  function pushFill(order: SimOrder, qty: number, price: number, cum: number, total: number, t: string): void {
    const complete = cum >= total;
    const side = order.side === 'sell' ? -1 : 1;
    positions.set(order.symbol, (positions.get(order.symbol) ?? 0) + side * qty);
    const body: SimFill = {
      activity_type: 'FILL',
      id: activityId(t),
      order_id: order.id,
      symbol: order.symbol,
      side: order.side,
      qty: fmt(qty),
      price: fmt(price),
      cum_qty: fmt(cum),
      leaves_qty: fmt(total - cum),
      transaction_time: t,
      type: complete ? 'fill' : 'partial_fill',
      order_status: complete ? 'filled' : 'partially_filled',
    };
    activities.push({ body, atMs: Date.parse(t), id: body.id });
  }

  function applyFill(order: SimOrder, qty: number, price: number): void {
    const total = Number(order.qty);
    const before = Number(order.filled_qty);
    const after = Math.min(total, before + qty);
    const done = after - before;
    if (done <= 0) throw new Error(`order ${order.id} has nothing left to fill`);
    const prevAvg = order.filled_avg_price === null ? 0 : Number(order.filled_avg_price);
    const t = iso();
    const complete = after >= total;
    order.filled_qty = fmt(after);
    order.filled_avg_price = fmt((prevAvg * before + price * done) / after);
    order.status = complete ? 'filled' : 'partially_filled';
    order.updated_at = t;
    if (complete) order.filled_at = t;
    pushFill(order, done, price, after, total, t);
    note(order, complete ? 'fill' : 'partial_fill');
  }

  function positionIntent(symbol: string, side: 'buy' | 'sell'): string {
    const held = positions.get(symbol) ?? 0;
    if (side === 'buy') return held < 0 ? 'buy_to_close' : 'buy_to_open';
    return held > 0 ? 'sell_to_close' : 'sell_to_open';
  }

  function keep(order: SimOrder, mode: FillMode | null): void {
    orders.set(order.id, order);
    byClientOrderId.set(order.client_order_id, order);
    usedClientOrderIds.add(order.client_order_id);
    if (mode !== null) modes.set(order.id, mode);
  }

  function submitStatus(): 'accepted' | 'pending_new' {
    const s = cfg().submitStatus;
    if (s !== 'seeded') return s;
    return deps.lifeRand() < 0.5 ? 'accepted' : 'pending_new';
  }

  function open(orderId: string): SimOrder {
    const order = orders.get(orderId);
    if (order === undefined) throw new Error(`no order ${orderId}`);
    if (CLOSED_STATUSES.has(order.status)) throw new Error(`order ${orderId} is ${order.status}`);
    return order;
  }

  // ---- Alpaca routes ---------------------------------------------------------------------
  /** `POST /v2/orders`. `forceInsufficient`: the `insufficient_buying_power` fault. */
  function submit(body: unknown, forceInsufficient: boolean): BookAnswer {
    const checked = checkSubmit(body);
    if (!checked.ok) return alpacaError(checked.status, checked.status === 400 ? 40010000 : 40010001, checked.message);
    const s = checked.value;
    if (usedClientOrderIds.has(s.clientOrderId)) return alpacaError(422, 40010001, 'client_order_id must be unique');

    const c = cfg();
    const qty = Number(s.qty);
    const price = s.limitPrice !== null ? Number(s.limitPrice) : (c.prices[s.symbol] ?? c.defaultPrice);
    const cost = qty * price;
    const listed = c.insufficientBuyingPowerSymbols.includes(s.symbol);
    const overLimit = c.maxOrderNotional !== null && cost > c.maxOrderNotional;
    if (forceInsufficient || (s.side === 'buy' && (listed || overLimit))) {
      // Alpaca says how short the account is: both amounts as decimal strings.
      const buyingPower = overLimit && !listed && !forceInsufficient ? (c.maxOrderNotional ?? 0) : 0;
      return alpacaError(403, 40310000, 'insufficient buying power', { buying_power: fmt(buyingPower), cost_basis: fmt(cost) });
    }

    const ms = now();
    const t = iso(ms);
    const status = submitStatus();
    const order: SimOrder = {
      ...blankOrder(t),
      client_order_id: s.clientOrderId,
      asset_id: assetId(s.symbol),
      symbol: s.symbol,
      qty: s.qty,
      order_type: s.type,
      type: s.type,
      side: s.side,
      position_intent: s.positionIntent ?? positionIntent(s.symbol, s.side),
      time_in_force: s.timeInForce,
      limit_price: s.limitPrice,
      status,
      extended_hours: s.extendedHours,
      expires_at: expiresAt(ms, s.timeInForce),
    };
    keep(order, c.fillMode);
    note(order, status);
    const answer = copyOrder(order); // as accepted; the course runs after the answer
    startCourse(order);
    return { status: 200, body: answer };
  }

  function list(q: URLSearchParams): BookAnswer {
    const invalid = (m: string) => alpacaError(422, 40010001, m);
    const status = q.get('status') ?? 'open';
    if (!['open', 'closed', 'all'].includes(status)) return invalid('invalid status');
    const limitText = q.get('limit');
    const limit = limitText === null ? 50 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) return invalid('invalid limit');
    const direction = q.get('direction') ?? 'desc';
    if (direction !== 'asc' && direction !== 'desc') return invalid('invalid direction');
    const nested = q.get('nested');
    if (nested !== null && nested !== 'true' && nested !== 'false') return invalid('invalid nested');
    const side = q.get('side');
    if (side !== null && side !== 'buy' && side !== 'sell') return invalid('invalid side');
    const after = parseTime(q.get('after'));
    const until = parseTime(q.get('until'));
    if (after === 'invalid' || until === 'invalid') return invalid('invalid timestamp');
    const symbolsText = q.get('symbols');
    const symbols = symbolsText === null || symbolsText === '' ? null : new Set(symbolsText.split(',').map((x) => x.trim()));
    // Alpaca filters and sorts by submission time; a client pages by moving after/until.
    const listed = [...orders.values()]
      .filter((o) => {
        const closed = CLOSED_STATUSES.has(o.status);
        if (status === 'open' && closed) return false;
        if (status === 'closed' && !closed) return false;
        const at = Date.parse(o.submitted_at);
        if (after !== null && !(at > after)) return false;
        if (until !== null && !(at < until)) return false;
        if (side !== null && o.side !== side) return false;
        if (symbols !== null && !symbols.has(o.symbol) && !(o.legs ?? []).some((l) => symbols.has(l.symbol))) return false;
        return true;
      })
      .map((o, i) => ({ o, i, at: Date.parse(o.submitted_at) }))
      .sort((a, b) => a.at - b.at || a.i - b.i)
      .map((x) => x.o);
    if (direction === 'desc') listed.reverse();
    // The simulator keeps legs inside their parent whether `nested` is true or not.
    return { status: 200, body: listed.slice(0, Math.min(limit, 500)).map(copyOrder) };
  }

  function byClientId(q: URLSearchParams): BookAnswer {
    const cid = q.get('client_order_id');
    if (cid === null || cid === '') return alpacaError(422, 40010001, 'client_order_id is missing');
    const order = byClientOrderId.get(cid);
    return order === undefined ? alpacaError(404, 40410000, 'order not found') : { status: 200, body: copyOrder(order) };
  }

  function get(id: string): BookAnswer {
    const order = orders.get(id);
    return order === undefined ? alpacaError(404, 40410000, 'order not found') : { status: 200, body: copyOrder(order) };
  }

  /** Ends the order's automatic course at a final status, stamped now in `at` and `updated_at`. */
  function endAs(order: SimOrder, status: 'canceled' | 'rejected' | 'expired', at: 'canceled_at' | 'failed_at' | 'expired_at', reason?: string): void {
    endCourse(order.id);
    const t = iso();
    order.status = status;
    order[at] = t;
    order.updated_at = t;
    note(order, status, reason);
  }

  function cancelNow(order: SimOrder): void {
    endAs(order, 'canceled', 'canceled_at');
  }

  function cancelOne(id: string): BookAnswer {
    const order = orders.get(id);
    if (order === undefined) return alpacaError(404, 40410000, 'order not found');
    if (CLOSED_STATUSES.has(order.status)) return alpacaError(422, 42210000, `order is already in "${order.status}" state`);
    cancelNow(order);
    return { status: 204 };
  }

  function cancelAll(): BookAnswer {
    const results: Array<{ id: string; status: number; body: SimOrder }> = [];
    for (const order of orders.values()) {
      if (CLOSED_STATUSES.has(order.status)) continue;
      cancelNow(order);
      results.push({ id: order.id, status: 200, body: copyOrder(order) });
    }
    return { status: 207, body: results };
  }

  /** `PATCH /v2/orders/{id}`: the old order becomes `replaced`, the answer is the new one. */
  function replace(id: string, body: unknown): BookAnswer {
    const old = orders.get(id);
    if (old === undefined) return alpacaError(404, 40410000, 'order not found');
    if (CLOSED_STATUSES.has(old.status)) return alpacaError(422, 42210000, `order is already in "${old.status}" state`);
    if (NOT_REPLACEABLE_STATUSES.has(old.status)) return alpacaError(422, 42210000, `order is not replaceable in "${old.status}" state`);
    if (old.order_class !== 'simple') return alpacaError(422, 42210000, 'the simulator replaces simple orders only');
    const checked = checkReplace(old, body);
    if (!checked.ok) return alpacaError(checked.status, 40010001, checked.message);
    const p = checked.value;
    const cid = p.clientOrderId ?? randomUUID();
    if (usedClientOrderIds.has(cid)) return alpacaError(422, 40010001, 'client_order_id must be unique');

    const ms = now();
    const t = iso(ms);
    const tif = p.timeInForce ?? old.time_in_force;
    const status = submitStatus();
    const next: SimOrder = {
      ...copyOrder(old),
      id: randomUUID(),
      client_order_id: cid,
      created_at: t,
      updated_at: t,
      submitted_at: t,
      filled_at: null,
      expired_at: null,
      canceled_at: null,
      failed_at: null,
      replaced_at: null,
      replaced_by: null,
      replaces: old.id,
      qty: p.qty ?? old.qty,
      filled_qty: '0',
      filled_avg_price: null,
      time_in_force: tif,
      limit_price: p.limitPrice ?? old.limit_price,
      status,
      expires_at: expiresAt(ms, tif),
    };
    endCourse(old.id);
    old.status = 'replaced';
    old.replaced_at = t;
    old.replaced_by = next.id;
    old.updated_at = t;
    note(old, 'replaced');
    keep(next, modes.get(old.id) ?? cfg().fillMode);
    note(next, status);
    const answer = copyOrder(next);
    startCourse(next);
    return { status: 200, body: answer };
  }

  function listFills(q: URLSearchParams): BookAnswer {
    const invalid = (m: string) => alpacaError(422, 40010001, m);
    const direction = q.get('direction') ?? 'desc';
    if (direction !== 'asc' && direction !== 'desc') return invalid('invalid direction');
    const sizeText = q.get('page_size');
    const pageSize = sizeText === null ? 100 : Number(sizeText);
    if (!Number.isInteger(pageSize) || pageSize < 1) return invalid('invalid page_size');
    const after = parseTime(q.get('after'));
    const until = parseTime(q.get('until'));
    const date = parseTime(q.get('date'));
    if (after === 'invalid' || until === 'invalid' || date === 'invalid') return invalid('invalid timestamp');
    // `date`: the activities of that (UTC) day; the SDK sends it as a full timestamp.
    const day = date === null ? null : new Date(date).toISOString().slice(0, 10);
    let listed = activities.filter((a) => {
      if (after !== null && !(a.atMs > after)) return false;
      if (until !== null && !(a.atMs < until)) return false;
      if (day !== null && new Date(a.atMs).toISOString().slice(0, 10) !== day) return false;
      return true;
    });
    if (direction === 'desc') listed = listed.reverse();
    const token = q.get('page_token');
    if (token !== null && token !== '') {
      const at = listed.findIndex((a) => a.id === token);
      if (at < 0) return invalid('invalid page_token');
      listed = listed.slice(at + 1);
    }
    return { status: 200, body: listed.slice(0, Math.min(pageSize, 100)).map((a) => structuredClone(a.body)) };
  }

  // ---- controls --------------------------------------------------------------------------
  function fill(orderId: string, opts: { qty?: number; price?: number } = {}): SimOrder {
    const order = open(orderId);
    if (order.order_class === 'mleg') throw new Error(`order ${orderId} is multi-leg: add it filled with addForeignOrder`);
    endCourse(order.id);
    acknowledge(order);
    applyFill(order, opts.qty ?? left(order), opts.price ?? priceFor(order));
    return copyOrder(order);
  }

  function reject(orderId: string, reason = 'rejected by the simulator'): SimOrder {
    const order = open(orderId);
    endAs(order, 'rejected', 'failed_at', reason);
    return copyOrder(order);
  }

  /** Expired at whatever it had filled so far (Alpaca keeps `filled_qty`). */
  function expire(orderId: string): SimOrder {
    const order = open(orderId);
    endAs(order, 'expired', 'expired_at');
    return copyOrder(order);
  }

  function replaceControl(orderId: string, patch: ReplacePatch): SimOrder {
    const order = orders.get(orderId);
    // Alpaca refuses to replace before `new`; the control acknowledges first so a test need not wait.
    if (order !== undefined) {
      endCourse(order.id);
      acknowledge(order);
    }
    const r = replace(orderId, patch);
    if (r.status !== 200) throw new Error((r.body as { message: string }).message);
    return r.body as SimOrder;
  }

  function advance(orderId: string): SimOrder {
    const p = pending.get(orderId);
    if (p === undefined) throw new Error(`order ${orderId} has no automatic step pending`);
    clearTimeout(p.timer);
    p.run();
    return copyOrder(orders.get(orderId)!);
  }

  function idle(): Promise<void> {
    if (pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  function addForeignOrder(input: ForeignOrderInput): SimOrder {
    const parsed = foreignOrderSchema.safeParse(input);
    if (!parsed.success) throw new Error(`invalid foreign order: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const { legs, fill_price: fillPrice, ...fields } = parsed.data;
    const ms = now();
    const t = iso(ms);
    const mleg = (fields.order_class ?? (legs !== undefined && legs !== null ? 'mleg' : 'simple')) === 'mleg';
    if (!mleg && (fields.symbol === undefined || fields.symbol === '')) throw new Error('a foreign order needs a symbol unless it is multi-leg');
    const base = blankOrder(t);
    const status = fields.status ?? 'new';
    const order: SimOrder = {
      ...base,
      order_class: mleg ? 'mleg' : 'simple',
      qty: '1',
      side: mleg ? '' : 'buy',
      asset_id: mleg ? '' : assetId(fields.symbol ?? ''),
      expires_at: expiresAt(ms, fields.time_in_force ?? 'day'),
      ...fields,
      legs: null,
    };
    const intentOf = (o: SimOrder) => (o.side === 'buy' || o.side === 'sell' ? positionIntent(o.symbol, o.side) : null);
    if (!mleg && fields.position_intent === undefined) order.position_intent = intentOf(order);
    if (usedClientOrderIds.has(order.client_order_id)) throw new Error(`client_order_id ${order.client_order_id} is in use`);
    if (orders.has(order.id)) throw new Error(`order id ${order.id} is in use`);
    const filledStatus = (s: string) => s === 'filled';
    const completeFill = (o: SimOrder, given: Partial<SimOrder>) => {
      if (filledStatus(o.status) && given.filled_qty === undefined) o.filled_qty = o.qty ?? '0';
      if (Number(o.filled_qty) > 0 && o.filled_avg_price === null) o.filled_avg_price = fmt(fillPrice ?? cfg().prices[o.symbol] ?? cfg().defaultPrice);
      if (filledStatus(o.status) && o.filled_at === null) o.filled_at = t;
    };
    completeFill(order, fields);
    if (legs !== undefined && legs !== null) {
      order.legs = legs.map((leg) => {
        const l: SimOrder = { ...base, id: randomUUID(), client_order_id: randomUUID(), order_class: 'mleg', status, qty: '1', side: 'buy', ratio_qty: leg.qty ?? '1', asset_id: assetId(leg.symbol ?? ''), ...leg, legs: null };
        if (leg.position_intent === undefined) l.position_intent = intentOf(l);
        completeFill(l, leg);
        return l;
      });
    }
    keep(order, null);
    // The fill activities of what is filled: per leg for a multi-leg order, as Alpaca reports them.
    for (const o of order.legs ?? [order]) {
      const filled = Number(o.filled_qty);
      if (filled > 0) pushFill(o, filled, Number(o.filled_avg_price), filled, Number(o.qty ?? filled), o.filled_at ?? o.updated_at);
    }
    return copyOrder(order);
  }

  /** Any JSON as a FILL activity, for tests of fills the reader cannot use. */
  function addRawFill(json: unknown): void {
    const o = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
    const at = typeof o.transaction_time === 'string' ? Date.parse(o.transaction_time) : Number.NaN;
    activities.push({ body: structuredClone(json), atMs: Number.isNaN(at) ? now() : at, id: typeof o.id === 'string' ? o.id : null });
  }

  function reset(): void {
    for (const p of pending.values()) clearTimeout(p.timer);
    pending.clear();
    notifyIdle();
    orders.clear();
    byClientOrderId.clear();
    usedClientOrderIds.clear();
    modes.clear();
    activities.length = 0;
    events.length = 0;
    positions.clear();
  }

  return {
    submit,
    list,
    byClientId,
    get,
    cancelOne,
    cancelAll,
    replace,
    listFills,
    fill,
    reject,
    expire,
    replaceControl,
    advance,
    idle,
    addForeignOrder,
    addRawFill,
    reset,
    orders: () => [...orders.values()].map(copyOrder),
    fills: () => activities.map((a) => structuredClone(a.body) as SimFill),
    events: () => events.map((e) => ({ ...e })),
    /** Ends every pending step (stop). */
    halt(): void {
      for (const p of pending.values()) clearTimeout(p.timer);
      pending.clear();
      notifyIdle();
    },
  };
}

export type OrderBook = ReturnType<typeof createOrderBook>;

export function parseTime(value: string | null): number | null | 'invalid' {
  if (value === null || value === '') return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? 'invalid' : t;
}
