import { FieldValue, type Firestore, type Timestamp } from 'firebase-admin/firestore';
import { captureCommit, type CommitCapture } from '../../functions/src/store/commit-results.js';

/**
 * The benchmark's second baseline: the bare loop plus exactly the Firestore work an accepted
 * order costs haltgate, issued by a plain firebase-admin client in the benchmark process — no
 * Pub/Sub, no function process, no validation, no breakers. Per order, as the claim does: one
 * read-write transaction reading the claim's seven documents in one BatchGetDocuments
 * (kill switch, record, strategy, fills cursor, exposure, symbol halt, runner) and writing the
 * record (with a server timestamp) and the exposure document; then the broker call; then the
 * outcome as one update with a `lastUpdateTime` precondition. Three round trips, as haltgate's.
 *
 * What it measures is the emulator's own limit for those round trips on this machine: no gate
 * with the same guarantees, written any way, does better here. It writes under its own
 * collections (`benchFloor…`), which no haltgate function reads. Returns orders per second and
 * each order's claim and outcome times (ms).
 */
export async function floorLoopThroughput(o: {
  db: Firestore;
  simUrl: string;
  keyId: string;
  secretKey: string;
  concurrency: number;
  orders: number;
  tag: string;
  symbols: readonly string[];
  strategies: number;
}): Promise<{ perSecond: number; claimMs: number[]; outcomeMs: number[] }> {
  const { db } = o;
  let next = 0;
  const claimMs: number[] = [];
  const outcomeMs: number[] = [];
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.orders) return;
      const id = `floor-${o.tag}-${i}`;
      const strategyId = `floor-${i % o.strategies}`;
      const symbol = o.symbols[Math.floor(i / o.strategies) % o.symbols.length]!;
      const record = db.doc(`benchFloor/${id}`);
      const exposure = db.doc(`benchFloorStrategies/${strategyId}/exposure/${symbol}`);
      const t0 = performance.now();
      let commit: CommitCapture | null = null;
      await db.runTransaction(async (tx) => {
        commit = captureCommit(tx);
        const [, , , , exposureSnap] = await tx.getAll(
          db.doc('ops/killSwitch'),
          record,
          db.doc(`benchFloorStrategies/${strategyId}`),
          db.doc('ops/fillsCursor'),
          exposure,
          db.doc(`benchFloorSymbolHalts/${symbol}`),
          db.doc(`benchFloorRunners/${strategyId}`),
        );
        tx.set(record, { state: 'submitting', attempts: 1, claimCommittedAt: FieldValue.serverTimestamp() });
        tx.set(exposure, { pendingBuy: Number(exposureSnap?.get('pendingBuy') ?? 0) + 1 });
      });
      // The claim commit's update time, from the commit's answer as haltgate's store takes it.
      const claimTime: Timestamp | null | undefined = (commit as CommitCapture | null)?.updateTime(0);
      if (!claimTime) throw new Error('floor loop: the claim commit gave no update time');
      const t1 = performance.now();
      const res = await fetch(`${o.simUrl}/v2/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'APCA-API-KEY-ID': o.keyId, 'APCA-API-SECRET-KEY': o.secretKey },
        body: JSON.stringify({ symbol, qty: '1', side: 'buy', type: 'market', time_in_force: 'day', client_order_id: id }),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`floor loop: simulator answered ${res.status}`);
      const t2 = performance.now();
      await record.update({ state: 'submitted' }, { lastUpdateTime: claimTime });
      claimMs.push(t1 - t0);
      outcomeMs.push(performance.now() - t2);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return { perSecond: o.orders / ((performance.now() - started) / 1000), claimMs, outcomeMs };
}
