import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MONEY_DECIMALS, formatDecimal, isDecimalString, moneyToMicros, parseDecimal } from '../../../../functions/src/domain/pnl/decimal.js';

describe('decimal', () => {
  it('parses plain decimals exactly', () => {
    expect(parseDecimal('12.5', 9)).toBe(12_500_000_000n);
    expect(parseDecimal('0.000000001', 9)).toBe(1n);
    expect(parseDecimal('-3', 2)).toBe(-300n);
    expect(parseDecimal('0.1', 1) + parseDecimal('0.2', 1)).toBe(parseDecimal('0.3', 1));
  });

  it('refuses what it cannot hold exactly or does not understand', () => {
    for (const bad of ['', '.5', '5.', '1e3', '+1', ' 1', 'NaN', '1,5', '0x10']) expect(() => parseDecimal(bad, 9)).toThrow(RangeError);
    expect(() => parseDecimal('0.0000000001', 9)).toThrow(/more than 9 decimals/);
    expect(isDecimalString('0.0000000001', 9)).toBe(false);
    expect(isDecimalString('123.45', 9)).toBe(true);
  });

  it('formats without trailing zeros', () => {
    expect(formatDecimal(12_500_000_000n, 9)).toBe('12.5');
    expect(formatDecimal(1n, 9)).toBe('0.000000001');
    expect(formatDecimal(-1_000_000_000n, 9)).toBe('-1');
    expect(formatDecimal(0n, 9)).toBe('0');
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 18 }), (units, decimals) => {
        expect(parseDecimal(formatDecimal(units, decimals), decimals)).toBe(units);
      }),
    );
  });

  it('rounds money to micro-units half away from zero', () => {
    const m = (s: string) => moneyToMicros(parseDecimal(s, MONEY_DECIMALS));
    expect(m('1.25')).toBe(1_250_000);
    expect(m('0.0000005')).toBe(1);
    expect(m('0.00000049')).toBe(0);
    expect(m('-0.0000005')).toBe(-1);
    expect(m('-0.00000049')).toBe(0);
    expect(Object.is(m('-0.0000001'), 0)).toBe(true);
    expect(() => m('99999999999')).toThrow(RangeError);
  });
});
