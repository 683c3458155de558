import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RECENT_REALIZED_CAPACITY,
  classifyBrokerOutcome,
  emptyStrategyStats,
  parseStrategyStats,
  recordBrokerOutcome,
  recordRealizedPiece,
} from '../../../../functions/src/domain/breakers/stats.js';
import type { StrategyStats } from '../../../../functions/src/domain/breakers/stats.js';

const NY = 'America/New_York';
const DAY1 = Date.parse('2026-01-02T15:00:00Z');
const DAY2 = Date.parse('2026-01-05T15:00:00Z');

describe('recordRealizedPiece', () => {
  it('merges the partial fills of one order into one event', () => {
    let s = emptyStrategyStats();
    s = recordRealizedPiece(s, { orderId: 'A', pnlMicros: -10, timeMs: DAY1 }, NY);
    s = recordRealizedPiece(s, { orderId: 'A', pnlMicros: -5, timeMs: DAY1 + 10 }, NY);
    expect(s.recentRealized).toEqual([{ orderId: 'A', pnlMicros: -15, timeMs: DAY1 + 10 }]);
    expect(s.daily).toEqual({ dayKey: '2026-01-02', realizedMicros: -15 });
  });

  it('keeps an order at the position of its first piece when fills interleave', () => {
    let s = emptyStrategyStats();
    s = recordRealizedPiece(s, { orderId: 'A', pnlMicros: -1, timeMs: DAY1 }, NY);
    s = recordRealizedPiece(s, { orderId: 'B', pnlMicros: 5, timeMs: DAY1 + 1 }, NY);
    s = recordRealizedPiece(s, { orderId: 'A', pnlMicros: -1, timeMs: DAY1 + 2 }, NY);
    expect(s.recentRealized.map((e) => [e.orderId, e.pnlMicros])).toEqual([
      ['A', -2],
      ['B', 5],
    ]);
  });

  it('does not mutate its input', () => {
    const s = recordRealizedPiece(emptyStrategyStats(), { orderId: 'A', pnlMicros: 1, timeMs: DAY1 }, NY);
    const copy = structuredClone(s);
    recordRealizedPiece(s, { orderId: 'A', pnlMicros: 1, timeMs: DAY1 }, NY);
    expect(s).toEqual(copy);
  });

  it('keeps the newest RECENT_REALIZED_CAPACITY events', () => {
    let s = emptyStrategyStats();
    for (let i = 0; i < RECENT_REALIZED_CAPACITY + 7; i++) s = recordRealizedPiece(s, { orderId: `o${i}`, pnlMicros: i, timeMs: DAY1 + i }, NY);
    expect(s.recentRealized).toHaveLength(RECENT_REALIZED_CAPACITY);
    expect(s.recentRealized[0]?.orderId).toBe('o7');
    expect(s.recentRealized.at(-1)?.orderId).toBe(`o${RECENT_REALIZED_CAPACITY + 6}`);
  });

  it('starts a new daily sum on a new trading day and keeps carried-over positions on the day they close', () => {
    let s = emptyStrategyStats();
    s = recordRealizedPiece(s, { orderId: 'A', pnlMicros: -100, timeMs: DAY1 }, NY);
    s = recordRealizedPiece(s, { orderId: 'B', pnlMicros: -50, timeMs: DAY2 }, NY);
    expect(s.daily).toEqual({ dayKey: '2026-01-05', realizedMicros: -50 });
  });

  it('does not add a late piece from an earlier day to today', () => {
    let s = recordRealizedPiece(emptyStrategyStats(), { orderId: 'B', pnlMicros: -50, timeMs: DAY2 }, NY);
    s = recordRealizedPiece(s, { orderId: 'A', pnlMicros: -100, timeMs: DAY1 }, NY);
    expect(s.daily).toEqual({ dayKey: '2026-01-05', realizedMicros: -50 });
    expect(s.recentRealized).toHaveLength(2);
  });

  it('splits the days at New York midnight', () => {
    let s = recordRealizedPiece(emptyStrategyStats(), { orderId: 'A', pnlMicros: -1, timeMs: Date.parse('2026-01-03T04:59:59Z') }, NY);
    s = recordRealizedPiece(s, { orderId: 'B', pnlMicros: -2, timeMs: Date.parse('2026-01-03T05:00:00Z') }, NY);
    expect(s.daily).toEqual({ dayKey: '2026-01-03', realizedMicros: -2 });
  });
});

describe('broker outcomes', () => {
  it('classifies unknown and 5xx as errors, 429 as neutral, definitive answers as healthy', () => {
    expect(classifyBrokerOutcome({ kind: 'unknown' })).toBe('error');
    expect(classifyBrokerOutcome({ kind: 'unknown', httpStatus: 504 })).toBe('error');
    expect(classifyBrokerOutcome({ kind: 'rejected', httpStatus: 503 })).toBe('error');
    expect(classifyBrokerOutcome({ kind: 'not_placed', httpStatus: 429 })).toBe('neutral');
    expect(classifyBrokerOutcome({ kind: 'accepted' })).toBe('healthy');
    expect(classifyBrokerOutcome({ kind: 'rejected', httpStatus: 422 })).toBe('healthy');
    expect(classifyBrokerOutcome({ kind: 'duplicate', httpStatus: 422 })).toBe('healthy');
  });

  it('counts errors in a row and resets on a healthy answer, reporting whether anything changed', () => {
    let s = emptyStrategyStats();
    let r = recordBrokerOutcome(s, { kind: 'accepted' });
    expect(r).toEqual({ stats: s, changed: false });
    r = recordBrokerOutcome(s, { kind: 'unknown' });
    expect(r.changed).toBe(true);
    s = r.stats;
    s = recordBrokerOutcome(s, { kind: 'unknown', httpStatus: 500 }).stats;
    expect(s.consecutiveBrokerErrors).toBe(2);
    r = recordBrokerOutcome(s, { kind: 'not_placed', httpStatus: 429 });
    expect(r.changed).toBe(false);
    expect(r.stats.consecutiveBrokerErrors).toBe(2);
    r = recordBrokerOutcome(s, { kind: 'rejected', httpStatus: 403 });
    expect(r).toMatchObject({ changed: true, stats: { consecutiveBrokerErrors: 0 } });
  });
});

describe('parseStrategyStats', () => {
  it('accepts the empty stats and round-trips through JSON', () => {
    const s: StrategyStats = {
      recentRealized: [{ orderId: 'A', pnlMicros: -5, timeMs: DAY1 }],
      daily: { dayKey: '2026-01-02', realizedMicros: -5 },
      consecutiveBrokerErrors: 2,
    };
    expect(parseStrategyStats(emptyStrategyStats())).toEqual({ ok: true, stats: emptyStrategyStats() });
    expect(parseStrategyStats(JSON.parse(JSON.stringify(s)))).toEqual({ ok: true, stats: s });
  });

  it('refuses malformed stats instead of starting from zero', () => {
    for (const bad of [
      undefined,
      null,
      {},
      { ...emptyStrategyStats(), consecutiveBrokerErrors: -1 },
      { ...emptyStrategyStats(), consecutiveBrokerErrors: 1.5 },
      { ...emptyStrategyStats(), daily: { dayKey: 'Jan 2', realizedMicros: 0 } },
      { ...emptyStrategyStats(), recentRealized: [{ orderId: 'A', pnlMicros: 0.5, timeMs: 0 }] },
      { ...emptyStrategyStats(), extra: 1 },
      { ...emptyStrategyStats(), recentRealized: Array.from({ length: RECENT_REALIZED_CAPACITY + 1 }, (_, i) => ({ orderId: `o${i}`, pnlMicros: 0, timeMs: 0 })) },
    ]) {
      expect(parseStrategyStats(bad).ok).toBe(false);
    }
  });

  it('keeps whatever recordRealizedPiece produces parseable', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ orderId: fc.constantFrom('A', 'B', 'C', 'D'), pnlMicros: fc.integer({ min: -1e9, max: 1e9 }), timeMs: fc.integer({ min: DAY1, max: DAY2 }) }), { maxLength: 30 }),
        (pieces) => {
          const s = pieces.reduce((acc, p) => recordRealizedPiece(acc, p, NY), emptyStrategyStats());
          expect(parseStrategyStats(JSON.parse(JSON.stringify(s)))).toEqual({ ok: true, stats: s });
        },
      ),
    );
  });
});
