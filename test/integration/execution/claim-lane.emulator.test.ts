/**
 * MAX_OPEN_CLAIMS through the exported `executeIntent` (store/claim-lane.ts): claims beyond the
 * limit wait their turn before their transaction begins, holding no lock, so a halt written
 * meanwhile waits only for the claims that are open and the rest read it. Against the official
 * Firestore emulator, through the interposer, which holds each Commit back to keep the open
 * claim's read lock on ops/killSwitch for a while.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeIntent } from '../../../functions/src/index.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';

let b: TestBackends;
const deliver = (event: ReturnType<typeof pubsubCloudEvent>): Promise<unknown> => (executeIntent as unknown as (e: unknown) => Promise<unknown>)(event);
const micros = (t: { seconds: number; nanoseconds: number }) => t.seconds * 1_000_000 + Math.floor(t.nanoseconds / 1000);

async function waitUntil(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

beforeAll(async () => {
  b = await startTestBackends();
  // Read once, when this module's executeIntent makes its dependencies (its first invocation).
  process.env.MAX_OPEN_CLAIMS = '1';
});
afterAll(async () => {
  delete process.env.MAX_OPEN_CLAIMS;
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  b.interposer.faults.clear();
});

describe('MAX_OPEN_CLAIMS=1', () => {
  it('one claim transaction is open at a time; a halt waits for that one only, and the claims that waited their turn read it and are refused', async () => {
    b.interposer.stats.reset();
    b.interposer.faults.set('Commit', { latencyMs: 300 });
    const intents = Array.from({ length: 10 }, (_, i) => makeIntent({ strategyId: `s${i % 4}`, symbol: `SYM${i}` }));
    const deliveries = intents.map((intent) => deliveryError(deliver(pubsubCloudEvent(intent))));

    // The first claim has read (the kill switch among its documents) and its commit is held back.
    await waitUntil(() => (b.interposer.stats.counts().Commit ?? 0) >= 1);
    // On the wire: ten deliveries, one claim transaction begun. Without the lane all ten would
    // have read the kill switch by now and the halt below would wait for all of them.
    expect(b.interposer.stats.counts()).toEqual({ BatchGetDocuments: 1, Commit: 1 });

    const halt = await b.db.doc('ops/killSwitch').set({ halted: true, reason: 'test halt', updatedBy: 'test' });
    const haltMicros = micros(halt.writeTime);
    b.interposer.faults.clear('Commit');
    expect((await Promise.all(deliveries)).filter((e) => e !== null)).toEqual([]);

    const records = (await b.db.getAll(...intents.map((i) => b.db.doc(`submissions/${i.intentId}`)))).map((s) => s.data()!);
    const submitted = records.filter((r) => r.state === 'submitted');
    const refused = records.filter((r) => r.state === 'refused');
    // The open claim, and at most the one whose turn came in the instant the halt committed.
    expect(submitted.length).toBeGreaterThanOrEqual(1);
    expect(submitted.length).toBeLessThanOrEqual(2);
    expect(refused.length).toBe(10 - submitted.length);
    for (const r of submitted) expect(micros(r.claimCommittedAt)).toBeLessThan(haltMicros);
    for (const r of refused) expect(r.reason).toBe('halted');
    expect(b.sim.orders()).toHaveLength(submitted.length);
  });

  it('claims that waited their turn all go through, each once', async () => {
    const intents = Array.from({ length: 12 }, (_, i) => makeIntent({ strategyId: `s${i % 4}`, symbol: `SYM${i}` }));
    expect((await Promise.all(intents.map((intent) => deliveryError(deliver(pubsubCloudEvent(intent)))))).filter((e) => e !== null)).toEqual([]);
    const records = (await b.db.getAll(...intents.map((i) => b.db.doc(`submissions/${i.intentId}`)))).map((s) => s.data()!);
    expect(records.map((r) => r.state)).toEqual(Array(12).fill('submitted'));
    for (const intent of intents) expect(b.sim.orders().filter((o) => o.client_order_id === intent.intentId)).toHaveLength(1);
  });
});
