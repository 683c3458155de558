import type { OrderIntent } from '../../functions/src/domain/intent.js';

let counter = 0;

/** A valid market intent; ids are unique per call unless given. */
export function makeIntent(overrides: Partial<OrderIntent> = {}): OrderIntent {
  counter += 1;
  return {
    intentId: `it-${process.pid}-${Date.now().toString(36)}-${counter}`,
    strategyId: 'momentum-1',
    symbol: 'AAPL',
    side: 'buy',
    qty: 1,
    type: 'market',
    timeInForce: 'day',
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

let eventCounter = 0;

/**
 * The CloudEvent Eventarc POSTs for a Pub/Sub message (DESIGN.md "Platform facts"), which
 * the functions framework hands to the exported function as it is.
 */
export function pubsubCloudEvent(
  data: unknown,
  opts: { eventId?: string; rawData?: string | null; attributes?: Record<string, string>; project?: string } = {},
) {
  eventCounter += 1;
  const eventId = opts.eventId ?? `${Date.now()}${eventCounter}`;
  const project = opts.project ?? 'demo-haltgate';
  const payload = opts.rawData === undefined ? JSON.stringify(data) : opts.rawData;
  const message: Record<string, unknown> = {
    messageId: eventId,
    publishTime: new Date().toISOString(),
    attributes: opts.attributes ?? {},
  };
  if (payload !== null) message.data = Buffer.from(payload, 'utf8').toString('base64');
  return {
    id: eventId,
    source: `//pubsub.googleapis.com/projects/${project}/topics/order-intents`,
    specversion: '1.0',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    time: new Date().toISOString(),
    data: { message, subscription: `projects/${project}/subscriptions/eventarc-executeIntent` },
  };
}
