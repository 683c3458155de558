import { Timestamp, type Transaction } from 'firebase-admin/firestore';

/**
 * The write results of a transaction's commit, which firebase-admin's `runTransaction` does
 * not return (googleapis/nodejs-firestore#1349: closed, the callback's value is all it
 * returns). The claim needs its record's update time: with it the outcome is one write with a
 * `lastUpdateTime` precondition instead of a second transaction (3 round trips per accepted
 * order instead of 4).
 *
 * A transaction queues its writes in a `WriteBatch` (a public class) whose internal `_commit`
 * resolves with the server's CommitResponse (`writeResults[i].updateTime`, in write order);
 * this wraps that one batch's method to keep it. It is
 * @google-cloud/firestore 7.x's internal shape, held in place by package-lock.json: if a
 * version lacks it, `captureCommit` returns null and the caller takes the transactional path
 * (correct, one round trip more) — and the round-trip test of executeIntent fails, so the
 * change cannot go unnoticed.
 */
export interface CommitCapture {
  /** The update time the last successful commit gave its `index`-th write; null before, or if unreadable. */
  updateTime(index: number): Timestamp | null;
}

/** The part of the CommitResponse read here (proto Timestamp: seconds may be a string or a Long). */
interface CommitResponse {
  writeResults?: Array<{ updateTime?: { seconds?: unknown; nanos?: unknown } | null } | null> | null;
}

interface InternalBatch {
  _commit: (...args: unknown[]) => Promise<CommitResponse>;
}

const captures = new WeakMap<object, CommitCapture>();

export function captureCommit(tx: Transaction): CommitCapture | null {
  const batch = (tx as unknown as { _writeBatch?: unknown })._writeBatch;
  if (batch === null || typeof batch !== 'object' || typeof (batch as Partial<InternalBatch>)._commit !== 'function') return null;
  // The callback runs again on an ABORTED retry with the same transaction and batch: wrap once.
  const existing = captures.get(batch);
  if (existing) return existing;
  const internal = batch as InternalBatch;
  const original = internal._commit.bind(batch);
  let last: CommitResponse | null = null;
  internal._commit = async (...args: unknown[]) => {
    const response = await original(...args);
    last = response;
    return response;
  };
  const capture: CommitCapture = {
    updateTime(index) {
      const t = last?.writeResults?.[index]?.updateTime;
      if (t === undefined || t === null || t.seconds === undefined || t.seconds === null) return null;
      const seconds = Number(String(t?.seconds ?? ''));
      const nanos = Number(t?.nanos ?? 0);
      if (!Number.isSafeInteger(seconds) || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) return null;
      return new Timestamp(seconds, nanos);
    },
  };
  captures.set(batch, capture);
  return capture;
}
