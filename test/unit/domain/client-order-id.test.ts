import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientOrderIdFor, MAX_CLIENT_ORDER_ID_LENGTH } from '../../../functions/src/domain/client-order-id.js';

const intentIdArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

describe('clientOrderIdFor', () => {
  it('uses the intentId itself when it fits in 48 characters', () => {
    expect(clientOrderIdFor('a'.repeat(48))).toBe('a'.repeat(48));
    expect(clientOrderIdFor('mom-2026-01-02-0001')).toBe('mom-2026-01-02-0001');
  });

  it('digests a longer intentId deterministically', () => {
    const long = 'x'.repeat(49);
    expect(clientOrderIdFor(long)).toMatch(/^hg\.[A-Za-z0-9_-]{43}$/);
    expect(clientOrderIdFor(long)).toBe(clientOrderIdFor(long));
    expect(clientOrderIdFor(long)).not.toBe(clientOrderIdFor('x'.repeat(50)));
  });

  it('always fits, and distinct intents never share an id', () => {
    fc.assert(
      fc.property(intentIdArb, intentIdArb, (a, b) => {
        expect(clientOrderIdFor(a).length).toBeLessThanOrEqual(MAX_CLIENT_ORDER_ID_LENGTH);
        if (a !== b) expect(clientOrderIdFor(a)).not.toBe(clientOrderIdFor(b));
      }),
    );
  });
});
