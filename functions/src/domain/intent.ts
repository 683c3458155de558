import { z } from 'zod';

/**
 * The order intent a strategy publishes on `order-intents` (DESIGN.md "Intent message").
 * This schema is the boundary: nothing downstream sees an unvalidated intent. Objects are
 * strict so that a misspelt optional field (`expires_at`, `limit_price`) is refused instead of
 * silently dropped — a dropped `expiresAt` would let a stale order through on redelivery.
 */

/**
 * Both ids name Firestore documents (`submissions/{intentId}`, `strategies/{strategyId}` and
 * what lies under it), so neither may be an id Firestore reserves — `__` + something + `__`
 * (`__x__`, `_____`): the claim's own reads and writes would be refused with INVALID_ARGUMENT
 * on every redelivery. The look-ahead keeps this in the one pattern, so the generated JSON
 * Schema says it too.
 */
export const INTENT_ID_PATTERN = /^(?!__.+__$)[A-Za-z0-9_-]{1,64}$/;
const STRATEGY_ID_PATTERN = /^(?!__.+__$)[A-Za-z0-9_-]{1,64}$/;
// Equities (AAPL, BRK.B) and crypto pairs (BTC/USD) as Alpaca spells them.
const SYMBOL_PATTERN = /^[A-Z0-9][A-Z0-9./-]{0,20}$/;

const isoTimestamp = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 timestamp with a timezone (e.g. 2026-01-02T14:30:00Z)' });
const positiveFinite = z.number().finite().positive();

export const OrderSide = { buy: 'buy', sell: 'sell' } as const;
export type OrderSide = (typeof OrderSide)[keyof typeof OrderSide];
export const OrderType = { market: 'market', limit: 'limit' } as const;
export type OrderType = (typeof OrderType)[keyof typeof OrderType];
export const TimeInForce = { day: 'day', gtc: 'gtc', ioc: 'ioc', fok: 'fok' } as const;
export type TimeInForce = (typeof TimeInForce)[keyof typeof TimeInForce];

export const barSchema = z.strictObject({
  t: isoTimestamp,
  o: z.number().finite(),
  h: z.number().finite(),
  l: z.number().finite(),
  c: z.number().finite(),
  v: z.number().finite().nonnegative(),
});
export type Bar = z.infer<typeof barSchema>;

export const marketDataSchema = z.strictObject({
  asOf: isoTimestamp,
  bars: z.array(barSchema).max(1000),
});
export type MarketData = z.infer<typeof marketDataSchema>;

export const intentSchema = z
  .strictObject({
    intentId: z.string().regex(INTENT_ID_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -, and not __…__ (reserved by Firestore)'),
    strategyId: z.string().regex(STRATEGY_ID_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -, and not __…__ (reserved by Firestore)'),
    symbol: z.string().regex(SYMBOL_PATTERN, 'must be an upper-case ticker such as AAPL, BRK.B or BTC/USD'),
    side: z.enum(OrderSide),
    qty: positiveFinite,
    type: z.enum(OrderType),
    limitPrice: positiveFinite.optional(),
    timeInForce: z.enum(TimeInForce),
    createdAt: isoTimestamp,
    expiresAt: isoTimestamp.optional(),
    marketData: marketDataSchema.optional(),
  })
  .superRefine((intent, ctx) => {
    if (intent.type === 'limit' && intent.limitPrice === undefined) {
      ctx.addIssue({ code: 'custom', path: ['limitPrice'], message: 'is required for a limit order' });
    }
    if (intent.type === 'market' && intent.limitPrice !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['limitPrice'], message: 'is only allowed on a limit order' });
    }
    if (intent.expiresAt !== undefined && Date.parse(intent.expiresAt) <= Date.parse(intent.createdAt)) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be after createdAt' });
    }
  });
export type OrderIntent = z.infer<typeof intentSchema>;

/** One problem found in a message, as kept in `invalidIntents`. */
export interface IntentIssue {
  path: string;
  message: string;
}

export const IntentParseFailure = {
  /** The Pub/Sub message had no data, or its data was not valid base64/UTF-8. */
  empty: 'empty',
  not_json: 'not_json',
  schema: 'schema',
  too_large: 'too_large',
} as const;
export type IntentParseFailure = (typeof IntentParseFailure)[keyof typeof IntentParseFailure];

export type IntentParseResult =
  | { ok: true; intent: OrderIntent }
  | { ok: false; failure: IntentParseFailure; issues: IntentIssue[] };

/** Pub/Sub allows 10 MB; an intent is a few hundred bytes plus bars. Refuse anything absurd. */
export const MAX_INTENT_BYTES = 256 * 1024;

/** Validates an already-decoded JSON value. */
export function validateIntent(value: unknown): IntentParseResult {
  const parsed = intentSchema.safeParse(value);
  if (parsed.success) return { ok: true, intent: parsed.data };
  return {
    ok: false,
    failure: IntentParseFailure.schema,
    issues: parsed.error.issues.map((issue) => ({
      path: issue.path.length === 0 ? '(message)' : issue.path.map(String).join('.'),
      message: issue.message,
    })),
  };
}

/** Parses the raw text of a message body. */
export function parseIntentText(text: string): IntentParseResult {
  if (text.trim() === '') {
    return { ok: false, failure: IntentParseFailure.empty, issues: [{ path: '(message)', message: 'message data is empty' }] };
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_INTENT_BYTES) {
    return {
      ok: false,
      failure: IntentParseFailure.too_large,
      issues: [{ path: '(message)', message: `message data is ${bytes} bytes; at most ${MAX_INTENT_BYTES} are accepted` }],
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      failure: IntentParseFailure.not_json,
      issues: [{ path: '(message)', message: `message data is not JSON: ${(err as Error).message}` }],
    };
  }
  return validateIntent(value);
}

/**
 * A canonical rendering of an intent: keys sorted at every level, so two deliveries of the
 * same intent compare equal however the publisher ordered its keys. Used to tell a duplicate
 * delivery from an `intent_conflict` (same id, different payload).
 */
export function canonicalIntent(intent: OrderIntent): string {
  return stableStringify(intent);
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sameIntent(a: OrderIntent, b: OrderIntent): boolean {
  return canonicalIntent(a) === canonicalIntent(b);
}
