/**
 * haltgate/runner: the strategy side of haltgate. Publish intents that executeIntent will
 * accept, stop loops promptly on SIGTERM/SIGINT or a kill-switch halt, and report liveness.
 * See runner/README.md for a complete strategy loop.
 */
export { publishIntent, IntentRefusedError, isIntentRefusedError } from './publish-intent.js';
export type { PublishIntentTarget } from './publish-intent.js';
export {
  createStopSignal,
  RunnerStopError,
  StopReason,
  DEFAULT_STOP_SIGNALS,
  isRunnerStopError,
  stopReasonOf,
} from './stop-signal.js';
export type { StopSignal, StopSignalOptions, SignalSource } from './stop-signal.js';
export { sleep, every } from './sleep.js';
export type { IterationFn } from './sleep.js';
export { heartbeat } from './heartbeat.js';
export type { Heartbeat, HeartbeatOptions } from './heartbeat.js';
export { followOrders } from './follow-orders.js';
export type { FollowOrdersOptions, OrderUpdate } from './follow-orders.js';
export { orderUpdateMessageSchema, isFinalOrderStatus, BadFinal, badFinalOf } from '../../functions/src/domain/order-lifecycle.js';
export { ORDER_INTENTS_TOPIC, OPS_EVENTS_TOPIC, ORDER_UPDATES_TOPIC } from '../../functions/src/topics.js';
export { RunnerState, RUNNERS_COLLECTION, isRunnerStale, defaultStaleAfterMs } from '../../functions/src/domain/runner-heartbeat.js';
export { validateIntent, intentSchema } from '../../functions/src/domain/intent.js';
export type { OrderIntent, IntentIssue, IntentParseFailure, Bar, MarketData } from '../../functions/src/domain/intent.js';
