import type { DocumentData, Firestore } from 'firebase-admin/firestore';
import { decideClaim, type ClaimDecision, type ClaimInput } from '../domain/claim-decision.js';
import type { Clock } from '../domain/clock.js';
import type { OrderIntent } from '../domain/intent.js';
import { decideKillSwitch } from '../domain/kill-switch.js';
import { appendHistory, type SubmissionRecord, type SubmissionState } from '../domain/submission.js';
import { StoreUnavailableError } from '../errors.js';
import { timestampsToDates, ts } from './firestore-values.js';
import { INVALID_INTENTS, KILL_SWITCH_PATH, STRATEGIES, SUBMISSIONS } from './paths.js';
import { recordFromDocument, recordToDocument } from './submission-document.js';

export interface ClaimRequest {
  intent: OrderIntent;
  eventId: string;
  instanceId: string;
  deadlineAtMs: number;
  config: ClaimInput['config'];
  /** Raw `EXECUTION_HALTED`, ORed with the document inside the transaction. */
  haltedParam: string | undefined;
}

/**
 * The strategy's say in the claim, evaluated inside the claim transaction from the
 * `strategies/{strategyId}` document (breakers plug in here). It may ask for the strategy
 * document to be updated in the same commit (a breaker latching).
 */
export type StrategyGate = (input: { strategyData: unknown; intent: OrderIntent; nowMs: number }) => {
  verdict: ClaimInput['strategy'];
  strategyUpdate?: DocumentData;
};

export const allowAllStrategies: StrategyGate = () => ({ verdict: { ok: true } });

export interface OutcomeUpdate {
  state: SubmissionState;
  reason: string | null;
  detail: string | null;
  brokerOrderId?: string | null;
  brokerStatus?: string | null;
}

export type OutcomeWrite = { applied: true; record: SubmissionRecord } | { applied: false; current: SubmissionRecord | null; why: string };

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
  claimSubmission(request: ClaimRequest): Promise<ClaimDecision>;
  /** Second write of claim-act-record: applies only while the record still belongs to `attempt`. */
  recordOutcome(intentId: string, expect: { attempt: number; from: readonly SubmissionState[] }, update: OutcomeUpdate): Promise<OutcomeWrite>;
  recordInvalidIntent(entry: InvalidIntentEntry): Promise<void>;
}

/** Raw data of an invalid message kept for audit: bounded so one bad publisher can't bloat the database. */
export const MAX_KEPT_RAW_BYTES = 64 * 1024;

export function createFirestoreSubmissionStore(
  db: Firestore,
  opts: { clock: Clock; strategyGate?: StrategyGate },
): SubmissionStore {
  const { clock } = opts;
  const strategyGate = opts.strategyGate ?? allowAllStrategies;
  const killSwitchRef = db.doc(KILL_SWITCH_PATH);

  return {
    async claimSubmission(request) {
      const submissionRef = db.collection(SUBMISSIONS).doc(request.intent.intentId);
      const strategyRef = db.collection(STRATEGIES).doc(request.intent.strategyId);
      try {
        return await db.runTransaction(async (tx) => {
          // All three in one read, inside the transaction: the kill switch is read where the
          // claim commits, so no claim can commit after a halt commits (G2).
          const [killSnap, submissionSnap, strategySnap] = await tx.getAll(killSwitchRef, submissionRef, strategyRef);
          // The callback may run several times (ABORTED retries): take the time per run.
          const nowMs = clock.now();
          const killSwitch = decideKillSwitch(
            killSnap?.exists ? timestampsToDates(killSnap.data()) : undefined,
            request.haltedParam,
          );
          let existing: ClaimInput['existing'] = null;
          if (submissionSnap?.exists) {
            const parsed = recordFromDocument(submissionSnap.data() ?? {});
            existing = parsed.ok ? parsed.record : { unreadable: parsed.problem };
          }
          const strategy = strategyGate({
            strategyData: strategySnap?.exists ? timestampsToDates(strategySnap.data()) : undefined,
            intent: request.intent,
            nowMs,
          });
          const decision = decideClaim({
            intent: request.intent,
            eventId: request.eventId,
            instanceId: request.instanceId,
            nowMs,
            deadlineAtMs: request.deadlineAtMs,
            killSwitch,
            config: request.config,
            existing,
            strategy: strategy.verdict,
          });
          if (decision.kind === 'claim' || decision.kind === 'refuse') {
            tx.set(submissionRef, recordToDocument(decision.record));
            if (strategy.strategyUpdate) tx.set(strategyRef, strategy.strategyUpdate, { merge: true });
          }
          return decision;
        });
      } catch (err) {
        throw new StoreUnavailableError('claimSubmission', err);
      }
    },

    async recordOutcome(intentId, expect, update) {
      const ref = db.collection(SUBMISSIONS).doc(intentId);
      try {
        return await db.runTransaction(async (tx): Promise<OutcomeWrite> => {
          const snap = await tx.get(ref);
          if (!snap.exists) return { applied: false, current: null, why: 'record does not exist' };
          const parsed = recordFromDocument(snap.data() ?? {});
          if (!parsed.ok) return { applied: false, current: null, why: `record unreadable: ${parsed.problem}` };
          const current = parsed.record;
          // Only the attempt that claimed may record its outcome, and only over the states it
          // expects: a reconciler or a later attempt may have moved the record on meanwhile,
          // and its conclusion must not be overwritten by a stale one.
          if (current.attempts !== expect.attempt || !expect.from.includes(current.state)) {
            return {
              applied: false,
              current,
              why: `record is ${current.state} at attempt ${current.attempts}; expected attempt ${expect.attempt} in ${expect.from.join('/')}`,
            };
          }
          const nowMs = clock.now();
          const record: SubmissionRecord = {
            ...current,
            state: update.state,
            reason: update.reason,
            detail: update.detail,
            brokerOrderId: update.brokerOrderId === undefined ? current.brokerOrderId : update.brokerOrderId,
            brokerStatus: update.brokerStatus === undefined ? current.brokerStatus : update.brokerStatus,
            updatedAtMs: nowMs,
            history: appendHistory(current.history, {
              state: update.state,
              atMs: nowMs,
              attempt: current.attempts,
              ...(update.reason === null ? {} : { reason: update.reason }),
            }),
          };
          tx.set(ref, recordToDocument(record));
          return { applied: true, record };
        });
      } catch (err) {
        throw new StoreUnavailableError('recordOutcome', err);
      }
    },

    async recordInvalidIntent(entry) {
      const raw = entry.rawData.length > MAX_KEPT_RAW_BYTES ? entry.rawData.slice(0, MAX_KEPT_RAW_BYTES) : entry.rawData;
      try {
        // Keyed by event id: a redelivery of the same bad message rewrites the same document.
        await db
          .collection(INVALID_INTENTS)
          .doc(entry.eventId)
          .set({
            eventId: entry.eventId,
            failure: entry.failure,
            issues: entry.issues,
            rawData: raw,
            rawTruncated: raw.length !== entry.rawData.length,
            messageId: entry.messageId,
            publishTime: entry.publishTime,
            attributes: entry.attributes,
            intentId: entry.intentId ?? null,
            receivedAt: ts(entry.receivedAtMs),
          });
      } catch (err) {
        throw new StoreUnavailableError('recordInvalidIntent', err);
      }
    },
  };
}
