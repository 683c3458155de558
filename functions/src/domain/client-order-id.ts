import { createHash } from 'node:crypto';

/** Alpaca refuses a `client_order_id` longer than 48 characters. */
export const MAX_CLIENT_ORDER_ID_LENGTH = 48;

/**
 * The broker-side idempotency key of an intent (G1): the broker itself refuses a second
 * order with the same `client_order_id`, forever.
 *
 * The intentId is used as it is whenever it fits, so operators can find orders by their own
 * id in the broker's dashboard. A longer id becomes `hg.` + base64url(SHA-256): 46 characters,
 * deterministic, and never equal to a short intentId because `.` is not allowed in one.
 */
export function clientOrderIdFor(intentId: string): string {
  if (intentId.length <= MAX_CLIENT_ORDER_ID_LENGTH) return intentId;
  return `hg.${createHash('sha256').update(intentId, 'utf8').digest('base64url')}`;
}

/** What `clientOrderIdFor` can produce: an intent id that fits, or `hg.` + 43 base64url characters. */
const HALTGATE_CLIENT_ORDER_ID = /^(?:[A-Za-z0-9_-]{1,48}|hg\.[A-Za-z0-9_-]{43})$/;

/**
 * Whether a broker order's `client_order_id` could be haltgate's. A cheap first filter only:
 * manual trades get UUIDs, which fit the intent-id form too, so ownership is decided by the
 * submission record holding that client order id — this only spares the lookup for ids haltgate
 * can never have produced (empty, too long, other characters).
 */
export function couldBeHaltgateClientOrderId(clientOrderId: string): boolean {
  return HALTGATE_CLIENT_ORDER_ID.test(clientOrderId);
}
