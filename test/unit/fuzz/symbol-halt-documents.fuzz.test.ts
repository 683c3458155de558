/**
 * `symbolHalts/{symbol}` as people write it in the Firebase console (issue 11): arbitrary
 * Firestore values (Timestamps, GeoPoints, bytes, nested maps, wrong types) as Firestore hands
 * them over (timestampsToDates), checked against the data contract by an oracle written from
 * DESIGN.md, not from the code: `{ halted: boolean, reason, updatedBy, updatedAt }`; no
 * document → not halted; `halted` not a boolean, or a known field of the wrong type → halted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideSymbolHalt } from '../../../functions/src/domain/symbol-halt.js';
import { timestampsToDates } from '../../../functions/src/store/firestore-values.js';
import { firestoreDocArb, firestoreValueArb, isPlainMap, timestampArb } from './arbitraries.js';

/** The contract's answer: does the symbol trade? `unsure` only for free-form date strings. */
function contractOpen(doc: unknown): boolean | 'unsure' {
  if (doc === undefined) return true;
  if (!isPlainMap(doc)) return false;
  if (doc.halted !== false) return false;
  const text = (v: unknown) => v === undefined || v === null || typeof v === 'string';
  if (!text(doc.reason) || !text(doc.updatedBy)) return false;
  const at = doc.updatedAt;
  if (at === undefined || at === null) return true;
  if (at instanceof Date) return Number.isFinite(at.getTime());
  return typeof at === 'string' ? 'unsure' : false;
}

const symbolDocArb = fc.oneof(
  firestoreDocArb,
  fc.record(
    { halted: fc.oneof(fc.boolean(), firestoreValueArb), reason: firestoreValueArb, updatedBy: firestoreValueArb, updatedAt: fc.oneof(timestampArb, firestoreValueArb), note: firestoreValueArb },
    { requiredKeys: ['halted'] },
  ),
  fc.record({ halted: fc.constant(false), reason: fc.string(), updatedBy: fc.string(), updatedAt: timestampArb }),
);

describe('symbolHalts documents as people write them', () => {
  it('matches the contract; a halted answer always says why', () => {
    let open = 0;
    fc.assert(
      fc.property(fc.option(symbolDocArb, { nil: undefined }), (raw) => {
        const doc = raw === undefined ? undefined : timestampsToDates(raw);
        const d = decideSymbolHalt('AAPL', doc);
        const expected = contractOpen(doc);
        if (expected !== 'unsure') expect(!d.halted, JSON.stringify(doc)).toBe(expected);
        if (d.halted) expect(d.reason).toMatch(/^symbolHalts\/AAPL /);
        if (!d.halted) open += 1;
      }),
      { seed: 1111, numRuns: 3000 },
    );
    expect(open).toBeGreaterThan(100);
  });
});
