// heartbeat() against the official Firestore emulator (a project of this file's own) with the
// real firebase-admin client.
import { hostname } from 'node:os';
import { deleteApp, type App } from 'firebase-admin/app';
import { Timestamp, type Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../../functions/src/domain/clock.js';
import { createStopSignal, heartbeat, isRunnerStale } from '../../../runner/src/index.js';
import { adminFirestore } from '../../support/backends.js';
import { clearFirestore, uniqueProjectId } from '../../support/emulators.js';

const PROJECT = uniqueProjectId();

let app: App;
let db: Firestore;

beforeAll(() => {
  ({ app, db } = adminFirestore(PROJECT));
});

afterAll(async () => {
  await deleteApp(app);
});

beforeEach(async () => {
  await clearFirestore(PROJECT);
});

async function waitForDoc(path: string, cond: (d: Record<string, unknown>) => boolean, timeoutMs = 5_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const data = (await db.doc(path).get()).data();
    if (data !== undefined && cond(data)) return data;
    if (Date.now() > until) throw new Error(`${path} never matched; last: ${JSON.stringify(data)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('heartbeat', () => {
  it('writes runners/{id}, updates it periodically, marks stopping on abort and stopped on stop()', async () => {
    const clock = fixedClock(Date.parse('2030-01-02T03:04:05Z'));
    const controller = new AbortController();
    const errors: Error[] = [];
    const hb = heartbeat(db, 'hb-1', controller.signal, { intervalMs: 50, clock, onError: (e) => errors.push(e) });

    const first = await waitForDoc('runners/hb-1', () => true);
    expect(first).toMatchObject({
      runnerId: 'hb-1',
      state: 'running',
      pid: process.pid,
      hostname: hostname(),
      intervalMs: 50,
      stopReason: null,
    });
    expect(first['lastSeenAt']).toBeInstanceOf(Timestamp);
    expect(first['startedAt']).toBeInstanceOf(Timestamp);
    // clientTime is the runner's clock; lastSeenAt is the server's.
    expect((first['clientTime'] as Timestamp).toMillis()).toBe(clock.now());
    expect(Math.abs((first['lastSeenAt'] as Timestamp).toMillis() - Date.now())).toBeLessThan(5_000);

    clock.advance(1_000);
    // A beat written after the clock moved: later beats update the same document.
    const later = await waitForDoc('runners/hb-1', (d) => (d['clientTime'] as Timestamp).toMillis() === clock.now());
    expect(later['beats']).toBeGreaterThan(first['beats'] as number);
    expect(later['state']).toBe('running');
    expect((later['lastSeenAt'] as Timestamp).toMillis()).toBeGreaterThan((first['lastSeenAt'] as Timestamp).toMillis());
    expect(later['startedAt']).toEqual(first['startedAt']);
    expect(isRunnerStale((later['lastSeenAt'] as Timestamp).toMillis(), Date.now(), 3 * 50 + 1_000)).toBe(false);

    controller.abort(new Error('test over'));
    const stopping = await waitForDoc('runners/hb-1', (d) => d['state'] !== 'running');
    expect(stopping).toMatchObject({ state: 'stopping', stopReason: 'stopped', stopDetail: 'test over' });

    await hb.stop();
    const stoppedSnap = await db.doc('runners/hb-1').get();
    const stopped = stoppedSnap.data();
    expect(stopped).toMatchObject({ state: 'stopped', stopReason: 'stopped', stopDetail: 'test over' });
    expect(stopped?.['stoppedAt']).toBeInstanceOf(Timestamp);

    // Nothing writes after stopped: four beat intervals later the server's update time of the
    // document is still that of the stop.
    const beats = stopped?.['beats'];
    await new Promise((r) => setTimeout(r, 200));
    const afterSnap = await db.doc('runners/hb-1').get();
    expect(afterSnap.data()).toMatchObject({ state: 'stopped', beats });
    expect(afterSnap.updateTime!.isEqual(stoppedSnap.updateTime!)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('records the stop signal reason of createStopSignal, and a fresh run replaces the previous one', async () => {
    await db.doc('ops/killSwitch').set({ halted: false });
    await db.doc('runners/hb-2').set({ runnerId: 'hb-2', state: 'stopped', stopReason: 'halted', leftover: true });
    const stop = createStopSignal({ db, signals: [] });
    try {
      expect(await stop.ready).toBe(true);
      const hb = heartbeat(db, 'hb-2', stop.signal, { intervalMs: 1_000 });
      const running = await waitForDoc('runners/hb-2', (d) => d['state'] === 'running');
      expect(running['leftover']).toBeUndefined();
      expect(running['stopReason']).toBeNull();

      await db.doc('ops/killSwitch').set({ halted: true, reason: 'drill' });
      await waitForDoc('runners/hb-2', (d) => d['state'] === 'stopping');
      await hb.stop();
      const stopped = (await db.doc('runners/hb-2').get()).data();
      expect(stopped).toMatchObject({ state: 'stopped', stopReason: 'halted' });
      expect(stopped?.['stopDetail']).toContain('drill');
    } finally {
      stop.dispose();
    }
  });

  it('stop() before any abort records finished, or error with the message', async () => {
    const a = heartbeat(db, 'hb-3', new AbortController().signal, { intervalMs: 1_000 });
    await a.stop();
    expect((await db.doc('runners/hb-3').get()).data()).toMatchObject({ state: 'stopped', stopReason: 'finished' });

    const b = heartbeat(db, 'hb-4', new AbortController().signal, { intervalMs: 1_000 });
    await b.stop(new Error('broker feed lost'));
    await b.stop();
    expect((await db.doc('runners/hb-4').get()).data()).toMatchObject({
      state: 'stopped',
      stopReason: 'error',
      stopDetail: 'broker feed lost',
    });
  });
});
