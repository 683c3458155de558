/**
 * Firestore value semantics: type ordering, comparison, equality, field paths and timestamps,
 * operating on decoded google.firestore.v1.Value objects.
 */
import type { Fields, Timestamp, Value } from './proto.js';
import { invalidArgument } from './errors.js';

export type ValueKind =
  | 'null'
  | 'boolean'
  | 'integer'
  | 'double'
  | 'timestamp'
  | 'string'
  | 'bytes'
  | 'reference'
  | 'geoPoint'
  | 'array'
  | 'map';

export function kindOf(v: Value): ValueKind {
  if (v.nullValue !== undefined) return 'null';
  if (v.booleanValue !== undefined) return 'boolean';
  if (v.integerValue !== undefined) return 'integer';
  if (v.doubleValue !== undefined) return 'double';
  if (v.timestampValue !== undefined) return 'timestamp';
  if (v.stringValue !== undefined) return 'string';
  if (v.bytesValue !== undefined) return 'bytes';
  if (v.referenceValue !== undefined) return 'reference';
  if (v.geoPointValue !== undefined) return 'geoPoint';
  if (v.arrayValue !== undefined) return 'array';
  if (v.mapValue !== undefined) return 'map';
  throw invalidArgument(`Value has no value type set: ${JSON.stringify(v)}`);
}

/** Firestore's cross-type ordering: null < bool < number < timestamp < string < bytes < ref < geo < array < map. */
export function typeOrder(v: Value): number {
  switch (kindOf(v)) {
    case 'null':
      return 0;
    case 'boolean':
      return 1;
    case 'integer':
    case 'double':
      return 2;
    case 'timestamp':
      return 3;
    case 'string':
      return 4;
    case 'bytes':
      return 5;
    case 'reference':
      return 6;
    case 'geoPoint':
      return 7;
    case 'array':
      return 8;
    case 'map':
      return 9;
  }
}

export const NULL_VALUE: Value = { nullValue: 'NULL_VALUE' };

export function integerValue(n: bigint): Value {
  return { integerValue: n.toString() };
}

export function isNumber(v: Value): boolean {
  const k = kindOf(v);
  return k === 'integer' || k === 'double';
}

export function isNaNValue(v: Value): boolean {
  return v.doubleValue !== undefined && Number.isNaN(v.doubleValue);
}

export function toBigInt(v: Value): bigint {
  return BigInt(v.integerValue ?? 0);
}

export function toNumber(v: Value): number {
  if (v.integerValue !== undefined) return Number(v.integerValue);
  return v.doubleValue ?? 0;
}

function sign(n: number | bigint): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function compareNumbers(a: Value, b: Value): number {
  if (a.integerValue !== undefined && b.integerValue !== undefined) {
    return sign(toBigInt(a) - toBigInt(b));
  }
  const x = toNumber(a);
  const y = toNumber(b);
  // NaN sorts before every other number and equals itself (Firestore ordering).
  if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
  if (Number.isNaN(y)) return 1;
  return sign(x - y);
}

export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  const s = sign(BigInt(a.seconds ?? 0) - BigInt(b.seconds ?? 0));
  if (s !== 0) return s;
  return sign((a.nanos ?? 0) - (b.nanos ?? 0));
}

/** Strings are ordered by their UTF-8 encoding, not by UTF-16 code units. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const NUMERIC_ID = /^__id(-?\d+)__$/;

/** Path segments: numeric ids (`__id123__`) sort before string ids, numerically; then UTF-8 order. */
function compareSegments(a: string, b: string): number {
  const na = NUMERIC_ID.exec(a);
  const nb = NUMERIC_ID.exec(b);
  if (na && nb) return sign(BigInt(na[1] as string) - BigInt(nb[1] as string));
  if (na) return -1;
  if (nb) return 1;
  return compareStrings(a, b);
}

export function compareReferences(a: string, b: string): number {
  const as = a.split('/');
  const bs = b.split('/');
  const n = Math.min(as.length, bs.length);
  for (let i = 0; i < n; i++) {
    const c = compareSegments(as[i] ?? '', bs[i] ?? '');
    if (c !== 0) return c;
  }
  return sign(as.length - bs.length);
}

export function compareValues(a: Value, b: Value): number {
  const ta = typeOrder(a);
  const tb = typeOrder(b);
  if (ta !== tb) return sign(ta - tb);
  switch (kindOf(a)) {
    case 'null':
      return 0;
    case 'boolean':
      return sign(Number(a.booleanValue) - Number(b.booleanValue));
    case 'integer':
    case 'double':
      return compareNumbers(a, b);
    case 'timestamp':
      return compareTimestamps(a.timestampValue ?? {}, b.timestampValue ?? {});
    case 'string':
      return compareStrings(a.stringValue ?? '', b.stringValue ?? '');
    case 'bytes':
      return compareBytes(a.bytesValue ?? new Uint8Array(), b.bytesValue ?? new Uint8Array());
    case 'reference':
      return compareReferences(a.referenceValue ?? '', b.referenceValue ?? '');
    case 'geoPoint': {
      const c = sign((a.geoPointValue?.latitude ?? 0) - (b.geoPointValue?.latitude ?? 0));
      return c !== 0 ? c : sign((a.geoPointValue?.longitude ?? 0) - (b.geoPointValue?.longitude ?? 0));
    }
    case 'array': {
      const av = a.arrayValue?.values ?? [];
      const bv = b.arrayValue?.values ?? [];
      const n = Math.min(av.length, bv.length);
      for (let i = 0; i < n; i++) {
        const c = compareValues(av[i] as Value, bv[i] as Value);
        if (c !== 0) return c;
      }
      return sign(av.length - bv.length);
    }
    case 'map': {
      const af = a.mapValue?.fields ?? {};
      const bf = b.mapValue?.fields ?? {};
      const ak = Object.keys(af).sort(compareStrings);
      const bk = Object.keys(bf).sort(compareStrings);
      const n = Math.min(ak.length, bk.length);
      for (let i = 0; i < n; i++) {
        const kc = compareStrings(ak[i] as string, bk[i] as string);
        if (kc !== 0) return kc;
        const vc = compareValues(af[ak[i] as string] as Value, bf[bk[i] as string] as Value);
        if (vc !== 0) return vc;
      }
      return sign(ak.length - bk.length);
    }
  }
}

/** Equality as used by `==`, `in`, `array-contains`: numbers compare numerically (1 == 1.0). */
export function valuesEqual(a: Value, b: Value): boolean {
  return compareValues(a, b) === 0;
}

export function cloneValue(v: Value): Value {
  return structuredClone(v);
}

export function cloneFields(f: Fields): Fields {
  return structuredClone(f);
}

/**
 * Parses a Firestore field path (`a.b`, `` `we.ird`.x ``, `__name__`) into segments.
 * Backtick-quoted segments may contain dots; `\` escapes inside backticks.
 */
export function parseFieldPath(path: string): string[] {
  const segments: string[] = [];
  let current = '';
  let quoted = false;
  let hasSegment = false;
  for (let i = 0; i < path.length; i++) {
    const ch = path[i] as string;
    if (quoted) {
      if (ch === '\\' && i + 1 < path.length) {
        current += path[++i];
      } else if (ch === '`') {
        quoted = false;
      } else {
        current += ch;
      }
    } else if (ch === '`') {
      quoted = true;
      hasSegment = true;
    } else if (ch === '.') {
      if (!hasSegment && current === '') throw invalidArgument(`Invalid field path: ${path}`);
      segments.push(current);
      current = '';
      hasSegment = false;
    } else {
      current += ch;
      hasSegment = true;
    }
  }
  if (quoted || (!hasSegment && current === '')) throw invalidArgument(`Invalid field path: ${path}`);
  segments.push(current);
  return segments;
}

export function getPath(fields: Fields, segments: readonly string[]): Value | undefined {
  let current: Fields | undefined = fields;
  for (let i = 0; i < segments.length; i++) {
    const v: Value | undefined = current?.[segments[i] as string];
    if (v === undefined) return undefined;
    if (i === segments.length - 1) return v;
    if (v.mapValue === undefined) return undefined;
    current = v.mapValue.fields ?? {};
  }
  return undefined;
}

/** Sets a value, replacing non-map intermediates with maps (as Firestore does). */
export function setPath(fields: Fields, segments: readonly string[], value: Value): void {
  let current = fields;
  for (let i = 0; i < segments.length - 1; i++) {
    const key = segments[i] as string;
    let next = current[key];
    if (next?.mapValue === undefined) {
      next = { mapValue: { fields: {} } };
      current[key] = next;
    }
    const mv = next.mapValue as { fields?: Fields };
    mv.fields ??= {};
    current = mv.fields;
  }
  current[segments[segments.length - 1] as string] = value;
}

export function deletePath(fields: Fields, segments: readonly string[]): void {
  let current: Fields | undefined = fields;
  for (let i = 0; i < segments.length - 1; i++) {
    const v: Value | undefined = current?.[segments[i] as string];
    if (v?.mapValue === undefined) return;
    current = v.mapValue.fields;
  }
  if (current) delete current[segments[segments.length - 1] as string];
}

/** Issues strictly increasing timestamps with microsecond resolution. */
export class MonotonicClock {
  private lastMicros = 0n;

  now(): Timestamp {
    let micros = BigInt(Date.now()) * 1000n;
    if (micros <= this.lastMicros) micros = this.lastMicros + 1n;
    this.lastMicros = micros;
    return microsToTimestamp(micros);
  }

  /** The most recently issued timestamp (a read time that every commit so far precedes or equals). */
  latest(): Timestamp {
    return this.lastMicros === 0n ? this.now() : microsToTimestamp(this.lastMicros);
  }
}

function microsToTimestamp(micros: bigint): Timestamp {
  return { seconds: (micros / 1_000_000n).toString(), nanos: Number(micros % 1_000_000n) * 1000 };
}
