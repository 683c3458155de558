import { z } from 'zod';
import type { BrokerFill, BrokerOrder, UnreadableItem } from './broker.js';

/**
 * The subset of Alpaca Trading API v2 response bodies haltgate reads, checked with zod before
 * anything is believed. Objects are loose: Alpaca adds fields over time and we must not refuse
 * an order body because of a field we do not use. The fields we do use are required.
 *
 * Decimal fields are strings on the wire (`"qty": "10"`); a number is accepted too and turned
 * into its string form, so a harmless representation change cannot turn an accepted order into
 * an `unknown` one.
 */

const decimal = z.union([z.string().min(1), z.number().finite()]).transform((v) => String(v));
const optionalDecimal = decimal.nullable().optional().transform((v) => v ?? null);
const optionalString = z.string().nullable().optional().transform((v) => v ?? null);

export const alpacaOrderSchema = z.looseObject({
  id: z.string().min(1),
  client_order_id: z.string(),
  status: z.string().min(1),
  symbol: z.string().min(1),
  side: z.string().min(1),
  /** Null for notional orders. */
  qty: optionalDecimal,
  filled_qty: decimal,
  filled_avg_price: optionalDecimal,
  type: z.string().min(1),
  limit_price: optionalDecimal,
  submitted_at: optionalString,
  created_at: z.string().min(1),
  asset_class: z.string().optional(),
  order_class: z.string().optional(),
  updated_at: optionalString,
  replaced_by: optionalString,
});
export type AlpacaOrder = z.infer<typeof alpacaOrderSchema>;

export const alpacaOrderListSchema = z.array(alpacaOrderSchema);

/** Alpaca's error body: `{ "code": 40010001, "message": "..." }`. Both parts are optional here. */
export const alpacaErrorSchema = z.looseObject({
  code: z.number().int().optional(),
  message: z.string().optional(),
});
export type AlpacaError = z.infer<typeof alpacaErrorSchema>;

/** One element of the 207 multi-status answer to `DELETE /v2/orders`. */
export const alpacaCancelResultSchema = z.looseObject({
  id: z.string().min(1),
  status: z.number().int(),
  body: z.unknown().optional(),
});
export const alpacaCancelAllSchema = z.array(alpacaCancelResultSchema);

/** A trade activity from `GET /v2/account/activities/FILL`. */
export const alpacaFillSchema = z.looseObject({
  id: z.string().min(1),
  activity_type: z.string().optional(),
  order_id: z.string().min(1),
  symbol: z.string().min(1),
  side: z.string().min(1),
  qty: decimal,
  price: decimal,
  transaction_time: z.string().min(1),
  /** `fill` or `partial_fill`. */
  type: z.string().optional(),
  leaves_qty: decimal.optional(),
  cum_qty: decimal.optional(),
});
export type AlpacaFill = z.infer<typeof alpacaFillSchema>;

export const alpacaFillListSchema = z.array(alpacaFillSchema);

export function toBrokerOrder(o: AlpacaOrder): BrokerOrder {
  return {
    id: o.id,
    clientOrderId: o.client_order_id,
    status: o.status,
    symbol: o.symbol,
    side: o.side,
    qty: o.qty,
    filledQty: o.filled_qty,
    filledAvgPrice: o.filled_avg_price,
    type: o.type,
    limitPrice: o.limit_price,
    submittedAt: o.submitted_at,
    createdAt: o.created_at,
    ...(o.asset_class === undefined ? {} : { assetClass: o.asset_class }),
    ...(o.order_class === undefined ? {} : { orderClass: o.order_class }),
    ...(o.updated_at === null ? {} : { updatedAt: o.updated_at }),
    ...(o.replaced_by === null ? {} : { replacedBy: o.replaced_by }),
  };
}

export function toBrokerFill(f: AlpacaFill): BrokerFill {
  return {
    id: f.id,
    orderId: f.order_id,
    symbol: f.symbol,
    side: f.side,
    qty: f.qty,
    price: f.price,
    transactionTime: f.transaction_time,
  };
}

/** A list body: an array of anything; each element is read on its own (parseOrderItems / parseFillItems). */
export const alpacaListSchema = z.array(z.unknown());

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const field = (item: unknown, key: string): unknown =>
  item !== null && typeof item === 'object' && !Array.isArray(item) ? (item as Record<string, unknown>)[key] : undefined;

/**
 * Orders of a listing, item by item: the readable ones, and the others set aside with a reason
 * (a multi-leg order has `symbol: ''`, `side: ''` and `legs`; other asset classes may lack
 * fields we require). Their id and client_order_id are kept when readable.
 */
export function parseOrderItems(list: readonly unknown[]): { items: BrokerOrder[]; unreadable: UnreadableItem[] } {
  const items: BrokerOrder[] = [];
  const unreadable: UnreadableItem[] = [];
  for (const item of list) {
    const parsed = alpacaOrderSchema.safeParse(item);
    if (parsed.success) {
      items.push(toBrokerOrder(parsed.data));
      continue;
    }
    const orderClass = text(field(item, 'order_class'));
    const assetClass = text(field(item, 'asset_class'));
    const kind = [
      orderClass === 'mleg' || Array.isArray(field(item, 'legs')) ? `multi-leg order (order_class ${JSON.stringify(orderClass ?? '')})` : null,
      assetClass !== null && assetClass !== 'us_equity' ? `asset class ${assetClass}` : null,
    ].filter((x): x is string => x !== null);
    unreadable.push({
      id: text(field(item, 'id')),
      clientOrderId: text(field(item, 'client_order_id')),
      orderId: null,
      time: text(field(item, 'submitted_at')) ?? text(field(item, 'created_at')),
      reason: [...kind, `unreadable order: ${describeIssues(parsed.error)}`].join('; '),
      raw: item,
    });
  }
  return { items, unreadable };
}

/** Fills of a page, item by item: a fill without a price or qty is set aside with the reason. */
export function parseFillItems(list: readonly unknown[]): { items: BrokerFill[]; unreadable: UnreadableItem[] } {
  const items: BrokerFill[] = [];
  const unreadable: UnreadableItem[] = [];
  for (const item of list) {
    const parsed = alpacaFillSchema.safeParse(item);
    if (parsed.success) {
      items.push(toBrokerFill(parsed.data));
      continue;
    }
    unreadable.push({
      id: text(field(item, 'id')),
      clientOrderId: null,
      orderId: text(field(item, 'order_id')),
      time: text(field(item, 'transaction_time')),
      reason: `unreadable fill: ${describeIssues(parsed.error)}`,
      raw: item,
    });
  }
  return { items, unreadable };
}

/** The first few zod issues as one line, for outcome messages. */
export function describeIssues(error: z.ZodError, max = 3): string {
  const parts = error.issues.slice(0, max).map((issue) => {
    const path = issue.path.length === 0 ? '(body)' : issue.path.map(String).join('.');
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length > max ? ` (+${error.issues.length - max} more)` : '';
  return parts.join('; ') + more;
}
