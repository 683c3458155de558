import type { PubSub, Topic } from '@google-cloud/pubsub';
import { parseIntentText } from '../../functions/src/domain/intent.js';
import type { IntentIssue, IntentParseFailure, OrderIntent } from '../../functions/src/domain/intent.js';

/**
 * Publishing an order intent on `order-intents`. The intent is checked here with the very
 * function executeIntent applies on receipt (`parseIntentText`, the shared zod schema and the
 * size limit), on the exact JSON text that will be sent: an intent that would be parked in
 * `invalidIntents` is refused before it leaves the process, where the strategy can still see
 * why and fix it.
 */

/** An intent that executeIntent would refuse; nothing was published. */
export class IntentRefusedError extends Error {
  readonly failure: IntentParseFailure;
  readonly issues: readonly IntentIssue[];

  constructor(failure: IntentParseFailure, issues: readonly IntentIssue[]) {
    const listed = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    super(`intent refused, nothing was published (${failure}): ${listed}`);
    this.name = 'IntentRefusedError';
    this.failure = failure;
    this.issues = issues;
  }
}

export function isIntentRefusedError(value: unknown): value is IntentRefusedError {
  return value instanceof IntentRefusedError;
}

/** Either a Topic object, or a topic id (or full name) with the PubSub client to use. */
export type PublishIntentTarget = { topic: Topic } | { topic: string; pubsub: PubSub };

/**
 * Validates `intent` and publishes it; resolves with the Pub/Sub message id. Rejects with
 * `IntentRefusedError` (listing every issue) without publishing when the intent is invalid,
 * and with the client's error when publishing fails — the intent may or may not have been
 * published then, which is safe to retry with the same `intentId` (haltgate submits one
 * order per intentId).
 *
 * The message carries `intentId` and `strategyId` as attributes, for subscription filters
 * and for reading logs without decoding bodies.
 */
export async function publishIntent(intent: OrderIntent, target: PublishIntentTarget): Promise<string> {
  // Validate what the function will receive: the JSON text, not the object (JSON turns NaN
  // into null and drops undefined keys).
  const text = JSON.stringify(intent) as string | undefined;
  const parsed = parseIntentText(text ?? '');
  if (!parsed.ok) throw new IntentRefusedError(parsed.failure, parsed.issues);
  const topic = 'pubsub' in target ? topicOf(target.pubsub, target.topic) : target.topic;
  return topic.publishMessage({
    data: Buffer.from(text ?? '', 'utf8'),
    attributes: { intentId: parsed.intent.intentId, strategyId: parsed.intent.strategyId },
  });
}

// A Topic object owns a publish batcher; one per client and name rather than one per call.
const topics = new WeakMap<PubSub, Map<string, Topic>>();

function topicOf(pubsub: PubSub, name: string): Topic {
  let byName = topics.get(pubsub);
  if (byName === undefined) topics.set(pubsub, (byName = new Map()));
  let topic = byName.get(name);
  if (topic === undefined) byName.set(name, (topic = pubsub.topic(name)));
  return topic;
}
