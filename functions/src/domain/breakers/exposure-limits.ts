import { formatDecimal, parseDecimal, PRICE_DECIMALS } from '../pnl/decimal.js';
import type { ExposureRead } from '../exposure/exposure.js';
import { checkExposureLimits, type ExposureLimits, type PricedExposure } from '../exposure/position-limits.js';
import { qtyUnits } from '../exposure/exposure.js';
import { NOT_TRIPPED, trip } from './breaker.js';
import type { Breaker, BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';
import { lastClose } from './market-data.js';

/**
 * The position and exposure limits as breakers (issue 11): `position` (|position| per symbol,
 * shares), `positionNotional` (that × price), `grossExposure` (Σ over the strategy's symbols).
 * Off (0) by default; a trip latches like every breaker. The arithmetic is exact and lives in
 * domain/exposure/position-limits.ts; here is what they need and what fails closed:
 * - the exposure of the intent's symbol, read in the claim transaction (`input.exposure`); not
 *   read or unreadable → trip, value null;
 * - a price: the limit price, else the last bar close (as the notional breaker); none → the
 *   notional limits trip;
 * - for `grossExposure` every other symbol of the strategy with its last known price.
 */

/** What the claim transaction read about the strategy's exposure. */
export interface ExposureContext {
  /** `strategies/{id}/exposure/{symbol}` of the intent's symbol. */
  current: ExposureRead;
  /** The strategy's other symbols, each with its last known price; null when not read (only read while grossExposure is on). */
  others: readonly PricedExposure[] | null;
}

/** The intent's reference price in price units, or why there is none. */
export function referencePrice(input: BreakerInput): { ok: true; price: bigint; source: string } | { ok: false; reason: string } {
  const { intent } = input;
  let price: number;
  let source: string;
  if (intent.limitPrice !== undefined) {
    price = intent.limitPrice;
    source = 'limit price';
  } else {
    const close = lastClose(intent.marketData);
    if (!close.ok) return { ok: false, reason: close.reason };
    price = close.close;
    source = `last bar close at ${close.t}`;
  }
  const text = price.toFixed(PRICE_DECIMALS);
  try {
    return { ok: true, price: parseDecimal(text, PRICE_DECIMALS), source };
  } catch {
    return { ok: false, reason: `price ${price} cannot be read as a decimal` };
  }
}

function exposureBreaker(name: BreakerName, pick: (l: BreakerLimits) => ExposureLimits): Breaker {
  return (input, limits): BreakerVerdict => {
    const only = pick(limits);
    const threshold = only.maxPositionQty + only.maxPositionNotional + only.maxGrossExposure;
    if (!(threshold > 0)) return NOT_TRIPPED;
    const ctx = input.exposure;
    if (ctx === undefined) return trip(name, null, threshold, 'the strategy exposure was not read in the claim');
    if (!ctx.current.ok) return trip(name, null, threshold, `the strategy exposure of ${input.intent.symbol} is unreadable: ${ctx.current.problem}`);
    if (name === BreakerName.grossExposure && ctx.others === null) return trip(name, null, threshold, "the strategy's other exposures were not read in the claim");
    let qty: bigint;
    try {
      qty = qtyUnits(input.intent.qty);
    } catch (err) {
      return trip(name, null, threshold, (err as Error).message);
    }
    const price = referencePrice(input);
    const verdict = checkExposureLimits(
      { symbol: input.intent.symbol, side: input.intent.side, qty, exposure: ctx.current.exposure, price: price.ok ? price.price : null, others: ctx.others ?? [] },
      only,
    );
    if (!verdict.tripped) return NOT_TRIPPED;
    const detail = price.ok || verdict.value !== null ? verdict.detail : `${verdict.detail} (${price.ok ? '' : price.reason})`;
    return trip(name, verdict.value === null ? null : Number(verdict.value), threshold, detail);
  };
}

const OFF: ExposureLimits = { maxPositionQty: 0, maxPositionNotional: 0, maxGrossExposure: 0 };
export const positionBreaker = exposureBreaker(BreakerName.position, (l) => ({ ...OFF, maxPositionQty: l.maxPositionQty }));
export const positionNotionalBreaker = exposureBreaker(BreakerName.positionNotional, (l) => ({ ...OFF, maxPositionNotional: l.maxPositionNotional }));
export const grossExposureBreaker = exposureBreaker(BreakerName.grossExposure, (l) => ({ ...OFF, maxGrossExposure: l.maxGrossExposure }));

/** A stored price ("123.45") in price units, or null when absent or unreadable (then it cannot value anything). */
export function storedPrice(text: unknown): bigint | null {
  if (typeof text !== 'string') return null;
  try {
    const p = parseDecimal(text, PRICE_DECIMALS);
    return p > 0n ? p : null;
  } catch {
    return null;
  }
}

export function formatPrice(units: bigint): string {
  return formatDecimal(units, PRICE_DECIMALS);
}
