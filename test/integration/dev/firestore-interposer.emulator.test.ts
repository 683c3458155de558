/**
 * The gRPC interposer between firebase-admin and the official Firestore emulator: calls pass
 * through unchanged (unary, server-streaming, bidi Listen), are counted per method, and can be
 * delayed, failed with a status, or held until cleared.
 */
import { status } from '@grpc/grpc-js';
import { deleteApp, type App } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFirestoreInterposer, type FirestoreInterposer } from '../../../dev/firestore-interposer/interposer.js';
import { adminFirestore, TEST_PROJECT_ID } from '../../support/backends.js';
import { clearFirestore, EMULATORS } from '../../support/emulators.js';

let interposer: FirestoreInterposer;
let through: { app: App; db: Firestore };
let direct: { app: App; db: Firestore };

beforeAll(async () => {
  interposer = await startFirestoreInterposer({ upstream: EMULATORS.firestore });
  through = adminFirestore(TEST_PROJECT_ID, interposer.host);
  direct = adminFirestore(TEST_PROJECT_ID);
});
afterAll(async () => {
  await deleteApp(through.app);
  await deleteApp(direct.app);
  await interposer.stop();
});
beforeEach(async () => {
  interposer.faults.clear();
  await clearFirestore(TEST_PROJECT_ID);
  // Channel set-up is not what is counted.
  await through.db.doc('warm/up').get();
  interposer.stats.reset();
});

describe('pass-through and counting', () => {
  it('writes and reads through the interposer reach the emulator, one RPC each', async () => {
    await through.db.doc('a/1').set({ x: 1 });
    expect((await direct.db.doc('a/1').get()).data()).toEqual({ x: 1 });
    expect((await through.db.doc('a/1').get()).data()).toEqual({ x: 1 });
    expect((await through.db.collection('a').where('x', '==', 1).get()).size).toBe(1);
    expect(interposer.stats.counts()).toEqual({ Commit: 1, BatchGetDocuments: 1, RunQuery: 1 });
    expect(interposer.stats.total()).toBe(3);
  });

  it('a transaction is its reads and its commit', async () => {
    await through.db.runTransaction(async (tx) => {
      const snap = await tx.get(through.db.doc('a/2'));
      tx.set(through.db.doc('a/2'), { n: (snap.data()?.n ?? 0) + 1 });
    });
    expect(interposer.stats.counts()).toEqual({ BatchGetDocuments: 1, Commit: 1 });
  });

  it('a snapshot listener (bidi Listen) sees changes written elsewhere', async () => {
    const seen: unknown[] = [];
    const unsubscribe = through.db.doc('a/3').onSnapshot((s) => seen.push(s.data()?.v ?? null));
    await waitFor(() => seen.length >= 1);
    await direct.db.doc('a/3').set({ v: 'hello' });
    await waitFor(() => seen.includes('hello'));
    unsubscribe();
    expect(interposer.stats.counts().Listen).toBeGreaterThanOrEqual(1);
  });
});

describe('faults', () => {
  it('latency delays the call by at least that much, for `times` calls only', async () => {
    interposer.faults.set('Commit', { latencyMs: 400, times: 1 });
    const started = Date.now();
    await through.db.doc('b/1').set({ x: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await through.db.doc('b/2').set({ x: 2 });
    expect(interposer.faults.injected()).toEqual({ Commit: 1 });
  });

  it('failWith answers with that gRPC status and never reaches the emulator', async () => {
    interposer.faults.set('Commit', { failWith: status.PERMISSION_DENIED });
    await expect(through.db.doc('c/1').set({ x: 1 })).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    expect((await direct.db.doc('c/1').get()).exists).toBe(false);
  });

  it('hang holds the call until the fault is cleared, then passes it on', async () => {
    interposer.faults.set('Commit', { hang: true, times: 1 });
    let done = false;
    const write = through.db.doc('d/1').set({ x: 1 }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    expect((await direct.db.doc('d/1').get()).exists).toBe(false);
    interposer.faults.clear();
    await write;
    expect((await direct.db.doc('d/1').get()).data()).toEqual({ x: 1 });
  });

  it('counts a held call as in flight but not passed on, and a call the emulator has not answered as passed on', async () => {
    interposer.faults.set('Commit', { hang: true, times: 1 });
    const held = through.db.doc('e/1').set({ x: 1 });
    await waitFor(() => interposer.stats.inFlight() === 1);
    expect(interposer.stats.upstreamInFlight()).toBe(0);
    interposer.faults.clear();
    await held;
    expect([interposer.stats.inFlight(), interposer.stats.upstreamInFlight()]).toEqual([0, 0]);

    // A transaction elsewhere holds a read lock on e/2: the write through the interposer waits
    // at the emulator (writers wait for readers), passed on and not answered.
    let releaseLock: () => void = () => {};
    const locked = new Promise<void>((r) => (releaseLock = r));
    let lockTaken: () => void = () => {};
    const taken = new Promise<void>((r) => (lockTaken = r));
    const reader = direct.db.runTransaction(async (tx) => {
      await tx.get(direct.db.doc('e/2'));
      lockTaken();
      await locked;
    });
    await taken;
    const waiting = through.db.doc('e/2').set({ x: 2 });
    await waitFor(() => interposer.stats.upstreamInFlight() === 1);
    expect(interposer.stats.inFlight()).toBe(1);
    releaseLock();
    await reader;
    await waiting;
    expect([interposer.stats.inFlight(), interposer.stats.upstreamInFlight()]).toEqual([0, 0]);
  });

  it('refuses a method the service does not have', () => {
    expect(() => interposer.faults.set('Nope' as 'Commit', { latencyMs: 1 })).toThrow(/not a method/);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
