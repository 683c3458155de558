import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  exposureFields,
  FLAT,
  qtyUnits,
  readExposure,
  withFill,
  withoutPending,
  withPending,
  worstAbsPosition,
  worstCase,
} from '../../../../functions/src/domain/exposure/exposure.js';
import { exposureArb, SHARE as UNIT } from './fixtures.js';

const units = (n: number) => BigInt(Math.round(n * 1e9));

describe('exposure document', () => {
  it('a missing document is flat', () => {
    expect(readExposure(undefined)).toEqual({ ok: true, exposure: FLAT });
  });

  it('round-trips through its stored fields exactly (property)', () => {
    fc.assert(
      fc.property(exposureArb, (e) => {
        expect(readExposure({ ...exposureFields(e), updatedAt: new Date(0) })).toEqual({ ok: true, exposure: e });
      }),
    );
  });

  it('stores exact decimal strings without trailing zeros', () => {
    expect(exposureFields({ position: -units(10.5), pendingBuy: 0n, pendingSell: 1n })).toEqual({ position: '-10.5', pendingBuy: '0', pendingSell: '0.000000001' });
  });

  it('refuses a malformed document with the field and why', () => {
    expect(readExposure({ position: 10, pendingBuy: '0', pendingSell: '0' })).toMatchObject({ ok: false, problem: expect.stringContaining('position') });
    expect(readExposure({ position: '1', pendingBuy: '-1', pendingSell: '0' })).toMatchObject({ ok: false, problem: expect.stringMatching(/pendingBuy: must not be negative/) });
    expect(readExposure({ position: '1.0000000001', pendingBuy: '0', pendingSell: '0' })).toMatchObject({ ok: false, problem: expect.stringContaining('at most 9 decimals') });
    expect(readExposure({ position: '1', pendingBuy: '0' })).toMatchObject({ ok: false, problem: expect.stringContaining('pendingSell') });
    expect(readExposure('1')).toMatchObject({ ok: false });
  });
});

describe('quantities', () => {
  it('reads an intent quantity exactly from its shortest text', () => {
    expect(qtyUnits(0.1)).toBe(100_000_000n);
    expect(qtyUnits(10)).toBe(10n * UNIT);
    expect(qtyUnits(0.000000001)).toBe(1n);
  });

  it('reads every quantity with at most 9 decimals exactly (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 15n }), (u) => {
        const text = `${u / UNIT}.${(u % UNIT).toString().padStart(9, '0')}`;
        const qty = Number(text);
        // Only where the double is that decimal: above 2^53 units it may not be.
        fc.pre(Number(qty.toFixed(9)) === qty && BigInt(Math.round(qty * 1e9)) === u);
        expect(qtyUnits(qty)).toBe(u);
      }),
    );
  });

  it('rounds a finer quantity up, never down; refuses what no order can carry', () => {
    expect(qtyUnits(1e-10)).toBe(1n);
    expect(qtyUnits(0.1234567891)).toBe(123_456_790n);
    expect(qtyUnits(1.0000000000000003e-9)).toBe(2n);
    expect(() => qtyUnits(0)).toThrow(RangeError);
    expect(() => qtyUnits(-1)).toThrow(RangeError);
    expect(() => qtyUnits(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => qtyUnits(1e21)).toThrow(RangeError);
  });

  it('a quantity just above a 9-decimal one counts one unit more (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.integer({ min: 1, max: 9 }), (u, extra) => {
        const base = `${u / UNIT}.${(u % UNIT).toString().padStart(9, '0')}`;
        const qty = Number(`${base}${extra}`);
        // Only where the doubles tell the two apart (and the base is itself exact).
        fc.pre(Number(base) < qty && qtyUnits(Number(base)) === u);
        expect(qtyUnits(qty)).toBe(u + 1n);
      }),
    );
  });
});

describe('pending and fills', () => {
  it('a claim is pending on its side; a fill moves it into the position; a dead order releases it', () => {
    const claimed = withPending(FLAT, 'buy', units(10));
    expect(claimed).toEqual({ position: 0n, pendingBuy: units(10), pendingSell: 0n });
    const partly = withFill(claimed, 'buy', units(4));
    expect(partly).toEqual({ position: units(4), pendingBuy: units(6), pendingSell: 0n });
    expect(withoutPending(partly, 'buy', units(6))).toEqual({ position: units(4), pendingBuy: 0n, pendingSell: 0n });
    expect(withFill({ position: units(4), pendingBuy: 0n, pendingSell: units(4) }, 'sell', units(4))).toEqual(FLAT);
  });

  it('pending never goes below zero, even when a release is counted twice', () => {
    expect(withoutPending({ position: 0n, pendingBuy: units(1), pendingSell: 0n }, 'buy', units(3))).toEqual(FLAT);
    expect(withFill({ position: 0n, pendingBuy: 0n, pendingSell: 0n }, 'sell', units(2))).toEqual({ position: -units(2), pendingBuy: 0n, pendingSell: 0n });
  });

  it('worst cases: every pending buy and no sell fills, or the reverse (property)', () => {
    fc.assert(
      fc.property(exposureArb, fc.bigInt({ min: 0n, max: 1n << 62n }), fc.bigInt({ min: 0n, max: 1n << 62n }), (e, b, s) => {
        const { highest, lowest } = worstCase(e);
        // Any partial fills of what is pending land between the extremes.
        const fb = e.pendingBuy === 0n ? 0n : b % (e.pendingBuy + 1n);
        const fs = e.pendingSell === 0n ? 0n : s % (e.pendingSell + 1n);
        const reached = withFill(withFill(e, 'buy', fb), 'sell', fs).position;
        expect(reached <= highest && reached >= lowest).toBe(true);
        const abs = reached < 0n ? -reached : reached;
        expect(abs <= worstAbsPosition(e)).toBe(true);
      }),
    );
  });
});
