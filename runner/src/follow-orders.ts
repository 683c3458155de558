import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { orderUpdateMessageSchema, type OrderUpdateMessage } from '../../functions/src/domain/order-lifecycle.js';
import { ORDER_UPDATES_TOPIC } from '../../functions/src/topics.js';

/**
 * Following what became of a strategy's own intents: haltgate publishes one message per change
 * of a submission's state or broker status on `order-updates` (`{ intentId, strategyId, state,
 * reason, order }`, order = `{ status, filledQty, filledAvgPrice, updatedAt, final }` or null).
 *
 * `followOrders` subscribes with a filter on the strategy (`attributes.strategyId`), checks
 * each message against the same schema haltgate publishes with, drops repeats by their
 * `updateId` attribute (a change may be delivered more than once), and calls `onUpdate` once
 * per change. It resolves when `signal` aborts.
 *
 * Subscription: without `subscription`, a temporary one is created and deleted on stop — it
 * sees changes from the moment it exists. With a name, that subscription is used (created with
 * the filter if missing, never deleted), so changes made while the strategy was down are
 * delivered when it comes back (for as long as Pub/Sub retains them, 7 days by default).
 * Messages arrive in no guaranteed order; `order.final` and the state tell the latest apart.
 */
export interface FollowOrdersOptions {
  pubsub: PubSub;
  strategyId: string;
  signal: AbortSignal;
  /** A durable subscription name (see above). */
  subscription?: string;
  /** Messages that fail the schema (acknowledged and dropped), and onUpdate failures (redelivered). */
  onError?: (err: Error) => void;
  /** How many update ids are remembered for dropping repeats. Default 10 000. */
  rememberIds?: number;
}

export type OrderUpdate = OrderUpdateMessage & { updateId: string };

function filterFor(strategyId: string): string {
  return `attributes.strategyId = ${JSON.stringify(strategyId)}`;
}

export async function followOrders(opts: FollowOrdersOptions, onUpdate: (update: OrderUpdate) => void | Promise<void>): Promise<void> {
  const { pubsub, strategyId, signal } = opts;
  if (strategyId === '') throw new RangeError('strategyId must not be empty');
  if (signal.aborted) return;
  const remember = opts.rememberIds ?? 10_000;
  const temporary = opts.subscription === undefined;
  const name = opts.subscription ?? `order-updates-${strategyId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 150)}-${globalThis.crypto.randomUUID().slice(0, 8)}`;

  let sub: Subscription = pubsub.subscription(name);
  const [exists] = await sub.exists();
  if (!exists) {
    try {
      [sub] = await pubsub.topic(ORDER_UPDATES_TOPIC).createSubscription(name, { filter: filterFor(strategyId), ackDeadlineSeconds: 60 });
    } catch (err) {
      if ((err as { code?: number }).code !== 6 /* ALREADY_EXISTS: another process created it */) throw err;
      sub = pubsub.subscription(name);
    }
  }

  const seen = new Set<string>();
  const handling = new Set<string>();
  const note = (id: string) => {
    seen.add(id);
    if (seen.size > remember) seen.delete(seen.values().next().value as string);
  };
  const report = (err: unknown) => opts.onError?.(err instanceof Error ? err : new Error(String(err)));

  const onMessage = (message: Message) => {
    void (async () => {
      const updateId = message.attributes?.updateId;
      let parsed: OrderUpdateMessage;
      try {
        parsed = orderUpdateMessageSchema.parse(JSON.parse(message.data.toString('utf8')));
      } catch (err) {
        message.ack();
        report(new Error(`order update ${message.id} is not a valid order-updates message: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      // The filter is the subscription's; a subscription made elsewhere may not have it.
      if (parsed.strategyId !== strategyId || typeof updateId !== 'string' || updateId === '') {
        message.ack();
        if (parsed.strategyId === strategyId) report(new Error(`order update ${message.id} has no updateId attribute`));
        return;
      }
      // Seen, or being handled right now (repeats can arrive together): a repeat. If the one
      // being handled fails it is nacked and comes back, so dropping this copy loses nothing.
      if (seen.has(updateId) || handling.has(updateId)) {
        message.ack();
        return;
      }
      handling.add(updateId);
      try {
        await onUpdate({ ...parsed, updateId });
        note(updateId);
        message.ack();
      } catch (err) {
        message.nack(); // redelivered: the strategy sees it again
        report(err);
      } finally {
        handling.delete(updateId);
      }
    })();
  };

  sub.on('message', onMessage);
  sub.on('error', report);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  sub.off('message', onMessage);
  await sub.close().catch(report);
  if (temporary) await sub.delete().catch(report);
}
