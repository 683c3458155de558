import type { DocumentData } from 'firebase-admin/firestore';
import { z } from 'zod';
import { intentSchema } from '../domain/intent.js';
import type { OrderView } from '../domain/order-lifecycle.js';
import { SubmissionState, type HistoryEntry, type SubmissionRecord } from '../domain/submission.js';
import { timestampsToDates, ts, withoutUndefined } from './firestore-values.js';

/**
 * `submissions/{intentId}` as stored. Times are Firestore Timestamps so that operators see
 * dates in the console and queries can range over them; the domain sees epoch ms.
 */
const dateMs = z.date().transform((d) => d.getTime());

/**
 * The server's commit time of the record's latest claim (a server timestamp written by the
 * claim transaction), or null before any claim. Not part of the domain record: it is evidence
 * for operators and tests that holds on production Firestore (claim vs. halt commit times).
 */
export const CLAIM_COMMITTED_AT = 'claimCommittedAt';

const storedRecordSchema = z.object({
  intentId: z.string(),
  state: z.enum(SubmissionState),
  reason: z.string().nullable(),
  detail: z.string().nullable(),
  intent: intentSchema,
  strategyId: z.string(),
  clientOrderId: z.string(),
  brokerOrderId: z.string().nullable(),
  brokerStatus: z.string().nullable(),
  attempts: z.number().int().nonnegative(),
  owner: z.object({ instanceId: z.string(), eventId: z.string(), deadlineAt: dateMs }).nullable(),
  executionMode: z.string(),
  claimedAt: dateMs.nullable(),
  updatedAt: dateMs,
  order: z
    .object({ status: z.string().min(1), filledQty: z.string(), filledAvgPrice: z.string().nullable(), updatedAt: dateMs, final: z.boolean() })
    .nullable()
    .optional(),
  history: z.array(
    z.object({
      state: z.enum(SubmissionState),
      at: dateMs,
      reason: z.string().optional(),
      attempt: z.number().int().optional(),
    }),
  ),
});

export function recordToDocument(record: SubmissionRecord): DocumentData {
  return {
    intentId: record.intentId,
    state: record.state,
    reason: record.reason,
    detail: record.detail,
    intent: record.intent,
    strategyId: record.strategyId,
    clientOrderId: record.clientOrderId,
    brokerOrderId: record.brokerOrderId,
    brokerStatus: record.brokerStatus,
    attempts: record.attempts,
    owner:
      record.owner === null
        ? null
        : { instanceId: record.owner.instanceId, eventId: record.owner.eventId, deadlineAt: ts(record.owner.deadlineAtMs) },
    executionMode: record.executionMode,
    claimedAt: record.claimedAtMs === null ? null : ts(record.claimedAtMs),
    updatedAt: ts(record.updatedAtMs),
    history: record.history.map((h) => withoutUndefined({ state: h.state, at: ts(h.atMs), reason: h.reason, attempt: h.attempt })),
    ...(record.order === undefined ? {} : { order: orderToDocument(record.order) }),
  };
}

/** `submissions/{intentId}.order` as stored: exactly the contract's keys, updatedAt a Timestamp. */
export function orderToDocument(order: OrderView | null): DocumentData | null {
  if (order === null) return null;
  return { status: order.status, filledQty: order.filledQty, filledAvgPrice: order.filledAvgPrice, updatedAt: ts(order.updatedAtMs), final: order.final };
}

export function recordFromDocument(data: DocumentData): { ok: true; record: SubmissionRecord } | { ok: false; problem: string } {
  const parsed = storedRecordSchema.safeParse(timestampsToDates(data));
  if (!parsed.success) {
    return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  }
  const d = parsed.data;
  return {
    ok: true,
    record: {
      intentId: d.intentId,
      state: d.state,
      reason: d.reason,
      detail: d.detail,
      intent: d.intent,
      strategyId: d.strategyId,
      clientOrderId: d.clientOrderId,
      brokerOrderId: d.brokerOrderId,
      brokerStatus: d.brokerStatus,
      attempts: d.attempts,
      owner: d.owner === null ? null : { instanceId: d.owner.instanceId, eventId: d.owner.eventId, deadlineAtMs: d.owner.deadlineAt },
      executionMode: d.executionMode,
      claimedAtMs: d.claimedAt,
      updatedAtMs: d.updatedAt,
      history: d.history.map((h): HistoryEntry => withoutUndefined({ state: h.state, atMs: h.at, reason: h.reason, attempt: h.attempt })),
      ...(d.order === undefined
        ? {}
        : {
            order:
              d.order === null
                ? null
                : { status: d.order.status, filledQty: d.order.filledQty, filledAvgPrice: d.order.filledAvgPrice, updatedAtMs: d.order.updatedAt, final: d.order.final },
          }),
    },
  };
}
