import type { Clock } from '../domain/clock.js';
import type {
  Broker,
  BrokerFill,
  BrokerOrder,
  CancelAllOutcome,
  CancelOneOutcome,
  ListOutcome,
  LookupOutcome,
  OrderRequest,
  SubmitOutcome,
} from './broker.js';

/**
 * A broker that makes no network call at all. It remembers every order it was asked to place
 * (`decisions`, for tests and for the `dry_run` mode's own bookkeeping) and answers as a
 * well-behaved broker would: the first submit of a `client_order_id` is accepted with a
 * synthetic order, a second one is a `duplicate` (the same uniqueness rule Alpaca applies, so
 * code exercised in dry-run mode meets the rule it will meet live). Lookups find what it
 * accepted; cancel-all and the listings are empty. Memory is bounded (`maxRemembered`).
 */
export interface DryRunBroker extends Broker {
  /** Every order request received, in call order (duplicates included), as copies. */
  readonly decisions: readonly OrderRequest[];
}

export const DRY_RUN_BROKER_NAME = 'dry-run';
/** The status of the synthetic orders this broker hands back. */
export const DRY_RUN_ORDER_STATUS = 'dry_run';

/** A long-lived instance must not grow without bound: the oldest memories go first. */
export const DRY_RUN_DEFAULT_MAX_REMEMBERED = 10_000;

export function createDryRunBroker(opts: {
  clock: Clock;
  onSubmit?: (order: OrderRequest) => void;
  /** How many requests (and accepted orders) to keep; default 10 000. */
  maxRemembered?: number;
}): DryRunBroker {
  const max = opts.maxRemembered ?? DRY_RUN_DEFAULT_MAX_REMEMBERED;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxRemembered must be a positive integer, got ${max}`);
  const decisions: OrderRequest[] = [];
  const accepted = new Map<string, BrokerOrder>(); // insertion order = age

  function syntheticOrder(order: OrderRequest): BrokerOrder {
    const at = new Date(opts.clock.now()).toISOString();
    return {
      id: `dry-run-${order.clientOrderId}`,
      clientOrderId: order.clientOrderId,
      status: DRY_RUN_ORDER_STATUS,
      symbol: order.symbol,
      side: order.side,
      qty: String(order.qty),
      filledQty: '0',
      filledAvgPrice: null,
      type: order.type,
      limitPrice: order.type === 'limit' && order.limitPrice !== undefined ? String(order.limitPrice) : null,
      submittedAt: at,
      createdAt: at,
    };
  }

  return {
    name: DRY_RUN_BROKER_NAME,
    decisions,
    async submitOrder(order): Promise<SubmitOutcome> {
      decisions.push({ ...order });
      if (decisions.length > max) decisions.splice(0, decisions.length - max);
      opts.onSubmit?.({ ...order });
      if (accepted.has(order.clientOrderId)) {
        return {
          kind: 'duplicate',
          httpStatus: 422,
          message: `dry run: client_order_id ${order.clientOrderId} must be unique (already recorded)`,
        };
      }
      const synthetic = syntheticOrder(order);
      accepted.set(order.clientOrderId, synthetic);
      if (accepted.size > max) {
        const oldest = accepted.keys().next().value;
        if (oldest !== undefined) accepted.delete(oldest);
      }
      return { kind: 'accepted', order: { ...synthetic } };
    },
    async getOrderByClientOrderId(clientOrderId): Promise<LookupOutcome> {
      const found = accepted.get(clientOrderId);
      return found === undefined ? { kind: 'not_found' } : { kind: 'found', order: { ...found } };
    },
    async getOrderById(orderId): Promise<LookupOutcome> {
      for (const order of accepted.values()) if (order.id === orderId) return { kind: 'found', order: { ...order } };
      return { kind: 'not_found' };
    },
    async cancelAllOpenOrders(): Promise<CancelAllOutcome> {
      return { kind: 'done', results: [] };
    },
    async cancelOrder(orderId): Promise<CancelOneOutcome> {
      // Its synthetic orders are never open at any broker: nothing to cancel.
      return { kind: 'not_found', message: `dry run: order ${orderId} is not at a broker` };
    },
    async listOrders(): Promise<ListOutcome<BrokerOrder>> {
      return { kind: 'ok', items: [] };
    },
    async listFills(): Promise<ListOutcome<BrokerFill>> {
      return { kind: 'ok', items: [] };
    },
  };
}
