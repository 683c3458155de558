import { FieldValue, type DocumentData, type Firestore, type Timestamp, type Transaction } from 'firebase-admin/firestore';
import { parseStrategyStats, type BrokerOutcomeLike } from '../domain/breakers/stats.js';
import type { ClaimDecision } from '../domain/claim-decision.js';
import type { Clock } from '../domain/clock.js';
import { applyOutcome, type OutcomeUpdate, type OutcomeWrite } from '../domain/outcome.js';
import { pendingRelease } from '../domain/exposure/pending-release.js';
import { RUNNERS_COLLECTION } from '../domain/runner-heartbeat.js';
import type { SubmissionRecord, SubmissionState } from '../domain/submission.js';
import { SYMBOL_HALTS, symbolHaltDocId } from '../domain/symbol-halt.js';
import { DeadlineBudgetError, StoreUnavailableError } from '../errors.js';
import { settledWithin } from '../safety/settled-within.js';
import { timestampsToDates, ts } from './firestore-values.js';
import { FILLS_CURSOR_PATH, INVALID_INTENTS, KILL_SWITCH_PATH, STRATEGIES, SUBMISSIONS } from './paths.js';
import { captureCommit, type CommitCapture } from './commit-results.js';
import { exposureRef, readStrategyExposures, releasedExposureDocument } from './exposure-store.js';
import { allowAllStrategies, type StrategyGate } from './strategy-gate.js';
import { recordBrokerOutcomeStats, type BrokerOutcomeStatsWrite } from './strategy-stats-store.js';
import { CLAIM_COMMITTED_AT, recordFromDocument, recordToDocument } from './submission-document.js';

export { allowAllStrategies, type StrategyGate };

import { runClaimFlow, type ClaimRequest } from './claim-flow.js';
import type { ClaimLane } from './claim-lane.js';

export type { ClaimRequest };

export type { OutcomeUpdate, OutcomeWrite } from '../domain/outcome.js';

export interface InvalidIntentEntry {
  eventId: string;
  /** `empty`, `not_json`, `schema`, `too_large`, or `intent_conflict`. */
  failure: string;
  issues: Array<{ path: string; message: string }>;
  rawData: string;
  messageId: string | null;
  publishTime: string | null;
  attributes: Record<string, string>;
  receivedAtMs: number;
  intentId?: string | null;
}

export interface SubmissionStore {
  claimSubmission(request: ClaimRequest): Promise<StoreClaimDecision>;
  /** Second write of claim-act-record: applies only while the record still belongs to `attempt`. */
  recordOutcome(intentId: string, expect: { attempt: number; from: readonly SubmissionState[] }, update: OutcomeUpdate): Promise<OutcomeWrite>;
  recordInvalidIntent(entry: InvalidIntentEntry): Promise<void>;
  /** Keeps the strategy's broker-error streak (`stats.consecutiveBrokerErrors`); writes only when it changes. */
  /**
   * Keeps the strategy's broker-error streak. `streakAtClaim` is what the claim transaction
   * read; with 0 and a non-error outcome there is nothing to change and nothing is read.
   */
  recordBrokerOutcome(strategyId: string, outcome: BrokerOutcomeLike, streakAtClaim?: number | null): Promise<BrokerOutcomeStatsWrite>;
}

/** gRPC FAILED_PRECONDITION: a `lastUpdateTime` precondition did not hold. */
const GRPC_FAILED_PRECONDITION = 9;
/** Claims of this instance remembered until their outcome (far above any instance's concurrency). */
export const MAX_OWN_CLAIMS = 10_000;

/** The claim decision, plus the strategy's broker-error streak as the transaction read it. */
export type StoreClaimDecision = ClaimDecision & { strategyBrokerErrors: number | null };

/** `null` when the stored stats are malformed (the streak is then written by no one but the operator). */
function brokerErrorStreak(data: DocumentData | undefined): number | null {
  if (data?.stats === undefined) return 0;
  const parsed = parseStrategyStats(data.stats);
  return parsed.ok ? parsed.stats.consecutiveBrokerErrors : null;
}

/**
 * A message's attributes as a map, except keys Firestore cannot hold as field names (empty, or
 * reserved `__…__`), which Pub/Sub allows: those are kept as a list beside it, so the message is
 * still kept (G5) and nothing the publisher sent is lost.
 */
export function keptAttributes(attributes: Record<string, string>): { attributes: Record<string, string>; unsafeAttributes?: Array<{ key: string; value: string }> } {
  const safe: Record<string, string> = {};
  const unsafe: Array<{ key: string; value: string }> = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (key === '' || /^__.*__$/s.test(key)) unsafe.push({ key, value });
    else safe[key] = value;
  }
  return unsafe.length === 0 ? { attributes: safe } : { attributes: safe, unsafeAttributes: unsafe };
}

/** Raw data of an invalid message kept for audit: bounded so one bad publisher can't bloat the database. */
export const MAX_KEPT_RAW_BYTES = 64 * 1024;

/** `invalidIntents/{eventId}` as kept: the message, why it was refused, raw data bounded. */
export function invalidIntentDocument(entry: InvalidIntentEntry): DocumentData {
  const raw = entry.rawData.length > MAX_KEPT_RAW_BYTES ? entry.rawData.slice(0, MAX_KEPT_RAW_BYTES) : entry.rawData;
  return {
    eventId: entry.eventId,
    failure: entry.failure,
    issues: entry.issues,
    rawData: raw,
    rawTruncated: raw.length !== entry.rawData.length,
    messageId: entry.messageId,
    publishTime: entry.publishTime,
    ...keptAttributes(entry.attributes),
    intentId: entry.intentId ?? null,
    receivedAt: ts(entry.receivedAtMs),
  };
}

/**
 * Begins the claim transaction in the claim lane (claim-lane.ts), whose waiting holds no lock on
 * the kill switch. A claim whose turn came after its start-by time (its invocation has given the
 * delivery back) is not begun. The turn is the claim's while its invocation waits for it: until
 * the transaction settles or, at the latest, the start-by time; a transaction stuck in Firestore
 * (a hung call, a client retrying) goes on past that on its own, without keeping the claims
 * behind it waiting until the client gives up.
 */
function claimInLane<T>(db: Firestore, lane: ClaimLane | null, clock: Clock, request: ClaimRequest, body: (tx: Transaction) => Promise<T>): Promise<T> {
  const begin = () => {
    const nowMs = clock.now();
    if (request.startByMs !== undefined && nowMs > request.startByMs) {
      throw new DeadlineBudgetError(request.deadlineAtMs - nowMs, request.deadlineAtMs - request.startByMs, 'claim lane: the turn came too late, the claim was not begun');
    }
    return db.runTransaction(body);
  };
  if (!lane) return Promise.resolve().then(begin);
  return lane
    .run(async () => {
      const tx = begin();
      if (request.startByMs === undefined) await tx;
      else await settledWithin(tx, request.startByMs - clock.now());
      return { tx };
    })
    .then(({ tx }) => tx);
}

export function createFirestoreSubmissionStore(
  db: Firestore,
  opts: { clock: Clock; strategyGate?: StrategyGate; claimLane?: ClaimLane },
): SubmissionStore {
  const { clock } = opts;
  const lane = opts.claimLane ?? null;
  // Tests of the claim alone use no gate; executeIntent wires `breakerGate` (index.ts), and
  // an integration test of the exported function checks that the breakers are on.
  const strategyGate = opts.strategyGate ?? allowAllStrategies;
  const killSwitchRef = db.doc(KILL_SWITCH_PATH);
  const ledgerRef = db.doc(FILLS_CURSOR_PATH);
  // This instance's own claims, until their outcome: the claimed record and the update time
  // its claim commit gave it. The outcome then is one write with a precondition on that time
  // (no read): it applies only while the record is still exactly what this claim wrote, and
  // fails cleanly when a reconciler (or a later attempt) moved it on. Bounded: a claim whose
  // outcome never comes (the invocation died) just falls out.
  const ownClaims = new Map<string, { attempt: number; record: SubmissionRecord; updateTime: Timestamp }>();
  const remember = (record: SubmissionRecord, updateTime: Timestamp) => {
    ownClaims.delete(record.intentId);
    ownClaims.set(record.intentId, { attempt: record.attempts, record, updateTime });
    if (ownClaims.size > MAX_OWN_CLAIMS) ownClaims.delete(ownClaims.keys().next().value as string);
  };

  return {
    async claimSubmission(request) {
      const submissionRef = db.collection(SUBMISSIONS).doc(request.intent.intentId);
      const strategyRef = db.collection(STRATEGIES).doc(request.intent.strategyId);
      try {
        let commit: CommitCapture | null = null;
        const decided = await claimInLane(db, lane, clock, request, async (tx) => {
          commit = captureCommit(tx);
          // All in one read (one BatchGetDocuments), inside the transaction: the kill switch is
          // read where the claim commits, so no claim can commit after a halt commits (G2). The
          // fills ledger's sync state rides along: the P&L breakers must not decide on a ledger
          // that stopped syncing (written once per syncFills run, so no hot document). So do the
          // exposure controls' documents: the strategy's exposure in this symbol, the symbol's
          // halt and the strategy's runner heartbeat, each read by name.
          const exposureDocRef = exposureRef(db, request.intent.strategyId, request.intent.symbol);
          const symbolHaltRef = db.collection(SYMBOL_HALTS).doc(symbolHaltDocId(request.intent.symbol));
          const runnerRef = db.collection(RUNNERS_COLLECTION).doc(request.intent.strategyId);
          const [killSnap, submissionSnap, strategySnap, ledgerSnap, exposureSnap, symbolHaltSnap, runnerSnap] = await tx.getAll(
            killSwitchRef,
            submissionRef,
            strategyRef,
            ledgerRef,
            exposureDocRef,
            symbolHaltRef,
            runnerRef,
          );
          // The callback may run several times (ABORTED retries): take the time per run.
          const nowMs = clock.now();
          const { decision, strategyUpdate, exposureUpdate } = await runClaimFlow(
            request,
            {
              killSwitch: killSnap?.exists ? timestampsToDates(killSnap.data()) : undefined,
              submission: submissionSnap?.exists ? (submissionSnap.data() ?? {}) : undefined,
              strategy: strategySnap?.exists ? timestampsToDates(strategySnap.data()) : undefined,
              ledger: ledgerSnap?.exists ? timestampsToDates(ledgerSnap.data()) : undefined,
              exposure: exposureSnap?.exists ? exposureSnap.data() : undefined,
              symbolHalt: symbolHaltSnap?.exists ? timestampsToDates(symbolHaltSnap.data()) : undefined,
              runner: runnerSnap?.exists ? timestampsToDates(runnerSnap.data()) : undefined,
            },
            {
              countRecentClaims: async (sinceMs) => {
                // Inside the transaction: exact, and it serialises this strategy's concurrent
                // claims (see order-rate.ts for why there is no counter document). Reads come
                // before any write below, as transactions require.
                const query = db
                  .collection(SUBMISSIONS)
                  .where('strategyId', '==', request.intent.strategyId)
                  .where('claimedAt', '>', ts(sinceMs))
                  .count();
                return (await tx.get(query)).data().count;
              },
              readStrategyExposures: () => readStrategyExposures(tx, db, request.intent.strategyId),
            },
            strategyGate,
            nowMs,
          );
          if (decision.kind === 'claim' || decision.kind === 'refuse') {
            // claimCommittedAt is the claim's commit time as the server assigns it: evidence,
            // on any Firestore, that a claim committed before or after a halt (G2). A refusal
            // keeps the time of the claim before it, if there was one.
            const claimCommittedAt = decision.kind === 'claim' ? FieldValue.serverTimestamp() : (submissionSnap?.get(CLAIM_COMMITTED_AT) ?? null);
            tx.set(submissionRef, { ...recordToDocument(decision.record), [CLAIM_COMMITTED_AT]: claimCommittedAt });
            if (strategyUpdate) tx.set(strategyRef, strategyUpdate, { merge: true });
            // The claimed quantity is pending from this commit on: concurrent claims of the
            // strategy and symbol conflict on this document and serialise, so two of them can
            // never both pass a limit only one fits.
            if (exposureUpdate) tx.set(exposureDocRef, exposureUpdate);
          }
          return { ...decision, strategyBrokerErrors: brokerErrorStreak(strategySnap?.exists ? strategySnap.data() : undefined) };
        });
        // The record is the claim commit's first write (tx.set(submissionRef) comes first).
        const written = (commit as CommitCapture | null)?.updateTime(0);
        if (decided.kind === 'claim' && written) remember(decided.record, written);
        return decided;
      } catch (err) {
        if (err instanceof DeadlineBudgetError) throw err; // not begun: the store was not asked
        throw new StoreUnavailableError('claimSubmission', err);
      }
    },

    async recordOutcome(intentId, expect, update) {
      const ref = db.collection(SUBMISSIONS).doc(intentId);
      const own = ownClaims.get(intentId);
      ownClaims.delete(intentId);
      if (own !== undefined && own.attempt === expect.attempt) {
        const outcome = applyOutcome(own.record, expect, update, clock.now());
        // An outcome that releases pending exposure reads the exposure: the transaction below.
        if (outcome.applied && pendingRelease(own.record, outcome.record) === null) {
          try {
            await ref.update(recordToDocument(outcome.record), { lastUpdateTime: own.updateTime });
            return { applied: true, record: outcome.record };
          } catch (err) {
            // Moved on since the claim: the transaction reads what it is now and says why.
            if ((err as { code?: unknown }).code !== GRPC_FAILED_PRECONDITION) throw new StoreUnavailableError('recordOutcome', err);
          }
        }
      }
      try {
        return await db.runTransaction(async (tx): Promise<OutcomeWrite> => {
          const snap = await tx.get(ref);
          if (!snap.exists) return { applied: false, current: null, why: 'record does not exist' };
          const parsed = recordFromDocument(snap.data() ?? {});
          if (!parsed.ok) return { applied: false, current: null, why: `record unreadable: ${parsed.problem}` };
          const outcome = applyOutcome(parsed.record, expect, update, clock.now());
          if (!outcome.applied) return outcome;
          const record = outcome.record;
          // Nothing placed (rejected, released) or already final unfilled: the claimed quantity
          // leaves pending exposure in this same commit, exactly once. A read only on that path:
          // the accepted order's outcome stays one read and one commit.
          const release = pendingRelease(parsed.record, record);
          const exposureDocRef = release ? exposureRef(db, record.strategyId, record.intent.symbol) : null;
          const exposureSnap = exposureDocRef ? await tx.get(exposureDocRef) : null;
          tx.set(ref, { ...recordToDocument(record), [CLAIM_COMMITTED_AT]: snap.get(CLAIM_COMMITTED_AT) ?? null });
          if (release && exposureDocRef && exposureSnap?.exists) {
            const released = releasedExposureDocument(exposureSnap.data(), release);
            if (released) tx.set(exposureDocRef, released);
          }
          return { applied: true, record };
        });
      } catch (err) {
        throw new StoreUnavailableError('recordOutcome', err);
      }
    },

    recordBrokerOutcome(strategyId, outcome, streakAtClaim) {
      return recordBrokerOutcomeStats(db, strategyId, outcome, streakAtClaim ?? null);
    },

    async recordInvalidIntent(entry) {
      try {
        // Keyed by event id: a redelivery of the same bad message rewrites the same document.
        await db.collection(INVALID_INTENTS).doc(entry.eventId).set(invalidIntentDocument(entry));
      } catch (err) {
        throw new StoreUnavailableError('recordInvalidIntent', err);
      }
    },
  };
}
