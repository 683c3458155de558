/** Pub/Sub topics of the data contract (DESIGN.md). */
export const ORDER_INTENTS_TOPIC = 'order-intents';
export const OPS_EVENTS_TOPIC = 'ops-events';
