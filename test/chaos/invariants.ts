import type { CommitLogEntry } from '../../dev/firestore/embedded-firestore.js';
import type { SimOrder } from '../../dev/alpaca-sim/server.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { MAX_HISTORY, TERMINAL_STATES, type SubmissionState } from '../../functions/src/domain/submission.js';

/**
 * The chaos test's invariants, computed from what the run left behind: the broker's orders,
 * the submission records, invalidIntents, and the embedded Firestore's commit log.
 *
 * "No claim committed while halted" (G2) is checked on commit ORDER, not on clocks:
 *   - halt intervals: the commits that wrote `ops/killSwitch`, in commit-log order. Only the
 *     chaos driver writes that document, so the k-th such commit is the k-th value the driver
 *     wrote (counts are checked; a mismatch is reported as unverifiable, never ignored);
 *   - claim commits: every write of a submission record appends exactly one history entry, so
 *     the commits that wrote `submissions/<id>` (commit-log order) line up one-to-one with the
 *     record's history; the commits whose entry is `submitting` are its claims. (History keeps
 *     the newest MAX_HISTORY entries: they line up with the newest commits.)
 *   - a claim violates G2 when the last kill-switch commit before it (by commit seq) wrote
 *     `halted: true`.
 */

export interface RecordSnapshot {
  intentId: string;
  state: SubmissionState;
  brokerOrderId: string | null;
  history: Array<{ state: string; atMs?: number }>;
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
  /** Claims whose commit came after a halt commit and before the next un-halt (G2). */
  claimsWhileHalted: number;
  /** Published messages with neither a terminal record nor an invalidIntents entry (G5). */
  unaccounted: number;
  /** Records or kill-switch commits the commit log could not be lined up with (must be 0 for G2 to be proven). */
  unverifiable: number;
}

export interface InvariantInput {
  published: PublishedMessage[];
  records: Map<string, RecordSnapshot>;
  invalidMessageIds: Set<string>;
  orders: SimOrder[];
  commits: CommitLogEntry[];
  /** Values the driver wrote to ops/killSwitch, in order. */
  killSwitchWrites: boolean[];
}

export interface InvariantResult {
  invariants: Invariants;
  /** Human-readable detail of every violation (first few of each kind). */
  details: string[];
  claimsChecked: number;
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

  // ---- G2 on commit order
  const killCommits = input.commits.filter((c) => c.writes.includes('ops/killSwitch'));
  if (killCommits.length !== input.killSwitchWrites.length) {
    inv.unverifiable += 1;
    details.push(`unverifiable: ${killCommits.length} kill-switch commits in the log, the driver wrote ${input.killSwitchWrites.length}`);
  }
  const killSeqs = killCommits.map((c, i) => ({ seq: c.seq, halted: input.killSwitchWrites[i] ?? true }));
  const haltedAt = (seq: number): boolean => {
    let halted = true; // no document yet: the functions treat that as halted
    for (const k of killSeqs) {
      if (k.seq < seq) halted = k.halted;
      else break;
    }
    return halted;
  };
  const lined = claimCommits(input.records.values(), input.commits);
  for (const u of lined.unverifiable) {
    inv.unverifiable += 1;
    note('unverifiable', u, inv.unverifiable);
  }
  const claimsChecked = lined.claims.length;
  for (const claim of lined.claims) {
    if (haltedAt(claim.seq)) {
      inv.claimsWhileHalted += 1;
      note('claim while halted', `${claim.intentId} claim commit seq ${claim.seq}`, inv.claimsWhileHalted);
    }
  }
  return { invariants: inv, details, claimsChecked };
}

/**
 * The commit (log seq) of every claim of every record: the commits that wrote
 * `submissions/<id>` line up one-to-one with the record's history entries (newest last), and
 * the `submitting` entries are the claims. Records that don't line up are listed as unverifiable.
 */
export function claimCommits(
  records: Iterable<RecordSnapshot>,
  commits: CommitLogEntry[],
): { claims: Array<{ intentId: string; seq: number; commitTime: Date }>; unverifiable: string[] } {
  const commitsByDoc = new Map<string, CommitLogEntry[]>();
  for (const c of commits) {
    for (const w of c.writes) {
      if (!w.startsWith('submissions/')) continue;
      const id = w.slice('submissions/'.length);
      commitsByDoc.set(id, [...(commitsByDoc.get(id) ?? []), c]);
    }
  }
  const claims: Array<{ intentId: string; seq: number; commitTime: Date }> = [];
  const unverifiable: string[] = [];
  for (const record of records) {
    const docCommits = commitsByDoc.get(record.intentId) ?? [];
    const h = record.history;
    const lineUp = docCommits.length === h.length || (h.length === MAX_HISTORY && docCommits.length > h.length);
    if (!lineUp) {
      unverifiable.push(`${record.intentId}: ${docCommits.length} commits, ${h.length} history entries (${h.map((e) => e.state).join(',')})`);
      continue;
    }
    const tail = docCommits.slice(docCommits.length - h.length);
    h.forEach((entry, i) => {
      const c = tail[i];
      if (entry.state === 'submitting' && c) claims.push({ intentId: record.intentId, seq: c.seq, commitTime: c.commitTime });
    });
  }
  return { claims, unverifiable };
}
