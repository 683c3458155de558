/**
 * The SubmissionStore and ReconcileStore over documents kept in memory, for tests that explore
 * interleavings and fuzz the pipeline without an emulator. It runs the same pure code as the
 * Firestore stores (decideKillSwitch, decideClaim, the breaker gate, recordToDocument /
 * recordFromDocument, timestampsToDates): only where the documents live differs.
 *
 * Firestore semantics it models:
 * - a transaction is serialisable and atomic: its reads and its writes happen with no other
 *   transaction or write in between. Production Firestore and the emulator lock pessimistically;
 *   an ABORTED retry re-runs the callback and only its last run commits, which is the same as one
 *   run at the commit point. A non-transactional write (`set`) is atomic too;
 * - strong consistency: a read or query after a commit sees it;
 * - documents are stored as the converters write them (Timestamps included) and read back
 *   through the same parsers; `set` replaces a document, `set(…, { merge: true })` merges maps;
 * - a write with a document id or field name Firestore refuses (empty, `.`/`..`, reserved
 *   `__…__`, over 1500 bytes) fails as the official emulator's INVALID_ARGUMENT does, and the
 *   store turns that into StoreUnavailableError like the Firestore store.
 * Not modelled: latency, errors (UNAVAILABLE, DEADLINE_EXCEEDED), contention retries, server
 * timestamps (claimCommittedAt holds the clock's time; commit order is the `commits` log).
 *
 * Every operation starts with `await point(op)`: the only place where another invocation may run
 * and where this one may die (a point that never resolves). Code between two points touches only
 * its invocation's own state, the clock and the shutdown gate. An invocation that dies after a
 * commit but before it sees the answer is the same as one that dies at its next point.
 */
import type { DocumentData } from 'firebase-admin/firestore';
import { Timestamp } from 'firebase-admin/firestore';
import { emptyStrategyStats, parseStrategyStats, recordBrokerOutcome, classifyBrokerOutcome, BrokerOutcomeEffect } from '../../functions/src/domain/breakers/stats.js';
import type { Clock } from '../../functions/src/domain/clock.js';
import { pendingRelease } from '../../functions/src/domain/exposure/pending-release.js';
import { RUNNERS_COLLECTION } from '../../functions/src/domain/runner-heartbeat.js';
import { SYMBOL_HALTS, symbolHaltDocId } from '../../functions/src/domain/symbol-halt.js';
import type { SubmissionRecord } from '../../functions/src/domain/submission.js';
import { applyOutcome } from '../../functions/src/domain/outcome.js';
import { StoreUnavailableError } from '../../functions/src/errors.js';
import { timestampsToDates, ts } from '../../functions/src/store/firestore-values.js';
import { FILLS_CURSOR_PATH, INVALID_INTENTS, KILL_SWITCH_PATH, RECONCILER_STATUS_PATH, STRATEGIES, SUBMISSIONS } from '../../functions/src/store/paths.js';
import type { ReconcileCandidate, ReconcileStore } from '../../functions/src/store/reconcile-store.js';
import { runClaimFlow } from '../../functions/src/store/claim-flow.js';
import { EXPOSURE, releasedExposureDocument, strategyExposuresFrom } from '../../functions/src/store/exposure-store.js';
import { breakerGate, type StrategyGate } from '../../functions/src/store/strategy-gate.js';
import { CLAIM_COMMITTED_AT, recordFromDocument, recordToDocument } from '../../functions/src/store/submission-document.js';
import { invalidIntentDocument, type SubmissionStore } from '../../functions/src/store/submission-store.js';

/** What an operation reads and writes: document paths; `submissions/*` is a query over all. */
export interface OpInfo {
  op: string;
  reads: readonly string[];
  writes: readonly string[];
  /**
   * Touches nothing any other invocation reads or writes (the reconciler's report): a
   * scheduler need not stop here, since no ordering and no crash here changes anything checked.
   */
  private?: boolean;
  /** Dying here is the same as dying at the next point: the scheduler does not offer it. */
  noCrash?: boolean;
}
export type Point = (op: OpInfo) => Promise<void>;
export const noPoint: Point = () => Promise.resolve();

export interface CommitEntry {
  seq: number;
  path: string;
  /** `claim` (a submitting record written by a claim), `refuse`, `outcome`, `write`. */
  kind: 'claim' | 'refuse' | 'outcome' | 'write';
  state?: string;
  attempt?: number;
}

/** Timestamps are immutable values: copied by reference; maps and arrays are copied. */
function copy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copy) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Timestamp) && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)])) as T;
  }
  return value;
}

function mergeMaps(base: DocumentData, patch: DocumentData): DocumentData {
  const out: DocumentData = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    const plain = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Timestamp) && !(x instanceof Date);
    out[k] = plain(b) && plain(v) ? mergeMaps(b as DocumentData, v as DocumentData) : copy(v);
  }
  return out;
}

export class MemoryFirestore {
  readonly docs = new Map<string, DocumentData>();
  /** Every write in commit order, numbered by `seq` (shared with the broker's log when given). */
  readonly commits: CommitEntry[] = [];
  constructor(readonly nextSeq: () => number = counter()) {}

  /** Stored documents are never mutated (a write replaces them), so reads share them. */
  get(path: string): DocumentData | undefined {
    return this.docs.get(path);
  }

  set(path: string, data: DocumentData, entry: Omit<CommitEntry, 'seq' | 'path'> = { kind: 'write' }, merge = false): number {
    checkWrite(path, data);
    const current = this.docs.get(path);
    // Writers hand over fresh objects (the converters build them) and nobody mutates a stored one.
    this.docs.set(path, merge && current !== undefined ? mergeMaps(current, data) : data);
    const seq = this.nextSeq();
    this.commits.push({ seq, path, ...entry });
    return seq;
  }

  /** Documents directly under `collection`, as [id, data]. */
  list(collection: string): Array<[string, DocumentData]> {
    const prefix = `${collection}/`;
    return [...this.docs.entries()].filter(([p]) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map(([p, d]) => [p.slice(prefix.length), d]);
  }
}

const RESERVED = /^__.+__$/s; // `____` is allowed, `_____` and `__x__` are not (the official emulator)

/** Firestore's rules for ids and field names, as the official emulator enforces them. */
function checkWrite(path: string, data: DocumentData): void {
  for (const id of path.split('/')) {
    if (id === '' || id === '.' || id === '..' || RESERVED.test(id) || Buffer.byteLength(id, 'utf8') > 1500) {
      throw new Error(`3 INVALID_ARGUMENT: Resource id ${JSON.stringify(id)} is invalid`);
    }
  }
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object' && !(v instanceof Timestamp) && !(v instanceof Date)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === '' || RESERVED.test(k)) throw new Error(`3 INVALID_ARGUMENT: field name ${JSON.stringify(k)} is reserved or empty`);
        walk(x);
      }
    }
  };
  walk(data);
}

export function counter(): () => number {
  let n = 0;
  return () => ++n;
}

const tsMs = (v: unknown): number | null => (v instanceof Timestamp ? v.toMillis() : null);

export function createMemorySubmissionStore(
  db: MemoryFirestore,
  opts: {
    clock: Clock;
    point?: Point;
    strategyGate?: StrategyGate;
    /**
     * A point between the claim's commit and the caller's next line, which reads the clock and
     * the shutdown gate: only worth a scheduling decision when a clock jump or SIGTERM may land there.
     */
    pointAfterClaim?: boolean;
  },
): SubmissionStore {
  const { clock } = opts;
  const point = opts.point ?? noPoint;
  const gate = opts.strategyGate ?? breakerGate;
  return {
    async claimSubmission(request) {
      const { intentId, strategyId, symbol } = request.intent;
      const subPath = `${SUBMISSIONS}/${intentId}`;
      const strategyPath = `${STRATEGIES}/${strategyId}`;
      const exposurePath = `${strategyPath}/${EXPOSURE}/${symbolHaltDocId(symbol)}`;
      const symbolHaltPath = `${SYMBOL_HALTS}/${symbolHaltDocId(symbol)}`;
      const runnerPath = `${RUNNERS_COLLECTION}/${strategyId}`;
      await point({
        op: 'claim',
        reads: [KILL_SWITCH_PATH, subPath, strategyPath, `${SUBMISSIONS}/*`, FILLS_CURSOR_PATH, exposurePath, `${strategyPath}/${EXPOSURE}/*`, symbolHaltPath, runnerPath],
        writes: [subPath, strategyPath, exposurePath],
      });
      // One transaction: nothing else runs from here to the return (the gate's await is a microtask).
      const nowMs = clock.now();
      const dates = (path: string) => {
        const data = db.get(path);
        return data === undefined ? undefined : timestampsToDates(data);
      };
      const subData = db.get(subPath);
      const strategyData = db.get(strategyPath);
      const { decision, strategyUpdate, exposureUpdate } = await runClaimFlow(
        request,
        {
          killSwitch: dates(KILL_SWITCH_PATH),
          submission: subData,
          strategy: dates(strategyPath),
          ledger: dates(FILLS_CURSOR_PATH),
          exposure: db.get(exposurePath),
          symbolHalt: dates(symbolHaltPath),
          runner: dates(runnerPath),
        },
        {
          countRecentClaims: async (sinceMs) =>
            db.list(SUBMISSIONS).filter(([, d]) => d.strategyId === strategyId && (tsMs(d.claimedAt) ?? -Infinity) > sinceMs).length,
          readStrategyExposures: async () => strategyExposuresFrom(strategyId, db.list(`${strategyPath}/${EXPOSURE}`)),
        },
        gate,
        nowMs,
      );
      if (decision.kind === 'claim' || decision.kind === 'refuse') {
        const claimCommittedAt = decision.kind === 'claim' ? ts(nowMs) : (subData?.[CLAIM_COMMITTED_AT] ?? null);
        db.set(subPath, { ...recordToDocument(decision.record), [CLAIM_COMMITTED_AT]: claimCommittedAt }, {
          kind: decision.kind,
          state: decision.record.state,
          attempt: decision.record.attempts,
        });
        if (strategyUpdate) db.set(strategyPath, strategyUpdate, { kind: 'write' }, true);
        // No server timestamps here: the clock's time stands in for updatedAt.
        if (exposureUpdate) db.set(exposurePath, { ...exposureUpdate, updatedAt: ts(nowMs) });
      }
      const stats = strategyData?.stats === undefined ? { ok: true as const, stats: emptyStrategyStats() } : parseStrategyStats(strategyData.stats);
      if (opts.pointAfterClaim) await point({ op: `sees ${decision.kind}`, reads: [], writes: [], noCrash: true });
      return { ...decision, strategyBrokerErrors: stats.ok ? stats.stats.consecutiveBrokerErrors : null };
    },

    async recordOutcome(intentId, expect, update) {
      const path = `${SUBMISSIONS}/${intentId}`;
      // The exposure document it may release into is only known once the record is read: any strategy's.
      await point({ op: `recordOutcome(${update.state})`, reads: [path], writes: [path, `${STRATEGIES}/*`] });
      const data = db.get(path);
      if (data === undefined) return { applied: false, current: null, why: 'record does not exist' };
      const parsed = recordFromDocument(data);
      if (!parsed.ok) return { applied: false, current: null, why: `record unreadable: ${parsed.problem}` };
      const outcome = applyOutcome(parsed.record, expect, update, clock.now());
      if (!outcome.applied) return outcome;
      const record = outcome.record;
      db.set(path, { ...recordToDocument(record), [CLAIM_COMMITTED_AT]: data[CLAIM_COMMITTED_AT] ?? null }, { kind: 'outcome', state: record.state, attempt: record.attempts });
      // As the Firestore store: what was never placed leaves pending exposure in the same write.
      const release = pendingRelease(parsed.record, record);
      const exposurePath = `${STRATEGIES}/${record.strategyId}/${EXPOSURE}/${symbolHaltDocId(record.intent.symbol)}`;
      const exposureData = release ? db.get(exposurePath) : undefined;
      const released = release && exposureData ? releasedExposureDocument(exposureData, release) : null;
      if (released) db.set(exposurePath, { ...released, updatedAt: ts(clock.now()) });
      return { applied: true, record };
    },

    async recordInvalidIntent(entry) {
      const path = `${INVALID_INTENTS}/${entry.eventId}`;
      await point({ op: 'recordInvalidIntent', reads: [], writes: [path] });
      try {
        db.set(path, invalidIntentDocument(entry));
      } catch (err) {
        throw new StoreUnavailableError('recordInvalidIntent', err);
      }
    },

    // As strategy-stats-store.ts: no I/O for a healthy answer after a streak of 0; otherwise one
    // read-modify-write of `stats.consecutiveBrokerErrors` (one point: a crash between the
    // plain read and the transaction there changes nothing).
    async recordBrokerOutcome(strategyId, outcome, streakAtClaim) {
      if (streakAtClaim === 0 && classifyBrokerOutcome(outcome) !== BrokerOutcomeEffect.error) {
        return { written: false, consecutiveBrokerErrors: 0, why: 'unchanged' };
      }
      const path = `${STRATEGIES}/${strategyId}`;
      await point({ op: 'recordBrokerOutcome', reads: [path], writes: [path] });
      const data = db.get(path);
      const parsed = data?.stats === undefined ? { ok: true as const, stats: emptyStrategyStats() } : parseStrategyStats(data.stats);
      if (!parsed.ok) return { written: false, consecutiveBrokerErrors: null, why: 'stats malformed' };
      const next = recordBrokerOutcome(parsed.stats, outcome);
      if (!next.changed) return { written: false, consecutiveBrokerErrors: parsed.stats.consecutiveBrokerErrors, why: 'unchanged' };
      db.set(path, { stats: { ...parsed.stats, consecutiveBrokerErrors: next.stats.consecutiveBrokerErrors } }, { kind: 'write' }, true);
      return { written: true, consecutiveBrokerErrors: next.stats.consecutiveBrokerErrors };
    },
  };
}

export function createMemoryReconcileStore(db: MemoryFirestore, opts: { clock: Clock; point?: Point }): ReconcileStore {
  const point = opts.point ?? noPoint;
  const submissions = createMemorySubmissionStore(db, opts);
  return {
    async findInState({ state, limit, updatedBeforeMs }) {
      await point({ op: `findInState(${state})`, reads: [`${SUBMISSIONS}/*`], writes: [] });
      return db
        .list(SUBMISSIONS)
        .filter(([, d]) => d.state === state && (updatedBeforeMs === undefined || (tsMs(d.updatedAt) ?? Infinity) < updatedBeforeMs))
        .sort(([, a], [, b]) => (tsMs(a.updatedAt) ?? 0) - (tsMs(b.updatedAt) ?? 0))
        .slice(0, limit)
        .map(([id, d]): ReconcileCandidate => {
          const parsed = recordFromDocument(d);
          return parsed.ok ? { ok: true, record: parsed.record } : { ok: false, intentId: id, problem: parsed.problem };
        });
    },
    recordOutcome: submissions.recordOutcome,
    async writeReport(report) {
      await point({ op: 'writeReport', reads: [], writes: [RECONCILER_STATUS_PATH], private: true });
      db.set(RECONCILER_STATUS_PATH, { ...report, lastRunAt: ts(report.lastRunAtMs) });
    },
  };
}

/** The submission record as the domain sees it, or null / the parse problem. */
export function readRecord(db: MemoryFirestore, intentId: string): SubmissionRecord | null | { unreadable: string } {
  const data = db.get(`${SUBMISSIONS}/${intentId}`);
  if (data === undefined) return null;
  const parsed = recordFromDocument(data);
  return parsed.ok ? parsed.record : { unreadable: parsed.problem };
}
