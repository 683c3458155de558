import { z } from 'zod';
export { mulberry32 } from '../seeded-random.js';

/**
 * Fault injection for the Alpaca simulator: what can go wrong, how often, and the seeded
 * random source that makes a chaos run replay exactly.
 */

/** Outcomes that can be forced for the next submits (`faults.next([...])`). */
export const SubmitFault = {
  /** Behave normally (validation, duplicates and buying power still apply). */
  ok: 'ok',
  /** Answer 500 without placing anything. */
  '5xx': '5xx',
  '500': '500',
  '503': '503',
  /** Answer 429 without placing anything. */
  rate_limit: 'rate_limit',
  /** Answer 403 "insufficient buying power" without placing anything. */
  insufficient_buying_power: 'insufficient_buying_power',
  /** Place the order (if valid), then destroy the connection without answering. */
  lost_response: 'lost_response',
  /** Never answer; nothing is placed. */
  hang_before_place: 'hang_before_place',
  /** Place the order (if valid), then never answer. */
  hang_after_place: 'hang_after_place',
} as const;
export type SubmitFault = (typeof SubmitFault)[keyof typeof SubmitFault];
export const submitFaultSchema = z.enum(SubmitFault);

/**
 * What happens to an order once it is `new` (after `acceptDelayMs`). Chosen per order when it
 * is placed, so changing the mode later does not change orders already in flight.
 */
export const FillMode = {
  /** Filled in full `fillDelayMs` after it became `new`. */
  instant: 'instant',
  /** Stays `new` until `sim.fill()` (or a cancel, reject, expire, replace). */
  none: 'none',
  /** A `partial_fill` of about half `fillDelayMs` after `new`, the `fill` `fillDelayMs` later. */
  partial: 'partial',
} as const;
export type FillMode = (typeof FillMode)[keyof typeof FillMode];

const rate = z.number().min(0).max(1);

const latencySchema = z.union([
  z.number().finite().min(0),
  z.strictObject({ min: z.number().finite().min(0), max: z.number().finite().min(0) }),
]);

export const faultConfigSchema = z.strictObject({
  /** Seed of the PRNG behind every rate and latency range. Setting it restarts the sequence. */
  seed: z.number().int(),
  /** Added before every API request is handled: fixed, or uniform in [min, max]. */
  latencyMs: latencySchema,
  /** 500/503 without placing. */
  error5xxRate: rate,
  /** 429 without placing. */
  rateLimitRate: rate,
  /** Placed, then the connection is destroyed. */
  lostResponseRate: rate,
  /** Never answered, not placed. */
  hangBeforePlaceRate: rate,
  /** Placed, never answered. */
  hangAfterPlaceRate: rate,
  /**
   * Which requests the rates apply to: only `POST /v2/orders` (default), or every API
   * request (then for reads `lost_response` destroys the connection and a hang is a hang).
   * The `next` queue always applies to submits only.
   */
  applyRatesTo: z.enum(['submit', 'all']),
  /** `Retry-After` (seconds) sent with 429; null sends none. */
  retryAfterSeconds: z.number().int().min(0).nullable(),
  /** Buy orders for these symbols are refused with 403 insufficient buying power. */
  insufficientBuyingPowerSymbols: z.array(z.string()),
  /** Buy orders whose qty × price exceeds this are refused with 403; null: unlimited. */
  maxOrderNotional: z.number().positive().nullable(),
  fillMode: z.enum(FillMode),
  /** Fill prices of market orders per symbol (limit orders fill at their limit). */
  prices: z.record(z.string(), z.number().positive()),
  defaultPrice: z.number().positive(),
  /**
   * The status `POST /v2/orders` answers with, as Alpaca does: `accepted` or `pending_new`;
   * `seeded` picks one per order from a PRNG of its own (seeded by `seed`), so the fault
   * sequence of a chaos run is the same whichever status an order got.
   */
  submitStatus: z.enum(['accepted', 'pending_new', 'seeded']),
  /** From `accepted`/`pending_new` to `new`. 0: right after the answer is computed. */
  acceptDelayMs: z.number().int().min(0),
  /** From `new` to the first fill, and between the fills of `partial`. */
  fillDelayMs: z.number().int().min(0),
  /** Alpaca's documented limit per API key per minute; sent in `X-RateLimit-*` on every answer. */
  rateLimitPerMinute: z.number().int().positive(),
  /** When true a request beyond `rateLimitPerMinute` in the current minute is answered 429. */
  enforceRateLimit: z.boolean(),
});
export type FaultConfig = z.infer<typeof faultConfigSchema>;
export type FaultPatch = Partial<FaultConfig>;

export const faultPatchSchema = faultConfigSchema.partial();

/** The body of `POST /__sim/faults`: a patch, optionally a forced-outcome queue, optionally a clear first. */
export const faultRequestSchema = faultPatchSchema.extend({
  next: z.array(submitFaultSchema).optional(),
  clear: z.boolean().optional(),
});
export type FaultRequest = z.infer<typeof faultRequestSchema>;

export function defaultFaultConfig(overrides: { seed?: number; fillMode?: FillMode } = {}): FaultConfig {
  return {
    seed: overrides.seed ?? 1,
    latencyMs: 0,
    error5xxRate: 0,
    rateLimitRate: 0,
    lostResponseRate: 0,
    hangBeforePlaceRate: 0,
    hangAfterPlaceRate: 0,
    applyRatesTo: 'submit',
    retryAfterSeconds: 1,
    insufficientBuyingPowerSymbols: [],
    maxOrderNotional: null,
    fillMode: overrides.fillMode ?? 'instant',
    prices: {},
    defaultPrice: 100,
    submitStatus: 'seeded',
    // Small enough that tests waiting for a fill barely notice; long enough that an answer
    // and a fill are distinct moments, as at Alpaca.
    acceptDelayMs: 5,
    fillDelayMs: 10,
    rateLimitPerMinute: 200,
    enforceRateLimit: false,
  };
}

/** Checks the rules a single field cannot express. Returns the problems found. */
export function faultConfigProblems(config: FaultConfig): string[] {
  const problems: string[] = [];
  const total =
    config.error5xxRate + config.rateLimitRate + config.lostResponseRate + config.hangBeforePlaceRate + config.hangAfterPlaceRate;
  if (total > 1 + 1e-9) problems.push(`the fault rates add up to ${total}; at most 1 is possible`);
  if (typeof config.latencyMs === 'object' && config.latencyMs.min > config.latencyMs.max) {
    problems.push('latencyMs.min must not exceed latencyMs.max');
  }
  return problems;
}


/** One die roll against the configured rates: exactly one PRNG draw per request. */
export function rollFault(config: FaultConfig, r: number): SubmitFault {
  const bands: Array<[number, SubmitFault]> = [
    [config.hangBeforePlaceRate, 'hang_before_place'],
    [config.hangAfterPlaceRate, 'hang_after_place'],
    [config.lostResponseRate, 'lost_response'],
  ];
  let edge = 0;
  for (const [p, fault] of bands) {
    if (r < edge + p) return fault;
    edge += p;
  }
  if (r < edge + config.error5xxRate) {
    // Lower half of the 5xx band answers 500, upper half 503: still one draw.
    return r < edge + config.error5xxRate / 2 ? '500' : '503';
  }
  edge += config.error5xxRate;
  if (r < edge + config.rateLimitRate) return 'rate_limit';
  return 'ok';
}
