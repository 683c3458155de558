import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalIntent,
  MAX_INTENT_BYTES,
  parseIntentText,
  sameIntent,
  validateIntent,
  type IntentParseResult,
  type OrderIntent,
} from '../../../functions/src/domain/intent.js';
import { mulberry32 } from '../../../dev/seeded-random.js';
import {
  INVALID_VALUES,
  isoArb,
  isoAt,
  marketDataArb,
  MAX_MS,
  MIN_MS,
  offsetArb,
  positiveArb,
  validIntentArb,
} from '../../support/intent-arbitraries.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

const T0 = '2026-01-02T14:30:00Z';
const T1 = '2026-01-02T14:35:00Z';

function marketIntent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    intentId: 'mom-2026-01-02-0001',
    strategyId: 'momentum_1',
    symbol: 'AAPL',
    side: 'buy',
    qty: 10,
    type: 'market',
    timeInForce: 'day',
    createdAt: T0,
    ...overrides,
  };
}

function limitIntent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return marketIntent({ type: 'limit', limitPrice: 187.25, ...overrides });
}

function bar(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { t: T0, o: 100, h: 101, l: 99, c: 100.5, v: 1200, ...overrides };
}

function without(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...obj };
  delete copy[key];
  return copy;
}

function issuesOf(result: IntentParseResult): { path: string; message: string }[] {
  if (result.ok) throw new Error(`expected a refusal, got ok: ${JSON.stringify(result.intent)}`);
  return result.issues;
}

/** Refused as a schema failure, with at least one issue at `path`; returns that issue's message. */
function expectSchemaIssueAt(value: unknown, path: string): string {
  const result = validateIntent(value);
  expect(result.ok).toBe(false);
  if (result.ok) return '';
  expect(result.failure).toBe('schema');
  const issue = result.issues.find((i) => i.path === path);
  expect(issue, `issues: ${JSON.stringify(result.issues)}`).toBeDefined();
  expect(issue!.message.length).toBeGreaterThan(0);
  return issue!.message;
}

function expectValid(value: unknown): OrderIntent {
  const result = validateIntent(value);
  if (!result.ok) throw new Error(`expected valid, got ${JSON.stringify(result.issues)}`);
  return result.intent;
}

// ---------------------------------------------------------------------------------------------

describe('test helpers', () => {
  it('isoAt writes the instant it was given, in any offset', () => {
    const ms = Date.UTC(2026, 0, 2, 14, 30, 0, 123);
    expect(isoAt(ms, 0)).toBe('2026-01-02T14:30:00.123Z');
    expect(isoAt(ms, 60)).toBe('2026-01-02T15:30:00.123+01:00');
    expect(isoAt(ms, -330)).toBe('2026-01-02T09:00:00.123-05:30');
    fc.assert(fc.property(fc.integer({ min: MIN_MS, max: MAX_MS }), offsetArb, (t, off) => Date.parse(isoAt(t, off)) === t));
  });
});

describe('validateIntent: accepted intents', () => {
  it('accepts a minimal market order and returns it unchanged', () => {
    expect(expectValid(marketIntent())).toEqual(marketIntent());
  });

  it('accepts a limit order with its limit price', () => {
    expect(expectValid(limitIntent()).limitPrice).toBe(187.25);
  });

  it('accepts every optional field together', () => {
    const full = limitIntent({
      side: 'sell',
      timeInForce: 'gtc',
      createdAt: '2026-01-02T14:30:00.123+01:00',
      expiresAt: '2026-01-02T14:30:00.124+01:00',
      marketData: { asOf: T0, bars: [bar(), bar({ t: T1, v: 0 })] },
    });
    expect(expectValid(full)).toEqual(full);
  });

  it.each(['day', 'gtc', 'ioc', 'fok'])('accepts timeInForce %s', (tif) => {
    expectValid(marketIntent({ timeInForce: tif }));
  });

  it.each(['buy', 'sell'])('accepts side %s', (side) => {
    expectValid(marketIntent({ side }));
  });

  it.each(['AAPL', 'BRK.B', 'BTC/USD', 'A', '9', 'SPY-W', 'X'.repeat(21)])('accepts symbol %s', (symbol) => {
    expectValid(marketIntent({ symbol }));
  });

  it.each(['a', 'Z', '0', '_', '-', 'a'.repeat(64), 'Mixed_Case-09'])('accepts intentId and strategyId %s', (id) => {
    expectValid(marketIntent({ intentId: id, strategyId: id }));
  });

  it('accepts fractional and tiny positive quantities', () => {
    expectValid(marketIntent({ qty: 0.0001 }));
    expectValid(marketIntent({ qty: Number.MIN_VALUE }));
    expectValid(marketIntent({ qty: 1e12 }));
  });

  it('accepts an empty bar list and negative prices in bars (no market assumption)', () => {
    expectValid(marketIntent({ marketData: { asOf: T0, bars: [] } }));
    expectValid(marketIntent({ marketData: { asOf: T0, bars: [bar({ o: -1, h: -1, l: -2, c: -1.5 })] } }));
  });

  it('accepts 1000 bars', () => {
    const bars = Array.from({ length: 1000 }, () => bar());
    expectValid(marketIntent({ marketData: { asOf: T0, bars } }));
  });
});

describe('validateIntent: field rules', () => {
  it.each([
    ['empty', ''],
    ['65 characters', 'a'.repeat(65)],
    ['a space', 'has space'],
    ['a dot', 'a.b'],
    ['a slash', 'a/b'],
    ['non-ASCII', 'idé'],
    ['a trailing newline', 'abc\n'],
    ['a number', 42],
    ['null', null],
  ])('intentId refuses %s', (_label, value) => {
    expectSchemaIssueAt(marketIntent({ intentId: value }), 'intentId');
  });

  it('intentId: the pattern message is readable', () => {
    expect(expectSchemaIssueAt(marketIntent({ intentId: 'a b' }), 'intentId')).toBe('must be 1-64 characters of A-Z, a-z, 0-9, _ or -, and not __…__ (reserved by Firestore)');
  });

  it.each(['__x__', '_____', '__strategy-1__'])('refuses %s as intent and as strategy id (Firestore reserves __…__ ids)', (id) => {
    expect(expectSchemaIssueAt(marketIntent({ intentId: id }), 'intentId')).toContain('reserved by Firestore');
    expect(expectSchemaIssueAt(marketIntent({ strategyId: id }), 'strategyId')).toContain('reserved by Firestore');
  });

  it.each(['_', '__', '___', '____', '__x', 'x__', '_x_'])('accepts %s (not a reserved id)', (id) => {
    expect(validateIntent(marketIntent({ intentId: id, strategyId: id })).ok).toBe(true);
  });

  it.each([['', ''], ['65 chars', 'b'.repeat(65)], ['colon', 'a:b'], ['number', 7]])('strategyId refuses %s', (_l, value) => {
    expectSchemaIssueAt(marketIntent({ strategyId: value }), 'strategyId');
  });

  it.each([
    ['lower case', 'aapl'],
    ['empty', ''],
    ['leading dot', '.AAPL'],
    ['leading slash', '/USD'],
    ['22 characters', 'X'.repeat(22)],
    ['a space', 'BRK B'],
    ['an underscore', 'BRK_B'],
    ['a number', 1],
  ])('symbol refuses %s', (_l, value) => {
    const message = expectSchemaIssueAt(marketIntent({ symbol: value }), 'symbol');
    if (typeof value === 'string') expect(message).toMatch(/upper-case ticker/);
  });

  it.each(['BUY', 'Buy', 'hold', 'short', '', null, 1])('side refuses %j', (side) => {
    expectSchemaIssueAt(marketIntent({ side }), 'side');
  });

  it.each([0, -0, -1, -1e-9, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '10', null, true])(
    'qty refuses %j',
    (qty) => {
      expectSchemaIssueAt(marketIntent({ qty }), 'qty');
    },
  );

  it.each(['Market', 'LIMIT', 'stop', 'stop_limit', '', null])('type refuses %j', (type) => {
    expectSchemaIssueAt(marketIntent({ type }), 'type');
  });

  it('limitPrice is required for a limit order', () => {
    expect(expectSchemaIssueAt(without(limitIntent(), 'limitPrice'), 'limitPrice')).toBe('is required for a limit order');
  });

  it('limitPrice is refused on a market order', () => {
    expect(expectSchemaIssueAt(marketIntent({ limitPrice: 10 }), 'limitPrice')).toBe('is only allowed on a limit order');
  });

  it.each([0, -5, Number.POSITIVE_INFINITY, Number.NaN, '187.25', null])('limitPrice refuses %j on a limit order', (limitPrice) => {
    expectSchemaIssueAt(limitIntent({ limitPrice }), 'limitPrice');
  });

  it.each(['DAY', 'opg', 'cls', '', null])('timeInForce refuses %j', (timeInForce) => {
    expectSchemaIssueAt(marketIntent({ timeInForce }), 'timeInForce');
  });

  it.each([
    ['no timezone', '2026-01-02T14:30:00'],
    ['date only', '2026-01-02'],
    ['a space instead of T', '2026-01-02 14:30:00Z'],
    ['lower-case t/z', '2026-01-02t14:30:00z'],
    ['hour 24', '2026-01-02T24:00:00Z'],
    ['February 30', '2026-02-30T00:00:00Z'],
    ['offset without colon', '2026-01-02T14:30:00+0100'],
    ['hours-only offset', '2026-01-02T14:30:00+01'],
    ['words', 'yesterday'],
    ['epoch ms', 1767364200000],
    ['empty', ''],
  ])('createdAt refuses %s', (_l, createdAt) => {
    expectSchemaIssueAt(marketIntent({ createdAt }), 'createdAt');
  });

  it('createdAt: the message shows the expected format', () => {
    expect(expectSchemaIssueAt(marketIntent({ createdAt: '2026-01-02T14:30:00' }), 'createdAt')).toMatch(/ISO-8601 timestamp with a timezone/);
  });

  it.each(['2026-01-02T14:30:00Z', '2026-01-02T14:30:00.5Z', '2026-01-02T14:30:00+05:30', '2026-01-02T14:30:00-08:00', '2024-02-29T00:00:00Z'])(
    'createdAt accepts %s',
    (createdAt) => {
      expectValid(marketIntent({ createdAt, expiresAt: undefined }));
    },
  );

  it.each([['no timezone', '2026-01-02T14:35:00'], ['words', 'tomorrow'], ['number', 1767364500000], ['null', null]])(
    'expiresAt refuses %s',
    (_l, expiresAt) => {
      expectSchemaIssueAt(marketIntent({ expiresAt }), 'expiresAt');
    },
  );

  it('expiresAt must be after createdAt: equal is refused, 1 ms later is accepted', () => {
    expect(expectSchemaIssueAt(marketIntent({ expiresAt: T0 }), 'expiresAt')).toBe('must be after createdAt');
    expectSchemaIssueAt(marketIntent({ expiresAt: '2026-01-02T14:29:59.999Z' }), 'expiresAt');
    expectValid(marketIntent({ expiresAt: '2026-01-02T14:30:00.001Z' }));
  });

  it('expiresAt is compared as an instant, not as text', () => {
    // 15:30+01:00 is the same instant as 14:30Z: not after createdAt.
    expectSchemaIssueAt(marketIntent({ expiresAt: '2026-01-02T15:30:00+01:00' }), 'expiresAt');
    // 14:00-01:00 is 15:00Z: after createdAt although it sorts earlier as text.
    expectValid(marketIntent({ expiresAt: '2026-01-02T14:00:00-01:00' }));
  });

  it('reports a missing required field at its own path', () => {
    for (const field of ['intentId', 'strategyId', 'symbol', 'side', 'qty', 'type', 'timeInForce', 'createdAt']) {
      expectSchemaIssueAt(without(marketIntent(), field), field);
    }
  });

  it('reports every problem, not only the first', () => {
    const paths = issuesOf(validateIntent(marketIntent({ intentId: '', side: 'hold', qty: 0 }))).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['intentId', 'side', 'qty']));
  });
});

describe('validateIntent: marketData and bars', () => {
  const withBars = (bars: unknown) => marketIntent({ marketData: { asOf: T0, bars } });

  it('refuses marketData that is not an object', () => {
    expectSchemaIssueAt(marketIntent({ marketData: null }), 'marketData');
    expectSchemaIssueAt(marketIntent({ marketData: [] }), 'marketData');
    expectSchemaIssueAt(marketIntent({ marketData: 'bars' }), 'marketData');
  });

  it('requires asOf and bars', () => {
    expectSchemaIssueAt(marketIntent({ marketData: { bars: [] } }), 'marketData.asOf');
    expectSchemaIssueAt(marketIntent({ marketData: { asOf: T0 } }), 'marketData.bars');
    expectSchemaIssueAt(marketIntent({ marketData: { asOf: '2026-01-02', bars: [] } }), 'marketData.asOf');
  });

  it('refuses more than 1000 bars', () => {
    expectSchemaIssueAt(withBars(Array.from({ length: 1001 }, () => bar())), 'marketData.bars');
  });

  it.each(['t', 'o', 'h', 'l', 'c', 'v'])('a bar needs %s, and the path names the bar and the field', (field) => {
    expectSchemaIssueAt(withBars([bar(), without(bar(), field)]), `marketData.bars.1.${field}`);
  });

  it.each([
    ['o', Number.NaN],
    ['h', Number.POSITIVE_INFINITY],
    ['l', '99'],
    ['c', null],
    ['v', -1],
    ['v', Number.POSITIVE_INFINITY],
    ['t', '2026-01-02'],
  ])('a bar refuses %s = %j', (field, value) => {
    expectSchemaIssueAt(withBars([bar({ [field]: value })]), `marketData.bars.0.${field}`);
  });

  it('refuses a bar that is not an object', () => {
    expectSchemaIssueAt(withBars([42]), 'marketData.bars.0');
  });
});

describe('validateIntent: strict objects refuse unknown keys', () => {
  it.each([
    ['limit_price', limitIntent({ limit_price: 10 })],
    ['expires_at', marketIntent({ expires_at: T1 })],
    ['clientOrderId', marketIntent({ clientOrderId: 'x' })],
    ['notes', marketIntent({ notes: 'hello' })],
  ])('refuses a top-level %s and names it', (key, value) => {
    const issues = issuesOf(validateIntent(value));
    expect(issues.some((i) => i.path === '(message)' && i.message.includes(key)), JSON.stringify(issues)).toBe(true);
  });

  it('a misspelt expires_at is not silently dropped (the stale-order hazard)', () => {
    const result = parseIntentText(JSON.stringify(marketIntent({ expires_at: '2026-01-02T14:31:00Z' })));
    expect(result.ok).toBe(false);
  });

  it('refuses unknown keys inside marketData and inside a bar, at their paths', () => {
    const md = issuesOf(validateIntent(marketIntent({ marketData: { asOf: T0, bars: [], source: 'x' } })));
    expect(md.some((i) => i.path === 'marketData' && i.message.includes('source'))).toBe(true);
    const b = issuesOf(validateIntent(marketIntent({ marketData: { asOf: T0, bars: [bar({ vwap: 1 })] } })));
    expect(b.some((i) => i.path === 'marketData.bars.0' && i.message.includes('vwap'))).toBe(true);
  });
});

describe('parseIntentText: failure classes', () => {
  it('empty text is `empty`', () => {
    const r = parseIntentText('');
    expect(r).toEqual({ ok: false, failure: 'empty', issues: [{ path: '(message)', message: 'message data is empty' }] });
  });

  it.each([' ', '\n', '\t \r\n', '\u00a0', '\ufeff'])('whitespace-only text %j is `empty`', (text) => {
    const r = parseIntentText(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.failure).toBe('empty');
  });

  it.each(['{', 'not json', "{'intentId': 'a'}", '{"a":1,}', 'undefined', 'NaN', '{"qty": Infinity}'])('%j is `not_json`', (text) => {
    const r = parseIntentText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toBe('not_json');
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.path).toBe('(message)');
    expect(r.issues[0]!.message).toMatch(/^message data is not JSON: /);
  });

  it('text longer than MAX_INTENT_BYTES is `too_large`, and is not parsed', () => {
    const text = `"${'x'.repeat(MAX_INTENT_BYTES)}"`;
    const r = parseIntentText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toBe('too_large');
    expect(r.issues[0]!.path).toBe('(message)');
    expect(r.issues[0]!.message).toContain(String(MAX_INTENT_BYTES));
    expect(parseIntentText('{'.repeat(MAX_INTENT_BYTES + 1))).toMatchObject({ ok: false, failure: 'too_large' });
  });

  it('a valid intent padded to exactly MAX_INTENT_BYTES is accepted; one more character is too large', () => {
    const json = JSON.stringify(marketIntent());
    const exact = json + ' '.repeat(MAX_INTENT_BYTES - json.length);
    expect(exact.length).toBe(MAX_INTENT_BYTES);
    expect(parseIntentText(exact).ok).toBe(true);
    expect(parseIntentText(`${exact} `)).toMatchObject({ ok: false, failure: 'too_large' });
  });

  it.each(['null', '[]', '42', '"intent"', 'true', '[{"intentId":"a"}]'])('JSON %s that is not an object is `schema` at (message)', (text) => {
    const r = parseIntentText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure).toBe('schema');
    expect(r.issues.some((i) => i.path === '(message)')).toBe(true);
  });

  it('a JSON object that breaks the schema is `schema`, with the issues of validateIntent', () => {
    const value = marketIntent({ qty: -1 });
    const r = parseIntentText(JSON.stringify(value));
    expect(r).toEqual(validateIntent(value));
    expect(r).toMatchObject({ ok: false, failure: 'schema' });
  });

  it('a valid intent surrounded by whitespace parses', () => {
    expect(parseIntentText(`\n  ${JSON.stringify(limitIntent())}  \n`)).toEqual({ ok: true, intent: limitIntent() });
  });
});

describe('canonicalIntent / sameIntent', () => {
  it('sorts keys at every level', () => {
    const a = expectValid(limitIntent({ marketData: { asOf: T0, bars: [bar()] } }));
    const canon = canonicalIntent(a);
    expect(canon.startsWith('{"createdAt":')).toBe(true);
    expect(canon).toContain('"marketData":{"asOf":');
    expect(canon).toContain('{"c":100.5,"h":101,"l":99,"o":100,"t":');
    expect(JSON.parse(canon)).toEqual(a);
  });

  it('treats an undefined optional field like an absent one', () => {
    const a = expectValid(marketIntent());
    expect(sameIntent(a, { ...a, expiresAt: undefined })).toBe(true);
  });

  it('tells apart intents that differ only in qty, side or limitPrice', () => {
    const a = expectValid(limitIntent());
    expect(sameIntent(a, { ...a, qty: 11 })).toBe(false);
    expect(sameIntent(a, { ...a, side: 'sell' })).toBe(false);
    expect(sameIntent(a, { ...a, limitPrice: 187.26 })).toBe(false);
    expect(sameIntent(a, { ...a, expiresAt: T1 })).toBe(false);
  });

  it('bar order matters (arrays are not sorted)', () => {
    const md = (bars: unknown[]) => expectValid(marketIntent({ marketData: { asOf: T0, bars } }));
    expect(sameIntent(md([bar(), bar({ t: T1 })]), md([bar({ t: T1 }), bar()]))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests


/** The same value with the keys of every object inserted in a random order. */
function shuffleKeysDeep(value: unknown, next: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeysDeep(v, next));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [entries[i], entries[j]] = [entries[j]!, entries[i]!];
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeysDeep(v, next)]));
  }
  return value;
}

/** Paths (as key lists) of every primitive leaf of a JSON value. */
function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leafPaths(v, [...prefix, i]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  return [prefix];
}

/** A deep copy with the leaf at `path` changed to a different value of the same type. */
function changeLeaf(value: unknown, path: (string | number)[]): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  const old = node[last];
  if (typeof old === 'string') node[last] = `${old}x`;
  else if (typeof old === 'number') node[last] = old === 0 ? 1 : old * 2;
  else throw new Error(`unexpected leaf ${String(old)}`);
  return copy;
}


describe('properties', () => {
  it('every valid intent parses, and round-trips through JSON unchanged', () => {
    fc.assert(
      fc.property(validIntentArb, (intent) => {
        const result = parseIntentText(JSON.stringify(intent));
        if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.issues)}`);
        expect(result.intent).toStrictEqual(intent);
        expect(sameIntent(result.intent, intent)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('a valid intent with one field made invalid is refused with an issue at that field', () => {
    const fieldArb = fc.constantFrom(...Object.keys(INVALID_VALUES));
    const mutationArb = fieldArb.chain((field) => fc.tuple(fc.constant(field), fc.constantFrom(...INVALID_VALUES[field]!)));
    fc.assert(
      fc.property(validIntentArb, mutationArb, (intent, [field, bad]) => {
        const mutated: Record<string, unknown> = { ...intent };
        if (bad === undefined) delete mutated[field];
        else mutated[field] = bad;
        const result = validateIntent(mutated);
        if (result.ok) throw new Error(`accepted with ${field}=${String(bad)}`);
        expect(result.failure).toBe('schema');
        const hit = result.issues.some((i) => i.path === field || i.path.startsWith(`${field}.`));
        expect(hit, `${field}=${JSON.stringify(bad)} gave ${JSON.stringify(result.issues)}`).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('limitPrice on a market order, or none on a limit order, is refused at limitPrice', () => {
    fc.assert(
      fc.property(validIntentArb, positiveArb, (intent, price) => {
        const flipped: Record<string, unknown> =
          intent.type === 'market' ? { ...intent, limitPrice: price } : { ...intent, type: 'limit', limitPrice: undefined };
        if (flipped.limitPrice === undefined) delete flipped.limitPrice;
        const result = validateIntent(flipped);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.issues.map((i) => i.path)).toContain('limitPrice');
      }),
    );
  });

  it('an unknown top-level key is always refused', () => {
    const known = new Set(['intentId', 'strategyId', 'symbol', 'side', 'qty', 'type', 'limitPrice', 'timeInForce', 'createdAt', 'expiresAt', 'marketData']);
    fc.assert(
      fc.property(
        validIntentArb,
        fc.string({ minLength: 1 }).filter((k) => !known.has(k) && k !== '__proto__'),
        fc.jsonValue(),
        (intent, key, value) => {
          const result = validateIntent({ ...intent, [key]: value });
          expect(result.ok).toBe(false);
        },
      ),
    );
  });

  it('parseIntentText never throws, whatever the text', () => {
    const textArb = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      validIntentArb.map((i) => JSON.stringify(i)),
      fc.tuple(validIntentArb, fc.nat()).map(([i, n]) => {
        const s = JSON.stringify(i);
        return s.slice(0, n % (s.length + 1));
      }),
    );
    fc.assert(
      fc.property(textArb, (text) => {
        const result = parseIntentText(text);
        if (!result.ok) {
          expect(['empty', 'not_json', 'schema', 'too_large']).toContain(result.failure);
          expect(result.issues.length).toBeGreaterThan(0);
          for (const issue of result.issues) {
            expect(typeof issue.path).toBe('string');
            expect(issue.path.length).toBeGreaterThan(0);
            expect(typeof issue.message).toBe('string');
            expect(issue.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('validateIntent never throws, whatever the value', () => {
    fc.assert(
      fc.property(fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true, withSparseArray: true }), (value) => {
        const result = validateIntent(value);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });

  it('canonicalIntent and sameIntent ignore key order at every level', () => {
    fc.assert(
      fc.property(validIntentArb, fc.integer(), (intent, seed) => {
        const shuffled = shuffleKeysDeep(intent, mulberry32(seed)) as OrderIntent;
        expect(canonicalIntent(shuffled)).toBe(canonicalIntent(intent));
        expect(sameIntent(shuffled, intent)).toBe(true);
        expect(sameIntent(intent, shuffled)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('sameIntent notices any change of any value', () => {
    fc.assert(
      fc.property(validIntentArb, fc.nat(), fc.integer(), (intent, pick, seed) => {
        const paths = leafPaths(intent);
        const changed = changeLeaf(intent, paths[pick % paths.length]!) as OrderIntent;
        const shuffledChanged = shuffleKeysDeep(changed, mulberry32(seed)) as OrderIntent;
        expect(sameIntent(intent, changed)).toBe(false);
        expect(sameIntent(intent, shuffledChanged)).toBe(false);
        expect(canonicalIntent(intent)).not.toBe(canonicalIntent(changed));
      }),
      { numRuns: 500 },
    );
  });

  it('sameIntent notices an optional field added or removed', () => {
    fc.assert(
      fc.property(validIntentArb, marketDataArb, isoArb, (intent, marketData, expiresAt) => {
        const toggled: Record<string, unknown> = { ...intent };
        if (intent.marketData === undefined) toggled.marketData = marketData;
        else delete toggled.marketData;
        expect(sameIntent(intent, toggled as OrderIntent)).toBe(false);
        const toggled2: Record<string, unknown> = { ...intent };
        if (intent.expiresAt === undefined) toggled2.expiresAt = expiresAt;
        else delete toggled2.expiresAt;
        expect(sameIntent(intent, toggled2 as OrderIntent)).toBe(false);
      }),
    );
  });
});

describe('parseIntentText size limit', () => {
  it('counts UTF-8 bytes, not characters', () => {
    const text = 'é'.repeat(MAX_INTENT_BYTES / 2 + 1); // 2 bytes each: just over the limit
    const result = parseIntentText(text);
    expect(result).toMatchObject({ ok: false, failure: 'too_large' });
  });
});
