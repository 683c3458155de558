import type { PubSub } from '@google-cloud/pubsub';
import type { DocumentData } from 'firebase-admin/firestore';
import {
  decideOrderUpdate,
  orderUpdateAttributes,
  orderUpdateMessageSchema,
  type OrderUpdateMessage,
  type RecordFacts,
} from '../domain/order-lifecycle.js';
import { OrderUpdatePublishError } from '../errors.js';
import { LogEvent, type EventLogger } from '../logs.js';
import { recordFromDocument } from '../store/submission-document.js';
import { ORDER_UPDATES_TOPIC } from '../topics.js';

/**
 * onSubmissionWrite, as an ordinary function: every write of `submissions/{intentId}` arrives
 * here (a Firestore trigger, `retry: true`); a write that changed the record's state, or its
 * order's broker status or filled quantity, is published once on `order-updates` as
 * `{ intentId, strategyId, state, reason, order }` — refusals, rejections and abandonments
 * included. No writer of the record pays for it: the accepted-order path keeps its round trips.
 *
 * "Once" is per change, not per delivery: the trigger is at-least-once and so is Pub/Sub, so a
 * change may be published again (a redelivered or retried event). Each message carries the
 * change's deterministic id (`updateId` attribute: intent, attempt, state, order status,
 * filled quantity), the same on every repeat, and consumers drop repeats by it
 * (`followOrders` in the runner kit does). A failed publish throws a retryable error: the
 * event is redelivered until the message is out.
 */

export interface OrderUpdatesDeps {
  publish: (message: OrderUpdateMessage, attributes: Record<string, string>) => Promise<string>;
  log: EventLogger;
}

export interface SubmissionWriteEvent {
  eventId: string;
  before: DocumentData | undefined;
  after: DocumentData | undefined;
}

export type SubmissionWriteResult = { published: true; updateId: string; messageId: string } | { published: false; why: string };

function factsOf(data: DocumentData | undefined): { ok: true; facts: RecordFacts | null } | { ok: false; problem: string } {
  if (data === undefined) return { ok: true, facts: null };
  const parsed = recordFromDocument(data);
  if (!parsed.ok) return { ok: false, problem: parsed.problem };
  const r = parsed.record;
  return { ok: true, facts: { intentId: r.intentId, strategyId: r.strategyId, state: r.state, reason: r.reason, attempts: r.attempts, order: r.order ?? null } };
}

export async function handleSubmissionWrite(deps: OrderUpdatesDeps, event: SubmissionWriteEvent): Promise<SubmissionWriteResult> {
  const after = factsOf(event.after);
  if (!after.ok) {
    // Nothing a retry could change; the record is shown as unreadable by the ops status.
    deps.log.error(LogEvent.recordUnreadable, { eventId: event.eventId, problem: after.problem, by: 'onSubmissionWrite' });
    return { published: false, why: `record unreadable: ${after.problem}` };
  }
  // An unreadable "before" (an older or hand-edited record) counts as no record: publish.
  const before = factsOf(event.before);
  const decision = decideOrderUpdate(before.ok ? before.facts : null, after.facts);
  if (!decision.publish) return { published: false, why: decision.why };
  const message = orderUpdateMessageSchema.parse(decision.message);
  try {
    const messageId = await deps.publish(message, orderUpdateAttributes(decision.id, message));
    deps.log.info(LogEvent.orderUpdatePublished, { eventId: event.eventId, updateId: decision.id, messageId, state: message.state, orderStatus: message.order?.status ?? null });
    return { published: true, updateId: decision.id, messageId };
  } catch (err) {
    deps.log.warn(LogEvent.orderUpdatePublishFailed, { eventId: event.eventId, updateId: decision.id, error: err instanceof Error ? err.message : String(err) });
    throw new OrderUpdatePublishError(decision.id, err);
  }
}

/** Publishes on `order-updates` with the real client. */
export function pubsubOrderUpdatePublisher(pubsub: PubSub): OrderUpdatesDeps['publish'] {
  const topic = pubsub.topic(ORDER_UPDATES_TOPIC);
  return (message, attributes) => topic.publishMessage({ json: message, attributes });
}
