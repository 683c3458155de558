import { FieldPath, type Firestore, type Timestamp } from 'firebase-admin/firestore';
import type { OrderView } from '../domain/order-lifecycle.js';
import { finalOrderRelease } from '../domain/exposure/pending-release.js';
import type { OrderIntent } from '../domain/intent.js';
import { StoreUnavailableError } from '../errors.js';
import { exposureRef, releasedExposureDocument } from './exposure-store.js';
import { SUBMISSIONS } from './paths.js';
import { orderToDocument, recordFromDocument } from './submission-document.js';

/** A submission whose order is not final yet: what syncOrders follows. */
export interface OpenOrderRecord {
  intentId: string;
  strategyId: string;
  executionMode: string;
  /** What the claim made pending (issue 11 exposure): released in part when the order ends unfilled. */
  intent: Pick<OrderIntent, 'symbol' | 'side' | 'qty'>;
  brokerOrderId: string | null;
  /** When haltgate claimed it (the broker's submission time is later): where a sweep starts. */
  claimedAtMs: number | null;
  order: OrderView;
  /** The version read (Firestore: the document's update time); a write applies only over it. */
  version: unknown;
}

export type OpenOrderCandidate = { ok: true; record: OpenOrderRecord } | { ok: false; intentId: string; problem: string };

export type OrderWrite = { applied: true } | { applied: false; why: string };

export interface OrderSyncStore {
  /** Submissions with `order.final == false`, in document id order, after `startAfterId`. */
  findOpenOrders(query: { limit: number; startAfterId?: string }): Promise<OpenOrderCandidate[]>;
  /**
   * Writes the record's `order` (only that field), provided the record is still the version
   * read: one round trip, and a record another writer changed meanwhile is left for the next run.
   */
  writeOrder(record: OpenOrderRecord, order: OrderView): Promise<OrderWrite>;
}

/** gRPC FAILED_PRECONDITION: the update-time precondition did not hold. */
const FAILED_PRECONDITION = 9;
const NOT_FOUND = 5;

export function createFirestoreOrderSyncStore(db: Firestore): OrderSyncStore {
  const submissions = db.collection(SUBMISSIONS);
  return {
    async findOpenOrders({ limit, startAfterId }) {
      // One equality filter on a map field, ordered by id: served by the automatic
      // single-field index, no composite index needed.
      let query = submissions.where('order.final', '==', false).orderBy(FieldPath.documentId());
      if (startAfterId !== undefined) query = query.startAfter(startAfterId);
      try {
        const snap = await query.limit(limit).get();
        return snap.docs.map((doc): OpenOrderCandidate => {
          const parsed = recordFromDocument(doc.data());
          if (!parsed.ok) return { ok: false, intentId: doc.id, problem: parsed.problem };
          const r = parsed.record;
          if (!r.order) return { ok: false, intentId: doc.id, problem: 'order is missing' };
          return {
            ok: true,
            record: {
              intentId: r.intentId,
              strategyId: r.strategyId,
              executionMode: r.executionMode,
              intent: { symbol: r.intent.symbol, side: r.intent.side, qty: r.intent.qty },
              brokerOrderId: r.brokerOrderId,
              claimedAtMs: r.claimedAtMs,
              order: r.order,
              version: doc.updateTime,
            },
          };
        });
      } catch (err) {
        throw new StoreUnavailableError('findOpenOrders', err);
      }
    },

    async writeOrder(record, order) {
      const release = finalOrderRelease(record.executionMode, record.intent, record.order, order);
      try {
        if (release === null) {
          await submissions.doc(record.intentId).update({ order: orderToDocument(order) }, { lastUpdateTime: record.version as Timestamp });
          return { applied: true };
        }
        // The order ended with a rest that never fills: it leaves the strategy's pending
        // exposure in the same commit as the final view, so exactly once (a transaction, on
        // this path only: the record must still be the version read, and the exposure is
        // read-modify-write).
        const ref = submissions.doc(record.intentId);
        const eRef = exposureRef(db, record.strategyId, record.intent.symbol);
        return await db.runTransaction(async (tx): Promise<OrderWrite> => {
          const [snap, exposureSnap] = await tx.getAll(ref, eRef);
          if (!snap?.exists) return { applied: false, why: 'the record is gone' };
          if (!snap.updateTime?.isEqual(record.version as Timestamp)) return { applied: false, why: 'the record changed since it was read' };
          tx.update(ref, { order: orderToDocument(order) });
          const released = exposureSnap?.exists ? releasedExposureDocument(exposureSnap.data(), release) : null;
          if (released) tx.set(eRef, released);
          return { applied: true };
        });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === FAILED_PRECONDITION) return { applied: false, why: 'the record changed since it was read' };
        if (code === NOT_FOUND) return { applied: false, why: 'the record is gone' };
        throw new StoreUnavailableError('writeOrder', err);
      }
    },
  };
}
