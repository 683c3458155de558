import type { CollectionReference, DocumentData } from 'firebase-admin/firestore';
import { badFinalOf, type OrderView } from '../domain/order-lifecycle.js';
import { timestampsToDates, ts } from '../store/firestore-values.js';
import type { BadFinalOrder, OpsStatus } from './status.js';

/**
 * The order-lifecycle part of `GET /status` (issue 10): open orders per strategy, and orders
 * that were accepted and then came to nothing (rejected after acceptance, expired unfilled).
 * Two bounded reads with single-field filters and orders only (no composite index).
 */

/** Open orders read per status call; more are reported as truncated. */
export const MAX_OPEN_ORDERS_READ = 2000;
/** Recently changed orders searched for bad finals. */
export const MAX_CHANGED_ORDERS_READ = 500;
export const MAX_BAD_FINALS_SHOWN = 25;
export const DEFAULT_BAD_FINALS_WINDOW_MS = 86_400_000;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A stored `order` map, read leniently (the status shows what it can). */
function orderOf(raw: unknown): OrderView | null {
  const o = timestampsToDates(raw) as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object') return null;
  if (typeof o.status !== 'string' || typeof o.filledQty !== 'string' || typeof o.final !== 'boolean') return null;
  return {
    status: o.status,
    filledQty: o.filledQty,
    filledAvgPrice: typeof o.filledAvgPrice === 'string' ? o.filledAvgPrice : null,
    updatedAtMs: o.updatedAt instanceof Date ? o.updatedAt.getTime() : Number.NaN,
    final: o.final,
  };
}

function badFinalSummary(id: string, raw: DocumentData): BadFinalOrder | null {
  const order = orderOf(raw.order);
  let kind: string | null = null;
  try {
    kind = badFinalOf(order);
  } catch {
    return null; // a filledQty that is not a decimal: not shown as a bad final
  }
  if (order === null || kind === null) return null;
  const intent = (raw.intent ?? {}) as Record<string, unknown>;
  return {
    intentId: str(raw.intentId) ?? id,
    strategyId: str(raw.strategyId) ?? str(intent.strategyId),
    symbol: str(intent.symbol),
    kind,
    status: order.status,
    filledQty: order.filledQty,
    updatedAt: Number.isFinite(order.updatedAtMs) ? new Date(order.updatedAtMs).toISOString() : null,
  };
}

export async function readOrdersStatus(
  submissions: CollectionReference,
  nowMs: number,
  badFinalsWindowMs = DEFAULT_BAD_FINALS_WINDOW_MS,
): Promise<NonNullable<OpsStatus['orders']>> {
  const [openSnap, changedSnap] = await Promise.all([
    submissions.where('order.final', '==', false).select('strategyId', 'order').limit(MAX_OPEN_ORDERS_READ + 1).get(),
    submissions
      .where('order.updatedAt', '>=', ts(nowMs - badFinalsWindowMs))
      .orderBy('order.updatedAt', 'desc')
      .select('intentId', 'strategyId', 'intent', 'order')
      .limit(MAX_CHANGED_ORDERS_READ)
      .get(),
  ]);
  const openBy = new Map<string, { open: number; oldestMs: number }>();
  for (const doc of openSnap.docs.slice(0, MAX_OPEN_ORDERS_READ)) {
    const strategyId = str(doc.get('strategyId')) ?? '(unknown)';
    const at = orderOf(doc.get('order'))?.updatedAtMs ?? Number.NaN;
    const entry = openBy.get(strategyId) ?? { open: 0, oldestMs: Number.POSITIVE_INFINITY };
    entry.open += 1;
    if (Number.isFinite(at)) entry.oldestMs = Math.min(entry.oldestMs, at);
    openBy.set(strategyId, entry);
  }
  return {
    openByStrategy: [...openBy.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([strategyId, e]) => ({ strategyId, open: e.open, oldestUpdatedAt: Number.isFinite(e.oldestMs) ? new Date(e.oldestMs).toISOString() : null })),
    openTruncated: openSnap.docs.length > MAX_OPEN_ORDERS_READ,
    badFinalsWindowMs,
    badFinals: changedSnap.docs
      .map((doc) => badFinalSummary(doc.id, doc.data()))
      .filter((x): x is BadFinalOrder => x !== null)
      .slice(0, MAX_BAD_FINALS_SHOWN),
  };
}
