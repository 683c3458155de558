import { z } from 'zod';
import { formatDecimal, isDecimalString, parseDecimal, QTY_DECIMALS } from '../pnl/decimal.js';

/**
 * A strategy's exposure in one symbol (`strategies/{id}/exposure/{symbol}`): the filled
 * position from the fills ledger, and the quantities of its orders claimed or open at the
 * broker that have neither filled nor died, per side. Exact: quantities are bigint units of
 * 10⁻⁹ (QTY_DECIMALS), stored as decimal strings, never floats.
 *
 * Pending quantities are what make the exposure checks safe against orders still in flight:
 * a sell claimed a second ago has not filled yet, but it will count once it does, so every
 * check looks at the worst case over which pending orders fill (`worstCase`).
 */
export interface Exposure {
  /** Signed: > 0 long, < 0 short. */
  position: bigint;
  /** ≥ 0. */
  pendingBuy: bigint;
  /** ≥ 0. */
  pendingSell: bigint;
}

export type Side = 'buy' | 'sell';

export const FLAT: Exposure = Object.freeze({ position: 0n, pendingBuy: 0n, pendingSell: 0n });

const signedQty = z.string().refine((s) => isDecimalString(s, QTY_DECIMALS), `must be a decimal string with at most ${QTY_DECIMALS} decimals`);
const unsignedQty = signedQty.refine((s) => !s.startsWith('-'), 'must not be negative');

/** The stored document (functions write it; it is still validated when read: a corrupt one refuses). */
export const exposureDocumentSchema = z.object({
  position: signedQty,
  pendingBuy: unsignedQty,
  pendingSell: unsignedQty,
});

export type ExposureRead = { ok: true; exposure: Exposure } | { ok: false; problem: string };

/** A missing document is flat; anything else must be a well-formed exposure. */
export function readExposure(data: unknown): ExposureRead {
  if (data === undefined) return { ok: true, exposure: FLAT };
  const parsed = exposureDocumentSchema.safeParse(data);
  if (!parsed.success) {
    return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`).join('; ') };
  }
  const { position, pendingBuy, pendingSell } = parsed.data;
  return { ok: true, exposure: { position: parseDecimal(position, QTY_DECIMALS), pendingBuy: parseDecimal(pendingBuy, QTY_DECIMALS), pendingSell: parseDecimal(pendingSell, QTY_DECIMALS) } };
}

/** The stored fields (without `updatedAt`, which the store sets). */
export function exposureFields(e: Exposure): { position: string; pendingBuy: string; pendingSell: string } {
  return { position: formatDecimal(e.position, QTY_DECIMALS), pendingBuy: formatDecimal(e.pendingBuy, QTY_DECIMALS), pendingSell: formatDecimal(e.pendingSell, QTY_DECIMALS) };
}

/**
 * A quantity as exposure units, rounded UP to 9 decimals when it is finer (the broker takes at
 * most 9, so such an order cannot fill beyond that; counting a claimed quantity a hair high only
 * makes the checks stricter, and the claim and its release use the same rounding). RangeError for
 * what no order can carry: not finite, ≤ 0, or 1e21 and above (no plain decimal form).
 */
export function qtyUnits(qty: number): bigint {
  if (!Number.isFinite(qty) || qty <= 0) throw new RangeError(`quantity ${qty} is not a positive finite number`);
  // toFixed gives the double's value at 9 decimals, rounded to nearest (1e-9 → "0.000000001");
  // when that is below the double, one unit more rounds it up instead.
  const text = qty.toFixed(QTY_DECIMALS);
  const units = parseDecimal(text, QTY_DECIMALS);
  return Number(text) < qty ? units + 1n : units;
}

/** An order of `qty` on `side` was claimed: it is pending until it fills or dies. */
export function withPending(e: Exposure, side: Side, qty: bigint): Exposure {
  return side === 'buy' ? { ...e, pendingBuy: e.pendingBuy + qty } : { ...e, pendingSell: e.pendingSell + qty };
}

/**
 * `qty` of a pending order on `side` will never fill (it was refused, released, cancelled,
 * expired, rejected, or filled less). Never below zero: a release counted twice must not
 * turn into negative pending, which would make later checks laxer than the truth.
 */
export function withoutPending(e: Exposure, side: Side, qty: bigint): Exposure {
  const drop = (p: bigint) => (p > qty ? p - qty : 0n);
  return side === 'buy' ? { ...e, pendingBuy: drop(e.pendingBuy) } : { ...e, pendingSell: drop(e.pendingSell) };
}

/** `qty` of a pending order on `side` filled: it moves from pending into the position. */
export function withFill(e: Exposure, side: Side, qty: bigint): Exposure {
  const moved = withoutPending(e, side, qty);
  return { ...moved, position: side === 'buy' ? e.position + qty : e.position - qty };
}

/**
 * The extremes the position can reach, whichever pending orders fill: every pending buy and
 * none of the sells (`highest`), or the reverse (`lowest`).
 */
export function worstCase(e: Exposure): { highest: bigint; lowest: bigint } {
  return { highest: e.position + e.pendingBuy, lowest: e.position - e.pendingSell };
}

/** The largest |position| reachable whichever pending orders fill. */
export function worstAbsPosition(e: Exposure): bigint {
  const { highest, lowest } = worstCase(e);
  const a = highest < 0n ? -highest : highest;
  const b = lowest < 0n ? -lowest : lowest;
  return a > b ? a : b;
}
