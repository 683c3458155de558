import type { OrderSide, OrderType, TimeInForce } from '../domain/intent.js';
import type { RateLimitInfo } from '../domain/order-lifecycle.js';

/**
 * What haltgate needs from a broker. Every call takes its own timeout: the pipeline derives it
 * from the function's remaining deadline (G4). Calls never throw for broker answers; they
 * return a classified outcome, because the classification decides what the pipeline records.
 */
export interface Broker {
  /** Short name for logs and records: `alpaca-paper`, `alpaca-live`, `dry-run`. */
  readonly name: string;
  submitOrder(order: OrderRequest, opts: CallOptions): Promise<SubmitOutcome>;
  getOrderByClientOrderId(clientOrderId: string, opts: CallOptions): Promise<LookupOutcome>;
  cancelAllOpenOrders(opts: CallOptions): Promise<CancelAllOutcome>;
  /**
   * `DELETE /v2/orders/{id}`: cancels one order (a halt under HALT_CANCEL_SCOPE=haltgate, the
   * runner dead-man switch). Optional for test doubles; callers treat its absence as a failure.
   */
  cancelOrder?(orderId: string, opts: CallOptions): Promise<CancelOneOutcome>;
  /**
   * One page of orders submitted after `since` (exclusive) and before `until` (exclusive),
   * oldest first unless `direction` says otherwise; at most `limit` (Alpaca: 500). Paging is by
   * time window (broker/list-all.ts). Items that cannot be read are returned in `unreadable`,
   * never a failure of the whole listing.
   */
  listOrders(
    query: { since: Date; until?: Date; status?: 'open' | 'closed' | 'all'; limit?: number; direction?: 'asc' | 'desc' },
    opts: CallOptions,
  ): Promise<ListOutcome<BrokerOrder>>;
  /** `GET /v2/orders/{id}` (the order lifecycle follows `replaced_by` with it). Optional for test doubles. */
  getOrderById?(orderId: string, opts: CallOptions): Promise<LookupOutcome>;
  /** One page of fills after `since`, oldest first; `nextPageToken` while a next page may exist. */
  listFills(query: { since: Date; pageToken?: string }, opts: CallOptions): Promise<ListOutcome<BrokerFill>>;
}

export interface CallOptions {
  /** The call is abandoned (and classified `unknown` where it may have had an effect) after this. */
  timeoutMs: number;
}

export interface OrderRequest {
  clientOrderId: string;
  symbol: string;
  side: OrderSide;
  qty: number;
  type: OrderType;
  limitPrice?: number;
  timeInForce: TimeInForce;
}

export interface BrokerOrder {
  id: string;
  clientOrderId: string;
  status: string;
  symbol: string;
  side: string;
  qty: string | null;
  filledQty: string;
  filledAvgPrice: string | null;
  type: string;
  limitPrice: string | null;
  submittedAt: string | null;
  createdAt: string;
  /** Alpaca `asset_class` (`us_equity`, `crypto`, `us_option`), when the broker says. */
  assetClass?: string;
  /** Alpaca `order_class` (`''`/`simple`, `bracket`, `oco`, `oto`, `mleg`), when the broker says. */
  orderClass?: string;
  /** When the broker last changed the order, when it says. */
  updatedAt?: string;
  /** The order that replaced this one (status `replaced`), when the broker says. */
  replacedBy?: string;
}

export interface BrokerFill {
  id: string;
  orderId: string;
  symbol: string;
  side: string;
  qty: string;
  price: string;
  transactionTime: string;
  /** Fees, when the broker reports them (Alpaca: absent for equities). */
  fee?: string;
}

export const SubmitOutcomeKind = {
  /** The broker holds the order. */
  accepted: 'accepted',
  /** The broker definitively refused (403 buying power, 422 invalid order, ...). Nothing placed. */
  rejected: 'rejected',
  /** The broker already holds an order with this client order id (Alpaca 422 / 40010001). */
  duplicate: 'duplicate',
  /** Nothing placed, but worth retrying later (429 rate limit). */
  not_placed: 'not_placed',
  /** May or may not have been placed: timeout, network error, 5xx, unparseable body. */
  unknown: 'unknown',
} as const;
export type SubmitOutcomeKind = (typeof SubmitOutcomeKind)[keyof typeof SubmitOutcomeKind];

export type SubmitOutcome =
  | { kind: 'accepted'; order: BrokerOrder }
  | { kind: 'rejected'; httpStatus: number; code?: number; message: string }
  | { kind: 'duplicate'; httpStatus: number; code?: number; message: string }
  | { kind: 'not_placed'; httpStatus: number; message: string; retryAfterMs?: number }
  | { kind: 'unknown'; message: string; httpStatus?: number };

/**
 * Lookups and listings carry what the broker's `X-RateLimit-*` headers said (when it sent
 * them), and a 429's wait, so callers can pace themselves against the key's 200 requests/min.
 */
export interface RateLimited {
  rateLimit?: RateLimitInfo;
  /** With httpStatus 429: how long the broker asked us to wait (Retry-After / X-RateLimit-Reset). */
  retryAfterMs?: number;
}

export type LookupOutcome = (
  | { kind: 'found'; order: BrokerOrder }
  | { kind: 'not_found' }
  | { kind: 'unknown'; message: string; httpStatus?: number }
) &
  RateLimited;

/**
 * One cancel: `cancelled` (Alpaca 204: the cancel was accepted), `not_cancellable` (422: the
 * order is already final — nothing left to cancel), `not_found` (404), or `unknown` (anything
 * else: the order may still be open).
 */
export type CancelOneOutcome =
  | { kind: 'cancelled' }
  | { kind: 'not_cancellable'; httpStatus: number; message: string }
  | { kind: 'not_found'; message: string }
  | { kind: 'unknown'; message: string; httpStatus?: number };

export type CancelAllOutcome =
  | { kind: 'done'; results: Array<{ orderId: string; httpStatus: number }> }
  | { kind: 'unknown'; message: string; httpStatus?: number };

/**
 * A listed item the adapter could not read (a multi-leg order with an empty symbol, a fill
 * without a price, ...): kept aside with the reason, so one odd item never makes the whole
 * listing unknown. Whatever identity could be read is kept for the caller to decide whose it is.
 */
export interface UnreadableItem {
  /** The item's own id (order id, fill activity id), when it is a non-empty string. */
  id: string | null;
  /** Orders: `client_order_id`; fills: null. */
  clientOrderId: string | null;
  /** Fills: `order_id`; orders: null. */
  orderId: string | null;
  /** Orders: submitted_at (else created_at); fills: transaction_time — as text, when present. */
  time: string | null;
  /** Why it was set aside (the first few schema issues, or its order/asset class). */
  reason: string;
  /** The item as the broker sent it, for the audit (bounded by the caller). */
  raw: unknown;
}

export type ListOutcome<T> = (
  | { kind: 'ok'; items: T[]; nextPageToken?: string; unreadable?: UnreadableItem[] }
  | { kind: 'unknown'; message: string; httpStatus?: number }
) &
  RateLimited;
