import { moneyToMicros } from './decimal.js';
import type { RealizedPiece } from './fifo.js';

/**
 * Realized events for the consecutive-loss breaker. One closing ORDER is one event, however
 * many partial fills it took: each partial yields a RealizedPiece (fifo.ts) and the pieces of
 * one order are summed. Counting partials separately would let one losing order filled in
 * five pieces trip a five-loss breaker. An event with P&L exactly 0 is break-even: not a loss,
 * and it ends a streak.
 *
 * Events are ordered by their first piece; pieces of one order need not be adjacent (two
 * orders can fill interleaved). `recordRealizedPiece` in breakers/stats.ts is the streaming
 * equivalent the store uses, on micro-units.
 */

export interface RealizedEvent {
  orderId: string;
  symbol: string;
  /** Sum of the pieces' realized P&L, 10⁻¹⁸ money units. */
  realized: bigint;
  closedQty: bigint;
  fillIds: string[];
  firstTimeMs: number;
  lastTimeMs: number;
}

export function realizedEventsFromPieces(pieces: readonly RealizedPiece[]): RealizedEvent[] {
  const events: RealizedEvent[] = [];
  const byOrder = new Map<string, RealizedEvent>();
  for (const piece of pieces) {
    const event = byOrder.get(piece.orderId);
    if (event === undefined) {
      const created: RealizedEvent = {
        orderId: piece.orderId,
        symbol: piece.symbol,
        realized: piece.realized,
        closedQty: piece.closedQty,
        fillIds: [piece.fillId],
        firstTimeMs: piece.timeMs,
        lastTimeMs: piece.timeMs,
      };
      byOrder.set(piece.orderId, created);
      events.push(created);
    } else {
      event.realized += piece.realized;
      event.closedQty += piece.closedQty;
      event.fillIds.push(piece.fillId);
      event.firstTimeMs = Math.min(event.firstTimeMs, piece.timeMs);
      event.lastTimeMs = Math.max(event.lastTimeMs, piece.timeMs);
    }
  }
  return events;
}

export function isLoss(event: Pick<RealizedEvent, 'realized'>): boolean {
  return event.realized < 0n;
}

/** A piece in the form the strategy stats keep (micro-units, see breakers/stats.ts). */
export function pieceToStat(piece: RealizedPiece): { orderId: string; pnlMicros: number; timeMs: number } {
  return { orderId: piece.orderId, pnlMicros: moneyToMicros(piece.realized), timeMs: piece.timeMs };
}
