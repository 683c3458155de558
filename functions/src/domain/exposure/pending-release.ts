import { isDecimalString, parseDecimal, QTY_DECIMALS } from '../pnl/decimal.js';
import type { OrderIntent } from '../intent.js';
import type { OrderView } from '../order-lifecycle.js';
import { SubmissionState, type SubmissionRecord } from '../submission.js';
import { qtyUnits, type Side } from './exposure.js';

/**
 * When an order's claimed quantity stops being pending without filling, and by how much.
 *
 * A claim adds the intent's quantity to its side's pending (paper and live only: they have
 * a broker whose fills and order states the syncs follow). Pending then leaves in exactly two
 * ways, which together always add up to the claimed quantity:
 *  - fills, one by one, applied by the fills ledger (`withFill`);
 *  - the part that will never fill, released here once, by the write that moves the record
 *    there: nothing placed (`rejected`, `released`, `refused` after a claim), given up on
 *    (`abandoned`), or the broker order reached a final status other than filled, with its
 *    unfilled rest (`canceled`, `expired`, `rejected` after acceptance; `filled` has none).
 * A record that stays unknown keeps its quantity pending: it may still exist at the broker,
 * and over-counting pending only makes the checks stricter.
 */

export const PENDING_EXPOSURE_MODES: ReadonlySet<string> = new Set(['paper', 'live']);

/** Whether a claim in this execution mode adds to pending exposure. */
export function tracksExposure(executionMode: string): boolean {
  return PENDING_EXPOSURE_MODES.has(executionMode);
}

const NOTHING_PLACED: ReadonlySet<SubmissionState> = new Set([SubmissionState.rejected, SubmissionState.released, SubmissionState.refused, SubmissionState.abandoned]);
/** States in which the claimed quantity is pending. */
const HOLDS_PENDING: ReadonlySet<SubmissionState> = new Set([SubmissionState.submitting, SubmissionState.unknown]);

export interface PendingRelease {
  side: Side;
  qty: bigint;
  why: string;
}

/**
 * The release a record's write makes, or null. `before` is the record as the writing
 * transaction read it (null: it did not exist). Quantities that cannot be read release
 * nothing (pending stays: stricter, never laxer).
 */
export function pendingRelease(before: SubmissionRecord | null, after: SubmissionRecord): PendingRelease | null {
  if (before === null) return null;
  const claimed = claimedQty(before.executionMode, after.intent);
  if (claimed === null) return null;
  if (HOLDS_PENDING.has(before.state) && NOTHING_PLACED.has(after.state)) {
    return { side: after.intent.side, qty: claimed, why: `${before.state} → ${after.state}: nothing at the broker` };
  }
  return finalOrderRelease(before.executionMode, after.intent, before.order, after.order);
}

/** The unfilled rest of an order whose broker view just became final (not filled), or null. */
export function finalOrderRelease(executionMode: string, intent: Pick<OrderIntent, 'side' | 'qty'>, before: OrderView | null | undefined, after: OrderView | null | undefined): PendingRelease | null {
  if (before?.final === true || after?.final !== true || after.status === 'filled') return null;
  const claimed = claimedQty(executionMode, intent);
  if (claimed === null) return null;
  if (!isDecimalString(after.filledQty, QTY_DECIMALS) || after.filledQty.startsWith('-')) return null;
  const rest = claimed - parseDecimal(after.filledQty, QTY_DECIMALS);
  return rest > 0n ? { side: intent.side, qty: rest, why: `order ${after.status} with ${after.filledQty} filled: the rest never fills` } : null;
}

/** What the claim made pending: null when nothing was (untracked mode, or a quantity not exact). */
function claimedQty(executionMode: string, intent: Pick<OrderIntent, 'qty'>): bigint | null {
  if (!tracksExposure(executionMode)) return null;
  try {
    return qtyUnits(intent.qty);
  } catch {
    return null;
  }
}
