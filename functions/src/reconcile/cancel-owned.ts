import type { Firestore } from 'firebase-admin/firestore';
import type { Broker, BrokerOrder, CancelAllOutcome } from '../broker/broker.js';
import { listAllOrders } from '../broker/list-all.js';
import { couldBeHaltgateClientOrderId } from '../domain/client-order-id.js';
import { SUBMISSIONS } from '../store/paths.js';

/**
 * Cancelling only haltgate's own open orders, one by one (`DELETE /v2/orders/{id}`), instead of
 * the account-wide cancel-all, which also cancels an operator's manual orders. Used by a halt
 * under HALT_CANCEL_SCOPE=haltgate (every strategy) and by the runner dead-man switch (one
 * strategy).
 *
 * Ownership is decided by the submission record, never by the id's form alone: an open order
 * is haltgate's when `submissions` holds a record whose `clientOrderId` is the order's
 * `client_order_id` (manual orders get UUIDs, which fit the intent-id form too; the form is only
 * a first filter that spares the lookup for ids haltgate can never produce). Orders the adapter
 * could not read (multi-leg and the like, which haltgate never places) are left alone.
 */

export interface OrderOwner {
  intentId: string;
  strategyId: string | null;
}

/** Firestore `in` takes at most 30 values. */
const IN_LIMIT = 30;

/** The submission record (intent, strategy) of each client order id that has one. */
export async function ownersOfClientOrderIds(db: Firestore, clientOrderIds: readonly string[]): Promise<Map<string, OrderOwner>> {
  const ids = [...new Set(clientOrderIds.filter(couldBeHaltgateClientOrderId))];
  const owners = new Map<string, OrderOwner>();
  for (let i = 0; i < ids.length; i += IN_LIMIT) {
    const chunk = ids.slice(i, i + IN_LIMIT);
    const snap = await db.collection(SUBMISSIONS).where('clientOrderId', 'in', chunk).get();
    for (const doc of snap.docs) {
      const coid: unknown = doc.get('clientOrderId');
      const strategyId: unknown = doc.get('strategyId');
      if (typeof coid === 'string') owners.set(coid, { intentId: doc.id, strategyId: typeof strategyId === 'string' ? strategyId : null });
    }
  }
  return owners;
}

export interface CancelledOrder {
  orderId: string;
  clientOrderId: string;
  intentId: string;
  strategyId: string | null;
  /** 204 cancelled, 422 already final, 404 gone; 0 when the answer is not known. */
  httpStatus: number;
  outcome: 'cancelled' | 'not_cancellable' | 'not_found' | 'unknown';
  detail?: string;
}

export type CancelOwnedOutcome =
  | { ok: true; listed: number; owned: number; cancelled: CancelledOrder[]; failed: CancelledOrder[] }
  | { ok: false; message: string };

/**
 * Lists every open order (paged to exhaustion), keeps those owned by a submission record that
 * `select` accepts, and cancels them one at a time. `ok: false` when the listing failed;
 * individual cancels whose answer is unknown are in `failed` (the caller tries again later: an
 * order already cancelled answers 422 and counts as done).
 */
export async function cancelOwnedOpenOrders(
  deps: { db: Firestore; broker: Broker; timeoutMs: number },
  select: (owner: OrderOwner, order: BrokerOrder) => boolean,
): Promise<CancelOwnedOutcome> {
  const cancelOrder = deps.broker.cancelOrder?.bind(deps.broker);
  if (cancelOrder === undefined) return { ok: false, message: `broker ${deps.broker.name} cannot cancel one order` };
  const listed = await listAllOrders(deps.broker, { after: new Date(0), status: 'open' }, { timeoutMs: deps.timeoutMs });
  if (!listed.ok) return { ok: false, message: listed.message };
  const owners = await ownersOfClientOrderIds(
    deps.db,
    listed.items.map((o) => o.clientOrderId),
  );
  const cancelled: CancelledOrder[] = [];
  const failed: CancelledOrder[] = [];
  let owned = 0;
  for (const order of listed.items) {
    const owner = owners.get(order.clientOrderId);
    if (owner === undefined) continue;
    owned += 1;
    if (!select(owner, order)) continue;
    const base = { orderId: order.id, clientOrderId: order.clientOrderId, intentId: owner.intentId, strategyId: owner.strategyId };
    let answer;
    try {
      answer = await cancelOrder(order.id, { timeoutMs: deps.timeoutMs });
    } catch (err) {
      answer = { kind: 'unknown' as const, message: err instanceof Error ? err.message : String(err) };
    }
    switch (answer.kind) {
      case 'cancelled':
        cancelled.push({ ...base, httpStatus: 204, outcome: 'cancelled' });
        break;
      case 'not_cancellable':
        cancelled.push({ ...base, httpStatus: answer.httpStatus, outcome: 'not_cancellable', detail: answer.message });
        break;
      case 'not_found':
        cancelled.push({ ...base, httpStatus: 404, outcome: 'not_found', detail: answer.message });
        break;
      default:
        failed.push({ ...base, httpStatus: answer.httpStatus ?? 0, outcome: 'unknown', detail: answer.message });
    }
  }
  return { ok: true, listed: listed.items.length, owned, cancelled, failed };
}

/**
 * The halt trigger's view (HALT_CANCEL_SCOPE=haltgate): every strategy's open orders, as a
 * cancel-all outcome. Any cancel whose answer is unknown makes the step fail, so the trigger's
 * redelivery lists again and cancels what is still open.
 */
export async function cancelHaltgateOpenOrders(deps: { db: Firestore; broker: Broker; timeoutMs: number }): Promise<CancelAllOutcome> {
  const out = await cancelOwnedOpenOrders(deps, () => true);
  if (!out.ok) return { kind: 'unknown', message: out.message };
  if (out.failed.length > 0) {
    return { kind: 'unknown', message: `${out.failed.length} of haltgate's open orders may still be open: ${out.failed.slice(0, 5).map((f) => `${f.orderId}: ${f.detail ?? '?'}`).join('; ')}` };
  }
  return { kind: 'done', results: out.cancelled.map((c) => ({ orderId: c.orderId, httpStatus: c.httpStatus })) };
}
