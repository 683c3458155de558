import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideKillSwitch, parseHaltedParam, parseKillSwitchDocument } from '../../../functions/src/domain/kill-switch.js';

const NOT_HALTED = ['', '0', 'false', 'no', 'off'];

/** Every case variant of a word (FaLsE, ...), as a fast-check arbitrary. */
const caseVariantArb = (word: string) =>
  fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }).map((upper) =>
    [...word].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch.toLowerCase())).join(''),
  );
const spaceArb = fc.stringMatching(/^[ \t\r\n]{0,3}$/);
const notHaltedWordArb = fc
  .tuple(spaceArb, fc.constantFrom(...NOT_HALTED).chain(caseVariantArb), spaceArb)
  .map(([a, w, b]) => `${a}${w}${b}`);

/** The oracle, written independently of the source: which param strings do not halt. */
const isNotHaltedWord = (s: string) => NOT_HALTED.includes(s.trim().toLowerCase());

describe('parseHaltedParam', () => {
  it.each([undefined, '', '0', 'false', 'no', 'off', 'FALSE', 'False', 'No', 'OFF', ' false ', '\tno\n', '  ', ' 0 '])(
    '%j does not halt',
    (raw) => {
      expect(parseHaltedParam(raw)).toEqual({ halted: false, raw: raw ?? '' });
    },
  );

  it.each(['1', 'true', 'TRUE', 'yes', 'on', 'flase', 'fals', 'maybe', 'halted', '00', '-0', '0.0', 'n', 'f', 'nope', 'false,', '"false"', 'off!', 'no no', 'null', 'undefined'])(
    '%j halts',
    (raw) => {
      expect(parseHaltedParam(raw)).toEqual({ halted: true, raw });
    },
  );

  it('keeps the raw value as given (untrimmed)', () => {
    expect(parseHaltedParam('  TRUE ').raw).toBe('  TRUE ');
  });

  it('property: every case/whitespace variant of a not-halted word does not halt', () => {
    fc.assert(fc.property(notHaltedWordArb, (raw) => !parseHaltedParam(raw).halted));
  });

  it('property: any string that is not a not-halted word (after trim and lower-case) halts', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^\s*[a-zA-Z0-9]{1,6}\s*$/)), (raw) => {
        expect(parseHaltedParam(raw).halted).toBe(!isNotHaltedWord(raw));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseKillSwitchDocument', () => {
  it.each([undefined, null])('a missing document (%j) is not ok', (data) => {
    expect(parseKillSwitchDocument(data)).toEqual({ ok: false, problem: 'ops/killSwitch does not exist' });
  });

  it('reads a well-formed document', () => {
    expect(parseKillSwitchDocument({ halted: true, reason: 'fat finger', updatedBy: 'ops@example.com', updatedAt: new Date(1000) })).toEqual({
      ok: true,
      halted: true,
      reduceOnly: false,
      reason: 'fat finger',
      updatedBy: 'ops@example.com',
      updatedAtMs: 1000,
    });
    expect(parseKillSwitchDocument({ halted: false })).toEqual({ ok: true, halted: false, reduceOnly: false, reason: null, updatedBy: null, updatedAtMs: null });
    expect(parseKillSwitchDocument({ halted: false, reduceOnly: true })).toMatchObject({ ok: true, halted: false, reduceOnly: true });
  });

  it('accepts updatedAt as an ISO string with offset', () => {
    const r = parseKillSwitchDocument({ halted: false, updatedAt: '2026-01-02T15:30:00+01:00' });
    expect(r).toMatchObject({ ok: true, updatedAtMs: Date.UTC(2026, 0, 2, 14, 30) });
  });

  it('accepts null for the optional fields', () => {
    expect(parseKillSwitchDocument({ halted: false, reason: null, updatedBy: null, updatedAt: null })).toMatchObject({ ok: true, halted: false });
  });

  it('allows extra fields (operators add notes)', () => {
    expect(parseKillSwitchDocument({ halted: false, note: 'resumed after review', ticket: 42 })).toMatchObject({ ok: true, halted: false });
  });

  it.each([
    ['missing halted', {}],
    ['halted "false"', { halted: 'false' }],
    ['halted "true"', { halted: 'true' }],
    ['halted 0', { halted: 0 }],
    ['halted 1', { halted: 1 }],
    ['halted null', { halted: null }],
    ['halted []', { halted: [] }],
    ['Halted (wrong case)', { Halted: false }],
  ])('%s is malformed and names halted', (_l, data) => {
    const r = parseKillSwitchDocument(data);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem).toMatch(/^ops\/killSwitch is malformed \(/);
      expect(r.problem).toContain('halted');
    }
  });

  it('the halted message says a boolean is needed', () => {
    const r = parseKillSwitchDocument({ halted: 'false' });
    expect(r).toEqual({ ok: false, problem: 'ops/killSwitch is malformed (halted: halted must be a boolean (true or false))' });
  });

  it.each([
    ['reason', 42],
    ['reason', { text: 'x' }],
    ['updatedBy', 7],
    ['updatedBy', ['ops']],
    ['updatedAt', 1767364200000],
    ['updatedAt', 'yesterday'],
    ['updatedAt', '2026-01-02T14:30:00'],
    ['updatedAt', new Date(Number.NaN)],
    ['updatedAt', { seconds: 1, nanoseconds: 0 }],
  ])('%s = %j is malformed and named in the problem', (field, value) => {
    const r = parseKillSwitchDocument({ halted: false, [field]: value });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain(field);
  });

  it.each([['a string', 'halted: false'], ['an array', [{ halted: false }]], ['a number', 0], ['false', false], ['true', true]])(
    'a document that is %s is malformed',
    (_l, data) => {
      expect(parseKillSwitchDocument(data).ok).toBe(false);
    },
  );
});

describe('decideKillSwitch', () => {
  it('reduceOnly: true with halted: false is the reduce-only posture; absent or false is plain trading', () => {
    expect(decideKillSwitch({ halted: false, reduceOnly: true }, 'false')).toMatchObject({ halted: false, reduceOnly: true, reason: null });
    expect(decideKillSwitch({ halted: false, reduceOnly: false }, 'false')).toMatchObject({ halted: false, reduceOnly: false });
    expect(decideKillSwitch({ halted: false }, 'false')).toMatchObject({ halted: false, reduceOnly: false });
  });

  it('halted wins over reduce-only, from the document or the param', () => {
    expect(decideKillSwitch({ halted: true, reduceOnly: true }, 'false')).toMatchObject({ halted: true, reduceOnly: false });
    expect(decideKillSwitch({ halted: false, reduceOnly: true }, 'true')).toMatchObject({ halted: true, reduceOnly: false, sources: ['param'] });
  });

  it.each(['yes', 'true', 1, 0, null, {}, []])('a reduceOnly that is not a boolean (%j) halts and names the field', (reduceOnly) => {
    const s = decideKillSwitch({ halted: false, reduceOnly }, 'false');
    expect(s).toMatchObject({ halted: true, reduceOnly: false, sources: ['document'], document: null });
    expect(s.reason).toContain('reduceOnly must be a boolean');
  });

  it('not halted only when the document says halted: false and the param is a not-halted word', () => {
    expect(decideKillSwitch({ halted: false }, 'false')).toEqual({
      halted: false,
      reduceOnly: false,
      reason: null,
      sources: [],
      document: { reason: null, updatedBy: null, updatedAtMs: null },
    });
  });

  it.each([undefined, null])('a missing document (%j) halts, and says how to resume', (doc) => {
    const s = decideKillSwitch(doc, 'false');
    expect(s.halted).toBe(true);
    expect(s.sources).toEqual(['document']);
    expect(s.reason).toContain('ops/killSwitch does not exist');
    expect(s.reason).toContain('halted until an operator writes halted: false');
    expect(s.document).toBeNull();
  });

  it.each([[{ halted: 'false' }], [{ halted: 0 }], [{ halted: null }], [{}], [{ halted: false, reason: 1 }], [{ halted: false, updatedBy: false }]])(
    'a malformed document %j halts',
    (doc) => {
      const s = decideKillSwitch(doc, 'false');
      expect(s).toMatchObject({ halted: true, sources: ['document'], document: null });
      expect(s.reason).toMatch(/ops\/killSwitch is malformed/);
    },
  );

  it('a halted document halts, and the reason names its reason and author', () => {
    const s = decideKillSwitch({ halted: true, reason: 'fat finger', updatedBy: 'alice' }, 'false');
    expect(s.halted).toBe(true);
    expect(s.sources).toEqual(['document']);
    expect(s.reason).toBe('ops/killSwitch is halted: fat finger (by alice)');
    expect(s.document).toEqual({ reason: 'fat finger', updatedBy: 'alice', updatedAtMs: null });
  });

  it('a halted document without reason or author still halts', () => {
    expect(decideKillSwitch({ halted: true }, '0')).toMatchObject({ halted: true, reason: 'ops/killSwitch is halted', sources: ['document'] });
  });

  it('the param alone halts, and the reason quotes it', () => {
    const s = decideKillSwitch({ halted: false }, 'flase');
    expect(s).toMatchObject({ halted: true, sources: ['param'] });
    expect(s.reason).toBe('EXECUTION_HALTED="flase" halts execution');
    expect(s.document).toEqual({ reason: null, updatedBy: null, updatedAtMs: null });
  });

  it('both sources halting are both named, document first', () => {
    const s = decideKillSwitch({ halted: true, reason: 'r' }, 'true');
    expect(s.halted).toBe(true);
    expect(s.sources).toEqual(['document', 'param']);
    expect(s.reason).toBe('ops/killSwitch is halted: r; EXECUTION_HALTED="true" halts execution');
  });

  it('a missing document and a halting param are both named', () => {
    const s = decideKillSwitch(undefined, 'yes');
    expect(s.sources).toEqual(['document', 'param']);
    expect(s.reason).toContain('does not exist');
    expect(s.reason).toContain('EXECUTION_HALTED="yes"');
  });

  it('an undefined param counts as empty (not halted)', () => {
    expect(decideKillSwitch({ halted: false }, undefined).halted).toBe(false);
  });

  it('extra fields do not change the decision', () => {
    expect(decideKillSwitch({ halted: false, note: 'x', nested: { halted: true } }, 'off').halted).toBe(false);
    expect(decideKillSwitch({ halted: true, note: 'x' }, 'off').halted).toBe(true);
  });

  it('carries updatedAt through as epoch ms', () => {
    expect(decideKillSwitch({ halted: false, updatedAt: new Date(Date.UTC(2026, 0, 2)) }, '').document?.updatedAtMs).toBe(Date.UTC(2026, 0, 2));
  });
});

// ---------------------------------------------------------------------------------------------

const ISO_OK = ['2026-01-02T14:30:00Z', '2026-01-02T14:30:00.123+05:30', '1999-12-31T23:59:59-08:00'];

/** Any value a field could hold, including ones of the right type. */
const fieldValueArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.string(),
  fc.constantFrom(...ISO_OK),
  fc.date(),
  fc.anything(),
);

/** The independent oracle: a document is well formed when every field haltgate reads has its type. */
function wellFormedNotHalted(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  if (v.halted !== false) return false;
  const optString = (x: unknown) => x === undefined || x === null || typeof x === 'string';
  if (!optString(v.reason) || !optString(v.updatedBy)) return false;
  const at = v.updatedAt;
  if (at === undefined || at === null) return true;
  if (at instanceof Date) return !Number.isNaN(at.getTime());
  // Looser than the schema (any parseable string): used only to check that not-halted implies it.
  return typeof at === 'string' && !Number.isNaN(Date.parse(at));
}

const paramArb = fc.oneof(notHaltedWordArb, fc.string(), fc.constantFrom('true', '1', 'flase', 'on', 'yes'));

const docArb = fc.oneof(
  fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withDate: true, withNullPrototype: true, withSparseArray: true, withTypedArray: true }),
  fc.object(),
  fc.record(
    { halted: fc.oneof(fc.anything(), fc.boolean(), fc.constantFrom('false', 'true', 0, 1, null)), reason: fieldValueArb, updatedBy: fieldValueArb, updatedAt: fieldValueArb },
    { requiredKeys: [] },
  ),
  fc.record({ halted: fc.constant(false), reason: fieldValueArb, updatedBy: fieldValueArb, updatedAt: fieldValueArb }, { requiredKeys: ['halted'] }),
  fc.tuple(fc.object(), fc.boolean()).map(([o, h]) => ({ ...o, halted: h })),
);

describe('decideKillSwitch: fail-closed properties', () => {
  it('no malformed document and no halting param ever yields not-halted', () => {
    fc.assert(
      fc.property(docArb, paramArb, (doc, param) => {
        const s = decideKillSwitch(doc, param);
        if (!s.halted) {
          expect(wellFormedNotHalted(doc), `not halted for ${fc.stringify(doc)}`).toBe(true);
          expect(isNotHaltedWord(param)).toBe(true);
          expect(s.sources).toEqual([]);
          expect(s.reason).toBeNull();
        } else {
          expect(s.sources.length).toBeGreaterThan(0);
          expect(typeof s.reason).toBe('string');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a well-formed halted: false document with a not-halted param never halts', () => {
    const okField = fc.oneof(fc.constant(undefined), fc.constant(null), fc.string());
    const okAt = fc.oneof(fc.constant(undefined), fc.constant(null), fc.constantFrom(...ISO_OK), fc.date({ noInvalidDate: true }));
    fc.assert(
      fc.property(
        fc.record({ reason: okField, updatedBy: okField, updatedAt: okAt }, { requiredKeys: [] }),
        fc.dictionary(fc.string().filter((k) => !['halted', 'reason', 'updatedBy', 'updatedAt', '__proto__'].includes(k)), fc.anything()),
        notHaltedWordArb,
        (known, extra, param) => {
          const s = decideKillSwitch({ ...extra, ...known, halted: false }, param);
          expect(s.halted).toBe(false);
          expect(s.document).not.toBeNull();
        },
      ),
    );
  });

  it('the sources are exactly the ones that halt, and halted is their OR', () => {
    fc.assert(
      fc.property(docArb, paramArb, (doc, param) => {
        const s = decideKillSwitch(doc, param);
        const parsed = parseKillSwitchDocument(doc);
        const docHalts = !parsed.ok || parsed.halted;
        const paramHalts = parseHaltedParam(param).halted;
        expect(s.sources.includes('document')).toBe(docHalts);
        expect(s.sources.includes('param')).toBe(paramHalts);
        expect(s.halted).toBe(docHalts || paramHalts);
        expect(s.document === null).toBe(!parsed.ok);
      }),
      { numRuns: 1000 },
    );
  });
});
