import { formatDecimal, QTY_DECIMALS } from '../pnl/decimal.js';
import type { Exposure, Side } from './exposure.js';

/**
 * The reduce-only posture (`ops/killSwitch { halted: false, reduceOnly: true }`): an order is
 * claimed only if it shrinks the strategy's position in its symbol and cannot flip it, even
 * if every order already pending on the same side fills too. A flat strategy opens nothing.
 *
 * Why the same side's pending orders count and the other side's do not: the question is
 * whether the position can pass through zero. A long 10 with a sell of 6 pending can sell at
 * most 4 more — if both fill, the position is 0, never -1. A pending buy would only move the
 * position away from zero, but it may never fill, so it earns no room.
 */
export const ReduceOnlyReason = {
  /** No position: any order would open one. */
  flat: 'flat',
  /** On the side that grows the position (a buy when long, a sell when short). */
  wouldGrow: 'would_grow',
  /** On the reducing side, but with the pending orders of that side it could cross zero. */
  wouldFlip: 'would_flip',
} as const;
export type ReduceOnlyReason = (typeof ReduceOnlyReason)[keyof typeof ReduceOnlyReason];

export type ReduceOnlyVerdict =
  | { allowed: true }
  | {
      allowed: false;
      reason: ReduceOnlyReason;
      /** The largest quantity on this side that would be allowed now (0 when none). */
      maxQty: bigint;
      detail: string;
    };

/** The room left to reduce on `side` without crossing zero, counting that side's pending orders; 0 on the growing side. */
export function reducibleQty(e: Exposure, side: Side): bigint {
  if (side === 'sell' && e.position > 0n) {
    const room = e.position - e.pendingSell;
    return room > 0n ? room : 0n;
  }
  if (side === 'buy' && e.position < 0n) {
    const room = -e.position - e.pendingBuy;
    return room > 0n ? room : 0n;
  }
  return 0n;
}

export function reduceOnlyVerdict(e: Exposure, side: Side, qty: bigint): ReduceOnlyVerdict {
  const fmt = (u: bigint) => formatDecimal(u, QTY_DECIMALS);
  const position = `position ${fmt(e.position)} (pending buy ${fmt(e.pendingBuy)}, sell ${fmt(e.pendingSell)})`;
  if (e.position === 0n) {
    return { allowed: false, reason: ReduceOnlyReason.flat, maxQty: 0n, detail: `reduce-only: ${position} is flat; a ${side} of ${fmt(qty)} would open one` };
  }
  const growing = (side === 'buy') === e.position > 0n;
  if (growing) {
    return { allowed: false, reason: ReduceOnlyReason.wouldGrow, maxQty: 0n, detail: `reduce-only: a ${side} of ${fmt(qty)} would grow ${position}` };
  }
  const room = reducibleQty(e, side);
  if (qty > room) {
    return {
      allowed: false,
      reason: ReduceOnlyReason.wouldFlip,
      maxQty: room,
      detail: `reduce-only: a ${side} of ${fmt(qty)} could flip ${position}; at most ${fmt(room)} may be ${side === 'sell' ? 'sold' : 'bought'}`,
    };
  }
  return { allowed: true };
}
