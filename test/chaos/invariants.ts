import type { SimOrder } from '../../dev/alpaca-sim/server.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { TERMINAL_STATES, type SubmissionState } from '../../functions/src/domain/submission.js';

/**
 * The chaos test's invariants, computed from what the run left behind: the broker's orders,
 * the submission records and invalidIntents, the commits of the function processes as the
 * interposer saw them on the wire, and the commit times of the kill-switch writes the chaos
 * driver made.
 *
 * "No claim committed while halted" (G2) is checked on times the server assigns, so the
 * argument holds on any Firestore, production included:
 *   - the driver is the only writer of `ops/killSwitch` and keeps the `writeTime` (the server's
 *     commit time) of every halt and resume it writes with a plain `set()`;
 *   - every claim is a transaction that writes `submissions/<id>` with a server timestamp
 *     (`claimCommittedAt`); the interposer between the function processes and the emulator
 *     sees each such Commit and the commit time the server answered. Every claim commit seen
 *     there is checked: it violates G2 when the kill switch was halted just before it (or a
 *     halt committed at the same microsecond); no kill-switch write at all counts as halted;
 *   - a claim whose answer never came back (its process was killed mid-commit) is not on the
 *     wire; its record still has `claimCommittedAt`, the time the server took the commit
 *     request (at or before the commit time: a halt before it means the claim committed while
 *     halted), so each record's latest claim is checked that way too, and the claims not seen
 *     on the wire are counted (`claimsUnseen`).
 * A record whose state says it was claimed but that has no `claimCommittedAt` is
 * `unverifiable` (must be 0).
 */

export interface RecordSnapshot {
  intentId: string;
  state: SubmissionState;
  brokerOrderId: string | null;
  reason?: string | null;
  /** `claimCommittedAt` in microseconds (the server's resolution); null if never claimed. */
  claimCommittedMicros: number | null;
  /** `submitting` entries in the record's history (claims; the newest MAX_HISTORY entries). */
  claims: number;
}

/** One write of ops/killSwitch by the driver and the commit time the server gave it. */
export interface KillSwitchWrite {
  halted: boolean;
  writeMicros: number;
}

export interface PublishedMessage {
  messageId: string;
  /** The intent id of a valid intent; null for a message published invalid on purpose. */
  intentId: string | null;
}

export interface Invariants {
  /** Intents with two or more broker orders (G1). */
  intentsWithTwoOrders: number;
  /** Broker orders whose intent has no submission record. */
  ordersWithoutRecord: number;
  /** Broker orders whose record is not `submitted` with that order's id (e.g. abandoned but placed). */
  ordersRecordMismatch: number;
  /** `submitted` records whose broker order does not exist. */
  submittedWithoutOrder: number;
  /** Records not in a terminal state after settling. */
  nonTerminal: number;
  /** Records with a claim that committed while the kill switch was halted (G2). */
  claimsWhileHalted: number;
  /** Published messages with neither a terminal record nor an invalidIntents entry (G5). */
  unaccounted: number;
  /** Records that were claimed but carry no claim commit time (must be 0 for G2 to be proven). */
  unverifiable: number;
}

export interface InvariantInput {
  published: PublishedMessage[];
  records: Map<string, RecordSnapshot>;
  invalidMessageIds: Set<string>;
  orders: SimOrder[];
  /** Every write of ops/killSwitch, with its server commit time. */
  killSwitchWrites: KillSwitchWrite[];
  /** Claim commits seen on the wire: transactional commits that set a server value on submissions/<id>. */
  claimCommits: ClaimCommit[];
}

/** A claim's Commit as the interposer saw it answered: the record and the server's commit time. */
export interface ClaimCommit {
  intentId: string;
  commitMicros: number;
}

export interface InvariantResult {
  invariants: Invariants;
  /** Human-readable detail of every violation (first few of each kind). */
  details: string[];
  /** Claim commits seen on the wire and checked against the kill switch. */
  claimsChecked: number;
  /** Records whose latest claim's `claimCommittedAt` was checked. */
  claimRequestsChecked: number;
  /** Records whose latest claim was not seen on the wire (killed mid-commit): checked by `claimCommittedAt` only. */
  claimsUnseen: number;
  /** Records claimed more than once (released, then claimed again). */
  reclaimed: number;
}

/** Every invariant at 0: what a chaos run must end with. */
export const NO_VIOLATIONS: Readonly<Invariants> = Object.freeze({
  intentsWithTwoOrders: 0,
  ordersWithoutRecord: 0,
  ordersRecordMismatch: 0,
  submittedWithoutOrder: 0,
  nonTerminal: 0,
  claimsWhileHalted: 0,
  unaccounted: 0,
  unverifiable: 0,
});

export function checkInvariants(input: InvariantInput): InvariantResult {
  const details: string[] = [];
  const note = (kind: string, text: string, count: number) => {
    if (count <= 5) details.push(`${kind}: ${text}`);
  };
  const inv: Invariants = { ...NO_VIOLATIONS };

  // ---- broker orders vs intents and records
  const intentByClientOrderId = new Map<string, string>();
  for (const m of input.published) if (m.intentId !== null) intentByClientOrderId.set(clientOrderIdFor(m.intentId), m.intentId);
  const ordersByIntent = new Map<string, SimOrder[]>();
  for (const order of input.orders) {
    const intentId = intentByClientOrderId.get(order.client_order_id) ?? null;
    const key = intentId ?? `?${order.client_order_id}`;
    ordersByIntent.set(key, [...(ordersByIntent.get(key) ?? []), order]);
    const record = intentId === null ? undefined : input.records.get(intentId);
    if (!record) {
      inv.ordersWithoutRecord += 1;
      note('order without record', `${order.id} client_order_id ${order.client_order_id}`, inv.ordersWithoutRecord);
    } else if (record.state !== 'submitted' || record.brokerOrderId !== order.id) {
      inv.ordersRecordMismatch += 1;
      note('order/record mismatch', `${order.id} for ${record.intentId}: record ${record.state} brokerOrderId ${record.brokerOrderId}`, inv.ordersRecordMismatch);
    }
  }
  for (const [intentId, orders] of ordersByIntent) {
    if (orders.length > 1) {
      inv.intentsWithTwoOrders += 1;
      note('two orders', `${intentId}: ${orders.map((o) => o.id).join(', ')}`, inv.intentsWithTwoOrders);
    }
  }
  const orderIds = new Set(input.orders.map((o) => o.id));
  for (const record of input.records.values()) {
    if (!TERMINAL_STATES.has(record.state)) {
      inv.nonTerminal += 1;
      note('non-terminal', `${record.intentId} is ${record.state}`, inv.nonTerminal);
    }
    if (record.state === 'submitted' && (record.brokerOrderId === null || !orderIds.has(record.brokerOrderId))) {
      inv.submittedWithoutOrder += 1;
      note('submitted without order', `${record.intentId} brokerOrderId ${record.brokerOrderId}`, inv.submittedWithoutOrder);
    }
  }

  // ---- every published message accounted for
  for (const m of input.published) {
    const ok =
      m.intentId === null
        ? input.invalidMessageIds.has(m.messageId)
        : (() => {
            const r = input.records.get(m.intentId);
            return r !== undefined && TERMINAL_STATES.has(r.state);
          })();
    if (!ok) {
      inv.unaccounted += 1;
      note('unaccounted', `message ${m.messageId} intent ${m.intentId ?? '(invalid)'}: ${m.intentId ? (input.records.get(m.intentId)?.state ?? 'no record') : 'no invalidIntents entry'}`, inv.unaccounted);
    }
  }

  // ---- G2 on server commit times
  const writes = [...input.killSwitchWrites].sort((a, b) => a.writeMicros - b.writeMicros);
  /** Whether a claim committing at `t` (µs) committed while halted. */
  const haltedAt = (t: number): boolean => {
    let halted = true; // no document yet: the functions treat that as halted
    for (const w of writes) {
      if (w.writeMicros < t) halted = w.halted;
      else if (w.writeMicros === t && w.halted) return true;
      else break;
    }
    return halted;
  };
  // Counted once per record, whichever check (or both) finds it.
  const whileHalted = new Set<string>();
  const flag = (intentId: string, text: string) => {
    if (whileHalted.has(intentId)) return;
    whileHalted.add(intentId);
    inv.claimsWhileHalted += 1;
    note('claim while halted', text, inv.claimsWhileHalted);
  };
  const claimCommitsOf = new Map<string, number[]>();
  for (const c of input.claimCommits) {
    claimCommitsOf.set(c.intentId, [...(claimCommitsOf.get(c.intentId) ?? []), c.commitMicros]);
    if (haltedAt(c.commitMicros)) flag(c.intentId, `${c.intentId}: claim committed at ${c.commitMicros} µs (server commit time)`);
  }
  let claimRequestsChecked = 0;
  let claimsUnseen = 0;
  let reclaimed = 0;
  for (const record of input.records.values()) {
    if (record.claims > 1) reclaimed += 1;
    const requested = record.claimCommittedMicros;
    if (requested === null) {
      if (CLAIMED_STATES.has(record.state) || record.claims > 0) {
        inv.unverifiable += 1;
        note('unverifiable', `${record.intentId} is ${record.state} (${record.claims} claims in its history) but has no claimCommittedAt`, inv.unverifiable);
      }
      continue;
    }
    claimRequestsChecked += 1;
    // Its latest claim's commit is at or after the request time; earlier claims' are before it.
    if (!(claimCommitsOf.get(record.intentId) ?? []).some((t) => t >= requested)) claimsUnseen += 1;
    if (haltedAt(requested)) flag(record.intentId, `${record.intentId}: claim requested at ${requested} µs (claimCommittedAt) while halted`);
  }
  return { invariants: inv, details, claimsChecked: input.claimCommits.length, claimRequestsChecked, claimsUnseen, reclaimed };
}

/** States only a claimed record reaches. */
const CLAIMED_STATES: ReadonlySet<SubmissionState> = new Set<SubmissionState>(['submitting', 'submitted', 'rejected', 'released', 'unknown', 'abandoned']);

/** A Firestore Timestamp (or anything with seconds and nanoseconds) in microseconds. */
export function timestampMicros(t: { seconds: number; nanoseconds: number }): number {
  return t.seconds * 1_000_000 + Math.floor(t.nanoseconds / 1000);
}
