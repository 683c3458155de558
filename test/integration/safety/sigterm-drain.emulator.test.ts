/**
 * G3 with the real thing: the compiled functions served by a real functions-framework process,
 * a real `kill -TERM` while broker calls are in flight, the official Firestore emulator
 * (through the gRPC interposer, which can hold a commit on its way) and the Alpaca simulator
 * (slowed down) in this process. In-flight calls finish and are recorded; deliveries
 * that arrive after the signal are refused without a trace and succeed when redelivered.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { startTestBackends, type TestBackends } from '../../support/backends.js';
import { buildFunctionsIfStale, post, startFramework as startFunctionsFramework } from '../../support/functions-framework.js';

/** Cloud Run sends SIGKILL this long after SIGTERM. */
const PLATFORM_GRACE_MS = 10_000;

let b: TestBackends;
const started: ChildProcess[] = [];

beforeAll(async () => {
  buildFunctionsIfStale();
  b = await startTestBackends();
}, 120_000);
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
});
afterEach(() => {
  // Only the processes this file started, by their own handle.
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('SIGTERM drain under the functions framework', () => {
  it('in-flight broker calls finish and are recorded; later deliveries are refused, then succeed on redelivery', async () => {
    b.sim.faults.set({ latencyMs: 1500 });
    const fn = await startFramework({ SHUTDOWN_DRAIN_TIMEOUT_MS: '8000' });

    const inflightIntents = Array.from({ length: 3 }, () => makeIntent());
    const inflightEvents = inflightIntents.map((intent) => pubsubCloudEvent(intent));
    const inflight = inflightEvents.map((event) => post(fn.url, event).then((r) => ({ ...r, atMs: Date.now() })));
    // Claims committed: each invocation is now in (or a step away from) its slow broker call.
    await waitUntil(async () => (await statesOf(inflightIntents)).every((s) => s === 'submitting'));
    await sleep(200);
    // Still on their way (1.5 s latency): the signal comes with broker calls in flight.
    expect(b.sim.orders().length).toBeLessThan(3);

    const killedAt = Date.now();
    process.kill(fn.pid, 'SIGTERM');
    await sleep(50);

    const lateIntents = Array.from({ length: 2 }, () => makeIntent());
    const lateEvents = lateIntents.map((intent) => pubsubCloudEvent(intent));
    const late = await Promise.all(lateEvents.map((event) => post(fn.url, event)));
    // Refused at once (the platform would redeliver), while the drain is still waiting.
    for (const r of late) expect(r).toMatchObject({ ok: false, status: 500 });

    const answers = await Promise.all(inflight);
    for (const a of answers) expect(a).toMatchObject({ ok: true });
    const exit = await fn.exited;
    const exitAfterMs = exit.atMs - killedAt;
    expect(exit, fn.output()).toMatchObject({ code: 0, signal: null });
    expect(exitAfterMs).toBeLessThan(PLATFORM_GRACE_MS);
    // It waited for the broker calls, and their answers went out before it exited.
    for (const a of answers) expect(a.atMs).toBeLessThanOrEqual(exit.atMs);
    expect(fn.output()).toMatch(/shutdown_requested/);
    expect(fn.output()).toMatch(/drain_complete/);

    for (const intent of inflightIntents) {
      const rec = await recordOf(intent.intentId);
      const orders = ordersFor(intent.intentId);
      expect(orders).toHaveLength(1);
      expect(rec).toMatchObject({ state: 'submitted', brokerOrderId: orders[0]!.id, attempts: 1 });
    }
    for (const intent of lateIntents) {
      expect(await recordOf(intent.intentId)).toBeUndefined();
      expect(ordersFor(intent.intentId)).toHaveLength(0);
    }

    // Pub/Sub redelivers the refused ones (same event) to a fresh instance.
    b.sim.faults.set({ latencyMs: 0 });
    const next = await startFramework({ SHUTDOWN_DRAIN_TIMEOUT_MS: '8000' });
    const redelivered = await Promise.all(lateEvents.map((event) => post(next.url, event)));
    for (const r of redelivered) expect(r).toMatchObject({ ok: true });
    for (const intent of lateIntents) {
      const orders = ordersFor(intent.intentId);
      expect(orders).toHaveLength(1);
      expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitted', brokerOrderId: orders[0]!.id, attempts: 1 });
    }
    // A redelivery of an in-flight one (its answer could have been lost) is only a duplicate.
    expect(await post(next.url, inflightEvents[0]!)).toMatchObject({ ok: true });
    expect(b.sim.requestLog.filter((r) => r.method === 'POST' && r.path === '/v2/orders')).toHaveLength(5);
    expect(b.sim.orders()).toHaveLength(5);
  });

  it('a delivery whose claim is still committing at SIGTERM is released, not left submitting', async () => {
    // The claim transaction's commit takes 1.5 s on its way to the server (contention, a slow
    // Firestore): held at the interposer, between the function and the emulator.
    b.interposer.faults.set('Commit', { latencyMs: 1500, times: 1 });
    b.interposer.commits.clear();
    const fn = await startFramework({ SHUTDOWN_DRAIN_TIMEOUT_MS: '8000' });
    const intent = makeIntent();
    const event = pubsubCloudEvent(intent);
    const answer = post(fn.url, event);
    // The claim's commit has left the function and is held: nothing is committed yet.
    await waitUntil(async () => b.interposer.faults.injected().Commit === 1);
    expect(await recordOf(intent.intentId)).toBeUndefined();

    process.kill(fn.pid, 'SIGTERM');
    const exit = await fn.exited;
    expect(exit, fn.output()).toMatchObject({ code: 0 });
    expect((await answer).ok).toBe(false);
    // Nothing the function sent is still on its way to the server.
    await b.interposer.stats.idle();
    // Nothing was sent, and the record says so: a redelivery may claim again at once.
    expect(b.sim.requestLog).toHaveLength(0);
    const snap = await b.db.doc(`submissions/${intent.intentId}`).get();
    expect(snap.data()).toMatchObject({ state: 'released', attempts: 1 });
    // On the wire: the held claim was passed on while the process drained and committed, and
    // a second commit released it; the record's last server write is that release.
    const writes = b.interposer.commits.writing(`submissions/${intent.intentId}`);
    expect(writes.map((w) => w.transactional)).toEqual([true, true]);
    expect(writes[1]!.commitMicros).toBeGreaterThan(writes[0]!.commitMicros);
    expect(micros(snap.updateTime!)).toBe(writes[1]!.commitMicros);
    // The claim's server timestamp (request time, ms resolution) is no later than its commit.
    expect(micros(snap.get('claimCommittedAt'))).toBeLessThanOrEqual(writes[0]!.commitMicros);

    const next = await startFramework({});
    expect(await post(next.url, event)).toMatchObject({ ok: true });
    expect(await recordOf(intent.intentId)).toMatchObject({ state: 'submitted', attempts: 2 });
    expect(ordersFor(intent.intentId)).toHaveLength(1);
  });

  it('a drain that times out still exits in time and leaves the record submitting for the reconciler', async () => {
    // The broker never answers this one (and places nothing); the drain gives up after 1 s.
    b.sim.faults.next(['hang_before_place']);
    const fn = await startFramework({ SHUTDOWN_DRAIN_TIMEOUT_MS: '1000' });
    const intent = makeIntent();
    const answer = post(fn.url, pubsubCloudEvent(intent));
    await waitUntil(async () => (await statesOf([intent]))[0] === 'submitting');
    await sleep(200);

    const killedAt = Date.now();
    process.kill(fn.pid, 'SIGTERM');
    const exit = await fn.exited;
    expect(exit, fn.output()).toMatchObject({ code: 0, signal: null });
    expect(exit.atMs - killedAt).toBeGreaterThanOrEqual(900);
    expect(exit.atMs - killedAt).toBeLessThan(4000);
    expect(fn.output()).toMatch(/drain_timed_out/);
    // Not acknowledged: Pub/Sub redelivers.
    expect((await answer).ok).toBe(false);

    // Not terminal, not released: the call may have reached the broker. The claim's owner
    // deadline tells a redelivery or the reconciler when to look it up.
    const rec = await recordOf(intent.intentId);
    expect(rec).toMatchObject({ state: 'submitting', attempts: 1 });
    expect(rec!.owner.deadlineAt.toMillis()).toBeGreaterThan(killedAt);
    expect(ordersFor(intent.intentId)).toHaveLength(0);
  });
});

/** executeIntent in its own process: paper trading against the simulator. */
function startFramework(env: Record<string, string>) {
  return startFunctionsFramework({
    target: 'executeIntent',
    signatureType: 'cloudevent',
    env: {
      ...b.env,
      EXECUTION_MODE: 'paper',
      EXECUTE_TIMEOUT_SECONDS: '60',
      MIN_SUBMIT_BUDGET_MS: '5000',
      BROKER_TIMEOUT_MS: '5000',
      SHUTDOWN_DRAIN_TIMEOUT_MS: '8000',
      ...env,
    },
    started,
  });
}

const recordOf = async (id: string) => (await b.db.doc(`submissions/${id}`).get()).data();
const statesOf = async (intents: Array<{ intentId: string }>) =>
  Promise.all(intents.map(async (i) => (await recordOf(i.intentId))?.state as string | undefined));
const ordersFor = (clientOrderId: string) => b.sim.orders().filter((o) => o.client_order_id === clientOrderId);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** A Firestore Timestamp in microseconds (the server's commit-time resolution). */
function micros(t: { seconds: number; nanoseconds: number }): number {
  return t.seconds * 1_000_000 + Math.floor(t.nanoseconds / 1000);
}
