/**
 * Structured query evaluation with Firestore semantics: collection and collection-group
 * scopes, field / unary / composite (AND, OR, nested) filters on nested field paths,
 * explicit + implicit ordering (inequality fields, then __name__), cursors, offset, limit,
 * projections, and count / sum / avg aggregations.
 *
 * Not modelled: index requirements (every query is answered, as by the official emulator),
 * vector search (findNearest), query explain.
 */
import type { Aggregation, Cursor, Fields, Filter, StructuredQuery, Value } from './proto.js';
import { invalidArgument, unimplemented } from './errors.js';
import type { DocumentStore, StoredDoc } from './store.js';
import { parentCollection } from './store.js';
import {
  NULL_VALUE,
  compareStrings,
  compareValues,
  getPath,
  integerValue,
  isNaNValue,
  isNumber,
  kindOf,
  parseFieldPath,
  toBigInt,
  toNumber,
  typeOrder,
  valuesEqual,
} from './values.js';

const NAME = '__name__';

interface OrderKey {
  path: string;
  segments: string[] | null; // null for __name__
  descending: boolean;
}

function fieldValue(doc: StoredDoc, segments: string[] | null): Value | undefined {
  if (segments === null) return { referenceValue: doc.name };
  return getPath(doc.fields, segments);
}

function segmentsOf(path: string): string[] | null {
  return path === NAME ? null : parseFieldPath(path);
}

function requirePath(ref: { fieldPath?: string } | undefined): string {
  const p = ref?.fieldPath;
  if (!p) throw invalidArgument('Filter or order without a field path');
  return p;
}

function isNull(v: Value): boolean {
  return v.nullValue !== undefined;
}

function arrayValues(v: Value | undefined): Value[] {
  if (v === undefined || v.arrayValue === undefined) throw invalidArgument('IN / NOT_IN / ARRAY_CONTAINS_ANY need an array value');
  return v.arrayValue.values ?? [];
}

function matches(doc: StoredDoc, filter: Filter): boolean {
  if (filter.compositeFilter) {
    const { op, filters = [] } = filter.compositeFilter;
    if (op === 'AND') return filters.every((f) => matches(doc, f));
    if (op === 'OR') return filters.some((f) => matches(doc, f));
    throw invalidArgument(`Unsupported composite filter operator ${String(op)}`);
  }
  if (filter.unaryFilter) {
    const path = requirePath(filter.unaryFilter.field);
    const v = fieldValue(doc, segmentsOf(path));
    switch (filter.unaryFilter.op) {
      case 'IS_NULL':
        return v !== undefined && isNull(v);
      case 'IS_NAN':
        return v !== undefined && isNaNValue(v);
      case 'IS_NOT_NULL':
        return v !== undefined && !isNull(v);
      case 'IS_NOT_NAN':
        return v !== undefined && !isNaNValue(v) && !isNull(v);
      default:
        throw invalidArgument(`Unsupported unary filter operator ${String(filter.unaryFilter.op)}`);
    }
  }
  if (filter.fieldFilter) {
    const { op, value: operand } = filter.fieldFilter;
    const path = requirePath(filter.fieldFilter.field);
    const v = fieldValue(doc, segmentsOf(path));
    if (v === undefined) return false; // a filter on a field matches only documents that have it
    if (operand === undefined) throw invalidArgument(`Field filter on ${path} without a value`);
    switch (op) {
      case 'EQUAL':
        return valuesEqual(v, operand);
      case 'NOT_EQUAL':
        return !isNull(v) && !valuesEqual(v, operand);
      case 'LESS_THAN':
      case 'LESS_THAN_OR_EQUAL':
      case 'GREATER_THAN':
      case 'GREATER_THAN_OR_EQUAL': {
        // Range filters only match values of the operand's type class (and never NaN).
        if (typeOrder(v) !== typeOrder(operand) || isNaNValue(v) || isNaNValue(operand)) return false;
        const c = compareValues(v, operand);
        if (op === 'LESS_THAN') return c < 0;
        if (op === 'LESS_THAN_OR_EQUAL') return c <= 0;
        if (op === 'GREATER_THAN') return c > 0;
        return c >= 0;
      }
      case 'IN':
        return arrayValues(operand).some((x) => valuesEqual(v, x));
      case 'NOT_IN':
        return !isNull(v) && !arrayValues(operand).some((x) => valuesEqual(v, x));
      case 'ARRAY_CONTAINS':
        return v.arrayValue !== undefined && (v.arrayValue.values ?? []).some((x) => valuesEqual(x, operand));
      case 'ARRAY_CONTAINS_ANY': {
        const wanted = arrayValues(operand);
        return v.arrayValue !== undefined && (v.arrayValue.values ?? []).some((x) => wanted.some((w) => valuesEqual(x, w)));
      }
      default:
        throw invalidArgument(`Unsupported field filter operator ${String(op)}`);
    }
  }
  return true; // an empty Filter message
}

const INEQUALITY_OPS = new Set([
  'LESS_THAN',
  'LESS_THAN_OR_EQUAL',
  'GREATER_THAN',
  'GREATER_THAN_OR_EQUAL',
  'NOT_EQUAL',
  'NOT_IN',
]);

function inequalityFields(filter: Filter | undefined, out: Set<string>): Set<string> {
  if (!filter) return out;
  if (filter.compositeFilter) for (const f of filter.compositeFilter.filters ?? []) inequalityFields(f, out);
  if (filter.fieldFilter && INEQUALITY_OPS.has(filter.fieldFilter.op ?? '')) out.add(requirePath(filter.fieldFilter.field));
  if (filter.unaryFilter && (filter.unaryFilter.op === 'IS_NOT_NULL' || filter.unaryFilter.op === 'IS_NOT_NAN')) {
    out.add(requirePath(filter.unaryFilter.field));
  }
  return out;
}

/** Explicit orderBy, then inequality fields (lexicographic), then __name__ — as the backend does. */
function effectiveOrder(q: StructuredQuery): OrderKey[] {
  const keys: OrderKey[] = (q.orderBy ?? []).map((o) => {
    const path = requirePath(o.field);
    return { path, segments: segmentsOf(path), descending: o.direction === 'DESCENDING' };
  });
  const last = keys[keys.length - 1]?.descending ?? false;
  const have = new Set(keys.map((k) => k.path));
  const extra = [...inequalityFields(q.where, new Set())].filter((p) => !have.has(p)).sort(compareStrings);
  for (const path of extra) keys.push({ path, segments: segmentsOf(path), descending: last });
  if (!have.has(NAME)) keys.push({ path: NAME, segments: null, descending: last });
  return keys;
}

function compareByOrder(a: StoredDoc, b: StoredDoc, order: OrderKey[]): number {
  for (const k of order) {
    const c = compareValues(fieldValue(a, k.segments) as Value, fieldValue(b, k.segments) as Value);
    if (c !== 0) return k.descending ? -c : c;
  }
  return 0;
}

/** Compares a document's position with a cursor over the first cursor.values.length order keys. */
function compareToCursor(doc: StoredDoc, cursor: Cursor, order: OrderKey[]): number {
  const values = cursor.values ?? [];
  if (values.length > order.length) throw invalidArgument('Cursor has more values than the query has orderings');
  for (let i = 0; i < values.length; i++) {
    const k = order[i] as OrderKey;
    let cv = values[i] as Value;
    if (k.segments === null && cv.stringValue !== undefined) cv = { referenceValue: cv.stringValue };
    const c = compareValues(fieldValue(doc, k.segments) as Value, cv);
    if (c !== 0) return k.descending ? -c : c;
  }
  return 0;
}

/** Documents of the query's scope (collection, or collection group under parent). */
function scope(store: DocumentStore, parent: string, q: StructuredQuery): StoredDoc[] {
  const from = q.from ?? [];
  if (from.length !== 1) throw invalidArgument('A query must select exactly one collection');
  const { collectionId = '', allDescendants = false } = from[0] ?? {};
  const out: StoredDoc[] = [];
  if (!allDescendants) {
    if (!collectionId) throw invalidArgument('A collection query needs a collection id');
    const coll = `${parent}/${collectionId}`;
    for (const doc of store.all()) if (parentCollection(doc.name) === coll) out.push(doc);
  } else {
    const prefix = `${parent}/`;
    for (const doc of store.all()) {
      if (!doc.name.startsWith(prefix)) continue;
      const coll = parentCollection(doc.name);
      if (collectionId === '' || coll.slice(coll.lastIndexOf('/') + 1) === collectionId) out.push(doc);
    }
  }
  return out;
}

/** Runs a structured query against the current store contents; returns documents in result order. */
export function runStructuredQuery(store: DocumentStore, parent: string, q: StructuredQuery): StoredDoc[] {
  if (q.findNearest !== undefined) throw unimplemented('Vector search (findNearest) is not supported by the embedded Firestore');
  const order = effectiveOrder(q);
  let docs = scope(store, parent, q).filter((doc) => {
    // orderBy implies existence of the field.
    for (const k of order) if (fieldValue(doc, k.segments) === undefined) return false;
    return q.where ? matches(doc, q.where) : true;
  });
  docs.sort((a, b) => compareByOrder(a, b, order));
  if (q.startAt) {
    const c = q.startAt;
    docs = docs.filter((d) => {
      const x = compareToCursor(d, c, order);
      return x > 0 || (x === 0 && c.before === true);
    });
  }
  if (q.endAt) {
    const c = q.endAt;
    docs = docs.filter((d) => {
      const x = compareToCursor(d, c, order);
      return x < 0 || (x === 0 && c.before !== true);
    });
  }
  const offset = q.offset ?? 0;
  if (offset > 0) docs = docs.slice(offset);
  if (q.limit?.value !== undefined) docs = docs.slice(0, Math.max(0, q.limit.value));
  return docs;
}

/** The select() projection paths of a query, or undefined when it returns whole documents. */
export function projectionOf(q: StructuredQuery): string[] | undefined {
  if (!q.select) return undefined;
  return (q.select.fields ?? []).map((f) => requirePath(f));
}

function sumOf(docs: readonly StoredDoc[], path: string): { sum: Value; n: number } {
  const segments = segmentsOf(path);
  let intSum = 0n;
  let dblSum = 0;
  let allInts = true;
  let n = 0;
  for (const doc of docs) {
    const v = fieldValue(doc, segments);
    if (v === undefined || !isNumber(v)) continue;
    n++;
    if (kindOf(v) === 'integer') intSum += toBigInt(v);
    else {
      allInts = false;
      dblSum += toNumber(v);
    }
  }
  if (allInts && intSum <= 2n ** 63n - 1n && intSum >= -(2n ** 63n)) return { sum: integerValue(intSum), n };
  return { sum: { doubleValue: dblSum + Number(intSum) }, n };
}

/** Computes aggregation results (alias → value) over the query's result documents. */
export function aggregate(docs: readonly StoredDoc[], aggregations: readonly Aggregation[]): Fields {
  const out: Fields = {};
  aggregations.forEach((agg, i) => {
    const alias = agg.alias || `field_${i + 1}`;
    if (agg.count !== undefined) {
      const upTo = agg.count.upTo?.value;
      const n = upTo === undefined ? docs.length : Math.min(docs.length, Number(upTo));
      out[alias] = integerValue(BigInt(n));
    } else if (agg.sum !== undefined) {
      out[alias] = sumOf(docs, requirePath(agg.sum.field)).sum;
    } else if (agg.avg !== undefined) {
      const { sum, n } = sumOf(docs, requirePath(agg.avg.field));
      out[alias] = n === 0 ? NULL_VALUE : { doubleValue: toNumber(sum) / n };
    } else {
      throw invalidArgument(`Aggregation ${alias} has no operator`);
    }
  });
  return out;
}
