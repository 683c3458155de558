/**
 * fast-check arbitraries for what people and other systems hand haltgate: Firestore values as
 * the console writes them (Timestamps, GeoPoints, bytes, nested maps, arrays, wrong types), and
 * JSON-ish values.
 */
import fc from 'fast-check';
import { GeoPoint, Timestamp } from 'firebase-admin/firestore';

export const timestampArb = fc.integer({ min: -62_135_596_800, max: 253_402_300_799 }).map((s) => new Timestamp(s, 0));
export const dateArb = fc.oneof(fc.date({ noInvalidDate: true }), fc.constant(new Date(Number.NaN)));
export const geoPointArb = fc.tuple(fc.double({ min: -90, max: 90, noNaN: true }), fc.double({ min: -180, max: 180, noNaN: true })).map(([a, b]) => new GeoPoint(a, b));
export const bytesArb = fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u));

/** Field names Firestore accepts (not empty, not a reserved `__…__`). */
export const isFirestoreFieldName = (k: string) => k !== '' && !/^__.*__$/s.test(k);

/** Keys a person might type, including the ones haltgate reads and near misses. */
export const keyArb = fc.oneof(
  fc.constantFrom('halted', 'Halted', 'reason', 'updatedBy', 'updatedAt', 'reduceOnly', 'limits', 'maxNotional', 'maxNotonal', 'note', 'constructor', 'toString', ' '),
  fc.string({ minLength: 1, maxLength: 8 }).filter(isFirestoreFieldName),
);

export const firestoreLeafArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('true', 'false', '0', '1', '', 'yes', '2026-01-02T14:30:00Z'),
  fc.constant(null),
  timestampArb,
  geoPointArb,
  bytesArb,
);

/** Any value a Firestore field can hold (nested maps and arrays), and some it cannot (Dates, NaN dates). */
export const firestoreValueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    firestoreLeafArb,
    dateArb,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

/** A document: a map of fields, as the SDK hands them over (plain objects). */
export const firestoreDocArb = fc.dictionary(keyArb, firestoreValueArb, { maxKeys: 5, noNullPrototype: true });

export function isPlainMap(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
