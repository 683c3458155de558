/**
 * Pub/Sub topic ids of the data contract (DESIGN.md "Topics"). Kept apart from `index.ts`
 * because that module defines Cloud Functions on import; the runner kit and dev tools need
 * the names without that side effect. Renaming one is a breaking change.
 */
export const ORDER_INTENTS_TOPIC = 'order-intents';
export const OPS_EVENTS_TOPIC = 'ops-events';
/** haltgate → strategies: one message per change of a submission's state or broker status. */
export const ORDER_UPDATES_TOPIC = 'order-updates';
