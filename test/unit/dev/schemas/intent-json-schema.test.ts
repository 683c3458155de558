/**
 * The published JSON Schema of the intent message: current (the committed file is what the
 * generator makes from the zod schema — this is CI's check), and equivalent to zod on every
 * message, validated with ajv as a strategy in another language would validate — except for
 * the one rule JSON Schema cannot express, which the schema states and this test pins.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import * as ajvFormats from 'ajv-formats';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { intentJsonSchemaText, RULES_BEYOND_JSON_SCHEMA } from '../../../../dev/schemas/intent-json-schema.js';
import { validateIntent } from '../../../../functions/src/domain/intent.js';
import { INVALID_VALUES, isoArb, positiveArb, validIntentArb } from '../../../support/intent-arbitraries.js';

const COMMITTED = readFileSync(new URL('../../../../schemas/order-intent.schema.json', import.meta.url), 'utf8');

// ajv-formats is CommonJS: under ESM its function is the namespace's default.
const addFormats = (ajvFormats as unknown as { default: (a: Ajv2020) => Ajv2020 }).default;
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validateWithSchema = ajv.compile(JSON.parse(COMMITTED) as object);

/** What a publisher sends is text: both validators see the JSON-parsed message. */
function verdicts(message: unknown): { zod: boolean; schema: boolean; expiresAfterCreated: boolean } {
  const parsed: unknown = JSON.parse(JSON.stringify(message) ?? 'null');
  const m = parsed as { createdAt?: unknown; expiresAt?: unknown };
  const expiresAfterCreated =
    typeof m?.expiresAt !== 'string' || typeof m?.createdAt !== 'string' || Date.parse(m.expiresAt) > Date.parse(m.createdAt);
  return { zod: validateIntent(parsed).ok, schema: validateWithSchema(parsed) === true, expiresAfterCreated };
}

/** The relation the schema documents: zod accepts exactly what the schema accepts and the extra rule allows. */
function expectSameVerdict(message: unknown): void {
  const v = verdicts(message);
  expect(v.zod, `${JSON.stringify(message)}: ${JSON.stringify(validateWithSchema.errors)}`).toBe(v.schema && v.expiresAfterCreated);
}

describe('schemas/order-intent.schema.json', () => {
  it('is current: exactly what `npm run schemas` generates from the zod schema', () => {
    expect(COMMITTED, 'run `npm run schemas` and commit the result').toBe(intentJsonSchemaText());
  });

  it('states the rule it cannot express', () => {
    const schema = JSON.parse(COMMITTED) as { description: string; $comment: string };
    for (const rule of RULES_BEYOND_JSON_SCHEMA) {
      expect(schema.description).toContain(rule);
      expect(schema.$comment).toContain(rule);
    }
  });
});

describe('the JSON Schema and zod accept the same messages', () => {
  it('every valid intent', () => {
    fc.assert(
      fc.property(validIntentArb, (intent) => {
        expect(verdicts(intent)).toEqual({ zod: true, schema: true, expiresAfterCreated: true });
      }),
      { numRuns: 300 },
    );
  });

  it('a valid intent with one field made invalid, missing, or an unknown field added', () => {
    const mutation = fc.oneof(
      fc.constantFrom(...Object.keys(INVALID_VALUES)).chain((field) => fc.tuple(fc.constant(field), fc.constantFrom(...INVALID_VALUES[field]!))),
      fc.tuple(fc.constantFrom('expires_at', 'limit_price', 'note', 'Qty'), fc.jsonValue()),
    );
    fc.assert(
      fc.property(validIntentArb, mutation, (intent, [field, value]) => {
        const mutated: Record<string, unknown> = { ...intent };
        if (value === undefined) delete mutated[field];
        else mutated[field] = value;
        expectSameVerdict(mutated);
      }),
      { numRuns: 1000 },
    );
  });

  it('limit and market orders with and without limitPrice', () => {
    fc.assert(
      fc.property(validIntentArb, fc.constantFrom('market', 'limit'), fc.option(positiveArb, { nil: undefined }), (intent, type, limitPrice) => {
        const m: Record<string, unknown> = { ...intent, type };
        delete m.limitPrice;
        if (limitPrice !== undefined) m.limitPrice = limitPrice;
        expectSameVerdict(m);
        // Both must agree with the contract, not merely with each other.
        expect(verdicts(m).zod).toBe(type === 'limit' ? limitPrice !== undefined : limitPrice === undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('expiry before, at or after creation: the schema accepts, zod refuses what is not after', () => {
    fc.assert(
      fc.property(validIntentArb, isoArb, (intent, expiresAt) => {
        const m = { ...intent, expiresAt };
        expectSameVerdict(m);
        expect(verdicts(m).schema).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => expectSameVerdict(value)), { numRuns: 500 });
  });

  it('nested marketData and bars with wrong shapes', () => {
    const badBar = fc.oneof(fc.jsonValue(), fc.record({ t: fc.jsonValue(), o: fc.jsonValue(), h: fc.double(), l: fc.double(), c: fc.double(), v: fc.double() }));
    fc.assert(
      fc.property(validIntentArb, isoArb, fc.array(badBar, { maxLength: 3 }), (intent, asOf, bars) => {
        expectSameVerdict({ ...intent, marketData: { asOf, bars } });
      }),
      { numRuns: 500 },
    );
  });
});
