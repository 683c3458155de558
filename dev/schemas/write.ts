/** `npm run schemas`: rewrites schemas/order-intent.schema.json from the zod schema. */
import { writeFileSync } from 'node:fs';
import { intentJsonSchemaText } from './intent-json-schema.js';

const target = new URL('../../schemas/order-intent.schema.json', import.meta.url);
writeFileSync(target, intentJsonSchemaText());
console.log(`wrote ${target.pathname}`);
