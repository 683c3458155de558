import { z } from 'zod';
import type { OrderSide } from '../intent.js';
import { MONEY_DECIMALS, PRICE_DECIMALS, QTY_DECIMALS, formatDecimal, isDecimalString, parseDecimal } from './decimal.js';

/**
 * FIFO lots and realized P&L for one symbol.
 *
 * A position is a FIFO queue of lots, all on one side: long lots (opened by buys) or short
 * lots (opened by selling into no long position). A fill on the same side as the lots — or
 * into a flat position — opens a new lot at the back. A fill on the other side closes lots
 * from the front; what is left of it after the position is flat opens a lot on its own side
 * (the position flips through zero). Lots carried over from earlier days are just older lots:
 * nothing here depends on the day.
 *
 * Realized P&L of closing `q` from a lot opened at price pₒ with a fill at price p꜀:
 * long q·(p꜀ − pₒ), short q·(pₒ − p꜀), minus fees.
 *
 * Fees (when the broker reports them; a negative fee is a rebate):
 * - the fee of a fill is split between its closing part and its opening part pro rata by
 *   quantity; the closing part's share is realized at once;
 * - the opening part's share is carried in the new lot (`fee`, its unrealized cost basis) and
 *   realized as the lot closes, pro rata by quantity; the close that empties the lot takes
 *   whatever is left, so rounding moves atto-units between pieces but never loses any.
 * Hence once a symbol is flat, total realized = Σ sell notional − Σ buy notional − Σ fees,
 * exactly. Arithmetic is exact bigint fixed point (decimal.ts); without fees every piece is
 * exact too, so splitting fills into partials changes nothing at all.
 */

export const LotSide = { long: 'long', short: 'short' } as const;
export type LotSide = (typeof LotSide)[keyof typeof LotSide];

export interface Lot {
  side: LotSide;
  /** Open quantity in 10⁻⁹ units; always > 0 (an emptied lot is removed). */
  qty: bigint;
  /** Opening price in 10⁻⁹ units. */
  price: bigint;
  /** Opening fee not yet realized, in 10⁻¹⁸ money units. */
  fee: bigint;
  openedAtMs: number;
  /** The fill that opened the lot. */
  fillId: string;
}

export interface PositionLots {
  symbol: string;
  /** Oldest first; all on one side. */
  lots: readonly Lot[];
}

/** One broker fill, already validated upstream: decimals as the broker's strings. */
export interface Fill {
  /** The broker's fill id: the ledger writes each fill once, keyed by it. */
  id: string;
  orderId: string;
  symbol: string;
  side: OrderSide;
  /** > 0, at most QTY_DECIMALS decimals. */
  qty: string;
  /** > 0, at most PRICE_DECIMALS decimals. */
  price: string;
  /** At most MONEY_DECIMALS decimals. */
  fee?: string;
  timeMs: number;
}

/** The realized part of one closing fill. */
export interface RealizedPiece {
  fillId: string;
  orderId: string;
  symbol: string;
  timeMs: number;
  /** Quantity closed by this fill, 10⁻⁹ units, > 0. */
  closedQty: bigint;
  /** Realized P&L net of fees, 10⁻¹⁸ money units. */
  realized: bigint;
}

export function emptyPosition(symbol: string): PositionLots {
  return { symbol, lots: [] };
}

/** Signed open quantity in 10⁻⁹ units: > 0 long, < 0 short. */
export function netQty(position: PositionLots): bigint {
  let net = 0n;
  for (const lot of position.lots) net += lot.side === LotSide.long ? lot.qty : -lot.qty;
  return net;
}

/** The order fills must be applied in: broker time, then fill id for a stable tie-break. */
export function compareFills(a: Fill, b: Fill): number {
  if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Applies one fill to its symbol's position. Pure: returns a new position. Throws RangeError
 * for a fill of another symbol or with a malformed/non-positive quantity or price (upstream
 * validation should make that impossible; silently skipping would corrupt every later P&L).
 */
export function applyFill(position: PositionLots, fill: Fill): { position: PositionLots; realized: RealizedPiece | null } {
  if (fill.symbol !== position.symbol) {
    throw new RangeError(`fill ${fill.id} is for ${fill.symbol}, not ${position.symbol}`);
  }
  const qty = parseDecimal(fill.qty, QTY_DECIMALS);
  const price = parseDecimal(fill.price, PRICE_DECIMALS);
  const fee = fill.fee === undefined ? 0n : parseDecimal(fill.fee, MONEY_DECIMALS);
  if (qty <= 0n) throw new RangeError(`fill ${fill.id} has quantity ${fill.qty}; it must be > 0`);
  if (price <= 0n) throw new RangeError(`fill ${fill.id} has price ${fill.price}; it must be > 0`);

  const fillSide: LotSide = fill.side === 'buy' ? LotSide.long : LotSide.short;
  const lots = position.lots.map((lot) => ({ ...lot }));
  const front = lots[0];
  if (front === undefined || front.side === fillSide) {
    lots.push({ side: fillSide, qty, price, fee, openedAtMs: fill.timeMs, fillId: fill.id });
    return { position: { symbol: position.symbol, lots }, realized: null };
  }

  let remaining = qty;
  let realized = 0n;
  while (remaining > 0n) {
    const lot = lots[0];
    if (lot === undefined) break;
    const take = remaining < lot.qty ? remaining : lot.qty;
    realized += lot.side === LotSide.long ? take * (price - lot.price) : take * (lot.price - price);
    // Pro rata on what REMAINS in the lot, so the close that empties it takes exactly the
    // rest: truncation moves atto-units between pieces but leaves no residue behind.
    const feeShare = take === lot.qty ? lot.fee : (lot.fee * take) / lot.qty;
    realized -= feeShare;
    lot.fee -= feeShare;
    lot.qty -= take;
    remaining -= take;
    if (lot.qty === 0n) lots.shift();
  }
  const closedQty = qty - remaining;
  const closingFee = remaining === 0n ? fee : (fee * closedQty) / qty;
  realized -= closingFee;
  if (remaining > 0n) {
    // Flipped through zero: the rest of the fill opens a lot on its own side.
    lots.push({ side: fillSide, qty: remaining, price, fee: fee - closingFee, openedAtMs: fill.timeMs, fillId: fill.id });
  }
  return {
    position: { symbol: position.symbol, lots },
    realized: { fillId: fill.id, orderId: fill.orderId, symbol: fill.symbol, timeMs: fill.timeMs, closedQty, realized },
  };
}

/** Stored form of a lot: decimals as strings (Firestore has no bigint). */
export interface LotJSON {
  side: LotSide;
  qty: string;
  price: string;
  fee: string;
  openedAtMs: number;
  fillId: string;
}

export interface PositionJSON {
  symbol: string;
  lots: LotJSON[];
}

export function serializePosition(position: PositionLots): PositionJSON {
  return {
    symbol: position.symbol,
    lots: position.lots.map((lot) => ({
      side: lot.side,
      qty: formatDecimal(lot.qty, QTY_DECIMALS),
      price: formatDecimal(lot.price, PRICE_DECIMALS),
      fee: formatDecimal(lot.fee, MONEY_DECIMALS),
      openedAtMs: lot.openedAtMs,
      fillId: lot.fillId,
    })),
  };
}

const positiveDecimal = (decimals: number) =>
  z.string().refine((s) => isDecimalString(s, decimals) && parseDecimal(s, decimals) > 0n, `must be a positive decimal with at most ${decimals} decimals`);

const positionSchema = z
  .strictObject({
    symbol: z.string().min(1),
    lots: z.array(
      z.strictObject({
        side: z.enum(LotSide),
        qty: positiveDecimal(QTY_DECIMALS),
        price: positiveDecimal(PRICE_DECIMALS),
        fee: z.string().refine((s) => isDecimalString(s, MONEY_DECIMALS), `must be a decimal with at most ${MONEY_DECIMALS} decimals`),
        openedAtMs: z.number().int(),
        fillId: z.string().min(1),
      }),
    ),
  })
  .superRefine((p, ctx) => {
    if (p.lots.some((lot) => lot.side !== p.lots[0]?.side)) {
      ctx.addIssue({ code: 'custom', path: ['lots'], message: 'mixes long and short lots' });
    }
  });

/** Parses a stored position; malformed ⇒ failure (the caller must not guess P&L). */
export function parsePosition(value: unknown): { ok: true; position: PositionLots } | { ok: false; issues: Array<{ path: string; message: string }> } {
  const parsed = positionSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        path: issue.path.length === 0 ? '(position)' : issue.path.map(String).join('.'),
        message: issue.message,
      })),
    };
  }
  return {
    ok: true,
    position: {
      symbol: parsed.data.symbol,
      lots: parsed.data.lots.map((lot) => ({
        side: lot.side,
        qty: parseDecimal(lot.qty, QTY_DECIMALS),
        price: parseDecimal(lot.price, PRICE_DECIMALS),
        fee: parseDecimal(lot.fee, MONEY_DECIMALS),
        openedAtMs: lot.openedAtMs,
        fillId: lot.fillId,
      })),
    },
  };
}
