import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * The order and fill-activity documents of the Alpaca simulator, shaped as Alpaca sends them,
 * and the pure checks of what a client sends (new order, replacement, foreign order). No state
 * here: server.ts owns the book.
 */

/** An order as Alpaca renders it: every field its Trading API v2 sends, in its order. */
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
  replaced_at: string | null;
  replaced_by: string | null;
  replaces: string | null;
  asset_id: string;
  /** '' for a multi-leg (`mleg`) order: the symbols are on its legs. */
  symbol: string;
  asset_class: string;
  notional: string | null;
  qty: string | null;
  filled_qty: string;
  filled_avg_price: string | null;
  /** `simple` for a plain order (Alpaca renders '' for some old ones), `mleg`, `bracket`, ... */
  order_class: string;
  /** Deprecated duplicate of `type`, still sent. */
  order_type: string;
  type: string;
  /** '' for a multi-leg order. */
  side: string;
  position_intent: string | null;
  time_in_force: string;
  limit_price: string | null;
  stop_price: string | null;
  status: string;
  extended_hours: boolean;
  /** null for a simple order; the leg orders of an `mleg` one. */
  legs: SimOrder[] | null;
  trail_percent: string | null;
  trail_price: string | null;
  hwm: string | null;
  /** Multi-leg orders: this leg's share of the order's qty. */
  ratio_qty: string | null;
  subtag: string | null;
  source: string | null;
  commission: string | null;
  expires_at: string | null;
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

/** Final statuses: no further fill, cancel or replace. */
export const CLOSED_STATUSES = new Set(['filled', 'canceled', 'expired', 'rejected', 'replaced', 'done_for_day', 'stopped', 'suspended']);
/** Alpaca refuses to replace an order that has not reached `new` yet, or is changing already. */
export const NOT_REPLACEABLE_STATUSES = new Set(['accepted', 'pending_new', 'pending_cancel', 'pending_replace', 'accepted_for_bidding']);
export const TIME_IN_FORCE = new Set(['day', 'gtc', 'opg', 'cls', 'ioc', 'fok']);
export const POSITION_INTENTS = new Set(['buy_to_open', 'buy_to_close', 'sell_to_open', 'sell_to_close']);
/** Alpaca: `client_order_id` of at most 128 characters (haltgate itself keeps to 48). */
export const MAX_CLIENT_ORDER_ID = 128;
const DECIMAL = /^\d+(\.\d+)?$/;
const SYMBOL = /^[A-Z0-9][A-Z0-9./-]{0,20}$/;

export function fmt(n: number): string {
  // Enough precision for fractional shares, no float noise in the common cases.
  return String(Number(n.toFixed(9)));
}

/** The activity id Alpaca uses: `<yyyymmddHHMMSSmmm>::<uuid>`, which also sorts by time. */
export function activityId(iso: string): string {
  return `${iso.replace(/[-:TZ.]/g, '')}::${randomUUID()}`;
}

/**
 * When Alpaca would expire the order, roughly: a day order at the close of its day (20:00 UTC,
 * 16:00 New York in summer), a gtc one 90 days on. The simulator never expires on its own;
 * `sim.expire()` does.
 */
export function expiresAt(createdMs: number, tif: string): string {
  if (tif === 'gtc') return new Date(createdMs + 90 * 86_400_000).toISOString();
  const close = new Date(createdMs);
  close.setUTCHours(20, 0, 0, 0);
  if (close.getTime() <= createdMs) close.setUTCDate(close.getUTCDate() + 1);
  return close.toISOString();
}

/** Every field present, nulls where Alpaca sends null for a simple equity order. */
export function blankOrder(t: string): SimOrder {
  return {
    id: randomUUID(),
    client_order_id: randomUUID(),
    created_at: t,
    updated_at: t,
    submitted_at: t,
    filled_at: null,
    expired_at: null,
    canceled_at: null,
    failed_at: null,
    replaced_at: null,
    replaced_by: null,
    replaces: null,
    asset_id: '',
    symbol: '',
    asset_class: 'us_equity',
    notional: null,
    qty: null,
    filled_qty: '0',
    filled_avg_price: null,
    order_class: 'simple',
    order_type: 'market',
    type: 'market',
    side: '',
    position_intent: null,
    time_in_force: 'day',
    limit_price: null,
    stop_price: null,
    status: 'new',
    extended_hours: false,
    legs: null,
    trail_percent: null,
    trail_price: null,
    hwm: null,
    ratio_qty: null,
    subtag: null,
    source: null,
    commission: null,
    expires_at: null,
  };
}

export function copyOrder(o: SimOrder): SimOrder {
  return { ...o, legs: o.legs === null ? null : o.legs.map(copyOrder) };
}

/** A deterministic asset id per symbol (Alpaca's are UUIDs). */
export function assetId(symbol: string): string {
  let h = 0x811c9dc5;
  for (const c of symbol) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-0000-4000-8000-${hex}${hex.slice(0, 4)}`;
}

// ---- new orders ------------------------------------------------------------------------

export interface ValidSubmit {
  symbol: string;
  qty: string;
  side: 'buy' | 'sell';
  type: 'market' | 'limit';
  timeInForce: string;
  limitPrice: string | null;
  clientOrderId: string;
  positionIntent: string | null;
  extendedHours: boolean;
}

/** The checks Alpaca makes on a `POST /v2/orders` body (the subset the simulator places). */
export function checkSubmit(body: unknown): { ok: true; value: ValidSubmit } | { ok: false; status: 400 | 422; message: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, status: 400, message: 'request body format is invalid' };
  const b = body as Record<string, unknown>;
  const invalid = (message: string) => ({ ok: false as const, status: 422 as const, message });

  const symbol = b.symbol;
  if (typeof symbol !== 'string' || symbol === '') return invalid('symbol is required');
  if (!SYMBOL.test(symbol)) return invalid(`asset "${symbol}" not found`);
  if (b.notional !== undefined) return invalid('notional orders are not supported by the simulator');
  const qty = typeof b.qty === 'number' ? String(b.qty) : b.qty;
  if (typeof qty !== 'string' || qty === '') return invalid('qty is required');
  if (!DECIMAL.test(qty) || !(Number(qty) > 0)) return invalid('qty must be > 0');
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
  if (cid.length > MAX_CLIENT_ORDER_ID) return invalid(`client_order_id must be no more than ${MAX_CLIENT_ORDER_ID} characters`);
  const intent = b.position_intent ?? null;
  if (intent !== null && (typeof intent !== 'string' || !POSITION_INTENTS.has(intent))) return invalid('invalid position_intent');
  const ext = b.extended_hours ?? false;
  if (typeof ext !== 'boolean') return invalid('invalid extended_hours');
  return {
    ok: true,
    value: { symbol, qty, side, type, timeInForce: tif, limitPrice, clientOrderId: cid, positionIntent: intent, extendedHours: ext },
  };
}

// ---- replacement -----------------------------------------------------------------------

/** `PATCH /v2/orders/{id}` (Alpaca's replace) and `sim.replace()`: each field overrides the old order's. */
export interface ReplacePatch {
  qty?: string | number;
  limit_price?: string | number;
  stop_price?: string | number;
  trail?: string | number;
  time_in_force?: string;
  client_order_id?: string;
}

const decimalInput = z.union([z.string(), z.number()]).transform((v) => String(v));
const replaceBodySchema = z.looseObject({
  qty: decimalInput.optional(),
  limit_price: decimalInput.optional(),
  stop_price: decimalInput.optional(),
  trail: decimalInput.optional(),
  time_in_force: z.string().optional(),
  client_order_id: z.string().optional(),
});

export type CheckedReplace = { qty?: string; limitPrice?: string; timeInForce?: string; clientOrderId?: string };

/** Checks a replacement against the order it replaces. */
export function checkReplace(old: SimOrder, body: unknown): { ok: true; value: CheckedReplace } | { ok: false; status: 400 | 422; message: string } {
  const parsed = replaceBodySchema.safeParse(body ?? {});
  if (!parsed.success) return { ok: false, status: 422, message: `invalid replace request: ${parsed.error.issues[0]?.message ?? ''}` };
  const p = parsed.data;
  const invalid = (message: string) => ({ ok: false as const, status: 422 as const, message });
  const out: CheckedReplace = {};
  if (p.qty !== undefined) {
    if (!DECIMAL.test(p.qty) || !(Number(p.qty) > 0)) return invalid('qty must be > 0');
    out.qty = p.qty;
  }
  if (p.limit_price !== undefined) {
    if (old.type !== 'limit' && old.type !== 'stop_limit') return invalid('limit_price cannot be set for this order type');
    if (!DECIMAL.test(p.limit_price) || !(Number(p.limit_price) > 0)) return invalid('invalid limit_price');
    out.limitPrice = p.limit_price;
  }
  if (p.stop_price !== undefined || p.trail !== undefined) return invalid('the simulator has no stop or trailing orders to replace');
  if (p.time_in_force !== undefined) {
    if (!TIME_IN_FORCE.has(p.time_in_force)) return invalid('invalid time_in_force');
    out.timeInForce = p.time_in_force;
  }
  if (p.client_order_id !== undefined) {
    if (p.client_order_id === '') return invalid('invalid client_order_id');
    if (p.client_order_id.length > MAX_CLIENT_ORDER_ID) return invalid(`client_order_id must be no more than ${MAX_CLIENT_ORDER_ID} characters`);
    out.clientOrderId = p.client_order_id;
  }
  if (Object.keys(out).length === 0) return invalid('nothing to replace');
  return { ok: true, value: out };
}

// ---- foreign orders --------------------------------------------------------------------

/**
 * An order haltgate did not place (manual, another tool, multi-leg, options, crypto): any
 * subset of the order's fields; the rest take a simple equity order's defaults. `legs` take
 * partial orders as well. `fill_price` (not an Alpaca field) prices the fill activities the
 * simulator writes for whatever of it is filled.
 */
export type ForeignOrderInput = Partial<Omit<SimOrder, 'legs'>> & { legs?: Array<Partial<Omit<SimOrder, 'legs'>>> | null; fill_price?: number };

const nullableString = z.string().nullable();
const foreignFields = {
  id: z.string().min(1),
  client_order_id: z.string().min(1).max(MAX_CLIENT_ORDER_ID),
  created_at: z.string(),
  updated_at: z.string(),
  submitted_at: z.string(),
  filled_at: nullableString,
  expired_at: nullableString,
  canceled_at: nullableString,
  failed_at: nullableString,
  replaced_at: nullableString,
  replaced_by: nullableString,
  replaces: nullableString,
  asset_id: z.string(),
  symbol: z.string(),
  asset_class: z.string(),
  notional: nullableString,
  qty: nullableString,
  filled_qty: z.string(),
  filled_avg_price: nullableString,
  order_class: z.string(),
  order_type: z.string(),
  type: z.string(),
  side: z.string(),
  position_intent: nullableString,
  time_in_force: z.string(),
  limit_price: nullableString,
  stop_price: nullableString,
  status: z.string().min(1),
  extended_hours: z.boolean(),
  trail_percent: nullableString,
  trail_price: nullableString,
  hwm: nullableString,
  ratio_qty: nullableString,
  subtag: nullableString,
  source: nullableString,
  commission: nullableString,
  expires_at: nullableString,
};
const foreignLegSchema = z.strictObject(foreignFields).partial();
export const foreignOrderSchema = z
  .strictObject({ ...foreignFields, legs: z.array(foreignLegSchema).nullable(), fill_price: z.number().positive() })
  .partial();
