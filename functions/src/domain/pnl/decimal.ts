/**
 * Exact fixed-point decimals for the P&L ledger.
 *
 * The broker sends quantities, prices and fees as decimal strings. Doubles cannot hold most
 * of them exactly (0.1), and FIFO realized P&L sums many products, so the ledger works in
 * bigint units: a quantity in 10⁻⁹ (Alpaca's finest crypto quantity), a price in 10⁻⁹, and
 * money — a quantity times a price, and fees — in 10⁻¹⁸. Products and sums are then exact;
 * the only division in the ledger is the split of a fee across partial closes (fifo.ts).
 * A string with more decimals than its scale is refused, never rounded.
 */

export const QTY_DECIMALS = 9;
export const PRICE_DECIMALS = 9;
/** qty units × price units. */
export const MONEY_DECIMALS = QTY_DECIMALS + PRICE_DECIMALS;

const DECIMAL_PATTERN = /^(-)?(\d+)(?:\.(\d+))?$/;

export function isDecimalString(text: string, maxDecimals: number): boolean {
  const m = DECIMAL_PATTERN.exec(text);
  return m !== null && (m[3] ?? '').length <= maxDecimals;
}

/** "12.5" at 9 decimals → 12_500_000_000n. Throws RangeError on anything else than a plain decimal. */
export function parseDecimal(text: string, decimals: number): bigint {
  const m = DECIMAL_PATTERN.exec(text);
  if (m === null) throw new RangeError(`"${text}" is not a plain decimal number`);
  const fraction = m[3] ?? '';
  if (fraction.length > decimals) throw new RangeError(`"${text}" has more than ${decimals} decimals`);
  const units = BigInt((m[2] ?? '0') + fraction.padEnd(decimals, '0'));
  return m[1] === '-' ? -units : units;
}

/** The inverse of parseDecimal, without trailing zeros: 12_500_000_000n at 9 → "12.5". */
export function formatDecimal(units: bigint, decimals: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  const text = fraction === '' ? whole : `${whole}.${fraction}`;
  return negative && text !== '0' ? `-${text}` : text;
}

const MONEY_UNITS_PER_MICRO = 10n ** BigInt(MONEY_DECIMALS - 6);

/**
 * Money units (10⁻¹⁸) to integer micro-units (10⁻⁶) for the stored stats, rounding half away
 * from zero. Throws RangeError beyond Number.MAX_SAFE_INTEGER micro-units (≈ 9 × 10⁹).
 */
export function moneyToMicros(units: bigint): number {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  let micros = abs / MONEY_UNITS_PER_MICRO;
  if ((abs % MONEY_UNITS_PER_MICRO) * 2n >= MONEY_UNITS_PER_MICRO) micros += 1n;
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${formatDecimal(units, MONEY_DECIMALS)} is too large for micro-units`);
  // Avoid -0: it is not a loss, and JSON/Firestore would not keep the sign anyway.
  return micros === 0n ? 0 : Number(negative ? -micros : micros);
}
