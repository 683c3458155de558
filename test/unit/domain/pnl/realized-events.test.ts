import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { consecutiveLossesBreaker } from '../../../../functions/src/domain/breakers/consecutive-losses.js';
import { emptyStrategyStats, recordRealizedPiece } from '../../../../functions/src/domain/breakers/stats.js';
import { MONEY_DECIMALS, moneyToMicros, parseDecimal } from '../../../../functions/src/domain/pnl/decimal.js';
import type { RealizedPiece } from '../../../../functions/src/domain/pnl/fifo.js';
import { isLoss, pieceToStat, realizedEventsFromPieces } from '../../../../functions/src/domain/pnl/realized-events.js';
import { limitsWith, makeInput } from '../breakers/fixtures.js';

const money = (s: string) => parseDecimal(s, MONEY_DECIMALS);
const piece = (orderId: string, realized: string, timeMs: number, fillId = `${orderId}-${timeMs}`): RealizedPiece => ({
  fillId,
  orderId,
  symbol: 'AAPL',
  timeMs,
  closedQty: 1_000_000_000n,
  realized: money(realized),
});

describe('realizedEventsFromPieces', () => {
  it('makes one event of the partial fills of one closing order', () => {
    const events = realizedEventsFromPieces([piece('A', '-1', 1), piece('A', '-2', 2), piece('A', '-3', 3)]);
    expect(events).toEqual([
      {
        orderId: 'A',
        symbol: 'AAPL',
        realized: money('-6'),
        closedQty: 3_000_000_000n,
        fillIds: ['A-1', 'A-2', 'A-3'],
        firstTimeMs: 1,
        lastTimeMs: 3,
      },
    ]);
  });

  it('groups interleaved orders by order, in order of first piece', () => {
    const events = realizedEventsFromPieces([piece('A', '-1', 1), piece('B', '5', 2), piece('A', '-1', 3)]);
    expect(events.map((e) => [e.orderId, e.realized])).toEqual([
      ['A', money('-2')],
      ['B', money('5')],
    ]);
  });

  it('treats break-even as a non-loss', () => {
    const [even, loss, gainAfterLoss] = realizedEventsFromPieces([
      piece('A', '0', 1),
      piece('B', '-0.000000000000000001', 2),
      piece('C', '-1', 3),
      piece('C', '1.5', 4),
    ]);
    expect(even && isLoss(even)).toBe(false);
    expect(loss && isLoss(loss)).toBe(true);
    expect(gainAfterLoss && isLoss(gainAfterLoss)).toBe(false);
  });

  it('one losing order in five partials is one loss for the streak, not five', () => {
    let stats = emptyStrategyStats();
    for (let i = 0; i < 5; i++) stats = recordRealizedPiece(stats, pieceToStat(piece('A', '-10', 1_000 + i)), 'America/New_York');
    const limits = limitsWith({ maxConsecutiveLosses: 2 });
    expect(consecutiveLossesBreaker(makeInput({ stats }), limits).tripped).toBe(false);
    stats = recordRealizedPiece(stats, pieceToStat(piece('B', '-10', 2_000)), 'America/New_York');
    expect(consecutiveLossesBreaker(makeInput({ stats }), limits)).toMatchObject({ tripped: true, value: 2 });
    stats = recordRealizedPiece(stats, pieceToStat(piece('C', '0', 3_000)), 'America/New_York');
    expect(consecutiveLossesBreaker(makeInput({ stats }), limits).tripped).toBe(false);
  });

  it('the streaming stats agree with the batch grouping', () => {
    const pieceArb = fc.record({
      orderId: fc.constantFrom('A', 'B', 'C', 'D', 'E', 'F'),
      // Micro-exact amounts, so rounding each piece to micro-units loses nothing.
      micros: fc.integer({ min: -5_000_000, max: 5_000_000 }),
      timeMs: fc.integer({ min: 0, max: 1e12 }),
    });
    fc.assert(
      fc.property(fc.array(pieceArb, { maxLength: 40 }), (raw) => {
        const pieces = raw.map((p, i) => ({ ...piece(p.orderId, '0', p.timeMs, `f${i}`), realized: BigInt(p.micros) * 10n ** 12n }));
        const stats = pieces.reduce((s, p) => recordRealizedPiece(s, pieceToStat(p), 'UTC'), emptyStrategyStats());
        const events = realizedEventsFromPieces(pieces);
        expect(stats.recentRealized.map((e) => [e.orderId, e.pnlMicros])).toEqual(events.map((e) => [e.orderId, moneyToMicros(e.realized)]));
        expect(stats.recentRealized.map((e) => e.pnlMicros < 0)).toEqual(events.map(isLoss));
      }),
    );
  });
});
