import { Timestamp } from 'firebase-admin/firestore';

/**
 * Documents written by people (the console) or by older versions arrive with Firestore
 * Timestamps; domain code only knows Dates and epoch ms. Converts recursively.
 */
export function timestampsToDates(value: unknown): unknown {
  if (value instanceof Timestamp) return value.toDate();
  if (Array.isArray(value)) return value.map(timestampsToDates);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, timestampsToDates(v)]));
  }
  return value;
}

export function ts(ms: number): Timestamp {
  return Timestamp.fromMillis(ms);
}

/** Firestore refuses `undefined` values: drop those keys (shallow; records are built flat). */
export function withoutUndefined<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/**
 * A map as Firestore stores it (a plain object), not a Timestamp, GeoPoint or reference that
 * became an object on the way: zod object schemas of optional fields accept any object, so
 * fields people edit are checked with this first.
 */
export function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
