/**
 * A broker whose answers are scripted, for interleaving and fault tests. It keeps orders by
 * client_order_id, answers lookups truthfully from them and logs every submit it receives.
 *
 * Fates of the n-th submit (script[n], then `accept`):
 *   accept      placed; answered `accepted`
 *   reject      not placed; answered `rejected` (422, a validation message)
 *   not_placed  not placed; answered `not_placed` (429)
 *   timeout     the request never arrived: not placed; answered `unknown`
 *   lost        placed; the answer is lost: `unknown`
 *   late        answered `unknown` at once; the request is still travelling and lands (is
 *               placed) later, when the test calls the `onLate` hook's `land`
 *
 * By default it does NOT refuse a second order with a known client_order_id (Alpaca does): a
 * test of G1 then counts what haltgate alone lets through. `unique: true` behaves like Alpaca.
 */
import type { Broker, BrokerOrder, LookupOutcome, SubmitOutcome } from '../../functions/src/broker/broker.js';
import type { Clock } from '../../functions/src/domain/clock.js';
import { noPoint, type Point } from './memory-store.js';

export type SubmitFate = 'accept' | 'reject' | 'not_placed' | 'timeout' | 'lost' | 'late';
export const SUBMIT_FATES: readonly SubmitFate[] = ['accept', 'reject', 'not_placed', 'timeout', 'lost', 'late'];
/** Fates after which the client has no proof that nothing was placed. */
export const MAY_BE_PLACED: ReadonlySet<SubmitFate> = new Set(['accept', 'timeout', 'lost', 'late']);

export interface SubmitLogEntry {
  seq: number;
  clientOrderId: string;
  fate: SubmitFate;
  /** Whether an order was placed by this request (for `late`: set when it lands). */
  placed: boolean;
}

export interface ScriptedBroker {
  /** Every order placed, in order (several per client_order_id only if haltgate sent them). */
  readonly orders: BrokerOrder[];
  readonly submits: SubmitLogEntry[];
  readonly lookups: Array<{ seq: number; clientOrderId: string; answer: LookupOutcome['kind'] }>;
  /** The broker as one invocation sees it: its calls go through that invocation's point. */
  forInvocation(point?: Point): Broker;
}

export function createScriptedBroker(opts: {
  clock: Clock;
  script?: readonly SubmitFate[];
  /** Fates of the n-th lookup: `fail` answers `unknown`; default `ok` (truthful). */
  lookupScript?: ReadonlyArray<'ok' | 'fail'>;
  unique?: boolean;
  nextSeq: () => number;
  /** Called for a `late` submit with the function that lands it. */
  onLate?: (land: () => void, entry: SubmitLogEntry) => void;
}): ScriptedBroker {
  const script = opts.script ?? [];
  const lookupScript = opts.lookupScript ?? [];
  const orders: BrokerOrder[] = [];
  const submits: SubmitLogEntry[] = [];
  const lookups: ScriptedBroker['lookups'] = [];
  let ids = 0;

  const place = (order: { clientOrderId: string; symbol: string; side: string; qty: number; type: string; limitPrice?: number }): BrokerOrder => {
    const at = new Date(opts.clock.now()).toISOString();
    const placed: BrokerOrder = {
      id: `order-${++ids}`,
      clientOrderId: order.clientOrderId,
      status: 'new',
      symbol: order.symbol,
      side: order.side,
      qty: String(order.qty),
      filledQty: '0',
      filledAvgPrice: null,
      type: order.type,
      limitPrice: order.limitPrice === undefined ? null : String(order.limitPrice),
      submittedAt: at,
      createdAt: at,
    };
    orders.push(placed);
    return placed;
  };
  const find = (clientOrderId: string) => orders.find((o) => o.clientOrderId === clientOrderId);
  const forbidden = (what: string) => () => {
    throw new Error(`scripted broker: ${what} is not scripted`);
  };

  return {
    orders,
    submits,
    lookups,
    forInvocation(point = noPoint): Broker {
      return {
        name: 'scripted',
        async submitOrder(order): Promise<SubmitOutcome> {
          const key = `broker/${order.clientOrderId}`;
          await point({ op: 'broker.submit', reads: [key], writes: [key] });
          const fate = script[submits.length] ?? 'accept';
          const entry: SubmitLogEntry = { seq: opts.nextSeq(), clientOrderId: order.clientOrderId, fate, placed: false };
          submits.push(entry);
          if (opts.unique && find(order.clientOrderId) !== undefined && fate !== 'timeout') {
            return { kind: 'duplicate', httpStatus: 422, code: 40010001, message: 'client_order_id must be unique' };
          }
          switch (fate) {
            case 'accept':
              entry.placed = true;
              return { kind: 'accepted', order: { ...place(order) } };
            case 'reject':
              return { kind: 'rejected', httpStatus: 422, code: 40010001, message: 'qty must be a multiple of the lot size' };
            case 'not_placed':
              return { kind: 'not_placed', httpStatus: 429, message: 'rate limit exceeded; nothing placed' };
            case 'timeout':
              return { kind: 'unknown', message: 'no answer within the timeout; the order may have been placed' };
            case 'lost':
              entry.placed = true;
              place(order);
              return { kind: 'unknown', message: 'connection reset after the request was sent; the order may have been placed' };
            case 'late':
              opts.onLate?.(() => {
                if (opts.unique && find(order.clientOrderId) !== undefined) return;
                entry.placed = true;
                place(order);
              }, entry);
              return { kind: 'unknown', message: 'no answer within the timeout; the request may still arrive' };
          }
        },
        async getOrderByClientOrderId(clientOrderId): Promise<LookupOutcome> {
          const key = `broker/${clientOrderId}`;
          await point({ op: 'broker.lookup', reads: [key], writes: [] });
          const failed = lookupScript[lookups.length] === 'fail';
          const found = find(clientOrderId);
          const answer: LookupOutcome = failed
            ? { kind: 'unknown', message: 'lookup timed out' }
            : found === undefined
              ? { kind: 'not_found' }
              : { kind: 'found', order: { ...found } };
          lookups.push({ seq: opts.nextSeq(), clientOrderId, answer: answer.kind });
          return answer;
        },
        cancelAllOpenOrders: forbidden('cancelAllOpenOrders'),
        listOrders: forbidden('listOrders'),
        listFills: forbidden('listFills'),
      };
    },
  };
}
