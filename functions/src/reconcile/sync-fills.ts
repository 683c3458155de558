import type { Broker, BrokerFill, UnreadableItem } from '../broker/broker.js';
import { listAllFills, listAllOrders, MAX_FILL_PAGES } from '../broker/list-all.js';
import { couldBeHaltgateClientOrderId } from '../domain/client-order-id.js';
import type { Clock } from '../domain/clock.js';
import { isDecimalString, parseDecimal, PRICE_DECIMALS, QTY_DECIMALS } from '../domain/pnl/decimal.js';
import { compareFills, type Fill } from '../domain/pnl/fifo.js';
import { LogEvent, type EventLogger } from '../logs.js';
import { MAX_FILLS_PER_TRANSACTION, type FillsStore, type OwnedFill, type QuarantineEntry } from '../store/fills-store.js';

/**
 * The fills ledger: polls the broker for fills since the cursor, ties each to the haltgate
 * intent whose order it filled, and folds it once into that strategy's FIFO lots and realized
 * P&L (which the consecutiveLosses and dailyLoss breakers read).
 *
 * - Ownership: a fill names a broker order id. The submission record carries it once the
 *   order was accepted (`brokerOrderId`); an order whose outcome was lost is found through the
 *   broker's order list (paged to exhaustion by time window) by `client_order_id`, which is
 *   derived from the intent id and stored on the record. Fills of orders that are not
 *   haltgate's — manual trades, multi-leg orders, other asset classes — are set aside with a
 *   reason (counted as `ignored`, logged), item by item: they never stop the run.
 * - Unreadable fills (no price, a bad decimal, an unknown side): of haltgate's orders, or of an
 *   order that cannot be told, they are quarantined (`fillsQuarantine`) with the reason and the
 *   run goes on; the strategy's P&L may be incomplete, so its P&L breakers refuse it
 *   (`breaker:ledgerIncomplete`) until an operator resolves the entry. Of foreign orders they
 *   are set aside like any foreign fill.
 * - Order: every page is read before anything is applied, then fills are applied in
 *   `compareFills` order (broker time, then id): pages and partial fills can arrive in any
 *   order, FIFO lots cannot.
 * - Idempotence: each fill is written once under the broker's fill id, in the same
 *   transaction as the lots and stats it changes. The poll re-reads an overlap before the
 *   cursor (a late fill stamped just before it is not lost); re-read fills are skipped.
 * - Freshness: a run that read every page and applied every readable fill records
 *   `lastSuccessAt` (server time) with the cursor; a failed run records its error and leaves
 *   both, so the ledger ages and P&L-guarded strategies are refused once it is older than
 *   CB_LEDGER_MAX_AGE_MS (`breaker:ledgerStale`). A broker that never stops paging is a failed
 *   run (never a silently truncated one).
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
  /** Fills set aside as not haltgate's (foreign, multi-leg, other asset classes, order not listed). */
  ignored: number;
  /** Unreadable fills of haltgate's orders (or of an order that cannot be told) seen this run. */
  quarantined: number;
  /** Of those, the ones kept for the first time. */
  newlyQuarantined: number;
  /** Orders of the owner lookup listing that could not be read (set aside). */
  unreadableOrders: number;
  realizedEvents: number;
  cursorMs: number;
  /** Open quarantine after the run (what the claims read). */
  openQuarantine: { byStrategy: Record<string, number>; unattributed: number };
}

/** Re-read before the cursor: fills reported late with an earlier time are still picked up. */
export const FILLS_OVERLAP_MS = 5 * 60_000;
/** Where the very first run starts. */
export const FILLS_INITIAL_LOOKBACK_MS = 24 * 60 * 60_000;
/** How far back orders are listed to find the owner of a fill whose order id is not on a record. */
export const ORDER_LOOKUP_LOOKBACK_MS = 7 * 24 * 60 * 60_000;
/** A guard against a broker that keeps answering with a next page (broker/list-all.ts). */
export { MAX_FILL_PAGES };
/** Set-aside items logged one by one per run; the rest are counted. */
export const MAX_SET_ASIDE_LOGGED = 20;

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

type Owner = { strategyId: string; intentId: string };

/** Why a fill's order is not haltgate's (or null when it is). */
type Ownership = { owner: Owner; aside: null } | { owner: null; aside: string };

export async function handleSyncFills(deps: SyncFillsDeps): Promise<SyncFillsResult> {
  try {
    return await syncOnce(deps);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Best effort: the failure shows in ops status; the run fails either way, and the ledger
    // ages from its last success.
    await deps.store.recordSyncFailure(message).catch(() => undefined);
    throw err;
  }
}

async function syncOnce(deps: SyncFillsDeps): Promise<SyncFillsResult> {
  const nowMs = deps.clock.now();
  const cursorMs = (await deps.store.readCursor()) ?? nowMs - FILLS_INITIAL_LOOKBACK_MS;
  const since = new Date(Math.max(0, cursorMs - FILLS_OVERLAP_MS));
  const callOpts = { timeoutMs: deps.brokerTimeoutMs };

  // 1. Every page first (to exhaustion, guarded).
  const listed = await listAllFills(deps.broker, { since }, callOpts);
  if (!listed.ok) throw new SyncFillsError(`${listed.message}; the cursor stays at ${new Date(cursorMs).toISOString()}`);
  const raw: BrokerFill[] = listed.items;

  // 2. Read each fill on its own: the readable ones in ledger order, the others aside.
  const fills: Array<{ fill: Fill; transactionTime: string }> = [];
  const unreadable: UnreadableItem[] = [...listed.unreadable];
  for (const f of raw) {
    const parsed = toLedgerFill(f);
    if (parsed.ok) fills.push({ fill: parsed.fill, transactionTime: f.transactionTime });
    else unreadable.push({ id: f.id, clientOrderId: null, orderId: f.orderId, time: f.transactionTime, reason: parsed.problem, raw: f });
  }
  fills.sort((a, b) => compareFills(a.fill, b.fill));

  // 3. Owners, one lookup per order; orders not on a record are looked up in the broker's list.
  const ownership = new Map<string, Ownership>();
  const orderIds = [...new Set([...fills.map((f) => f.fill.orderId), ...unreadable.flatMap((u) => (u.orderId === null ? [] : [u.orderId]))])];
  const unknownOrders: string[] = [];
  for (const orderId of orderIds) {
    const owner = await deps.store.ownerByBrokerOrderId(orderId);
    if (owner !== null) ownership.set(orderId, { owner, aside: null });
    else unknownOrders.push(orderId);
  }
  let unreadableOrders = 0;
  if (unknownOrders.length > 0) {
    const times = [
      ...fills.filter((f) => unknownOrders.includes(f.fill.orderId)).map((f) => f.fill.timeMs),
      ...unreadable.filter((u) => u.orderId !== null && unknownOrders.includes(u.orderId)).map((u) => (u.time === null ? Number.NaN : Date.parse(u.time))),
    ].filter(Number.isFinite);
    const earliest = times.length > 0 ? Math.min(...times) : since.getTime();
    const orders = await listAllOrders(deps.broker, { after: new Date(Math.max(0, earliest - ORDER_LOOKUP_LOOKBACK_MS)), status: 'all' }, callOpts);
    if (!orders.ok) throw new SyncFillsError(orders.message);
    unreadableOrders = orders.unreadable.length;
    const byId = new Map<string, { clientOrderId: string | null; aside: string | null }>();
    for (const o of orders.items) {
      const aside =
        o.orderClass === 'mleg'
          ? 'multi-leg order (order_class mleg)'
          : o.assetClass !== undefined && o.assetClass !== 'us_equity'
            ? `asset class ${o.assetClass}`
            : null;
      byId.set(o.id, { clientOrderId: o.clientOrderId, aside });
    }
    for (const u of orders.unreadable) if (u.id !== null && !byId.has(u.id)) byId.set(u.id, { clientOrderId: u.clientOrderId, aside: null });
    for (const orderId of unknownOrders) {
      const listedOrder = byId.get(orderId);
      if (listedOrder === undefined) {
        ownership.set(orderId, { owner: null, aside: 'order not on any submission record nor in the broker\'s order list' });
        continue;
      }
      const cid = listedOrder.clientOrderId;
      // The record decides; the form only spares a lookup for ids haltgate never produces.
      const ours = cid !== null && couldBeHaltgateClientOrderId(cid);
      const owner = ours ? await deps.store.ownerByClientOrderId(cid) : null;
      if (owner !== null) ownership.set(orderId, { owner, aside: null });
      else {
        const cidWhy =
          cid === null
            ? 'no readable client_order_id'
            : ours
              ? `client_order_id ${JSON.stringify(cid)} is not on any submission record`
              : `client_order_id ${JSON.stringify(cid.slice(0, 64))} is not of the form haltgate gives its orders`;
        const why = [listedOrder.aside, cidWhy]
          .filter((x): x is string => x !== null)
          .join('; ');
        ownership.set(orderId, { owner: null, aside: `not haltgate's order: ${why}` });
      }
    }
  }

  // 4. Sort out: apply per strategy; set aside foreign fills; quarantine unreadable ones of ours.
  const byStrategy = new Map<string, OwnedFill[]>();
  let ignored = 0;
  const logAside = (fields: Record<string, unknown>) => {
    ignored += 1;
    if (ignored <= MAX_SET_ASIDE_LOGGED) deps.log.info(LogEvent.fillUnmatched, fields);
  };
  for (const { fill, transactionTime } of fills) {
    const own = ownership.get(fill.orderId);
    if (own === undefined || own.owner === null) {
      logAside({ fillId: fill.id, orderId: fill.orderId, symbol: fill.symbol, reason: own?.aside ?? 'no owner' });
      continue;
    }
    const list = byStrategy.get(own.owner.strategyId) ?? [];
    list.push({ strategyId: own.owner.strategyId, intentId: own.owner.intentId, fill, transactionTime });
    byStrategy.set(own.owner.strategyId, list);
  }
  const quarantine: QuarantineEntry[] = [];
  for (const u of unreadable) {
    const own = u.orderId === null ? undefined : ownership.get(u.orderId);
    if (own !== undefined && own.owner === null) {
      logAside({ fillId: u.id, orderId: u.orderId, reason: `${own.aside}; ${u.reason}` });
      continue;
    }
    // Ours, or an order that cannot be told (no order id): kept with the reason, fail closed.
    quarantine.push({
      fillId: u.id,
      orderId: u.orderId,
      strategyId: own?.owner.strategyId ?? null,
      intentId: own?.owner.intentId ?? null,
      reason: u.orderId === null ? `${u.reason}; its order cannot be told` : u.reason,
      transactionTime: u.time,
      raw: u.raw,
    });
  }
  if (ignored > MAX_SET_ASIDE_LOGGED) deps.log.info(LogEvent.fillUnmatched, { more: ignored - MAX_SET_ASIDE_LOGGED });
  const newlyQuarantined = quarantine.length > 0 ? await deps.store.quarantineFills(quarantine) : 0;
  for (const q of quarantine) {
    deps.log.warn(LogEvent.fillQuarantined, { fillId: q.fillId, orderId: q.orderId, strategyId: q.strategyId, intentId: q.intentId, reason: q.reason });
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

  // 5. Everything up to the newest fill is applied or kept aside: move the cursor (never
  //    backwards) past quarantined fills too, and record the success.
  //    Never past this run's own clock: a fill stamped in the future must not make the next
  //    runs skip every fill up to that time.
  let newest = cursorMs;
  for (const f of fills) newest = Math.max(newest, f.fill.timeMs);
  for (const u of unreadable) {
    const t = u.time === null ? Number.NaN : Date.parse(u.time);
    if (Number.isFinite(t)) newest = Math.max(newest, t);
  }
  newest = Math.max(cursorMs, Math.min(newest, nowMs));
  const counts = {
    fetched: raw.length + listed.unreadable.length,
    applied,
    skipped,
    ignored,
    quarantined: quarantine.length,
    newlyQuarantined,
    unreadableOrders,
    realizedEvents,
    pages: listed.pages,
  };
  const summary = await deps.store.recordSyncSuccess({ cursorMs: newest, run: counts });
  const result: SyncFillsResult = {
    fetched: counts.fetched,
    applied,
    skipped,
    ignored,
    quarantined: counts.quarantined,
    newlyQuarantined,
    unreadableOrders,
    realizedEvents,
    cursorMs: newest, openQuarantine: { byStrategy: summary.byStrategy, unattributed: summary.unattributed } };
  deps.log.info(LogEvent.fillsSyncRun, { ...result });
  return result;
}
