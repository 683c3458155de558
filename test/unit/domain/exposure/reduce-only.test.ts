import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLAT, withFill, withPending, type Side } from '../../../../functions/src/domain/exposure/exposure.js';
import { reduceOnlyVerdict, reducibleQty } from '../../../../functions/src/domain/exposure/reduce-only.js';
import { exposureArb, shares as at, SHARE as S } from './fixtures.js';

describe('reduce-only posture', () => {
  it('a flat strategy can open nothing, on either side', () => {
    for (const side of ['buy', 'sell'] as const) {
      expect(reduceOnlyVerdict(FLAT, side, 1n)).toMatchObject({ allowed: false, reason: 'flat', maxQty: 0n });
      // Pending orders do not make a flat position reducible.
      expect(reduceOnlyVerdict(at(0n, 5n, 5n), side, 1n)).toMatchObject({ allowed: false, reason: 'flat' });
    }
  });

  it('long 10 with a pending sell of 6 may sell 4, not 5', () => {
    const e = at(10n, 0n, 6n);
    expect(reduceOnlyVerdict(e, 'sell', 4n * S)).toEqual({ allowed: true });
    expect(reduceOnlyVerdict(e, 'sell', 5n * S)).toMatchObject({ allowed: false, reason: 'would_flip', maxQty: 4n * S, detail: expect.stringContaining('at most 4 may be sold') });
  });

  it('a pending buy earns a long no room to sell more', () => {
    expect(reduceOnlyVerdict(at(10n, 50n, 0n), 'sell', 11n * S)).toMatchObject({ allowed: false, reason: 'would_flip', maxQty: 10n * S });
  });

  it('the growing side is refused whatever the quantity', () => {
    expect(reduceOnlyVerdict(at(10n), 'buy', 1n)).toMatchObject({ allowed: false, reason: 'would_grow', maxQty: 0n });
    expect(reduceOnlyVerdict(at(-10n), 'sell', 1n)).toMatchObject({ allowed: false, reason: 'would_grow', maxQty: 0n });
  });

  it('a short is reduced by buying, up to its size less the pending buys', () => {
    expect(reduceOnlyVerdict(at(-5n), 'buy', 5n * S)).toEqual({ allowed: true });
    expect(reduceOnlyVerdict(at(-5n), 'buy', 5n * S + 1n)).toMatchObject({ allowed: false, reason: 'would_flip' });
    expect(reduceOnlyVerdict(at(-5n, 5n), 'buy', 1n)).toMatchObject({ allowed: false, reason: 'would_flip', maxQty: 0n });
  });

  it('allows exactly up to reducibleQty, and that much is never more than the position (property)', () => {
    fc.assert(
      fc.property(exposureArb, fc.constantFrom<Side>('buy', 'sell'), fc.bigInt({ min: 1n, max: 1n << 60n }), (e, side, qty) => {
        const room = reducibleQty(e, side);
        expect(reduceOnlyVerdict(e, side, qty).allowed).toBe(e.position !== 0n && qty <= room);
        const abs = e.position < 0n ? -e.position : e.position;
        expect(room <= abs).toBe(true);
      }),
    );
  });

  it('an allowed order never lets |position| grow or flip, whichever pending orders of its side fill (property)', () => {
    fc.assert(
      fc.property(exposureArb, fc.constantFrom<Side>('buy', 'sell'), fc.bigInt({ min: 0n, max: 1n << 62n }), fc.bigInt({ min: 0n, max: 1n << 62n }), (e, side, q, pick) => {
        const room = reducibleQty(e, side);
        fc.pre(room > 0n);
        const qty = 1n + (q % room);
        expect(reduceOnlyVerdict(e, side, qty)).toEqual({ allowed: true });
        const after = withPending(e, side, qty);
        const pending = side === 'sell' ? after.pendingSell : after.pendingBuy;
        // Any amount of the side's pending orders (this one included) fills; the other side's
        // pending orders do not (they would move the position away from zero).
        const filled = pick % (pending + 1n);
        const position = withFill(after, side, filled).position;
        const before = e.position;
        const abs = (x: bigint) => (x < 0n ? -x : x);
        expect(abs(position) <= abs(before)).toBe(true);
        expect(position === 0n || position > 0n === before > 0n).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('a sequence of allowed claims under reduce-only can at most close the position (property)', () => {
    fc.assert(
      fc.property(exposureArb, fc.array(fc.tuple(fc.constantFrom<Side>('buy', 'sell'), fc.bigInt({ min: 1n, max: 1_000_000n * S })), { maxLength: 20 }), (start, orders) => {
        let e = start;
        for (const [side, qty] of orders) if (reduceOnlyVerdict(e, side, qty).allowed) e = withPending(e, side, qty);
        // Every claim that passed filled in full: the position still has the start's sign or is 0.
        const final = e.position + e.pendingBuy - start.pendingBuy - (e.pendingSell - start.pendingSell);
        expect(final === 0n || final > 0n === start.position > 0n).toBe(true);
        const abs = (x: bigint) => (x < 0n ? -x : x);
        expect(abs(final) <= abs(start.position)).toBe(true);
      }),
    );
  });
});
