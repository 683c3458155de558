import type { PubSub } from '@google-cloud/pubsub';
import { z } from 'zod';
import { OPS_EVENTS_TOPIC } from '../topics.js';

/**
 * Messages on `ops-events` (haltgate → strategy runners). Runners stop their own loops on
 * `halt`; the function refuses intents regardless (G2), this only saves them the refusals.
 * `posture` tells them trading became reduce-only (or back): only reducing orders are claimed.
 * The `type` is also an attribute so subscriptions can filter on it.
 */
export const OpsEventType = { halt: 'halt', resume: 'resume', posture: 'posture' } as const;
export type OpsEventType = (typeof OpsEventType)[keyof typeof OpsEventType];

export const opsEventSchema = z.object({
  type: z.enum(OpsEventType),
  halted: z.boolean(),
  /** Not halted, and only orders that shrink a position are claimed (ops/killSwitch.reduceOnly). */
  reduceOnly: z.boolean(),
  /**
   * The posture after the change: `trading`, `reduce_only` or `halted`. A `posture` event is a
   * change between trading and reduce-only (no halt or resume); halt and resume carry it too.
   */
  posture: z.enum(['trading', 'reduce_only', 'halted']),
  reason: z.string().nullable(),
  updatedBy: z.string().nullable(),
  /** ISO-8601 time of the kill-switch change. */
  at: z.string(),
  /** The Firestore event id of the change: runners can drop duplicates with it. */
  changeId: z.string(),
});
export type OpsEvent = z.infer<typeof opsEventSchema>;

/** Publishes one ops event; resolves with the message id. */
export type PublishOpsEvent = (event: OpsEvent) => Promise<string>;

export function pubsubOpsEventPublisher(pubsub: PubSub): PublishOpsEvent {
  const topic = pubsub.topic(OPS_EVENTS_TOPIC);
  return (event) => topic.publishMessage({ json: opsEventSchema.parse(event), attributes: { type: event.type, changeId: event.changeId } });
}
