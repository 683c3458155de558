import { formatDecimal, MONEY_DECIMALS, PRICE_DECIMALS, QTY_DECIMALS } from '../pnl/decimal.js';
import { withPending, worstAbsPosition, type Exposure, type Side } from './exposure.js';

/**
 * Position and exposure limits, checked inside the claim transaction on the exposure as it
 * would be once this order is claimed (its quantity pending), in the worst case over which
 * pending orders fill. Exactly at a limit passes; 0 disables, like every breaker threshold.
 *
 * - `position`: |position| per symbol, in shares.
 * - `positionNotional`: |position| per symbol × its price.
 * - `grossExposure`: Σ over the strategy's symbols of |position| × price.
 *
 * A notional check needs a price for every symbol it values; without one it refuses rather
 * than guess (fail closed). A symbol whose worst case is flat needs no price.
 */
export const ExposureLimitName = {
  position: 'position',
  positionNotional: 'positionNotional',
  grossExposure: 'grossExposure',
} as const;
export type ExposureLimitName = (typeof ExposureLimitName)[keyof typeof ExposureLimitName];

export interface ExposureLimits {
  /** Shares; 0 disables. */
  maxPositionQty: number;
  /** Money; 0 disables. */
  maxPositionNotional: number;
  /** Money; 0 disables. */
  maxGrossExposure: number;
}

export interface PricedExposure {
  symbol: string;
  exposure: Exposure;
  /** Price units (10⁻⁹), or null when none is known. */
  price: bigint | null;
}

export interface ExposureClaim {
  symbol: string;
  side: Side;
  /** Quantity units (10⁻⁹). */
  qty: bigint;
  /** The symbol's exposure before this claim. */
  exposure: Exposure;
  /** The order's reference price (limit price or last close), price units; null: none. */
  price: bigint | null;
  /** The strategy's other symbols (needed only when the gross limit is on). */
  others: readonly PricedExposure[];
}

export type ExposureLimitVerdict =
  | { tripped: false }
  | { tripped: true; limit: ExposureLimitName; value: string | null; threshold: number; detail: string };

/**
 * A limit (a double as operators write it: 0.1, 25000) in `decimals` units, from its shortest
 * decimal text, so 0.1 is exactly 0.1 and not the double's 0.1000000000000000055; digits
 * beyond `decimals` are cut, so a limit never grows by conversion. RangeError for a limit that
 * is negative, not finite, or only has an exponent form (≥ 1e21, or tiny).
 */
export function limitUnits(limit: number, decimals: number): bigint {
  const text = String(limit);
  if (!Number.isFinite(limit) || limit < 0 || /e/i.test(text)) throw new RangeError(`limit ${text} cannot be used as an exact decimal`);
  const [whole = '0', fraction = ''] = text.split('.');
  return BigInt(`${whole}${fraction.slice(0, decimals).padEnd(decimals, '0')}`);
}

export function checkExposureLimits(claim: ExposureClaim, limits: ExposureLimits): ExposureLimitVerdict {
  const after = withPending(claim.exposure, claim.side, claim.qty);
  const worst = worstAbsPosition(after);
  const qty = (u: bigint) => formatDecimal(u, QTY_DECIMALS);
  const money = (u: bigint) => formatDecimal(u, MONEY_DECIMALS);

  if (limits.maxPositionQty > 0 && worst > limitUnits(limits.maxPositionQty, QTY_DECIMALS)) {
    return {
      tripped: true,
      limit: ExposureLimitName.position,
      value: qty(worst),
      threshold: limits.maxPositionQty,
      detail: `${claim.symbol}: |position| could reach ${qty(worst)} with this ${claim.side} of ${qty(claim.qty)} pending, above ${limits.maxPositionQty}`,
    };
  }
  if (limits.maxPositionNotional > 0) {
    if (claim.price === null) {
      return { tripped: true, limit: ExposureLimitName.positionNotional, value: null, threshold: limits.maxPositionNotional, detail: `${claim.symbol}: no price to value the position with (limit price or last bar close)` };
    }
    const notional = worst * claim.price;
    if (notional > limitUnits(limits.maxPositionNotional, MONEY_DECIMALS)) {
      return {
        tripped: true,
        limit: ExposureLimitName.positionNotional,
        value: money(notional),
        threshold: limits.maxPositionNotional,
        detail: `${claim.symbol}: |position| ${qty(worst)} × ${formatDecimal(claim.price, PRICE_DECIMALS)} = ${money(notional)} could exceed ${limits.maxPositionNotional}`,
      };
    }
  }
  if (limits.maxGrossExposure > 0) {
    let gross = 0n;
    const legs: PricedExposure[] = [{ symbol: claim.symbol, exposure: after, price: claim.price }, ...claim.others.filter((o) => o.symbol !== claim.symbol)];
    for (const leg of legs) {
      const w = worstAbsPosition(leg.exposure);
      if (w === 0n) continue;
      if (leg.price === null) {
        return { tripped: true, limit: ExposureLimitName.grossExposure, value: null, threshold: limits.maxGrossExposure, detail: `${leg.symbol}: no price to value its position ${qty(w)} with` };
      }
      gross += w * leg.price;
    }
    if (gross > limitUnits(limits.maxGrossExposure, MONEY_DECIMALS)) {
      return {
        tripped: true,
        limit: ExposureLimitName.grossExposure,
        value: money(gross),
        threshold: limits.maxGrossExposure,
        detail: `gross exposure could reach ${money(gross)} over ${legs.length} symbols with this ${claim.side} of ${qty(claim.qty)} ${claim.symbol}, above ${limits.maxGrossExposure}`,
      };
    }
  }
  return { tripped: false };
}
