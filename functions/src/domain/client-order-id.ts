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
