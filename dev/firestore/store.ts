/**
 * The document store: current documents, a per-document version counter, and atomic
 * application of Firestore writes with their real semantics (set replaces, update masks,
 * field deletes, transforms, preconditions).
 */
import { status } from '@grpc/grpc-js';
import type { Document, DocumentMask, FieldTransform, Fields, Timestamp, Value, Write, WriteResult } from './proto.js';
import { FirestoreRpcError, invalidArgument } from './errors.js';
import {
  MonotonicClock,
  NULL_VALUE,
  cloneFields,
  cloneValue,
  compareTimestamps,
  compareValues,
  deletePath,
  getPath,
  integerValue,
  isNumber,
  kindOf,
  parseFieldPath,
  setPath,
  toBigInt,
  toNumber,
  valuesEqual,
} from './values.js';

export interface StoredDoc {
  /** Full resource name: projects/P/databases/D/documents/c/id[/c/id...] */
  readonly name: string;
  readonly fields: Fields;
  readonly createTime: Timestamp;
  readonly updateTime: Timestamp;
  /** This emulator's version counter (global sequence number of the last write). */
  readonly version: number;
}

export interface CommitOutcome {
  commitTime: Timestamp;
  writeResults: WriteResult[];
  /** Names of the documents written (created, updated or deleted), without duplicates. */
  changed: string[];
}

const DOC_NAME = /^(projects\/[^/]+\/databases\/[^/]+\/documents)\/(.+)$/;

/** Validates a document resource name; returns its database root and relative path segments. */
export function parseDocumentName(name: string): { root: string; segments: string[] } {
  const m = DOC_NAME.exec(name);
  const segments = m?.[2]?.split('/') ?? [];
  if (!m || segments.length % 2 !== 0 || segments.some((s) => s === '')) {
    throw invalidArgument(`Invalid document name: "${name}" (expected projects/P/databases/D/documents/collection/id...)`);
  }
  return { root: m[1] as string, segments };
}

/** The parent collection's full path of a document name. */
export function parentCollection(name: string): string {
  return name.slice(0, name.lastIndexOf('/'));
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

export class DocumentStore {
  private readonly docs = new Map<string, StoredDoc>();
  /** Survives deletes and reset(), so a read of an absent document can be validated too. */
  private readonly versions = new Map<string, number>();
  private seq = 0;
  readonly clock = new MonotonicClock();

  get(name: string): StoredDoc | undefined {
    return this.docs.get(name);
  }

  /** 0 for a document never written; otherwise the sequence number of its last write (delete included). */
  version(name: string): number {
    return this.versions.get(name) ?? 0;
  }

  /** The global write sequence (changes whenever anything is written). */
  sequence(): number {
    return this.seq;
  }

  all(): IterableIterator<StoredDoc> {
    return this.docs.values();
  }

  size(): number {
    return this.docs.size;
  }

  /** Deletes every document; returns the names that existed. Versions of deleted docs are bumped. */
  clear(): string[] {
    const names = [...this.docs.keys()];
    this.docs.clear();
    for (const name of names) this.versions.set(name, ++this.seq);
    return names;
  }

  /**
   * Applies writes atomically: either all of them take effect or none (the first failing
   * precondition or invalid write throws and leaves the store untouched). Synchronous, so no
   * other commit can interleave with it.
   */
  commit(writes: readonly Write[]): CommitOutcome {
    const commitTime = this.clock.now();
    const staged = new Map<string, StoredDoc | null>();
    const current = (name: string): StoredDoc | null =>
      staged.has(name) ? (staged.get(name) ?? null) : (this.docs.get(name) ?? null);
    const writeResults: WriteResult[] = [];

    for (const write of writes) {
      const name = write.update?.name ?? write.delete ?? write.transform?.document;
      if (name === undefined) throw invalidArgument('Write has no operation (update, delete or transform)');
      parseDocumentName(name);
      const before = current(name);
      checkPrecondition(name, before, write);

      if (write.delete !== undefined) {
        staged.set(name, null);
        writeResults.push({ updateTime: commitTime, transformResults: [] });
        continue;
      }

      let fields: Fields;
      let transforms: FieldTransform[];
      if (write.update !== undefined) {
        fields = applyUpdate(before?.fields, write.update.fields ?? {}, write.updateMask);
        transforms = write.updateTransforms ?? [];
      } else {
        fields = before ? cloneFields(before.fields) : {};
        transforms = write.transform?.fieldTransforms ?? [];
      }
      const transformResults = transforms.map((t) => applyTransform(fields, t, commitTime));
      staged.set(name, {
        name,
        fields,
        createTime: before?.createTime ?? commitTime,
        updateTime: commitTime,
        version: 0, // assigned on install
      });
      writeResults.push({ updateTime: commitTime, transformResults });
    }

    for (const [name, doc] of staged) {
      const version = ++this.seq;
      this.versions.set(name, version);
      if (doc) this.docs.set(name, { ...doc, version });
      else this.docs.delete(name);
    }
    return { commitTime, writeResults, changed: [...staged.keys()] };
  }
}

function checkPrecondition(name: string, before: StoredDoc | null, write: Write): void {
  const pre = write.currentDocument;
  if (!pre) return;
  if (pre.exists === true && !before) {
    throw new FirestoreRpcError(status.NOT_FOUND, `No document to update: ${name}`);
  }
  if (pre.exists === false && before) {
    throw new FirestoreRpcError(status.ALREADY_EXISTS, `Document already exists: ${name}`);
  }
  if (pre.updateTime !== undefined) {
    if (!before || compareTimestamps(before.updateTime, pre.updateTime) !== 0) {
      throw new FirestoreRpcError(
        status.FAILED_PRECONDITION,
        `The document's update time does not match the precondition: ${name}`,
      );
    }
  }
}

function applyUpdate(existing: Fields | undefined, given: Fields, mask: DocumentMask | undefined): Fields {
  if (mask === undefined) return cloneFields(given);
  const fields = existing ? cloneFields(existing) : {};
  for (const path of mask.fieldPaths ?? []) {
    const segments = parseFieldPath(path);
    const value = getPath(given, segments);
    if (value === undefined) deletePath(fields, segments);
    else setPath(fields, segments, cloneValue(value));
  }
  return fields;
}

function addNumbers(a: Value, b: Value): Value {
  if (a.integerValue !== undefined && b.integerValue !== undefined) {
    const sum = toBigInt(a) + toBigInt(b);
    return integerValue(sum > INT64_MAX ? INT64_MAX : sum < INT64_MIN ? INT64_MIN : sum);
  }
  return { doubleValue: toNumber(a) + toNumber(b) };
}

function applyTransform(fields: Fields, t: FieldTransform, commitTime: Timestamp): Value {
  if (t.fieldPath === undefined) throw invalidArgument('FieldTransform without field_path');
  const segments = parseFieldPath(t.fieldPath);
  const cur = getPath(fields, segments);
  let next: Value;
  let result: Value;
  if (t.setToServerValue !== undefined) {
    if (t.setToServerValue !== 'REQUEST_TIME') throw invalidArgument(`Unknown server value ${t.setToServerValue}`);
    next = { timestampValue: commitTime };
    result = next;
  } else if (t.increment !== undefined) {
    next = cur !== undefined && isNumber(cur) ? addNumbers(cur, t.increment) : cloneValue(t.increment);
    result = next;
  } else if (t.maximum !== undefined || t.minimum !== undefined) {
    const operand = (t.maximum ?? t.minimum) as Value;
    const wantMax = t.maximum !== undefined;
    if (cur === undefined || !isNumber(cur)) next = cloneValue(operand);
    else {
      const c = compareValues(operand, cur);
      next = (wantMax ? c > 0 : c < 0) ? cloneValue(operand) : cur;
    }
    result = next;
  } else if (t.appendMissingElements !== undefined) {
    const values = cur !== undefined && kindOf(cur) === 'array' ? [...(cur.arrayValue?.values ?? [])] : [];
    for (const v of t.appendMissingElements.values ?? []) {
      if (!values.some((x) => valuesEqual(x, v))) values.push(cloneValue(v));
    }
    next = { arrayValue: { values } };
    result = NULL_VALUE;
  } else if (t.removeAllFromArray !== undefined) {
    const remove = t.removeAllFromArray.values ?? [];
    const values =
      cur !== undefined && kindOf(cur) === 'array'
        ? (cur.arrayValue?.values ?? []).filter((x) => !remove.some((r) => valuesEqual(x, r)))
        : [];
    next = { arrayValue: { values } };
    result = NULL_VALUE;
  } else {
    throw invalidArgument(`Unsupported field transform on ${t.fieldPath}`);
  }
  setPath(fields, segments, next);
  return result;
}

/** The wire form of a stored document, optionally projected to a field mask. */
export function toDocumentProto(doc: StoredDoc, maskPaths?: readonly string[]): Document {
  let fields = doc.fields;
  if (maskPaths !== undefined) {
    fields = {};
    for (const path of maskPaths) {
      if (path === '__name__') continue;
      const segments = parseFieldPath(path);
      const v = getPath(doc.fields, segments);
      if (v !== undefined) setPath(fields, segments, v);
    }
  }
  return { name: doc.name, fields, createTime: doc.createTime, updateTime: doc.updateTime };
}
