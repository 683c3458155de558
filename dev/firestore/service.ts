/**
 * The google.firestore.v1.Firestore gRPC service of the embedded emulator: request handling
 * for every RPC firebase-admin uses, on top of the store, the transaction manager and the
 * listen hub.
 */
import type {
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedServiceImplementation,
  handleBidiStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
} from '@grpc/grpc-js';
import { Metadata, status } from '@grpc/grpc-js';
import { FirestoreRpcError, aborted, invalidArgument, unimplemented } from './errors.js';
import { ListenHub } from './listen.js';
import type {
  BatchGetDocumentsRequest,
  BatchGetDocumentsResponse,
  BatchWriteRequest,
  BeginTransactionRequest,
  CommitRequest,
  CommitResponse,
  Document,
  GetDocumentRequest,
  ListCollectionIdsRequest,
  ListDocumentsRequest,
  ListenRequest,
  ListenResponse,
  ReadConsistency,
  RollbackRequest,
  RunAggregationQueryRequest,
  RunAggregationQueryResponse,
  RunQueryRequest,
  RunQueryResponse,
  StructuredQuery,
  Timestamp,
  WriteResult,
} from './proto.js';
import { firestoreServiceDefinition } from './proto.js';
import { aggregate, projectionOf, runStructuredQuery } from './query.js';
import type { StoredDoc } from './store.js';
import { DocumentStore, parentCollection, parseDocumentName, toDocumentProto } from './store.js';
import type { Txn } from './transactions.js';
import { TransactionManager, docLockKey, queryLockKey } from './transactions.js';
import { compareReferences, compareStrings } from './values.js';

export interface FirestoreCoreOptions {
  transactionTimeoutMs: number;
}

/** One successful commit (a Commit RPC, or one write of a BatchWrite). */
export interface CommitLogEntry {
  /** Increasing in commit order. */
  seq: number;
  commitTime: Date;
  /** Relative names of the documents written ("orders/abc"), deletes included. */
  writes: string[];
  /** Whether it committed a transaction. */
  transactional: boolean;
}

const MAX_LOG = 100_000;

export class CommitLog {
  private log: CommitLogEntry[] = [];
  private seq = 0;

  record(changed: readonly string[], commitTime: Timestamp, transactional: boolean): void {
    const millis = Number(commitTime.seconds ?? 0) * 1000 + Math.floor((commitTime.nanos ?? 0) / 1e6);
    this.log.push({ seq: ++this.seq, commitTime: new Date(millis), writes: changed.map(relativeName), transactional });
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
  }

  entries(): CommitLogEntry[] {
    return [...this.log];
  }

  clear(): void {
    this.log = [];
  }
}

/** Relative path of a resource name ("orders/abc"), for messages. */
export function relativeName(name: string): string {
  const i = name.indexOf('/documents/');
  return i >= 0 ? name.slice(i + '/documents/'.length) : name;
}

const PARENT = /^projects\/[^/]+\/databases\/[^/]+\/documents(\/.+)?$/;

function checkParent(parent: string | undefined): string {
  if (!parent || !PARENT.test(parent)) throw invalidArgument(`Invalid parent: "${parent ?? ''}"`);
  if (parent.split('/').length % 2 !== 1) throw invalidArgument(`Parent must be a database or a document: "${parent}"`);
  return parent;
}

/** Everything the service needs, shared by all calls. */
export class FirestoreCore {
  readonly store = new DocumentStore();
  readonly txns: TransactionManager;
  readonly listeners: ListenHub;
  readonly commitLog = new CommitLog();
  /** Artificial latency per RPC method (ms), applied before the request is handled. */
  readonly latency = new Map<string, number>();

  constructor(opts: FirestoreCoreOptions) {
    this.txns = new TransactionManager({ timeoutMs: opts.transactionTimeoutMs });
    this.listeners = new ListenHub(this.store);
  }

  /** Deletes all data; open transactions are ended (their commits answer ABORTED). */
  reset(): void {
    this.txns.endAll('the database was reset');
    const names = this.store.clear();
    this.listeners.notify(names, this.store.clock.now());
  }

  dispose(): void {
    this.txns.endAll('the server stopped');
    this.listeners.closeAll();
  }
}

interface CancellableCall {
  cancelled: boolean;
  on(event: 'cancelled', listener: () => void): unknown;
}

function cancelSignal(call: CancellableCall): AbortSignal {
  const ac = new AbortController();
  if (call.cancelled) ac.abort();
  else call.on('cancelled', () => ac.abort());
  return ac.signal;
}

function toStatus(err: unknown): { code: status; details: string } {
  if (err instanceof FirestoreRpcError) return { code: err.code, details: err.message };
  // An emulator bug: log it loudly. UNKNOWN (not INTERNAL) so that gax doesn't retry it for minutes.
  console.error('[embedded-firestore] internal error:', err);
  return { code: status.UNKNOWN, details: `embedded Firestore internal error: ${err instanceof Error ? err.message : String(err)}` };
}

function streamError(err: unknown): Error {
  const s = toStatus(err);
  return Object.assign(new Error(s.details), s);
}

export function createFirestoreService(core: FirestoreCore, onRpc: (method: string) => void): UntypedServiceImplementation {
  const { store, txns, listeners, commitLog } = core;

  const delay = async (method: string): Promise<void> => {
    const ms = core.latency.get(method) ?? 0;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  };

  const unary =
    <Req, Res>(name: string, fn: (req: Req) => Res | Promise<Res>): handleUnaryCall<Req, Res> =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      onRpc(name);
      delay(name)
        .then(() => fn(call.request))
        .then(
          (res) => callback(null, res),
          (err: unknown) => callback(toStatus(err)),
        );
    };

  const serverStream =
    <Req, Res>(name: string, fn: (call: ServerWritableStream<Req, Res>) => Promise<void>): handleServerStreamingCall<Req, Res> =>
    (call) => {
      onRpc(name);
      // Send response headers at once. An error status without headers first ("trailers-only")
      // makes gax's retry-request layer re-send the streaming call twice, with 1-4 s backoffs,
      // whatever the code; with headers it reaches firebase-admin immediately.
      call.sendMetadata(new Metadata());
      delay(name)
        .then(() => fn(call))
        .then(
          () => call.end(),
          (err: unknown) => call.emit('error', streamError(err)),
        );
    };

  /** Resolves the transaction of a read (existing or started by it). */
  function readTxn(req: ReadConsistency): { txn?: Txn; started: boolean } {
    if (req.newTransaction) return { txn: txns.begin(req.newTransaction), started: true };
    if (req.transaction && req.transaction.length > 0) return { txn: txns.get(req.transaction), started: false };
    return { started: false };
  }

  /** Runs the lock-acquiring phase of a read; a transaction begun by this read dies with it. */
  async function lockPhase(txn: Txn | undefined, started: boolean, fn: (txn: Txn) => Promise<void>): Promise<void> {
    if (!txn?.readWrite) return;
    try {
      await fn(txn);
      if (txn.state !== 'active') throw aborted(`Transaction is no longer active (${txn.endReason ?? 'ended'}); retry the transaction.`);
    } catch (err) {
      if (started) txns.end(txn, 'its first read failed');
      throw err;
    }
  }

  function querySelector(q: StructuredQuery): { collectionId: string; allDescendants: boolean } {
    const from = q.from ?? [];
    if (from.length !== 1) throw invalidArgument('A query must select exactly one collection');
    return { collectionId: from[0]?.collectionId ?? '', allDescendants: from[0]?.allDescendants ?? false };
  }

  const signature = (docs: readonly StoredDoc[]): string => docs.map((d) => `${d.name}@${d.version}`).join('|');

  const BatchGetDocuments = serverStream<BatchGetDocumentsRequest, BatchGetDocumentsResponse>('BatchGetDocuments', async (call) => {
    const req = call.request;
    const names = req.documents ?? [];
    for (const n of names) parseDocumentName(n);
    const { txn, started } = readTxn(req);
    const signal = cancelSignal(call);
    await lockPhase(txn, started, async (t) => {
      for (const n of names) await txns.acquire(t, docLockKey(n), signal);
    });
    // From here on synchronous: a consistent snapshot.
    const readTime = store.clock.now();
    let first = true;
    const mask = req.mask?.fieldPaths;
    for (const name of names) {
      const doc = store.get(name);
      if (txn?.readWrite) txns.recordDocRead(txn, name, store.version(name));
      const res: BatchGetDocumentsResponse = doc ? { found: toDocumentProto(doc, mask), readTime } : { missing: name, readTime };
      if (first && started && txn) res.transaction = txn.id;
      first = false;
      call.write(res);
    }
    if (first && started && txn) call.write({ transaction: txn.id, readTime });
  });

  const RunQuery = serverStream<RunQueryRequest, RunQueryResponse>('RunQuery', async (call) => {
    const req = call.request;
    const parent = checkParent(req.parent);
    const q = req.structuredQuery ?? {};
    if (req.explainOptions) throw unimplemented('Query explain is not supported by the embedded Firestore');
    const sel = querySelector(q);
    runStructuredQuery(store, parent, q); // validate before taking locks
    const { txn, started } = readTxn(req);
    const signal = cancelSignal(call);
    await lockPhase(txn, started, async (t) => {
      await txns.acquire(t, queryLockKey(parent, sel.collectionId, sel.allDescendants), signal);
      // Lock the result documents too; re-run while waiting changed the result.
      for (let i = 0; i < 5; i++) {
        const missing = runStructuredQuery(store, parent, q).filter((d) => !txns.holds(t, docLockKey(d.name)));
        if (missing.length === 0) break;
        for (const d of missing) await txns.acquire(t, docLockKey(d.name), signal);
      }
    });
    const readTime = store.clock.now();
    const docs = runStructuredQuery(store, parent, q);
    if (txn?.readWrite) {
      txns.recordQueryRead(txn, {
        describe: `the query on ${relativeName(parent)}${sel.allDescendants ? ' (collection group)' : ''}/${sel.collectionId}`,
        signature: signature(docs),
        recompute: () => signature(runStructuredQuery(store, parent, q)),
      });
    }
    const projection = projectionOf(q);
    docs.forEach((doc, i) => {
      const res: RunQueryResponse = { document: toDocumentProto(doc, projection), readTime };
      if (i === 0 && started && txn) res.transaction = txn.id;
      call.write(res);
    });
    if (docs.length === 0) {
      const res: RunQueryResponse = { readTime };
      if (started && txn) res.transaction = txn.id;
      call.write(res);
    }
  });

  const RunAggregationQuery = serverStream<RunAggregationQueryRequest, RunAggregationQueryResponse>(
    'RunAggregationQuery',
    async (call) => {
      const req = call.request;
      const parent = checkParent(req.parent);
      if (req.explainOptions) throw unimplemented('Query explain is not supported by the embedded Firestore');
      const saq = req.structuredAggregationQuery ?? {};
      const q = saq.structuredQuery ?? {};
      const aggs = saq.aggregations ?? [];
      const sel = querySelector(q);
      const compute = (): ReturnType<typeof aggregate> => aggregate(runStructuredQuery(store, parent, q), aggs);
      compute(); // validate before taking locks
      const { txn, started } = readTxn(req);
      const signal = cancelSignal(call);
      await lockPhase(txn, started, async (t) => {
        await txns.acquire(t, queryLockKey(parent, sel.collectionId, sel.allDescendants), signal);
      });
      const readTime = store.clock.now();
      const result = compute();
      if (txn?.readWrite) {
        txns.recordQueryRead(txn, {
          describe: `the aggregation query on ${relativeName(parent)}/${sel.collectionId}`,
          signature: JSON.stringify(result),
          recompute: () => JSON.stringify(compute()),
        });
      }
      const res: RunAggregationQueryResponse = { result: { aggregateFields: result }, readTime };
      if (started && txn) res.transaction = txn.id;
      call.write(res);
    },
  );

  const BeginTransaction = unary<BeginTransactionRequest, { transaction: Buffer }>('BeginTransaction', (req) => ({
    transaction: txns.begin(req.options).id,
  }));

  const Commit = unary<CommitRequest, CommitResponse>('Commit', (req) => {
    // Synchronous from validation to the last write: commits are serialised by the event loop,
    // so check-and-apply is atomic with respect to every other commit and read.
    const writes = req.writes ?? [];
    let txn: Txn | undefined;
    if (req.transaction && req.transaction.length > 0) {
      txn = txns.get(req.transaction);
      if (writes.length > 0) txns.assertReadWrite(txn);
      txns.validate(txn, (n) => store.version(n), relativeName);
    }
    let outcome: ReturnType<DocumentStore['commit']> | undefined;
    try {
      outcome = store.commit(writes);
    } finally {
      if (txn) txns.end(txn, outcome ? 'committed' : 'its commit failed');
    }
    commitLog.record(outcome.changed, outcome.commitTime, txn !== undefined);
    listeners.notify(outcome.changed, outcome.commitTime);
    return { writeResults: outcome.writeResults, commitTime: outcome.commitTime };
  });

  const Rollback = unary<RollbackRequest, Record<string, never>>('Rollback', (req) => {
    if (req.transaction && req.transaction.length > 0) txns.rollback(req.transaction);
    return {};
  });

  const BatchWrite = unary<BatchWriteRequest, { writeResults: WriteResult[]; status: { code: number; message: string }[] }>(
    'BatchWrite',
    (req) => {
      const writeResults: WriteResult[] = [];
      const statuses: { code: number; message: string }[] = [];
      for (const w of req.writes ?? []) {
        try {
          const o = store.commit([w]);
          commitLog.record(o.changed, o.commitTime, false);
          listeners.notify(o.changed, o.commitTime);
          writeResults.push(o.writeResults[0] ?? {});
          statuses.push({ code: status.OK, message: '' });
        } catch (err) {
          const s = toStatus(err);
          writeResults.push({});
          statuses.push({ code: s.code, message: s.details });
        }
      }
      return { writeResults, status: statuses };
    },
  );

  const GetDocument = unary<GetDocumentRequest, Document>('GetDocument', async (req) => {
    const name = req.name ?? '';
    parseDocumentName(name);
    const { txn, started } = readTxn(req);
    await lockPhase(txn, started, (t) => txns.acquire(t, docLockKey(name)));
    if (txn?.readWrite) txns.recordDocRead(txn, name, store.version(name));
    const doc = store.get(name);
    if (!doc) throw new FirestoreRpcError(status.NOT_FOUND, `Document not found: ${relativeName(name)}`);
    return toDocumentProto(doc, req.mask?.fieldPaths);
  });

  function page<T>(items: T[], pageSize: number | undefined, pageToken: string | undefined): { items: T[]; next: string } {
    const start = pageToken ? Number(pageToken) : 0;
    if (!Number.isInteger(start) || start < 0) throw invalidArgument(`Invalid page token "${pageToken ?? ''}"`);
    const end = pageSize && pageSize > 0 ? start + pageSize : items.length;
    return { items: items.slice(start, end), next: end < items.length ? String(end) : '' };
  }

  const ListDocuments = unary<ListDocumentsRequest, { documents: Document[]; nextPageToken: string }>('ListDocuments', (req) => {
    const parent = checkParent(req.parent);
    const coll = `${parent}/${req.collectionId ?? ''}`;
    const found = new Map<string, Document>();
    for (const doc of store.all()) {
      if (parentCollection(doc.name) === coll) found.set(doc.name, toDocumentProto(doc, req.mask?.fieldPaths));
      else if (req.showMissing && doc.name.startsWith(`${coll}/`)) {
        // A document that doesn't exist but has descendants ("missing" document).
        const id = doc.name.slice(coll.length + 1).split('/')[0] as string;
        const name = `${coll}/${id}`;
        if (!found.has(name) && !store.get(name)) found.set(name, { name });
      }
    }
    const all = [...found.values()].sort((a, b) => compareReferences(a.name ?? '', b.name ?? ''));
    const p = page(all, req.pageSize, req.pageToken);
    return { documents: p.items, nextPageToken: p.next };
  });

  const ListCollectionIds = unary<ListCollectionIdsRequest, { collectionIds: string[]; nextPageToken: string }>(
    'ListCollectionIds',
    (req) => {
      const parent = checkParent(req.parent);
      const ids = new Set<string>();
      for (const doc of store.all()) {
        if (doc.name.startsWith(`${parent}/`)) ids.add(doc.name.slice(parent.length + 1).split('/')[0] as string);
      }
      const p = page([...ids].sort(compareStrings), req.pageSize, req.pageToken);
      return { collectionIds: p.items, nextPageToken: p.next };
    },
  );

  const Listen: handleBidiStreamingCall<ListenRequest, ListenResponse> = (call: ServerDuplexStream<ListenRequest, ListenResponse>) => {
    onRpc('Listen');
    listeners.attach(call);
  };

  const handlers: UntypedServiceImplementation = {
    BatchGetDocuments,
    RunQuery,
    RunAggregationQuery,
    BeginTransaction,
    Commit,
    Rollback,
    BatchWrite,
    GetDocument,
    ListDocuments,
    ListCollectionIds,
    Listen,
  };

  // Every other method answers UNIMPLEMENTED (and is still counted).
  const definition = firestoreServiceDefinition();
  for (const [name, attrs] of Object.entries(definition)) {
    if (handlers[name]) continue;
    const message = `${name} is not implemented by the embedded Firestore`;
    if (!attrs.requestStream && !attrs.responseStream) {
      handlers[name] = unary<unknown, unknown>(name, () => {
        throw unimplemented(message);
      });
    } else {
      handlers[name] = (call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) => {
        onRpc(name);
        call.emit('error', streamError(unimplemented(message)));
      };
    }
  }
  return handlers;
}
