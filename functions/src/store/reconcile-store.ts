import type { Firestore } from 'firebase-admin/firestore';
import type { Clock } from '../domain/clock.js';
import type { SubmissionRecord } from '../domain/submission.js';
import { StoreUnavailableError } from '../errors.js';
import { ts } from './firestore-values.js';
import { RECONCILER_STATUS_PATH, SUBMISSIONS } from './paths.js';
import { recordFromDocument } from './submission-document.js';
import { createFirestoreSubmissionStore, type SubmissionStore } from './submission-store.js';

/** A record the reconciler may look at, or one it cannot read (counted, never touched). */
export type ReconcileCandidate = { ok: true; record: SubmissionRecord } | { ok: false; intentId: string; problem: string };

/** The summary of one reconciler run, kept at `ops/reconciler` for the ops status. */
export interface ReconcileReport {
  lastRunAtMs: number;
  scanned: number;
  submitted: number;
  abandoned: number;
  /** Records still `unknown` (or `submitting`) after the run: their outcome is not known yet. */
  stillUnknown: number;
  /** `submitting` records whose owner was gone and that became `unknown` in this run. */
  markedUnknown: number;
  /** Unreadable records, failed lookups, failed writes. */
  errors: number;
  durationMs: number;
  /** The first few problems, for operators. */
  problems: string[];
}

export interface ReconcileStore {
  /**
   * Records in `state`, least recently updated first (index `state, updatedAt`), only those
   * updated before `updatedBeforeMs` when given.
   */
  findInState(query: { state: 'submitting' | 'unknown'; limit: number; updatedBeforeMs?: number }): Promise<ReconcileCandidate[]>;
  /** The pipeline's own outcome write: a transaction that re-checks state and attempt. */
  recordOutcome: SubmissionStore['recordOutcome'];
  writeReport(report: ReconcileReport): Promise<void>;
}

export function createFirestoreReconcileStore(db: Firestore, opts: { clock: Clock }): ReconcileStore {
  const submissions = createFirestoreSubmissionStore(db, { clock: opts.clock });
  return {
    async findInState({ state, limit, updatedBeforeMs }) {
      let query = db.collection(SUBMISSIONS).where('state', '==', state);
      if (updatedBeforeMs !== undefined) query = query.where('updatedAt', '<', ts(updatedBeforeMs));
      try {
        const snap = await query.orderBy('updatedAt', 'asc').limit(limit).get();
        return snap.docs.map((doc): ReconcileCandidate => {
          const parsed = recordFromDocument(doc.data());
          return parsed.ok ? { ok: true, record: parsed.record } : { ok: false, intentId: doc.id, problem: parsed.problem };
        });
      } catch (err) {
        throw new StoreUnavailableError(`findInState(${state})`, err);
      }
    },

    recordOutcome: (intentId, expect, update) => submissions.recordOutcome(intentId, expect, update),

    async writeReport(report) {
      try {
        await db.doc(RECONCILER_STATUS_PATH).set({
          lastRunAt: ts(report.lastRunAtMs),
          scanned: report.scanned,
          submitted: report.submitted,
          abandoned: report.abandoned,
          stillUnknown: report.stillUnknown,
          markedUnknown: report.markedUnknown,
          errors: report.errors,
          durationMs: report.durationMs,
          problems: report.problems,
        });
      } catch (err) {
        throw new StoreUnavailableError('writeReconcileReport', err);
      }
    },
  };
}
