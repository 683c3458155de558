import type { Broker, BrokerOrder, ListOutcome, LookupOutcome } from '../broker/broker.js';
import type { Clock } from '../domain/clock.js';
import {
  MAX_REPLACE_CHAIN,
  mergeOrderView,
  orderViewOf,
  rateLimitStep,
  type RateLimitInfo,
} from '../domain/order-lifecycle.js';
import { describeCause } from '../errors.js';
import { LogEvent, type EventLogger } from '../logs.js';
import type { OpenOrderRecord, OrderSyncStore } from '../store/order-sync-store.js';

/**
 * syncOrders, as an ordinary function (issue 10, "order lifecycle"): follows every submitted
 * order at the broker until it is final, keeping `submissions/{intentId}.order` current. It only
 * looks orders up — never submits, cancels or replaces one.
 *
 * Per run:
 * 1. Reads every record whose `order.final` is false (Firestore pages of `pageSize`, to exhaustion).
 * 2. Open orders claimed within `sweepWindowMs` are looked up with one sweep, `GET /v2/orders?
 *    status=all&after=<earliest claim>&direction=asc&limit=500`, paged by time window to
 *    exhaustion (each next window starts 1 ms before the newest submission of a full page; repeats
 *    are dropped by id). Older ones (gtc orders), orders the sweep did not show, and the orders
 *    that replaced others (`replaced_by`) are looked up one by one (`GET /v2/orders/{id}`). With a
 *    single open order in the window the sweep is skipped: one lookup is cheaper.
 * 3. Each record's chain (the order placed, then each replacement) becomes an order view
 *    (domain/order-lifecycle.ts); a view that changes the record is written with a precondition
 *    on the version read, so nothing another writer did meanwhile is overwritten.
 *
 * Pacing: lookups share the key's 200 requests/min with submissions. After every answer the
 * `X-RateLimit-*` headers are read; at `minRateRemaining` or below, or on a 429, the run waits
 * for the window to reset when that fits in its time, otherwise stops and leaves the rest to the
 * next run. No request starts with less than one broker timeout left of `timeBudgetMs`.
 */

export interface SyncOrdersDeps {
  store: OrderSyncStore;
  /** The broker of an execution mode (paper, live); null when the mode has no broker to ask. */
  brokerFor: (mode: string) => Broker | null;
  clock: Clock;
  log: EventLogger;
  /** Waits (a real timer in production; tests advance fake timers). */
  sleep?: (ms: number) => Promise<void>;
  settings: SyncOrdersSettings;
}

export interface SyncOrdersSettings {
  brokerTimeoutMs: number;
  /** ORDER_SYNC_MIN_RATE_REMAINING. */
  minRateRemaining: number;
  /** ORDER_SYNC_SWEEP_WINDOW_MS. */
  sweepWindowMs: number;
  /** Wall time a run may spend. */
  timeBudgetMs: number;
  /** Longest wait for a rate-limit window to reset within one run. */
  maxRateWaitMs?: number;
  /** Records per Firestore page. */
  pageSize?: number;
  /** Orders per broker page (Alpaca: at most 500). */
  brokerPageLimit?: number;
}

export interface SyncOrdersReport {
  /** Records with an open order. */
  open: number;
  /** Records whose order the run saw at the broker. */
  followed: number;
  /** Records whose order view changed (written). */
  changed: number;
  /** Of those, now final. */
  final: number;
  /** Broker requests sent. */
  requests: number;
  /** Records not looked at in this run (time, rate limit, broker failures). */
  left: number;
  /** The run paused or stopped for the broker's rate limit. */
  rateLimited: boolean;
  problems: string[];
  durationMs: number;
}

/** timeoutSeconds of the scheduled function. */
export const SYNC_ORDERS_TIMEOUT_SECONDS = 120;
export const SYNC_ORDERS_DEFAULTS = {
  timeBudgetMs: (SYNC_ORDERS_TIMEOUT_SECONDS - 20) * 1000,
  maxRateWaitMs: 30_000,
  pageSize: 300,
  brokerPageLimit: 500,
} as const;
/** The sweep starts this long before the earliest claim (clocks differ). */
export const SWEEP_SKEW_MS = 60_000;
/** After this many failed broker calls in a row the broker is taken to be down: stop the run. */
export const MAX_CONSECUTIVE_BROKER_FAILURES = 3;
const MAX_REPORTED_PROBLEMS = 10;

export async function handleSyncOrders(deps: SyncOrdersDeps): Promise<SyncOrdersReport> {
  const s = deps.settings;
  const timeBudgetMs = s.timeBudgetMs;
  const maxRateWaitMs = s.maxRateWaitMs ?? SYNC_ORDERS_DEFAULTS.maxRateWaitMs;
  const pageSize = s.pageSize ?? SYNC_ORDERS_DEFAULTS.pageSize;
  const brokerPageLimit = s.brokerPageLimit ?? SYNC_ORDERS_DEFAULTS.brokerPageLimit;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const startMs = deps.clock.now();
  const report: SyncOrdersReport = { open: 0, followed: 0, changed: 0, final: 0, requests: 0, left: 0, rateLimited: false, problems: [], durationMs: 0 };
  const problem = (text: string) => {
    if (report.problems.length < MAX_REPORTED_PROBLEMS) report.problems.push(text);
  };

  // 1. Every open record (Firestore pages).
  const open: OpenOrderRecord[] = [];
  for (let startAfterId: string | undefined; ; ) {
    const page = await deps.store.findOpenOrders(startAfterId === undefined ? { limit: pageSize } : { limit: pageSize, startAfterId });
    for (const c of page) {
      if (c.ok) open.push(c.record);
      else {
        deps.log.error(LogEvent.recordUnreadable, { intentId: c.intentId, problem: c.problem });
        problem(`submissions/${c.intentId} is unreadable: ${c.problem}`);
      }
    }
    const last = page[page.length - 1];
    if (page.length < pageSize || last === undefined) break;
    startAfterId = last.ok ? last.record.intentId : last.intentId;
  }
  report.open = open.length;

  // Pacing shared by every request of the run.
  let last: { info: RateLimitInfo | null; rateLimited: boolean; retryAfterMs: number | null } = { info: null, rateLimited: false, retryAfterMs: null };
  let stopped: string | null = null;
  let failures = 0;
  const mayCall = async (): Promise<boolean> => {
    for (;;) {
      if (stopped !== null) return false;
      const timeLeftMs = timeBudgetMs - (deps.clock.now() - startMs) - s.brokerTimeoutMs;
      if (timeLeftMs <= 0) {
        stopped = 'time budget used up';
        return false;
      }
      const step = rateLimitStep(last, deps.clock.now(), { minRemaining: s.minRateRemaining, maxWaitMs: maxRateWaitMs, timeLeftMs });
      if (step.kind === 'go') return true;
      report.rateLimited = true;
      if (step.kind === 'stop') {
        stopped = step.why;
        return false;
      }
      await sleep(step.ms);
      // The window has reset: the next answer says where it stands.
      last = { info: null, rateLimited: false, retryAfterMs: null };
    }
  };
  /** Sends one request when pacing allows; retries once the window reset after a 429. Null: not sent or failed. */
  const call = async <T extends ListOutcome<BrokerOrder> | LookupOutcome>(what: string, send: () => Promise<T>): Promise<T | null> => {
    for (;;) {
      if (!(await mayCall())) return null;
      let outcome: T;
      try {
        report.requests += 1;
        outcome = await send();
      } catch (err) {
        outcome = { kind: 'unknown', message: describeCause(err) } as T;
      }
      const rateLimited = outcome.kind === 'unknown' && outcome.httpStatus === 429;
      last = { info: outcome.rateLimit ?? null, rateLimited, retryAfterMs: outcome.retryAfterMs ?? null };
      if (rateLimited) continue; // mayCall waits for the reset, or stops the run
      if (outcome.kind === 'unknown') {
        failures += 1;
        problem(`${what}: ${outcome.message}`);
        if (failures >= MAX_CONSECUTIVE_BROKER_FAILURES) stopped = `${failures} broker requests failed in a row`;
        return null;
      }
      failures = 0;
      return outcome;
    }
  };

  // 2 and 3, per execution mode (each its own broker and key).
  const byMode = new Map<string, OpenOrderRecord[]>();
  for (const r of open) byMode.set(r.executionMode, [...(byMode.get(r.executionMode) ?? []), r]);
  for (const [mode, records] of byMode) {
    const broker = deps.brokerFor(mode);
    if (broker === null) {
      report.left += records.length;
      problem(`${records.length} open orders of execution mode ${JSON.stringify(mode)}: no broker to ask in this configuration`);
      continue;
    }
    const callOpts = { timeoutMs: s.brokerTimeoutMs };
    const known = new Map<string, BrokerOrder>();

    const nowMs = deps.clock.now();
    const inWindow = records.filter((r) => r.claimedAtMs !== null && r.claimedAtMs >= nowMs - s.sweepWindowMs);
    if (inWindow.length >= 2) {
      let afterMs = Math.min(...inWindow.map((r) => r.claimedAtMs as number)) - SWEEP_SKEW_MS;
      for (;;) {
        const listed = await call('GET /v2/orders', () => broker.listOrders({ since: new Date(afterMs), status: 'all', limit: brokerPageLimit, direction: 'asc' }, callOpts));
        if (listed === null || listed.kind !== 'ok') break; // what the sweep missed is looked up one by one
        let newestMs = Number.NEGATIVE_INFINITY;
        let fresh = 0;
        for (const order of listed.items) {
          newestMs = Math.max(newestMs, Date.parse(order.submittedAt ?? order.createdAt));
          if (!known.has(order.id)) fresh += 1;
          known.set(order.id, order);
        }
        // Items the adapter set aside (unreadable) still filled the page.
        const setAside = 'unreadable' in listed && Array.isArray(listed.unreadable) ? listed.unreadable.length : 0;
        if (listed.items.length + setAside < brokerPageLimit) break;
        const nextAfterMs = newestMs - 1;
        if (!Number.isFinite(nextAfterMs) || nextAfterMs <= afterMs || fresh === 0) {
          problem(`GET /v2/orders: a full page after ${new Date(afterMs).toISOString()} brought no progress; the rest is looked up one by one`);
          break;
        }
        afterMs = nextAfterMs;
      }
    }

    for (const [index, record] of records.entries()) {
      if (stopped !== null) {
        report.left += records.length - index;
        break;
      }
      if (record.brokerOrderId === null) {
        problem(`${record.intentId}: open order without a brokerOrderId`);
        report.left += 1;
        continue;
      }
      // The chain: the order placed, then whatever replaced it.
      const chain: BrokerOrder[] = [];
      let id: string | null = record.brokerOrderId;
      let complete = true;
      while (id !== null) {
        if (chain.length >= MAX_REPLACE_CHAIN) {
          problem(`${record.intentId}: more than ${MAX_REPLACE_CHAIN} replacements; left open`);
          complete = false;
          break;
        }
        let order: BrokerOrder | undefined = known.get(id);
        if (order === undefined) {
          if (broker.getOrderById === undefined) {
            complete = false;
            break;
          }
          const orderId: string = id;
          const getOrderById = broker.getOrderById.bind(broker);
          const found: LookupOutcome | null = await call(`GET /v2/orders/${orderId}`, () => getOrderById(orderId, callOpts));
          if (found === null) {
            complete = false;
            break;
          }
          if (found.kind === 'not_found') {
            problem(`${record.intentId}: order ${orderId} is not at the broker`);
            complete = false;
            break;
          }
          if (found.kind !== 'found') {
            complete = false;
            break;
          }
          order = found.order;
          known.set(order.id, order);
        }
        chain.push(order);
        id = order.status === 'replaced' && order.replacedBy ? order.replacedBy : null;
      }
      if (!complete && chain.length === 0) {
        report.left += 1;
        continue;
      }
      report.followed += 1;
      const built = orderViewOf(chain, deps.clock.now());
      if (!built.ok) {
        problem(`${record.intentId}: ${built.problem}`);
        continue;
      }
      // An incomplete chain ends in a `replaced` order at most: shown, never final.
      const merged = mergeOrderView(record.order, built.view);
      if (!merged.changed) continue;
      try {
        const written = await deps.store.writeOrder(record, merged.view);
        if (!written.applied) {
          deps.log.warn(LogEvent.outcomeNotApplied, { intentId: record.intentId, wanted: 'order', why: written.why, by: 'syncOrders' });
          continue;
        }
      } catch (err) {
        problem(`${record.intentId}: ${describeCause(err)}`);
        continue;
      }
      report.changed += 1;
      if (merged.view.final) report.final += 1;
      deps.log.info(LogEvent.orderChanged, {
        intentId: record.intentId,
        strategyId: record.strategyId,
        from: record.order.status,
        to: merged.view.status,
        filledQty: merged.view.filledQty,
        final: merged.view.final,
      });
    }
  }

  if (stopped !== null) problem(`stopped: ${stopped}; ${report.left} records left for the next run`);
  report.durationMs = deps.clock.now() - startMs;
  if (report.problems.length > 0) deps.log.warn(LogEvent.orderSyncRun, { ...report });
  else deps.log.info(LogEvent.orderSyncRun, { ...report });
  return report;
}
