/**
 * The local stack end to end, as `npm start` runs it (free ports): the demo strategy's
 * orders flow through Pub/Sub and the executeIntent process to the simulator; halting
 * `ops/killSwitch` stops new submissions at once (no claim commits after the halt commit,
 * new intents end `refused`/`halted`); stop() leaves no process behind.
 */
import { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../dev/stack/stack.js';
import { clientOrderIdFor } from '../../functions/src/domain/client-order-id.js';
import { publishIntent } from '../../runner/src/index.js';
import { claimCommits, type RecordSnapshot } from '../chaos/invariants.js';

let stack: LocalStack | undefined;

beforeAll(async () => {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  stack = await startLocalStack({
    demo: true,
    demoEnv: { DEMO_INTERVAL_MS: '300' },
    openKillSwitch: { reason: 'e2e', updatedBy: 'local-stack test' },
    quiet: true,
    schedules: 'off',
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

async function records(s: LocalStack): Promise<RecordSnapshot[]> {
  const snap = await s.db.collection('submissions').get();
  return snap.docs.map((d) => ({
    intentId: d.id,
    state: d.get('state'),
    brokerOrderId: d.get('brokerOrderId') ?? null,
    history: ((d.get('history') as Array<{ state: string }>) ?? []).map((h) => ({ state: h.state })),
  }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('local stack (npm start)', () => {
  it('demo orders flow, a halt stops new submissions at once, stop leaves no process', async () => {
    const s = stack!;
    expect(Object.keys(s.functionUrls)).toContain('executeIntent');
    expect(s.demo).not.toBeNull();

    // 1. The demo's orders reach the broker.
    await waitFor('three submitted orders', async () => {
      const n = (await s.db.collection('submissions').where('state', '==', 'submitted').count().get()).data().count;
      return n >= 3 ? n : null;
    });
    expect(s.sim.orders().length).toBeGreaterThanOrEqual(3);

    // 2. Halt. The commit log says where the halt committed.
    await s.db.doc('ops/killSwitch').set({ halted: true, reason: 'e2e halt', updatedBy: 'local-stack test', updatedAt: new Date() });
    const haltCommit = s.firestore.commitLog.entries().filter((c) => c.writes.includes('ops/killSwitch')).at(-1)!;

    // 3. New intents after the halt end refused/halted.
    const pubsub = new PubSub({ projectId: s.projectId, apiEndpoint: s.pubsubHost });
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
      expect(rec).toMatchObject({ state: 'refused', reason: 'halted' });
    }

    // 4. Let whatever was in flight at the halt finish, then: no claim committed after the halt.
    await s.pubsub.drain(30_000, { subscriptions: [s.subscriptions.executeIntent!] });
    const all = await records(s);
    const { claims, unverifiable } = claimCommits(all, s.firestore.commitLog.entries());
    expect(unverifiable).toEqual([]);
    expect(claims.length).toBeGreaterThanOrEqual(3);
    expect(claims.filter((c) => c.seq > haltCommit.seq)).toEqual([]);
    // Every broker order belongs to a claim that committed before the halt.
    const claimed = new Set(claims.map((c) => clientOrderIdFor(c.intentId)));
    for (const order of s.sim.orders()) expect(claimed.has(order.client_order_id)).toBe(true);

    // 5. Clean shutdown: every process the stack started is gone.
    const pids = s.allPids();
    expect(pids.length).toBeGreaterThanOrEqual(2);
    await s.stop();
    stack = undefined;
    await waitFor('all stack processes to exit', async () => (pids.some(alive) ? null : true), 15_000);
  }, 180_000);
});
