/**
 * The local stack end to end, as `npm start` runs it (free ports, a project of its own on the
 * official emulators): the demo strategy's orders flow through the Pub/Sub emulator's push
 * subscription and the executeIntent process to the simulator; a delivery to a dead process is
 * redelivered with the same event id; halting `ops/killSwitch` stops new submissions at once
 * and new intents end `refused`/`halted`. "No claim commits after the halt" is proved from
 * commit times the server assigns: each claim's Commit as the server answered it (seen at the
 * interposer) and its `claimCommittedAt` are before the halt write's `writeTime`. stop()
 * deletes the push subscriptions and leaves no process behind.
 */
import { PubSub } from '@google-cloud/pubsub';
import type { Timestamp } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../dev/stack/stack.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { publishIntent } from '../../runner/src/index.js';
import { EMULATORS, uniqueProjectId } from '../support/emulators.js';

let stack: LocalStack | undefined;

beforeAll(async () => {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  stack = await startLocalStack({
    projectId: uniqueProjectId(),
    demo: true,
    demoEnv: { DEMO_INTERVAL_MS: '300' },
    openKillSwitch: { reason: 'e2e', updatedBy: 'local-stack test' },
    quiet: true,
    schedules: 'off',
    // The function processes reach the emulator through it: it sees each claim's commit time.
    interposer: true,
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A Firestore Timestamp in microseconds (the server's commit-time resolution). */
const micros = (t: Timestamp) => t.seconds * 1_000_000 + Math.floor(t.nanoseconds / 1000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('local stack (npm start) on the official emulators', () => {
  it('demo orders flow, a halt stops new submissions at once, stop leaves no process and no subscription', async () => {
    const s = stack!;
    expect(Object.keys(s.functionUrls)).toContain('executeIntent');
    expect(s.firestoreHost).toBe(EMULATORS.firestore);
    expect(s.pubsubHost).toBe(EMULATORS.pubsub);
    expect(s.demo).not.toBeNull();
    const [sub] = await s.pubsub.subscription(s.subscriptions.executeIntent!).getMetadata();
    expect(sub.pushConfig?.pushEndpoint).toBe(`${s.functionUrls.executeIntent}projects/${s.projectId}/topics/order-intents`);

    // 1. The demo's orders reach the broker, pushed by the emulator.
    await waitFor('three submitted orders', async () => {
      const n = (await s.db.collection('submissions').where('state', '==', 'submitted').count().get()).data().count;
      return n >= 3 ? n : null;
    });
    expect(s.sim.orders().length).toBeGreaterThanOrEqual(3);

    // 2. Halt, outside a transaction (as the console does): the server says when it committed.
    const halt = await s.db.doc('ops/killSwitch').set({ halted: true, reason: 'e2e halt', updatedBy: 'local-stack test', updatedAt: new Date() });
    const haltMicros = micros(halt.writeTime);

    // 3. New intents after the halt end refused/halted.
    const pubsub = new PubSub({ projectId: s.projectId, apiEndpoint: s.pubsubHost, emulatorMode: true });
    const ids = Array.from({ length: 5 }, (_, i) => `e2e-after-halt-${Date.now().toString(36)}-${i}`);
    for (const intentId of ids) {
      await publishIntent(
        { intentId, strategyId: 'e2e', symbol: 'AAPL', side: 'buy', qty: 1, type: 'market', timeInForce: 'day', createdAt: new Date().toISOString() },
        { topic: 'order-intents', pubsub },
      );
    }
    await pubsub.close();
    for (const intentId of ids) {
      const rec = await waitFor(`a record for ${intentId}`, async () => {
        const snap = await s.db.doc(`submissions/${intentId}`).get();
        return snap.exists ? snap.data()! : null;
      });
      expect(rec).toMatchObject({ state: 'refused', reason: 'halted', claimCommittedAt: null });
    }

    // 4. Once what was in flight at the halt has settled: no claim committed after the halt.
    await waitFor('no claim in flight', async () => ((await s.db.collection('submissions').where('state', '==', 'submitting').count().get()).data().count === 0 ? true : null));
    const records = (await s.db.collection('submissions').get()).docs.map((d) => ({ id: d.id, ...d.data() }) as { id: string; state: string; claimCommittedAt: Timestamp | null });
    const claimed = records.filter((r) => r.claimCommittedAt !== null);
    expect(claimed.length).toBeGreaterThanOrEqual(3);
    for (const r of claimed) expect(micros(r.claimCommittedAt!), r.id).toBeLessThan(haltMicros);
    // Each claim's commit (the transactional Commit that set its server timestamp), as the server answered it.
    const claimCommits = s.interposer!.commits.entries().filter((c) => c.transactional && c.serverValues.some((d) => d.startsWith('submissions/')));
    expect(claimCommits.length).toBeGreaterThanOrEqual(claimed.length);
    for (const c of claimCommits) expect(c.commitMicros, c.serverValues.join()).toBeLessThan(haltMicros);
    for (const r of claimed) {
      const own = claimCommits.filter((c) => c.serverValues.includes(`submissions/${r.id}`)).map((c) => c.commitMicros);
      // claimCommittedAt is when the server took the commit request: at or before the commit time.
      expect(own.some((t) => t >= micros(r.claimCommittedAt!)), r.id).toBe(true);
    }
    // Every record that reached the broker was claimed (before the halt).
    for (const r of records) if (r.state !== 'refused') expect(r.claimCommittedAt, r.id).not.toBeNull();
    const claimedIds = new Set(claimed.map((r) => clientOrderIdFor(r.id)));
    for (const order of s.sim.orders()) expect(claimedIds.has(order.client_order_id)).toBe(true);

    // 5. While the function is down the emulator's pushes fail; it redelivers (1 s later, over
    //    and over) with the same message id, which functions-framework makes the event id.
    //    (Killed only now, with nothing in flight: a kill -9 in the middle of a claim transaction
    //    leaves its lock on ops/killSwitch until the emulator expires it, about a minute.)
    await s.killFunction('executeIntent');
    const messageId = await s.pubsub.topic('order-intents').publishMessage({ data: Buffer.from('{"not":"an intent"}') });
    await new Promise((r) => setTimeout(r, 2_500));
    await s.startFunction('executeIntent');
    const invalid = await waitFor('the invalid message, redelivered', async () => {
      const snap = await s.db.doc(`invalidIntents/${messageId}`).get();
      return snap.exists ? snap.data()! : null;
    });
    expect(invalid).toMatchObject({ eventId: messageId, messageId, failure: 'schema' });

    // 6. Clean shutdown: every process the stack started is gone, and so is the push subscription.
    const pids = s.allPids();
    expect(pids.length).toBeGreaterThanOrEqual(2);
    const subscription = s.subscriptions.executeIntent!;
    await s.stop();
    stack = undefined;
    await waitFor('all stack processes to exit', async () => (pids.some(alive) ? null : true), 15_000);
    const check = new PubSub({ projectId: s.projectId, apiEndpoint: s.pubsubHost, emulatorMode: true });
    try {
      const [exists] = await check.subscription(subscription).exists();
      expect(exists).toBe(false);
    } finally {
      await check.close();
    }
  }, 180_000);
});
