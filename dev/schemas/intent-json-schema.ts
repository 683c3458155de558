/**
 * The order intent as JSON Schema (draft 2020-12), for strategies written in other languages
 * to validate before publishing. Generated from the zod schema the function itself validates
 * with (functions/src/domain/intent.ts) by zod's own `toJSONSchema`; only the refinements
 * zod cannot export are added here by hand, each named:
 *   - a limit order requires `limitPrice`, a market order must not carry one (if/then);
 *   - `expiresAt` must be after `createdAt`: JSON Schema cannot compare two fields, so the
 *     schema states the rule in its description and `$comment`, and executeIntent refuses
 *     such intents all the same.
 * `npm run schemas` rewrites schemas/order-intent.schema.json; a test fails when the
 * committed file is not what this produces.
 */
import { z } from 'zod';
import { intentSchema, MAX_INTENT_BYTES } from '../../functions/src/domain/intent.js';

export const INTENT_SCHEMA_ID = 'urn:haltgate:order-intent';

/** The rules no JSON Schema keyword expresses: checked by executeIntent only. */
export const RULES_BEYOND_JSON_SCHEMA = ['expiresAt, when present, must be after createdAt'] as const;

export function intentJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(intentSchema, { io: 'input', unrepresentable: 'throw' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: INTENT_SCHEMA_ID,
    title: 'haltgate order intent',
    description:
      'An order intent published by a strategy on the Pub/Sub topic order-intents (JSON, UTF-8, ' +
      `at most ${MAX_INTENT_BYTES} bytes). intentId is an idempotency key, unique forever. ` +
      `Also required, beyond what JSON Schema can express: ${RULES_BEYOND_JSON_SCHEMA.join('; ')}.`,
    $comment: `Checked by haltgate but not expressible in JSON Schema: ${RULES_BEYOND_JSON_SCHEMA.join('; ')}.`,
    ...rest,
    // Each `required` names a property declared beside it, so the schema passes strict
    // validators (ajv's strictRequired) as well as lenient ones.
    allOf: [
      { if: { properties: { type: { const: 'limit' } }, required: ['type'] }, then: { properties: { limitPrice: true }, required: ['limitPrice'] } },
      { if: { properties: { type: { const: 'market' } }, required: ['type'] }, then: { not: { properties: { limitPrice: true }, required: ['limitPrice'] } } },
    ],
  };
}

/** The file's text: stable key order as generated, two-space indent, final newline. */
export function intentJsonSchemaText(): string {
  return `${JSON.stringify(intentJsonSchema(), null, 2)}\n`;
}
