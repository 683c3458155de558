/**
 * The Firestore v1 gRPC surface, loaded from the `.proto` files that ship with
 * `@google-cloud/firestore` (the library firebase-admin itself uses, so the wire format is
 * exactly the one the client speaks), plus hand-written TypeScript shapes for the decoded
 * messages.
 *
 * Decoding options: camelCase field names, int64 as decimal strings, enums as their names,
 * repeated and map fields always present, and no default values for absent scalars.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface Timestamp {
  seconds?: string | number;
  nanos?: number;
}

export interface LatLng {
  latitude?: number;
  longitude?: number;
}

export interface ArrayValue {
  values?: Value[];
}

export interface MapValue {
  fields?: Record<string, Value>;
}

/** google.firestore.v1.Value; exactly one member is set. */
export interface Value {
  nullValue?: 'NULL_VALUE' | number;
  booleanValue?: boolean;
  integerValue?: string | number;
  doubleValue?: number;
  timestampValue?: Timestamp;
  stringValue?: string;
  bytesValue?: Uint8Array;
  referenceValue?: string;
  geoPointValue?: LatLng;
  arrayValue?: ArrayValue;
  mapValue?: MapValue;
  /** Virtual oneof discriminator added by the decoder; ignored on encode. */
  valueType?: string;
}

export type Fields = Record<string, Value>;

export interface Document {
  name?: string;
  fields?: Fields;
  createTime?: Timestamp;
  updateTime?: Timestamp;
}

export interface DocumentMask {
  fieldPaths?: string[];
}

export interface Precondition {
  exists?: boolean;
  updateTime?: Timestamp;
}

export interface FieldTransform {
  fieldPath?: string;
  setToServerValue?: string;
  increment?: Value;
  maximum?: Value;
  minimum?: Value;
  appendMissingElements?: ArrayValue;
  removeAllFromArray?: ArrayValue;
}

export interface Write {
  update?: Document;
  delete?: string;
  transform?: { document?: string; fieldTransforms?: FieldTransform[] };
  updateMask?: DocumentMask;
  updateTransforms?: FieldTransform[];
  currentDocument?: Precondition;
}

export interface WriteResult {
  updateTime?: Timestamp;
  transformResults?: Value[];
}

export interface FieldReference {
  fieldPath?: string;
}

export interface FieldFilter {
  field?: FieldReference;
  op?: string;
  value?: Value;
}

export interface UnaryFilter {
  op?: string;
  field?: FieldReference;
}

export interface CompositeFilter {
  op?: string;
  filters?: Filter[];
}

export interface Filter {
  fieldFilter?: FieldFilter;
  unaryFilter?: UnaryFilter;
  compositeFilter?: CompositeFilter;
}

export interface Order {
  field?: FieldReference;
  direction?: string;
}

export interface Cursor {
  values?: Value[];
  before?: boolean;
}

export interface CollectionSelector {
  collectionId?: string;
  allDescendants?: boolean;
}

export interface StructuredQuery {
  select?: { fields?: FieldReference[] };
  from?: CollectionSelector[];
  where?: Filter;
  orderBy?: Order[];
  startAt?: Cursor;
  endAt?: Cursor;
  offset?: number;
  limit?: { value?: number };
  findNearest?: unknown;
}

export interface Aggregation {
  alias?: string;
  count?: { upTo?: { value?: string | number } };
  sum?: { field?: FieldReference };
  avg?: { field?: FieldReference };
}

export interface TransactionOptions {
  readOnly?: { readTime?: Timestamp };
  readWrite?: { retryTransaction?: Uint8Array };
}

/** The consistency selector shared by the read RPCs. */
export interface ReadConsistency {
  transaction?: Uint8Array;
  newTransaction?: TransactionOptions;
  readTime?: Timestamp;
}

export interface GetDocumentRequest extends ReadConsistency {
  name?: string;
  mask?: DocumentMask;
}

export interface BatchGetDocumentsRequest extends ReadConsistency {
  database?: string;
  documents?: string[];
  mask?: DocumentMask;
}

export interface BatchGetDocumentsResponse {
  found?: Document;
  missing?: string;
  transaction?: Uint8Array;
  readTime?: Timestamp;
}

export interface BeginTransactionRequest {
  database?: string;
  options?: TransactionOptions;
}

export interface CommitRequest {
  database?: string;
  writes?: Write[];
  transaction?: Uint8Array;
}

export interface CommitResponse {
  writeResults: WriteResult[];
  commitTime: Timestamp;
}

export interface RollbackRequest {
  database?: string;
  transaction?: Uint8Array;
}

export interface RunQueryRequest extends ReadConsistency {
  parent?: string;
  structuredQuery?: StructuredQuery;
  explainOptions?: unknown;
}

export interface RunQueryResponse {
  document?: Document;
  transaction?: Uint8Array;
  readTime?: Timestamp;
  skippedResults?: number;
  done?: boolean;
}

export interface RunAggregationQueryRequest extends ReadConsistency {
  parent?: string;
  structuredAggregationQuery?: { structuredQuery?: StructuredQuery; aggregations?: Aggregation[] };
  explainOptions?: unknown;
}

export interface RunAggregationQueryResponse {
  result?: { aggregateFields: Fields };
  transaction?: Uint8Array;
  readTime?: Timestamp;
}

export interface ListDocumentsRequest extends ReadConsistency {
  parent?: string;
  collectionId?: string;
  pageSize?: number;
  pageToken?: string;
  orderBy?: string;
  mask?: DocumentMask;
  showMissing?: boolean;
}

export interface ListCollectionIdsRequest {
  parent?: string;
  pageSize?: number;
  pageToken?: string;
  readTime?: Timestamp;
}

export interface BatchWriteRequest {
  database?: string;
  writes?: Write[];
}

export interface Target {
  query?: { parent?: string; structuredQuery?: StructuredQuery };
  documents?: { documents?: string[] };
  resumeToken?: Uint8Array;
  readTime?: Timestamp;
  targetId?: number;
  once?: boolean;
}

export interface ListenRequest {
  database?: string;
  addTarget?: Target;
  removeTarget?: number;
}

export interface TargetChange {
  targetChangeType: 'NO_CHANGE' | 'ADD' | 'REMOVE' | 'CURRENT' | 'RESET';
  targetIds: number[];
  resumeToken?: Uint8Array;
  readTime?: Timestamp;
  cause?: { code: number; message: string };
}

export interface ListenResponse {
  targetChange?: TargetChange;
  documentChange?: { document: Document; targetIds: number[]; removedTargetIds: number[] };
  documentDelete?: { document: string; removedTargetIds: number[]; readTime?: Timestamp };
  documentRemove?: { document: string; removedTargetIds: number[]; readTime?: Timestamp };
}

const require = createRequire(import.meta.url);

function protosRoot(): string {
  // `@google-cloud/firestore` has no "exports" map, so its package.json is resolvable.
  const pkg = require.resolve('@google-cloud/firestore/package.json');
  return path.join(path.dirname(pkg), 'build', 'protos');
}

let cached: { service: ServiceDefinition; client: grpc.ServiceClientConstructor } | undefined;

function load(): { service: ServiceDefinition; client: grpc.ServiceClientConstructor } {
  if (cached) return cached;
  const definition = protoLoader.loadSync('google/firestore/v1/firestore.proto', {
    includeDirs: [protosRoot()],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    arrays: true,
    objects: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition);
  const google = pkg['google'] as grpc.GrpcObject;
  const firestore = google['firestore'] as grpc.GrpcObject;
  const v1 = firestore['v1'] as grpc.GrpcObject;
  const client = v1['Firestore'] as grpc.ServiceClientConstructor;
  cached = { service: client.service, client };
  return cached;
}

/** The google.firestore.v1.Firestore service definition (method name → handler attributes). */
export function firestoreServiceDefinition(): ServiceDefinition {
  return load().service;
}

/**
 * A raw gRPC client constructor for the Firestore service, for tests that need to drive the
 * protocol step by step (firebase-admin hides transaction ids and retries).
 */
export function firestoreClientConstructor(): grpc.ServiceClientConstructor {
  return load().client;
}
