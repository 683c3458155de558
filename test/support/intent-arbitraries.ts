/**
 * fast-check arbitraries for order intents, shared by the intent parser's tests and the JSON
 * Schema's: valid intents by the contract in DESIGN.md, and invalid values per field.
 */
import fc from 'fast-check';
import type { OrderIntent } from '../../functions/src/domain/intent.js';

/** Intent and strategy ids: the contract's characters, without the ids Firestore reserves (`__…__`). */
export const idArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).filter((id) => !/^__.+__$/.test(id));
export const symbolArb = fc.stringMatching(/^[A-Z0-9][A-Z0-9./-]{0,20}$/);
export const MIN_MS = Date.UTC(2000, 0, 1);
export const MAX_MS = Date.UTC(2100, 0, 1);
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** An ISO-8601 timestamp of `ms` written in the timezone `offsetMin` minutes east of UTC. */
export function isoAt(ms: number, offsetMin: number): string {
  const d = new Date(ms + offsetMin * 60_000);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
  if (offsetMin === 0) return `${date}T${time}Z`;
  const abs = Math.abs(offsetMin);
  return `${date}T${time}${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

export const offsetArb = fc.oneof(fc.constant(0), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }));
export const isoArb = fc.tuple(fc.integer({ min: MIN_MS, max: MAX_MS }), offsetArb).map(([ms, off]) => isoAt(ms, off));
export const positiveArb = fc.oneof(
  fc.integer({ min: 1, max: 1_000_000 }),
  fc.double({ min: 1e-9, max: 1e9, noNaN: true, noDefaultInfinity: true }),
);
// `+ 0` turns -0 into 0: JSON cannot carry -0 through a round trip anyway.
export const finiteArb = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x + 0);

export const barArb = fc.record(
  {
    t: isoArb,
    o: finiteArb,
    h: finiteArb,
    l: finiteArb,
    c: finiteArb,
    v: fc.oneof(fc.nat(), fc.double({ min: 0, max: 1e12, noNaN: true })).map((x) => x + 0),
  },
  { noNullPrototype: true },
);
export const marketDataArb = fc.record({ asOf: isoArb, bars: fc.array(barArb, { maxLength: 5 }) }, { noNullPrototype: true });

/** Every intent this arbitrary produces is valid by the contract in DESIGN.md. */
export const validIntentArb: fc.Arbitrary<OrderIntent> = fc
  .record({
    intentId: idArb,
    strategyId: idArb,
    symbol: symbolArb,
    side: fc.constantFrom('buy' as const, 'sell' as const),
    qty: positiveArb,
    order: fc.oneof(
      fc.constant({ type: 'market' as const }),
      positiveArb.map((limitPrice) => ({ type: 'limit' as const, limitPrice })),
    ),
    timeInForce: fc.constantFrom('day' as const, 'gtc' as const, 'ioc' as const, 'fok' as const),
    createdMs: fc.integer({ min: MIN_MS, max: MAX_MS }),
    createdOffset: offsetArb,
    expiresAfterMs: fc.option(fc.integer({ min: 1, max: 7 * 86_400_000 }), { nil: undefined }),
    expiresOffset: offsetArb,
    marketData: fc.option(marketDataArb, { nil: undefined }),
  })
  .map((r) => {
    const intent: Record<string, unknown> = {
      intentId: r.intentId,
      strategyId: r.strategyId,
      symbol: r.symbol,
      side: r.side,
      qty: r.qty,
      ...r.order,
      timeInForce: r.timeInForce,
      createdAt: isoAt(r.createdMs, r.createdOffset),
    };
    if (r.expiresAfterMs !== undefined) intent.expiresAt = isoAt(r.createdMs + r.expiresAfterMs, r.expiresOffset);
    if (r.marketData !== undefined) intent.marketData = r.marketData;
    return intent as OrderIntent;
  });

/** Values that make the field invalid (`undefined`: the field is missing). */
export const INVALID_VALUES: Record<string, unknown[]> = {
  intentId: ['', 'a'.repeat(65), 'a b', 'a.b', 'é', 42, null, undefined],
  strategyId: ['', 'b'.repeat(65), 'x:y', 7, null, undefined],
  symbol: ['aapl', '', '.AAPL', 'X'.repeat(22), 'BRK B', 1, undefined],
  side: ['BUY', 'hold', '', null, undefined],
  qty: [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '10', null, undefined],
  type: ['Market', 'stop', '', 1, undefined],
  timeInForce: ['DAY', 'opg', '', null, undefined],
  createdAt: ['2026-01-02', '2026-01-02T14:30:00', 'yesterday', 1767364200000, null, undefined],
  expiresAt: ['2026-01-02', '2026-01-02T14:30:00', 'never', 0, null],
  marketData: [null, [], 'x', { bars: [] }, { asOf: '2026-01-02T14:30:00Z' }, { asOf: '2026-01-02T14:30:00Z', bars: [{ t: '2026-01-02T14:30:00Z' }] }, { asOf: '2026-01-02T14:30:00Z', bars: [], extra: 1 }],
};
