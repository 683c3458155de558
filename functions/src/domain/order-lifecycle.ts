import { formatDecimal, isDecimalString, parseDecimal, PRICE_DECIMALS, QTY_DECIMALS } from './pnl/decimal.js';
import { z } from 'zod';
import { SubmissionState as SubmissionStateValues } from './submission.js';
import type { SubmissionState } from './submission.js';

/**
 * The order lifecycle (issue 10), pure: what haltgate keeps of the broker's view of a submitted
 * order (`submissions/{intentId}.order`), when that view is final, which change of a record is
 * worth an `order-updates` message, and which finals are bad news for operators.
 *
 * The order view has exactly the contract's keys: `{ status, filledQty, filledAvgPrice,
 * updatedAt, final }` (updatedAt in epoch ms here; a Timestamp in Firestore, ISO-8601 on the
 * topic). Quantities and prices are the broker's decimal strings, summed exactly.
 */

/** Alpaca order statuses (https://docs.alpaca.markets/docs/orders-at-alpaca#order-lifecycle). */
export const BrokerOrderStatus = {
  new: 'new',
  partially_filled: 'partially_filled',
  filled: 'filled',
  done_for_day: 'done_for_day',
  canceled: 'canceled',
  expired: 'expired',
  replaced: 'replaced',
  pending_cancel: 'pending_cancel',
  pending_replace: 'pending_replace',
  pending_review: 'pending_review',
  accepted: 'accepted',
  pending_new: 'pending_new',
  accepted_for_bidding: 'accepted_for_bidding',
  stopped: 'stopped',
  rejected: 'rejected',
  suspended: 'suspended',
  calculated: 'calculated',
  held: 'held',
} as const;
export type BrokerOrderStatus = (typeof BrokerOrderStatus)[keyof typeof BrokerOrderStatus];

/**
 * Statuses after which an order changes no more. `replaced` is final for that broker order but
 * not for the intent: the order that replaced it (`replaced_by`) is followed instead.
 */
export const FINAL_ORDER_STATUSES: ReadonlySet<string> = new Set([
  BrokerOrderStatus.filled,
  BrokerOrderStatus.canceled,
  BrokerOrderStatus.expired,
  BrokerOrderStatus.rejected,
]);

export function isFinalOrderStatus(status: string): boolean {
  return FINAL_ORDER_STATUSES.has(status);
}

/** `submissions/{intentId}.order`, as the domain sees it. */
export interface OrderView {
  status: string;
  filledQty: string;
  filledAvgPrice: string | null;
  /** When this view last changed: the broker's `updated_at` when it gives one, else haltgate's clock. */
  updatedAtMs: number;
  final: boolean;
}

/** What one broker order says (the fields of `BrokerOrder` the lifecycle reads). */
export interface BrokerOrderFacts {
  id: string;
  status: string;
  filledQty: string;
  filledAvgPrice: string | null;
  replacedBy?: string | null;
  updatedAt?: string | null;
}

/** The longest `replaced_by` chain followed; longer chains are left open and reported. */
export const MAX_REPLACE_CHAIN = 20;

/**
 * The view of an intent's order from the chain of broker orders that carried it: the first is
 * the order haltgate placed, each next one the order that replaced the one before. Status and
 * finality are the last order's; quantities are summed over the chain (each broker order
 * reports its own executions) with the average price weighted by quantity. A chain that ends
 * in `replaced` (the successor is not known yet) is not final.
 */
export function orderViewOf(chain: readonly BrokerOrderFacts[], nowMs: number): { ok: true; view: OrderView } | { ok: false; problem: string } {
  const head = chain[chain.length - 1];
  if (head === undefined) return { ok: false, problem: 'no broker order' };
  let qty = 0n;
  let notional = 0n; // qty units × price units
  for (const order of chain) {
    if (!isDecimalString(order.filledQty, QTY_DECIMALS) || parseDecimal(order.filledQty, QTY_DECIMALS) < 0n) {
      return { ok: false, problem: `order ${order.id}: filled_qty ${JSON.stringify(order.filledQty)} is not a non-negative decimal` };
    }
    const filled = parseDecimal(order.filledQty, QTY_DECIMALS);
    if (filled === 0n) continue;
    if (order.filledAvgPrice === null || !isDecimalString(order.filledAvgPrice, PRICE_DECIMALS) || parseDecimal(order.filledAvgPrice, PRICE_DECIMALS) <= 0n) {
      return { ok: false, problem: `order ${order.id}: filled ${order.filledQty} without a readable filled_avg_price (${JSON.stringify(order.filledAvgPrice)})` };
    }
    qty += filled;
    notional += filled * parseDecimal(order.filledAvgPrice, PRICE_DECIMALS);
  }
  const updated = head.updatedAt ? Date.parse(head.updatedAt) : Number.NaN;
  return {
    ok: true,
    view: {
      status: head.status,
      filledQty: formatDecimal(qty, QTY_DECIMALS),
      // Exact: one order gives back its own price; several their weighted mean, rounded down at 9 decimals.
      filledAvgPrice: qty === 0n ? null : formatDecimal(notional / qty, PRICE_DECIMALS),
      updatedAtMs: Number.isFinite(updated) ? updated : nowMs,
      final: isFinalOrderStatus(head.status),
    },
  };
}

/** The view right after a submit or lookup answered with one order. */
export function orderViewFromOrder(order: BrokerOrderFacts, nowMs: number): OrderView | null {
  const built = orderViewOf([order], nowMs);
  return built.ok ? built.view : null;
}

/** How far along a status is: a listing must never move a record backwards. */
function progress(view: OrderView): number {
  if (view.final) return 3;
  if (view.status === BrokerOrderStatus.replaced || view.status === BrokerOrderStatus.pending_replace) return 1;
  if (view.status === BrokerOrderStatus.partially_filled || view.status === BrokerOrderStatus.done_for_day) return 2;
  if (view.status === BrokerOrderStatus.new) return 1;
  return 0; // pending_new, accepted, held, ...
}

export type OrderMerge = { changed: true; view: OrderView } | { changed: false; view: OrderView | null; why: string };

/**
 * The record's order after the broker showed `next`. A final view stays as it is; a view with
 * less filled, or one step back in status with the same fills (a stale or lagging answer),
 * is not taken. Otherwise any difference of status, fills or finality is a change; `updatedAt`
 * alone is not.
 */
export function mergeOrderView(current: OrderView | null | undefined, next: OrderView): OrderMerge {
  if (current === null || current === undefined) return { changed: true, view: next };
  if (current.final) return { changed: false, view: current, why: 'already final' };
  const currentQty = parseDecimal(current.filledQty, QTY_DECIMALS);
  const nextQty = parseDecimal(next.filledQty, QTY_DECIMALS);
  if (nextQty < currentQty) return { changed: false, view: current, why: `stale: filled ${next.filledQty} < ${current.filledQty}` };
  if (nextQty === currentQty && progress(next) < progress(current)) {
    return { changed: false, view: current, why: `stale: ${next.status} after ${current.status}` };
  }
  if (next.status === current.status && nextQty === currentQty && next.filledAvgPrice === current.filledAvgPrice && next.final === current.final) {
    return { changed: false, view: current, why: 'no change' };
  }
  return { changed: true, view: next };
}

/** An `order-updates` message (the contract's fields exactly). */
export interface OrderUpdateMessage {
  intentId: string;
  strategyId: string;
  state: SubmissionState;
  reason: string | null;
  order: { status: string; filledQty: string; filledAvgPrice: string | null; updatedAt: string; final: boolean } | null;
}

/** What a record is, for the update decision: before or after one write. */
export interface RecordFacts {
  intentId: string;
  strategyId: string;
  state: SubmissionState;
  reason: string | null;
  attempts: number;
  order: OrderView | null;
}

/**
 * The deterministic id of one update: the same change, however often its trigger is
 * delivered or retried, has the same id, so consumers drop repeats. The attempt is part of it
 * because a claim can be released and claimed again (`submitting` twice, each a change).
 */
export function orderUpdateId(facts: RecordFacts): string {
  return `${facts.intentId}:${facts.attempts}:${facts.state}:${facts.order?.status ?? '-'}:${facts.order?.filledQty ?? '-'}`;
}

/**
 * Whether a write is worth an update: the state changed, or the order's broker status or
 * filled quantity did. A write that changes neither (an instance report, a rewrite of the
 * same record, an average-price correction alone) publishes nothing.
 */
export function decideOrderUpdate(
  before: RecordFacts | null,
  after: RecordFacts | null,
): { publish: true; id: string; message: OrderUpdateMessage } | { publish: false; why: string } {
  if (after === null) return { publish: false, why: 'record deleted' };
  if (before !== null) {
    const same =
      before.state === after.state &&
      before.attempts === after.attempts &&
      (before.order?.status ?? null) === (after.order?.status ?? null) &&
      (before.order?.filledQty ?? null) === (after.order?.filledQty ?? null);
    if (same) return { publish: false, why: 'neither state nor broker status nor fills changed' };
  }
  return {
    publish: true,
    id: orderUpdateId(after),
    message: {
      intentId: after.intentId,
      strategyId: after.strategyId,
      state: after.state,
      reason: after.reason,
      order:
        after.order === null
          ? null
          : {
              status: after.order.status,
              filledQty: after.order.filledQty,
              filledAvgPrice: after.order.filledAvgPrice,
              updatedAt: new Date(after.order.updatedAtMs).toISOString(),
              final: after.order.final,
            },
    },
  };
}

/** Final statuses operators must see: the order was accepted, then came to nothing. */
export const BadFinal = {
  rejected_after_acceptance: 'rejected_after_acceptance',
  expired_unfilled: 'expired_unfilled',
} as const;
export type BadFinal = (typeof BadFinal)[keyof typeof BadFinal];

/** Which bad final an accepted order reached, or null (still open, filled, canceled, partly filled). */
export function badFinalOf(order: OrderView | null | undefined): BadFinal | null {
  if (!order || !order.final) return null;
  if (order.status === BrokerOrderStatus.rejected) return BadFinal.rejected_after_acceptance;
  if (order.status === BrokerOrderStatus.expired && isDecimalString(order.filledQty, QTY_DECIMALS) && parseDecimal(order.filledQty, QTY_DECIMALS) === 0n) {
    return BadFinal.expired_unfilled;
  }
  return null;
}

/** What the broker's `X-RateLimit-*` headers said on the last answer. */
export interface RateLimitInfo {
  limit: number | null;
  remaining: number | null;
  /** When the window resets (epoch ms), from `X-RateLimit-Reset` (Unix seconds). */
  resetAtMs: number | null;
}

export type RateLimitStep = { kind: 'go' } | { kind: 'wait'; ms: number } | { kind: 'stop'; why: string };

/**
 * Whether a lookup run may send its next request. Lookups share the key's 200 requests/min
 * with submissions, which matter more: below `minRemaining` requests left in the window (or
 * after a 429) the run waits for the window to reset when that fits in what is left of its
 * time, and otherwise stops and leaves the rest to the next run.
 */
export function rateLimitStep(
  input: { info: RateLimitInfo | null; rateLimited: boolean; retryAfterMs: number | null },
  nowMs: number,
  settings: { minRemaining: number; maxWaitMs: number; timeLeftMs: number },
): RateLimitStep {
  const info = input.info;
  const low = input.rateLimited || (info?.remaining !== null && info?.remaining !== undefined && info.remaining <= settings.minRemaining);
  if (!low) return { kind: 'go' };
  const untilReset =
    input.retryAfterMs !== null ? input.retryAfterMs : info?.resetAtMs !== null && info?.resetAtMs !== undefined ? Math.max(0, info.resetAtMs - nowMs) : null;
  const why = input.rateLimited ? 'rate limited (429)' : `only ${info?.remaining} requests left in the window (keeping ${settings.minRemaining} for submissions)`;
  if (untilReset === null) return { kind: 'stop', why: `${why}; the broker said no reset time` };
  if (untilReset > settings.maxWaitMs || untilReset >= settings.timeLeftMs) return { kind: 'stop', why: `${why}; the window resets in ${untilReset} ms` };
  return { kind: 'wait', ms: untilReset };
}

/**
 * The `order-updates` message as strategies read it (the runner kit validates with this). The
 * update id travels as the attribute `updateId`; `strategyId`, `intentId` and `state` are
 * attributes too, so a subscription can filter on them.
 */
export const orderUpdateMessageSchema = z.object({
  intentId: z.string().min(1),
  strategyId: z.string().min(1),
  state: z.enum(SubmissionStateValues),
  reason: z.string().nullable(),
  order: z
    .object({
      status: z.string().min(1),
      filledQty: z.string(),
      filledAvgPrice: z.string().nullable(),
      updatedAt: z.string(),
      final: z.boolean(),
    })
    .strict()
    .nullable(),
}).strict();

/** The attributes of an `order-updates` message. */
export function orderUpdateAttributes(id: string, message: OrderUpdateMessage): Record<string, string> {
  return {
    updateId: id,
    intentId: message.intentId,
    strategyId: message.strategyId,
    state: message.state,
    ...(message.order === null ? {} : { orderStatus: message.order.status }),
  };
}
