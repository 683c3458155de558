/**
 * Embedded Firestore for tests and the local stack: an in-process gRPC server speaking the
 * google.firestore.v1.Firestore protocol that firebase-admin uses (insecure channel, "owner"
 * bearer token, selected by FIRESTORE_EMULATOR_HOST).
 *
 * Why not plain `@firestore-emulator/server` (0.3.15)? Investigated and rejected as the
 * engine, because with firebase-admin 13 it:
 *   - merges on `set()` without `{merge: true}` (old fields survive: set is not a replace);
 *   - ignores `FieldValue.delete()` in `update()` (update masks never remove fields);
 *   - throws "Not implemented" for any filter / orderBy on a nested field (`intent.strategyId`);
 *   - answers collection-group queries with the top-level collection only;
 *   - keeps documents that lack the orderBy field, ignores cursors, offset and unary filters
 *     (`== null`), rejects nested composite filters;
 *   - hands out one constant transaction id and never checks anything at Commit;
 *   - binds 0.0.0.0 and cannot report the port it got for port 0.
 * Wrapping it would have meant replacing its storage, writes, queries and transactions, i.e.
 * everything but its proto classes. So this module serves the same protocol from the proto
 * files shipped in `@google-cloud/firestore` (what firebase-admin sends), with its own store
 * (./store.ts), query engine (./query.ts), transactions (./transactions.ts) and listen
 * (./listen.ts).
 *
 * Transactions are SERIALISABLE (see ./transactions.ts): pessimistic exclusive locks taken by
 * transactional reads (documents read by name, present or absent; for queries the collection
 * and the result documents), waiters served oldest first, deadlocks detected and broken by
 * aborting the youngest transaction of the cycle (a retry keeps its age, so it can't starve);
 * plus a version check at Commit (own per-document counter, bumped by every write; "absent" =
 * version 0 for a never-written document) answering ABORTED when anything read changed —
 * firebase-admin retries ABORTED. A transaction holding locks longer than
 * `transactionTimeoutMs` (default 30 s), or idle that long, is expired: locks released, commit
 * ABORTED.
 *
 * Query shapes (through firebase-admin; the ones the project uses are covered by
 * test/integration/dev/embedded-firestore.emulator.test.ts, the rest were checked by hand):
 *   works: `==`, `!=`, `<`, `<=`, `>`, `>=` (type-bracketed, e.g. Timestamp ranges), `in`,
 *          `not-in`, `array-contains(-any)`, `== null` / NaN, AND / OR / nested composites,
 *          filters and orderBy on nested fields (`intent.strategyId`), orderBy (asc/desc,
 *          several fields; documents missing an orderBy field are excluded; implicit order by
 *          inequality fields then document id), limit, limitToLast, offset, cursors
 *          (startAt/After, endAt/Before), select(), collection-group queries, count() / sum()
 *          / average() aggregations (with filters), FieldPath.documentId() filters, onSnapshot
 *          on documents and on queries, listDocuments(), listCollections(), BulkWriter,
 *          recursiveDelete().
 *   not supported: composite-index requirements are not enforced (every query is answered,
 *          like the official emulator); findNearest (vector search) and query explain answer
 *          UNIMPLEMENTED; reads at a past `readTime` (incl. read-only transactions with
 *          readTime) see current data; the REST-only RPCs (Create/Update/DeleteDocument,
 *          PartitionQuery, Write stream) answer UNIMPLEMENTED — firebase-admin doesn't use them.
 *   semantics notes: non-transactional writes take no locks (a transaction that read the same
 *          document is ABORTED at commit and retried). Read locks are exclusive (production
 *          uses shared read locks): a document read by every transaction, e.g. ops/killSwitch,
 *          serialises them — correct, about 5 ms per transaction here (200 concurrent claims
 *          ≈ 1 s). Data is in memory only.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { CommitLogEntry } from './service.js';
import { FirestoreCore, createFirestoreService } from './service.js';
import { firestoreServiceDefinition } from './proto.js';

export interface FirestoreRpcStats {
  /** Calls per gRPC method name (BeginTransaction, Commit, BatchGetDocuments, RunQuery, ...). */
  counts: Record<string, number>;
  total(): number;
  reset(): void;
}

export type { CommitLogEntry } from './service.js';

/** Successful commits in order (for tests that check what committed before/after what). */
export interface FirestoreCommitLog {
  entries(): CommitLogEntry[];
  clear(): void;
}

/** Fault injection. */
export interface FirestoreFaults {
  /** Delays every call of a gRPC method (e.g. 'Commit') by `ms` before handling it; 0 removes it. */
  setLatency(method: string, ms: number): void;
  clear(): void;
}

export interface EmbeddedFirestore {
  /** "127.0.0.1:PORT", the value for FIRESTORE_EMULATOR_HOST. */
  host: string;
  port: number;
  projectId: string;
  stats: FirestoreRpcStats;
  commitLog: FirestoreCommitLog;
  faults: FirestoreFaults;
  /** Deletes all data (all projects) and ends open transactions. Does not reset `stats`, the commit log or faults. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** An emulator that was already running (FIRESTORE_EMULATOR_HOST set before we were asked). */
export interface ExternalFirestoreEmulator {
  host: string;
  external: true;
  projectId: string;
  /** Deletes all documents of `projectId` (official emulator REST endpoint, or the embedded one). */
  reset(): Promise<void>;
  /** Does nothing: we didn't start it. */
  stop(): Promise<void>;
}

export interface EmbeddedFirestoreOptions {
  /** 0 (default): the OS picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default "demo-haltgate". Informational: the server serves any project id. */
  projectId?: string;
  /** Open transactions older than this are expired (locks released, commit ABORTED). Default 30 000. */
  transactionTimeoutMs?: number;
}

export const DEFAULT_PROJECT_ID = 'demo-haltgate';

/** Embedded servers of this process, by host, so useFirestoreEmulator can find its own. */
const running = new Map<string, EmbeddedFirestore>();

function createStats(): FirestoreRpcStats {
  const counts: Record<string, number> = {};
  return {
    counts,
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    reset: () => {
      for (const k of Object.keys(counts)) delete counts[k];
    },
  };
}

export async function startEmbeddedFirestore(opts: EmbeddedFirestoreOptions = {}): Promise<EmbeddedFirestore> {
  const bindHost = opts.host ?? '127.0.0.1';
  const projectId = opts.projectId ?? DEFAULT_PROJECT_ID;
  const stats = createStats();
  const core = new FirestoreCore({ transactionTimeoutMs: opts.transactionTimeoutMs ?? 30_000 });
  const server = new Server();
  server.addService(
    firestoreServiceDefinition(),
    createFirestoreService(core, (method) => {
      stats.counts[method] = (stats.counts[method] ?? 0) + 1;
    }),
  );
  const hostPart = bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${hostPart}:${opts.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) => {
      if (err) reject(err);
      else resolve(p);
    });
  });
  const host = `${hostPart}:${port}`;
  let stopped = false;
  const emulator: EmbeddedFirestore = {
    host,
    port,
    projectId,
    stats,
    commitLog: core.commitLog,
    faults: {
      setLatency: (method, ms) => {
        if (ms > 0) core.latency.set(method, ms);
        else core.latency.delete(method);
      },
      clear: () => core.latency.clear(),
    },
    reset: async () => {
      core.reset();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      running.delete(host);
      core.dispose();
      server.forceShutdown();
    },
  };
  running.set(host, emulator);
  return emulator;
}

/**
 * Uses the emulator named by FIRESTORE_EMULATOR_HOST when one is set (e.g. the official
 * emulator under `firebase emulators:exec`); otherwise starts the embedded one and sets
 * FIRESTORE_EMULATOR_HOST (restored by `stop()`). Call it before the first getFirestore().
 */
export async function useFirestoreEmulator(
  opts: EmbeddedFirestoreOptions = {},
): Promise<EmbeddedFirestore | ExternalFirestoreEmulator> {
  const projectId = opts.projectId ?? DEFAULT_PROJECT_ID;
  const existing = process.env['FIRESTORE_EMULATOR_HOST'];
  if (existing) {
    const ours = running.get(existing);
    return {
      host: existing,
      external: true,
      projectId,
      reset: ours ? () => ours.reset() : () => resetExternal(existing, projectId),
      stop: async () => {},
    };
  }
  const emulator = await startEmbeddedFirestore({ ...opts, projectId });
  process.env['FIRESTORE_EMULATOR_HOST'] = emulator.host;
  const stop = emulator.stop;
  emulator.stop = async () => {
    if (process.env['FIRESTORE_EMULATOR_HOST'] === emulator.host) delete process.env['FIRESTORE_EMULATOR_HOST'];
    await stop();
  };
  return emulator;
}

/** The official emulator's "delete all documents" endpoint. */
async function resetExternal(host: string, projectId: string): Promise<void> {
  const res = await fetch(`http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`, {
    method: 'DELETE',
  });
  if (!res.ok) throw new Error(`Resetting the Firestore emulator at ${host} failed: HTTP ${res.status}`);
}
