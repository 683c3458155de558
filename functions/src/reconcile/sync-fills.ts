import type { Broker, BrokerFill } from '../broker/broker.js';
import type { Clock } from '../domain/clock.js';
import { isDecimalString, parseDecimal, PRICE_DECIMALS, QTY_DECIMALS } from '../domain/pnl/decimal.js';
import { compareFills, type Fill } from '../domain/pnl/fifo.js';
import { LogEvent, type EventLogger } from '../logs.js';
import { MAX_FILLS_PER_TRANSACTION, type FillsStore, type OwnedFill } from '../store/fills-store.js';

/**
 * The fills ledger: polls the broker for fills since the cursor, ties each to the haltgate
 * intent whose order it filled, and folds it once into that strategy's FIFO lots and realized
 * P&L (which the consecutiveLosses and dailyLoss breakers read).
 *
 * - Ownership: a fill names a broker order id. The submission record carries it once the
 *   order was accepted (`brokerOrderId`); an order whose outcome was lost is found through the
 *   broker's order list by `client_order_id`, which is derived from the intent id and stored on
 *   the record. Fills of orders that are not haltgate's are ignored.
 * - Order: every page is read before anything is applied, then fills are applied in
 *   `compareFills` order (broker time, then id): pages and partial fills can arrive in any
 *   order, FIFO lots cannot.
 * - Idempotence: each fill is written once under the broker's fill id, in the same
 *   transaction as the lots and stats it changes. The poll re-reads an overlap before the
 *   cursor (a late fill stamped just before it is not lost); re-read fills are skipped.
 * - The cursor only moves after every fill up to it was applied: a failed run is repeated.
 */

export interface SyncFillsDeps {
  store: FillsStore;
  broker: Broker;
  clock: Clock;
  log: EventLogger;
  /** The trading-day time zone of the daily-loss sums (CB_TRADING_TIME_ZONE). */
  timeZone: string;
  /** Timeout of each broker call. */
  brokerTimeoutMs: number;
}

export interface SyncFillsResult {
  fetched: number;
  applied: number;
  skipped: number;
  ignored: number;
  realizedEvents: number;
  cursorMs: number;
}

/** Re-read before the cursor: fills reported late with an earlier time are still picked up. */
export const FILLS_OVERLAP_MS = 5 * 60_000;
/** Where the very first run starts. */
export const FILLS_INITIAL_LOOKBACK_MS = 24 * 60 * 60_000;
/** How far back orders are listed to find the owner of a fill whose order id is not on a record. */
export const ORDER_LOOKUP_LOOKBACK_MS = 7 * 24 * 60 * 60_000;
/** A guard against a broker that keeps answering with a next page. */
export const MAX_FILL_PAGES = 50;

export class SyncFillsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncFillsError';
  }
}

/** A broker fill in the ledger's form, or why it cannot be used. */
export function toLedgerFill(f: BrokerFill): { ok: true; fill: Fill } | { ok: false; problem: string } {
  const side = f.side === 'buy' ? 'buy' : f.side === 'sell' || f.side === 'sell_short' ? 'sell' : null;
  if (side === null) return { ok: false, problem: `fill ${f.id}: unknown side "${f.side}"` };
  const timeMs = Date.parse(f.transactionTime);
  if (!Number.isFinite(timeMs)) return { ok: false, problem: `fill ${f.id}: unreadable transaction_time "${f.transactionTime}"` };
  if (!isDecimalString(f.qty, QTY_DECIMALS) || parseDecimal(f.qty, QTY_DECIMALS) <= 0n) {
    return { ok: false, problem: `fill ${f.id}: qty "${f.qty}" is not a positive decimal` };
  }
  if (!isDecimalString(f.price, PRICE_DECIMALS) || parseDecimal(f.price, PRICE_DECIMALS) <= 0n) {
    return { ok: false, problem: `fill ${f.id}: price "${f.price}" is not a positive decimal` };
  }
  return {
    ok: true,
    fill: { id: f.id, orderId: f.orderId, symbol: f.symbol, side, qty: f.qty, price: f.price, ...(f.fee === undefined ? {} : { fee: f.fee }), timeMs },
  };
}

export async function handleSyncFills(deps: SyncFillsDeps): Promise<SyncFillsResult> {
  const nowMs = deps.clock.now();
  const cursorMs = (await deps.store.readCursor()) ?? nowMs - FILLS_INITIAL_LOOKBACK_MS;
  const since = new Date(Math.max(0, cursorMs - FILLS_OVERLAP_MS));
  const callOpts = { timeoutMs: deps.brokerTimeoutMs };

  // 1. Every page first.
  const raw: BrokerFill[] = [];
  let pageToken: string | undefined;
  for (let page = 0; ; page++) {
    if (page >= MAX_FILL_PAGES) throw new SyncFillsError(`more than ${MAX_FILL_PAGES} pages of fills; the cursor stays at ${new Date(cursorMs).toISOString()}`);
    const listed = await deps.broker.listFills(pageToken === undefined ? { since } : { since, pageToken }, callOpts);
    if (listed.kind !== 'ok') throw new SyncFillsError(`listing fills failed: ${listed.message}`);
    raw.push(...listed.items);
    if (listed.nextPageToken === undefined || listed.items.length === 0) break;
    pageToken = listed.nextPageToken;
  }

  // 2. Validate, then put in ledger order.
  const fills: Array<{ fill: Fill; transactionTime: string }> = [];
  for (const f of raw) {
    const parsed = toLedgerFill(f);
    // A fill the ledger cannot read would corrupt every later P&L of its symbol: stop here.
    if (!parsed.ok) throw new SyncFillsError(parsed.problem);
    fills.push({ fill: parsed.fill, transactionTime: f.transactionTime });
  }
  fills.sort((a, b) => compareFills(a.fill, b.fill));

  // 3. Owners, one lookup per order.
  const owners = new Map<string, { strategyId: string; intentId: string } | null>();
  const orderIds = [...new Set(fills.map((f) => f.fill.orderId))];
  for (const orderId of orderIds) owners.set(orderId, await deps.store.ownerByBrokerOrderId(orderId));
  const unknownOrders = orderIds.filter((id) => owners.get(id) === null);
  if (unknownOrders.length > 0) {
    const earliest = Math.min(...fills.filter((f) => unknownOrders.includes(f.fill.orderId)).map((f) => f.fill.timeMs));
    const listed = await deps.broker.listOrders({ since: new Date(earliest - ORDER_LOOKUP_LOOKBACK_MS), status: 'all' }, callOpts);
    if (listed.kind !== 'ok') throw new SyncFillsError(`listing orders failed: ${listed.message}`);
    for (const order of listed.items) {
      if (!unknownOrders.includes(order.id)) continue;
      owners.set(order.id, await deps.store.ownerByClientOrderId(order.clientOrderId));
    }
  }

  // 4. Apply, per strategy, in ledger order.
  const byStrategy = new Map<string, OwnedFill[]>();
  let ignored = 0;
  for (const { fill, transactionTime } of fills) {
    const owner = owners.get(fill.orderId) ?? null;
    if (owner === null) {
      ignored += 1;
      deps.log.info(LogEvent.fillUnmatched, { fillId: fill.id, orderId: fill.orderId, symbol: fill.symbol });
      continue;
    }
    const list = byStrategy.get(owner.strategyId) ?? [];
    list.push({ strategyId: owner.strategyId, intentId: owner.intentId, fill, transactionTime });
    byStrategy.set(owner.strategyId, list);
  }
  let applied = 0;
  let skipped = 0;
  let realizedEvents = 0;
  for (const [strategyId, list] of byStrategy) {
    for (let i = 0; i < list.length; i += MAX_FILLS_PER_TRANSACTION) {
      const r = await deps.store.applyFills(strategyId, list.slice(i, i + MAX_FILLS_PER_TRANSACTION), deps.timeZone);
      applied += r.applied;
      skipped += r.skipped;
      realizedEvents += r.realizedEvents;
    }
  }

  // 5. Everything up to the newest fill is applied: move the cursor (never backwards).
  const newest = fills.reduce((max, f) => Math.max(max, f.fill.timeMs), cursorMs);
  if (newest > cursorMs) await deps.store.writeCursor(newest);
  const result = { fetched: raw.length, applied, skipped, ignored, realizedEvents, cursorMs: Math.max(newest, cursorMs) };
  deps.log.info(LogEvent.fillsSyncRun, { ...result });
  return result;
}
