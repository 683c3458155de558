import type { OrderView } from './order-lifecycle.js';
import { appendHistory, type SubmissionRecord, type SubmissionState } from './submission.js';

/** The second write of claim-act-record: what one attempt found out. */
export interface OutcomeUpdate {
  state: SubmissionState;
  reason: string | null;
  detail: string | null;
  brokerOrderId?: string | null;
  brokerStatus?: string | null;
  /** The broker's view of the order (`submitted` outcomes): same write, no extra round trip. */
  order?: OrderView | null;
}

/** Whose outcome it is: the attempt that claimed, over the states it expects the record in. */
export interface OutcomeExpectation {
  attempt: number;
  from: readonly SubmissionState[];
}

export type OutcomeWrite = { applied: true; record: SubmissionRecord } | { applied: false; current: SubmissionRecord | null; why: string };

/**
 * The record after an outcome, or why it does not apply. Only the attempt that claimed may
 * record its outcome, and only over the states it expects: a reconciler or a later attempt may
 * have moved the record on meanwhile, and its conclusion must not be overwritten by a stale one.
 */
export function applyOutcome(current: SubmissionRecord, expect: OutcomeExpectation, update: OutcomeUpdate, nowMs: number): OutcomeWrite {
  if (current.attempts !== expect.attempt || !expect.from.includes(current.state)) {
    return {
      applied: false,
      current,
      why: `record is ${current.state} at attempt ${current.attempts}; expected attempt ${expect.attempt} in ${expect.from.join('/')}`,
    };
  }
  return {
    applied: true,
    record: {
      ...current,
      state: update.state,
      reason: update.reason,
      detail: update.detail,
      brokerOrderId: update.brokerOrderId === undefined ? current.brokerOrderId : update.brokerOrderId,
      brokerStatus: update.brokerStatus === undefined ? current.brokerStatus : update.brokerStatus,
      ...(update.order === undefined ? {} : { order: update.order }),
      updatedAtMs: nowMs,
      history: appendHistory(current.history, {
        state: update.state,
        atMs: nowMs,
        attempt: current.attempts,
        ...(update.reason === null ? {} : { reason: update.reason }),
      }),
    },
  };
}
