import type { Broker, BrokerFill, BrokerOrder, CallOptions, UnreadableItem } from './broker.js';

/**
 * Listings read to exhaustion, with a guard against a broker that never ends. Neither ever
 * truncates silently: either every page was read, or the answer is a failure naming why (the
 * caller then fails its run, and what depends on it ages — fail closed, G6).
 */

export type ListAllOutcome<T> =
  | { ok: true; items: T[]; unreadable: UnreadableItem[]; pages: number }
  | { ok: false; message: string };

/** Alpaca answers at most 500 orders per `GET /v2/orders`. */
export const ORDERS_PAGE_LIMIT = 500;
/** 200 windows of 500: 100 000 orders in one listing before it is refused as endless. */
export const MAX_ORDER_PAGES = 200;
/** 200 pages of (at most) 100 fills: 20 000 fills in one run before it is refused as endless. */
export const MAX_FILL_PAGES = 200;

/**
 * `GET /v2/orders` paged by time window. Alpaca has no page token for orders: each page is
 * the next `limit` orders submitted after `after` (exclusive), oldest first. The next window
 * starts 1 ms before the newest submission time of a full page, so orders sharing that
 * millisecond across the page boundary are read again (and dropped by id) rather than lost. A
 * full page that brings nothing new — more than `limit` orders in one millisecond, or a broker
 * that repeats itself — is an error, as is running past `maxPages`.
 */
export async function listAllOrders(
  broker: Broker,
  query: { after: Date; until?: Date; status?: 'open' | 'closed' | 'all' },
  callOpts: CallOptions,
  guard: { maxPages?: number; limit?: number } = {},
): Promise<ListAllOutcome<BrokerOrder>> {
  const maxPages = guard.maxPages ?? MAX_ORDER_PAGES;
  const limit = guard.limit ?? ORDERS_PAGE_LIMIT;
  const items: BrokerOrder[] = [];
  const unreadable: UnreadableItem[] = [];
  const seen = new Set<string>();
  let afterMs = query.after.getTime();
  for (let page = 0; ; page++) {
    if (page >= maxPages) {
      return { ok: false, message: `GET /v2/orders: more than ${maxPages} pages of ${limit} orders after ${query.after.toISOString()}; refusing to read on (a broker that never ends?)` };
    }
    const listed = await broker.listOrders(
      { since: new Date(afterMs), ...(query.until === undefined ? {} : { until: query.until }), status: query.status ?? 'all', limit, direction: 'asc' },
      callOpts,
    );
    if (listed.kind !== 'ok') return { ok: false, message: `listing orders failed: ${listed.message}` };
    const odd = listed.unreadable ?? [];
    let fresh = 0;
    let newestMs = Number.NEGATIVE_INFINITY;
    for (const order of listed.items) {
      newestMs = Math.max(newestMs, Date.parse(order.submittedAt ?? order.createdAt));
      if (seen.has(order.id)) continue;
      seen.add(order.id);
      items.push(order);
      fresh += 1;
    }
    for (const item of odd) {
      newestMs = Math.max(newestMs, item.time === null ? Number.NaN : Date.parse(item.time));
      const key = item.id ?? `raw:${JSON.stringify(item.raw)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      unreadable.push(item);
      fresh += 1;
    }
    if (listed.items.length + odd.length < limit) return { ok: true, items, unreadable, pages: page + 1 };
    if (!Number.isFinite(newestMs)) {
      return { ok: false, message: `GET /v2/orders: a full page holds an order without a readable submission time; the next window cannot be told` };
    }
    const nextAfterMs = newestMs - 1;
    if (fresh === 0 || nextAfterMs <= afterMs) {
      return {
        ok: false,
        message: `GET /v2/orders: a full page of ${limit} after ${new Date(afterMs).toISOString()} brought no progress (more than ${limit} orders in one millisecond, or a broker repeating itself)`,
      };
    }
    afterMs = nextAfterMs;
  }
}

/**
 * `GET /v2/account/activities/FILL` by `page_token` until a page comes without one. A token
 * seen before, or a page that brings no fill not seen before, means the broker is going round
 * in circles: an error, like running past `maxPages`.
 */
export async function listAllFills(
  broker: Broker,
  query: { since: Date },
  callOpts: CallOptions,
  guard: { maxPages?: number } = {},
): Promise<ListAllOutcome<BrokerFill>> {
  const maxPages = guard.maxPages ?? MAX_FILL_PAGES;
  const items: BrokerFill[] = [];
  const unreadable: UnreadableItem[] = [];
  const seenIds = new Set<string>();
  const seenTokens = new Set<string>();
  let pageToken: string | undefined;
  for (let page = 0; ; page++) {
    if (page >= maxPages) {
      return { ok: false, message: `GET /v2/account/activities/FILL: more than ${maxPages} pages of fills after ${query.since.toISOString()}; refusing to read on (a broker that never ends?)` };
    }
    const listed = await broker.listFills(pageToken === undefined ? { since: query.since } : { since: query.since, pageToken }, callOpts);
    if (listed.kind !== 'ok') return { ok: false, message: `listing fills failed: ${listed.message}` };
    let fresh = 0;
    for (const fill of listed.items) {
      if (seenIds.has(fill.id)) continue;
      seenIds.add(fill.id);
      items.push(fill);
      fresh += 1;
    }
    for (const item of listed.unreadable ?? []) {
      const key = item.id ?? `raw:${JSON.stringify(item.raw)}`;
      if (seenIds.has(key)) continue;
      seenIds.add(key);
      unreadable.push(item);
      fresh += 1;
    }
    const next = listed.nextPageToken;
    if (next === undefined || listed.items.length + (listed.unreadable?.length ?? 0) === 0) return { ok: true, items, unreadable, pages: page + 1 };
    if (fresh === 0 || seenTokens.has(next)) {
      return { ok: false, message: `GET /v2/account/activities/FILL: page token ${JSON.stringify(next)} brought no progress (the broker is repeating itself)` };
    }
    seenTokens.add(next);
    pageToken = next;
  }
}
