import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MONEY_DECIMALS, PRICE_DECIMALS, QTY_DECIMALS, formatDecimal, parseDecimal } from '../../../../functions/src/domain/pnl/decimal.js';
import { LotSide, applyFill, compareFills, emptyPosition, netQty, parsePosition, serializePosition } from '../../../../functions/src/domain/pnl/fifo.js';
import type { Fill, PositionLots, RealizedPiece } from '../../../../functions/src/domain/pnl/fifo.js';
import { realizedEventsFromPieces } from '../../../../functions/src/domain/pnl/realized-events.js';

const money = (s: string) => parseDecimal(s, MONEY_DECIMALS);
const qty = (s: string) => parseDecimal(s, QTY_DECIMALS);

let fillSeq = 0;
function fill(side: 'buy' | 'sell', q: string, price: string, extra: Partial<Fill> = {}): Fill {
  fillSeq += 1;
  return { id: `f${fillSeq}`, orderId: `o${fillSeq}`, symbol: 'AAPL', side, qty: q, price, timeMs: 1_000 + fillSeq, ...extra };
}

function run(fills: readonly Fill[], start: PositionLots = emptyPosition('AAPL')) {
  let position = start;
  const pieces: RealizedPiece[] = [];
  for (const f of fills) {
    const r = applyFill(position, f);
    position = r.position;
    if (r.realized !== null) pieces.push(r.realized);
  }
  return { position, pieces, total: pieces.reduce((s, p) => s + p.realized, 0n) };
}

describe('applyFill', () => {
  it('opens a long lot on a buy into a flat position', () => {
    const r = applyFill(emptyPosition('AAPL'), fill('buy', '10', '100.5', { id: 'b1' }));
    expect(r.realized).toBeNull();
    expect(r.position.lots).toEqual([{ side: 'long', qty: qty('10'), price: parseDecimal('100.5', PRICE_DECIMALS), fee: 0n, openedAtMs: expect.any(Number), fillId: 'b1' }]);
  });

  it('closes long lots first-in first-out, across partial fills', () => {
    const { position, pieces } = run([fill('buy', '10', '100'), fill('buy', '10', '110'), fill('sell', '4', '120'), fill('sell', '10', '120')]);
    // 4 @ (120−100) = 80; then 6 @ (120−100) + 4 @ (120−110) = 120 + 40 = 160.
    expect(pieces.map((p) => p.realized)).toEqual([money('80'), money('160')]);
    expect(pieces.map((p) => p.closedQty)).toEqual([qty('4'), qty('10')]);
    expect(position.lots).toHaveLength(1);
    expect(position.lots[0]).toMatchObject({ side: 'long', qty: qty('6'), price: parseDecimal('110', PRICE_DECIMALS) });
  });

  it('opens a short lot when selling into no position, and a buy closes it', () => {
    const { position, pieces } = run([fill('sell', '5', '50'), fill('buy', '2', '45'), fill('buy', '3', '55')]);
    expect(pieces.map((p) => p.realized)).toEqual([money('10'), money('-15')]);
    expect(position.lots).toEqual([]);
  });

  it('adds to a short with further sells', () => {
    const { position } = run([fill('sell', '5', '50'), fill('sell', '1', '51')]);
    expect(position.lots.map((l) => l.side)).toEqual(['short', 'short']);
    expect(netQty(position)).toBe(-qty('6'));
  });

  it('flips a position through zero: the rest of the fill opens the other side at the fill price', () => {
    const { position, pieces } = run([fill('buy', '3', '10'), fill('sell', '5', '12')]);
    expect(pieces).toHaveLength(1);
    expect(pieces[0]).toMatchObject({ closedQty: qty('3'), realized: money('6') });
    expect(position.lots).toEqual([expect.objectContaining({ side: LotSide.short, qty: qty('2'), price: parseDecimal('12', PRICE_DECIMALS) })]);
    const back = applyFill(position, fill('buy', '3', '11'));
    expect(back.realized).toMatchObject({ closedQty: qty('2'), realized: money('2') });
    expect(back.position.lots).toEqual([expect.objectContaining({ side: 'long', qty: qty('1') })]);
  });

  it('reports a break-even close as a realized piece of 0', () => {
    const { pieces } = run([fill('buy', '1', '10'), fill('sell', '1', '10')]);
    expect(pieces).toEqual([expect.objectContaining({ realized: 0n, closedQty: qty('1') })]);
  });

  it('carries positions over from earlier days: old lots close like any other', () => {
    const day1 = Date.parse('2026-01-02T15:00:00Z');
    const day2 = Date.parse('2026-01-05T15:00:00Z');
    const { position } = run([fill('buy', '10', '100', { timeMs: day1 })]);
    const stored = parsePosition(JSON.parse(JSON.stringify(serializePosition(position))));
    if (!stored.ok) throw new Error('unparseable');
    const r = applyFill(stored.position, fill('sell', '10', '90', { timeMs: day2 }));
    expect(r.realized).toMatchObject({ realized: money('-100'), timeMs: day2 });
    expect(r.position.lots).toEqual([]);
  });

  it('is exact with decimals that binary floats cannot hold', () => {
    const { total } = run([fill('buy', '0.1', '0.3'), fill('buy', '0.2', '0.3'), fill('sell', '0.3', '0.7')]);
    expect(total).toBe(money('0.12'));
    expect(0.3 * (0.7 - 0.3)).not.toBe(0.12); // what doubles would have said
  });

  describe('fees', () => {
    it('realizes a closing fill fee at once', () => {
      const { pieces } = run([fill('buy', '10', '100'), fill('sell', '10', '101', { fee: '1.5' })]);
      expect(pieces[0]?.realized).toBe(money('8.5'));
    });

    it('carries an opening fee in the lot and realizes it pro rata as the lot closes', () => {
      const { pieces, position } = run([fill('buy', '10', '100', { fee: '1' }), fill('sell', '4', '100'), fill('sell', '6', '100')]);
      expect(pieces.map((p) => p.realized)).toEqual([money('-0.4'), money('-0.6')]);
      expect(position.lots).toEqual([]);
    });

    it('loses no atto-unit to rounding: the emptying close takes the remainder', () => {
      const { pieces, total } = run([
        fill('buy', '3', '1', { fee: '0.000000000000000001' }),
        fill('sell', '1', '1'),
        fill('sell', '1', '1'),
        fill('sell', '1', '1'),
      ]);
      expect(pieces.map((p) => p.realized)).toEqual([0n, 0n, -1n]);
      expect(total).toBe(-1n);
    });

    it('splits a flipping fill fee between its closing and opening parts', () => {
      const { position, pieces } = run([fill('buy', '2', '10'), fill('sell', '4', '10', { fee: '4' })]);
      expect(pieces[0]?.realized).toBe(money('-2'));
      expect(position.lots[0]?.fee).toBe(money('2'));
      const closed = run([fill('buy', '2', '10')], position);
      expect(closed.total).toBe(money('-2'));
    });

    it('treats a negative fee as a rebate', () => {
      const { total } = run([fill('buy', '1', '10', { fee: '-0.01' }), fill('sell', '1', '10', { fee: '-0.01' })]);
      expect(total).toBe(money('0.02'));
    });
  });

  it('refuses fills it cannot apply', () => {
    const p = emptyPosition('AAPL');
    expect(() => applyFill(p, fill('buy', '1', '10', { symbol: 'MSFT' }))).toThrow(/MSFT, not AAPL/);
    expect(() => applyFill(p, fill('buy', '0', '10'))).toThrow(/must be > 0/);
    expect(() => applyFill(p, fill('buy', '-1', '10'))).toThrow(/must be > 0/);
    expect(() => applyFill(p, fill('buy', '1', '0'))).toThrow(/must be > 0/);
    expect(() => applyFill(p, fill('buy', '1', '1e2'))).toThrow(RangeError);
    expect(() => applyFill(p, fill('buy', '0.0000000001', '10'))).toThrow(RangeError);
  });

  it('does not mutate the position it is given', () => {
    const { position } = run([fill('buy', '10', '100')]);
    const before = serializePosition(position);
    applyFill(position, fill('sell', '4', '120'));
    expect(serializePosition(position)).toEqual(before);
  });

  it('orders fills by time, then id', () => {
    const a = fill('buy', '1', '1', { id: 'b', timeMs: 5 });
    const b = fill('buy', '1', '1', { id: 'a', timeMs: 5 });
    const c = fill('buy', '1', '1', { id: 'z', timeMs: 4 });
    expect([a, b, c].sort(compareFills).map((f) => f.id)).toEqual(['z', 'a', 'b']);
  });
});

describe('stored positions', () => {
  it('round-trip and refuse malformed ones', () => {
    const { position } = run([fill('sell', '1.5', '10.25', { fee: '0.01' }), fill('sell', '2', '11')]);
    const json = serializePosition(position);
    expect(json.lots[0]).toMatchObject({ side: 'short', qty: '1.5', price: '10.25', fee: '0.01' });
    expect(parsePosition(JSON.parse(JSON.stringify(json)))).toEqual({ ok: true, position });
    const lot0 = json.lots[0];
    if (lot0 === undefined) throw new Error('no lot');
    for (const bad of [
      null,
      { symbol: 'AAPL' },
      { ...json, lots: [{ ...lot0, qty: '0' }] },
      { ...json, lots: [{ ...lot0, qty: '-1' }] },
      { ...json, lots: [{ ...lot0, price: '1e3' }] },
      { ...json, lots: [{ ...lot0, side: 'flat' }] },
      { ...json, lots: [lot0, { ...lot0, side: 'long' }] },
      { ...json, extra: 1 },
    ]) {
      expect(parsePosition(bad).ok).toBe(false);
    }
  });
});

// ---- property tests --------------------------------------------------------------------

/** An order in whole test units: qty in hundredths, price in 1/10000, fee in 1/10000. */
interface TestOrder {
  side: 'buy' | 'sell';
  qtyHundredths: number;
  priceBp: number;
  feeBp: number;
  /** Relative sizes of the partial fills the order is split into. */
  parts: number[];
}

const orderArb = (withFees: boolean): fc.Arbitrary<TestOrder> =>
  fc.record({
    side: fc.constantFrom('buy' as const, 'sell' as const),
    qtyHundredths: fc.integer({ min: 1, max: 5_000 }),
    priceBp: fc.integer({ min: 1, max: 2_000_000 }),
    feeBp: withFees ? fc.integer({ min: 0, max: 50_000 }) : fc.constant(0),
    parts: fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 4 }),
  });

const qtyStr = (hundredths: bigint) => formatDecimal(hundredths * 10n ** 7n, QTY_DECIMALS);
const priceStr = (bp: number) => formatDecimal(BigInt(bp) * 10n ** 5n, PRICE_DECIMALS);
const feeStr = (bp: bigint) => formatDecimal(bp * 10n ** 14n, MONEY_DECIMALS);

/** Splits n into at most parts.length positive integers proportional to parts (exact sum). */
function splitInteger(n: bigint, parts: number[]): bigint[] {
  const weights = parts.map(BigInt);
  const total = weights.reduce((a, b) => a + b, 0n);
  const out = weights.map((w) => (n * w) / total);
  out[out.length - 1] = (out[out.length - 1] ?? 0n) + (n - out.reduce((a, b) => a + b, 0n));
  return out;
}

/** One fill per order, or each order split into partial fills (fee split too, exact sum). */
function toFills(orders: TestOrder[], split: boolean): Fill[] {
  const fills: Fill[] = [];
  let t = 0;
  orders.forEach((o, i) => {
    const q = BigInt(o.qtyHundredths);
    const qtys = split ? splitInteger(q, o.parts) : [q];
    const fees = split ? splitInteger(BigInt(o.feeBp), o.parts) : [BigInt(o.feeBp)];
    qtys.forEach((pq, j) => {
      if (pq === 0n) {
        // A zero-quantity partial does not exist; move its fee to the next one.
        const nextIdx = j + 1 < fees.length ? j + 1 : j - 1;
        fees[nextIdx] = (fees[nextIdx] ?? 0n) + (fees[j] ?? 0n);
        fees[j] = 0n;
      }
    });
    qtys.forEach((pq, j) => {
      if (pq === 0n) return;
      const fee = fees[j] ?? 0n;
      fills.push({
        id: `o${i}-p${j}`,
        orderId: `o${i}`,
        symbol: 'X',
        side: o.side,
        qty: qtyStr(pq),
        price: priceStr(o.priceBp),
        ...(fee === 0n ? {} : { fee: feeStr(fee) }),
        timeMs: t++,
      });
    });
  });
  return fills;
}

/** Appends an order that brings the position back to flat. */
function flatten(orders: TestOrder[], priceBp: number, feeBp = 0): TestOrder[] {
  let net = 0;
  for (const o of orders) net += o.side === 'buy' ? o.qtyHundredths : -o.qtyHundredths;
  if (net === 0) return orders;
  return [...orders, { side: net > 0 ? 'sell' : 'buy', qtyHundredths: Math.abs(net), priceBp, feeBp, parts: [1, 2, 3] }];
}

function runX(fills: Fill[]) {
  return run(fills, emptyPosition('X'));
}

describe('FIFO properties', () => {
  it('once flat, total realized = Σ sell notional − Σ buy notional − Σ fees, exactly', () => {
    fc.assert(
      fc.property(fc.array(orderArb(true), { maxLength: 25 }), fc.integer({ min: 1, max: 2_000_000 }), fc.boolean(), (orders, px, split) => {
        const fills = toFills(flatten(orders, px, 7), split);
        const { position, total } = runX(fills);
        expect(position.lots).toEqual([]);
        let expected = 0n;
        for (const f of fills) {
          const notional = parseDecimal(f.qty, QTY_DECIMALS) * parseDecimal(f.price, PRICE_DECIMALS);
          expected += f.side === 'sell' ? notional : -notional;
          expected -= f.fee === undefined ? 0n : parseDecimal(f.fee, MONEY_DECIMALS);
        }
        expect(total).toBe(expected);
      }),
    );
  });

  it('lots never go negative, stay on one side and add up to the net position', () => {
    fc.assert(
      fc.property(fc.array(orderArb(true), { maxLength: 25 }), fc.boolean(), (orders, split) => {
        let position = emptyPosition('X');
        let net = 0n;
        for (const f of toFills(orders, split)) {
          position = applyFill(position, f).position;
          net += f.side === 'buy' ? parseDecimal(f.qty, QTY_DECIMALS) : -parseDecimal(f.qty, QTY_DECIMALS);
          for (const lot of position.lots) {
            expect(lot.qty > 0n).toBe(true);
            expect(lot.side).toBe(position.lots[0]?.side);
          }
          expect(netQty(position)).toBe(net);
        }
      }),
    );
  });

  it('without fees, splitting fills into partials changes neither the realized total nor the events, at any point', () => {
    fc.assert(
      fc.property(fc.array(orderArb(false), { maxLength: 25 }), (orders) => {
        const whole = runX(toFills(orders, false));
        const split = runX(toFills(orders, true));
        expect(split.total).toBe(whole.total);
        expect(netQty(split.position)).toBe(netQty(whole.position));
        const ev = (pieces: RealizedPiece[]) => realizedEventsFromPieces(pieces).map((e) => [e.orderId, e.realized, e.closedQty]);
        expect(ev(split.pieces)).toEqual(ev(whole.pieces));
        // Every partial that closes something is a piece, but the events are one per order.
        expect(realizedEventsFromPieces(split.pieces)).toHaveLength(whole.pieces.length);
      }),
    );
  });

  it('with fees, splitting does not change the realized total once flat, nor the number of events', () => {
    fc.assert(
      fc.property(fc.array(orderArb(true), { maxLength: 25 }), fc.integer({ min: 1, max: 2_000_000 }), (orders, px) => {
        const flat = flatten(orders, px, 3);
        const whole = runX(toFills(flat, false));
        const split = runX(toFills(flat, true));
        expect(split.total).toBe(whole.total);
        expect(realizedEventsFromPieces(split.pieces).length).toBe(realizedEventsFromPieces(whole.pieces).length);
      }),
    );
  });

  it('a serialised position continues exactly like the live one', () => {
    fc.assert(
      fc.property(fc.array(orderArb(true), { maxLength: 15 }), fc.array(orderArb(true), { maxLength: 15 }), (first, second) => {
        const a = runX(toFills(first, false));
        const stored = parsePosition(JSON.parse(JSON.stringify(serializePosition(a.position))));
        if (!stored.ok) throw new Error(JSON.stringify(stored.issues));
        const rest = toFills(second, false).map((f) => ({ ...f, id: `b-${f.id}`, orderId: `b-${f.orderId}` }));
        expect(run(rest, stored.position).total).toBe(run(rest, a.position).total);
      }),
    );
  });
});
