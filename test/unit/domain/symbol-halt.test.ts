import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideSymbolHalt, isHaltableSymbol, symbolHaltDocId } from '../../../functions/src/domain/symbol-halt.js';
import { validateIntent } from '../../../functions/src/domain/intent.js';

const symbolArb = fc.stringMatching(/^[A-Z0-9][A-Z0-9./-]{0,20}$/);
const notBoolean = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant(undefined), fc.array(fc.boolean()), fc.dictionary(fc.string(), fc.boolean()), fc.date());

describe('decideSymbolHalt', () => {
  it('no document: not halted', () => {
    fc.assert(fc.property(symbolArb, (s) => {
      expect(decideSymbolHalt(s, undefined)).toEqual({ halted: false, reason: null });
    }));
  });

  it('halted: true halts with the reason and who; halted: false does not, whatever notes are beside it', () => {
    fc.assert(
      fc.property(symbolArb, fc.boolean(), fc.option(fc.string({ maxLength: 40 }), { nil: undefined }), fc.dictionary(fc.stringMatching(/^note[a-z]{0,5}$/), fc.anything()), (s, halted, reason, notes) => {
        const d = decideSymbolHalt(s, { ...notes, halted, ...(reason === undefined ? {} : { reason }), updatedBy: 'op-alice', updatedAt: new Date(0) });
        expect(d.halted).toBe(halted);
        if (halted) {
          expect(d.reason).toContain(`symbolHalts/${symbolHaltDocId(s)} is halted`);
          expect(d.reason).toContain('op-alice');
          if (reason) expect(d.reason).toContain(reason);
        } else expect(d.reason).toBeNull();
      }),
    );
  });

  it('halted not a boolean (absent, "false", 0, null, ...): halted, the reason naming the field', () => {
    fc.assert(
      fc.property(symbolArb, notBoolean, (s, halted) => {
        const doc = halted === undefined ? { reason: 'x' } : { halted, reason: 'x' };
        const d = decideSymbolHalt(s, doc);
        expect(d.halted).toBe(true);
        expect(d.reason).toMatch(/is malformed \(halted: halted must be a boolean/);
      }),
    );
    expect(decideSymbolHalt('AAPL', { halted: 'false' }).halted).toBe(true);
  });

  it('a known field of the wrong type halts too; so does a document that is not a map', () => {
    for (const doc of [{ halted: false, reason: 5 }, { halted: false, updatedBy: true }, { halted: false, updatedAt: 'yesterday' }, { halted: false, updatedAt: 12 }]) {
      const d = decideSymbolHalt('AAPL', doc);
      expect(d, JSON.stringify(doc)).toMatchObject({ halted: true });
      expect(d.reason).toMatch(/malformed \((reason|updatedBy|updatedAt):/);
    }
    for (const doc of [null, 'halted', 1, true, false, [], [{ halted: false }]]) {
      expect(decideSymbolHalt('AAPL', doc), JSON.stringify(doc)).toMatchObject({ halted: true });
    }
  });

  it('is total: never throws, and only a well-formed halted: false or no document trades', () => {
    fc.assert(
      fc.property(symbolArb, fc.anything(), (s, data) => {
        const d = decideSymbolHalt(s, data);
        expect(typeof d.halted).toBe('boolean');
        if (!d.halted) expect(data === undefined || (typeof data === 'object' && data !== null && (data as { halted?: unknown }).halted === false)).toBe(true);
        else expect(typeof d.reason).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('symbol document ids', () => {
  it('every symbol an intent may carry is haltable and maps one to one to a Firestore id without /', () => {
    const seen = new Map<string, string>();
    fc.assert(
      fc.property(symbolArb, (s) => {
        expect(isHaltableSymbol(s)).toBe(true);
        const id = symbolHaltDocId(s);
        expect(id).not.toContain('/');
        expect(id).not.toMatch(/^\.\.?$|^__.*__$/);
        const before = seen.get(id);
        if (before !== undefined) expect(before).toBe(s);
        seen.set(id, s);
      }),
    );
    expect(symbolHaltDocId('BTC/USD')).toBe('BTC_USD');
    expect(symbolHaltDocId('BRK.B')).toBe('BRK.B');
  });

  it('accepts the symbols the intent schema accepts, and nothing else', () => {
    const base = { intentId: 'i-1', strategyId: 's-1', side: 'buy', qty: 1, type: 'market', timeInForce: 'day', createdAt: '2026-01-02T14:30:00Z' };
    fc.assert(
      fc.property(fc.oneof(symbolArb, fc.string({ maxLength: 24 })), (s) => {
        expect(isHaltableSymbol(s)).toBe(validateIntent({ ...base, symbol: s }).ok);
      }),
    );
  });
});
