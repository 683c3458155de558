/**
 * A consumer of `order-updates` for the e2e tests: a pull subscription of its own (created
 * here, deleted by stop()) that records every message, acked, as a strategy would receive it.
 * `unique()` drops repeats by `updateId` as followOrders does — and checks that a repeat is
 * really the same change (same payload), so dedupe never hides two different changes.
 */
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { orderUpdateMessageSchema, type OrderUpdateMessage } from '../../functions/src/domain/order-lifecycle.js';
import { ORDER_UPDATES_TOPIC } from '../../functions/src/topics.js';

export interface SeenOrderUpdate {
  updateId: string;
  messageId: string;
  attributes: Record<string, string>;
  message: OrderUpdateMessage;
}

export interface OrderUpdateCollector {
  /** Every message received, repeats included. */
  all(): SeenOrderUpdate[];
  /** One entry per updateId, in order of first arrival; throws if a repeat differs. */
  unique(): SeenOrderUpdate[];
  stop(): Promise<void>;
}

export async function collectOrderUpdates(pubsub: PubSub, opts: { name: string; strategyId: string }): Promise<OrderUpdateCollector> {
  const [subscription]: [Subscription, ...unknown[]] = await pubsub.topic(ORDER_UPDATES_TOPIC).createSubscription(opts.name, {
    filter: `attributes.strategyId = "${opts.strategyId}"`,
    ackDeadlineSeconds: 30,
  });
  const seen: SeenOrderUpdate[] = [];
  const problems: string[] = [];
  subscription.on('message', (m: Message) => {
    m.ack();
    const parsed = orderUpdateMessageSchema.safeParse(JSON.parse(m.data.toString('utf8')));
    if (!parsed.success) {
      problems.push(`message ${m.id}: ${parsed.error.message}`);
      return;
    }
    // The subscription filters on strategyId; check it too (the emulator's filter support is what it is).
    if (parsed.data.strategyId !== opts.strategyId) return;
    seen.push({ updateId: m.attributes.updateId ?? '', messageId: m.id, attributes: { ...m.attributes }, message: parsed.data });
  });
  subscription.on('error', (err: Error) => problems.push(err.message));
  const all = (): SeenOrderUpdate[] => {
    if (problems.length > 0) throw new Error(`order-updates: ${problems.join('; ')}`);
    return [...seen];
  };
  return {
    all,
    unique() {
      const byId = new Map<string, SeenOrderUpdate>();
      for (const s of all()) {
        const first = byId.get(s.updateId);
        if (!first) byId.set(s.updateId, s);
        else if (JSON.stringify(first.message) !== JSON.stringify(s.message)) {
          throw new Error(`updateId ${s.updateId} came with two different payloads: ${JSON.stringify(first.message)} / ${JSON.stringify(s.message)}`);
        }
      }
      return [...byId.values()];
    },
    async stop() {
      await subscription.close().catch(() => {});
      await subscription.delete().catch(() => {});
    },
  };
}
