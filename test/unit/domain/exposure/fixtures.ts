import fc from 'fast-check';
import type { Exposure } from '../../../../functions/src/domain/exposure/exposure.js';

/** One share in exposure units (10⁻⁹). */
export const SHARE = 1_000_000_000n;

/** Exposures up to a million shares either way, pending quantities ≥ 0, at the finest unit. */
export const exposureArb: fc.Arbitrary<Exposure> = fc.record({
  position: fc.bigInt({ min: -1_000_000n * SHARE, max: 1_000_000n * SHARE }),
  pendingBuy: fc.bigInt({ min: 0n, max: 1_000_000n * SHARE }),
  pendingSell: fc.bigInt({ min: 0n, max: 1_000_000n * SHARE }),
});

/** An exposure in whole shares. */
export const shares = (position: bigint, pendingBuy = 0n, pendingSell = 0n): Exposure => ({ position: position * SHARE, pendingBuy: pendingBuy * SHARE, pendingSell: pendingSell * SHARE });
