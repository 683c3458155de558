import type { OrderIntent } from './intent.js';
import type { OrderView } from './order-lifecycle.js';

/** Submission record states (DESIGN.md "Submission record states"). */
export const SubmissionState = {
  refused: 'refused',
  submitting: 'submitting',
  submitted: 'submitted',
  rejected: 'rejected',
  released: 'released',
  unknown: 'unknown',
  abandoned: 'abandoned',
  dry_run: 'dry_run',
} as const;
export type SubmissionState = (typeof SubmissionState)[keyof typeof SubmissionState];

/** States after which nothing more happens to the record (a redelivery is a duplicate). */
export const TERMINAL_STATES: ReadonlySet<SubmissionState> = new Set([
  SubmissionState.refused,
  SubmissionState.submitted,
  SubmissionState.rejected,
  SubmissionState.abandoned,
  SubmissionState.dry_run,
]);

export function isTerminal(state: SubmissionState): boolean {
  return TERMINAL_STATES.has(state);
}

/** Reason codes of a `refused` record. Breakers add `breaker:<name>`. */
export const RefusalReason = {
  halted: 'halted',
  expired: 'expired',
  mode_off: 'mode_off',
  config_invalid: 'config_invalid',
  /** The symbol is halted for every strategy (`symbolHalts/{symbol}`). */
  symbol_halted: 'symbol_halted',
  /** The reduce-only posture: this order would not only shrink the strategy's position. */
  reduce_only: 'reduce_only',
  /** The dead-man switch: the strategy's runner has been silent longer than limits.maxRunnerSilenceMs. */
  runner_stale: 'runner_stale',
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason] | `breaker:${string}`;

export interface HistoryEntry {
  state: SubmissionState;
  atMs: number;
  reason?: string;
  attempt?: number;
}

/** Only the newest entries are kept: a record must stay far below Firestore's 1 MiB limit. */
export const MAX_HISTORY = 20;

export function appendHistory(history: readonly HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  const next = [...history, entry];
  return next.length > MAX_HISTORY ? next.slice(next.length - MAX_HISTORY) : next;
}

/** The submission record, as the domain sees it (times in epoch ms; the store maps them to Timestamps). */
export interface SubmissionRecord {
  intentId: string;
  state: SubmissionState;
  reason: string | null;
  /** Free-text detail for operators: which source halted, what the broker said, ... */
  detail: string | null;
  intent: OrderIntent;
  strategyId: string;
  clientOrderId: string;
  brokerOrderId: string | null;
  brokerStatus: string | null;
  attempts: number;
  /** The invocation that holds (or last held) the claim. */
  owner: { instanceId: string; eventId: string; deadlineAtMs: number } | null;
  executionMode: string;
  claimedAtMs: number | null;
  updatedAtMs: number;
  history: HistoryEntry[];
  /**
   * The broker's view of the order once submitted (`order` in the contract): written with the
   * `submitted` outcome and kept current by syncOrders until final. Absent before.
   */
  order?: OrderView | null;
}
