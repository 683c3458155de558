import { orderViewFromOrder, type OrderView } from './order-lifecycle.js';
import { SubmissionState, type SubmissionRecord } from './submission.js';

/**
 * What the reconciler decides about one stuck submission record, given what the broker said
 * when asked by client_order_id. Pure: the reconcile handler does the lookup and writes the
 * decision in a transaction that re-checks state and attempt. Nothing here ever leads to a
 * broker submit: the only ways out are `submitted` (the broker holds the order) and
 * `abandoned` (it still does not, long after any request could have arrived).
 */
export interface ReconcileSettings {
  /** `OWNER_GRACE_MS`: a `submitting` owner counts as gone this long after its deadline. */
  ownerGraceMs: number;
  /** `RECONCILE_ABANDON_AFTER_MS`: how long the broker may take to show an order that was sent. */
  abandonAfterMs: number;
}

/** The broker's answer to a lookup by client_order_id (a subset of `LookupOutcome`). */
export type ReconcileLookup =
  | { kind: 'found'; order: { id: string; status: string; filledQty?: string; filledAvgPrice?: string | null; updatedAt?: string | null } }
  | { kind: 'not_found' }
  | { kind: 'unknown'; message: string };

export const ReconcileDecisionKind = {
  /** Not the reconciler's business (live owner, other state): no lookup, no write. */
  skip: 'skip',
  /** The broker holds the order: record `submitted` with it. */
  submitted: 'submitted',
  /** The owner is gone and the broker has no order yet: `submitting` becomes `unknown`. */
  mark_unknown: 'mark_unknown',
  /** Not at the broker after the grace period: `abandoned` (terminal). */
  abandon: 'abandon',
  /** Leave the record as it is and look again next run (lookup failed, or still in grace). */
  wait: 'wait',
} as const;
export type ReconcileDecisionKind = (typeof ReconcileDecisionKind)[keyof typeof ReconcileDecisionKind];

export type ReconcileDecision =
  | { kind: 'skip'; why: string }
  | { kind: 'submitted'; brokerOrderId: string; brokerStatus: string; order: OrderView | null; detail: string }
  | { kind: 'mark_unknown'; reason: 'owner_gone'; detail: string }
  | { kind: 'abandon'; reason: 'not_at_broker'; detail: string }
  | { kind: 'wait'; why: string };

/**
 * Whether the reconciler may look a record up at all. `unknown` records always; `submitting`
 * ones only once their owner is gone — by the same rule the claim decision uses
 * (`owner.deadlineAt + OWNER_GRACE_MS`, strictly passed), so a redelivery and the reconciler
 * agree on when a claim is orphaned. The stored deadline is the owner's own, so the rule still
 * holds for claims made under a different `EXECUTE_TIMEOUT_SECONDS`.
 */
export function reconcileEligibility(
  record: SubmissionRecord,
  nowMs: number,
  settings: ReconcileSettings,
): { eligible: true } | { eligible: false; why: string } {
  if (record.state === SubmissionState.unknown) return { eligible: true };
  if (record.state === SubmissionState.submitting) {
    const owner = record.owner;
    if (owner === null || nowMs > owner.deadlineAtMs + settings.ownerGraceMs) return { eligible: true };
    return {
      eligible: false,
      why: `owner ${owner.instanceId} is live until ${new Date(owner.deadlineAtMs + settings.ownerGraceMs).toISOString()}`,
    };
  }
  return { eligible: false, why: `state ${record.state} is not reconciled` };
}

/**
 * The time from which the abandon grace period counts: the latest moment a request for this
 * order can have left haltgate. No broker call starts after its owner's deadline (G4), and a
 * record enters `unknown` only after its broker call ended, so the later of the two bounds it.
 */
export function abandonGraceStartMs(record: SubmissionRecord): number {
  return Math.max(record.updatedAtMs, record.owner?.deadlineAtMs ?? 0, record.claimedAtMs ?? 0);
}

export function decideReconcile(
  record: SubmissionRecord,
  lookup: ReconcileLookup,
  nowMs: number,
  settings: ReconcileSettings,
): ReconcileDecision {
  const eligibility = reconcileEligibility(record, nowMs, settings);
  if (!eligibility.eligible) return { kind: 'skip', why: eligibility.why };

  switch (lookup.kind) {
    case 'found':
      return {
        kind: 'submitted',
        brokerOrderId: lookup.order.id,
        brokerStatus: lookup.order.status,
        order:
          lookup.order.filledQty === undefined
            ? null
            : orderViewFromOrder({ ...lookup.order, filledQty: lookup.order.filledQty, filledAvgPrice: lookup.order.filledAvgPrice ?? null }, nowMs),
        detail: `reconciler found the order by client_order_id after ${record.state}`,
      };
    case 'unknown':
      // Nothing learnt: the order may or may not be there. Never guess; ask again next run.
      return { kind: 'wait', why: `lookup failed: ${lookup.message}` };
    case 'not_found': {
      const graceStartMs = abandonGraceStartMs(record);
      const waitedMs = nowMs - graceStartMs;
      if (waitedMs > settings.abandonAfterMs) {
        return {
          kind: 'abandon',
          reason: 'not_at_broker',
          detail: `no order with client_order_id ${record.clientOrderId} at the broker ${waitedMs} ms after the last possible send (grace ${settings.abandonAfterMs} ms)`,
        };
      }
      if (record.state === SubmissionState.submitting) {
        return {
          kind: 'mark_unknown',
          reason: 'owner_gone',
          detail: 'claim owner passed its deadline; the broker has no order with this client_order_id yet',
        };
      }
      return { kind: 'wait', why: `not at the broker yet; abandoned after ${settings.abandonAfterMs - waitedMs} ms more` };
    }
  }
}
