// createStopSignal against a fake Firestore document and a fake process: the decisions and
// timing (signals, halts, listener errors, resubscription, grace period). The real client
// and server are exercised in test/integration/runner.
import { EventEmitter } from 'node:events';
import { Timestamp } from 'firebase-admin/firestore';
import type { Firestore } from 'firebase-admin/firestore';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RunnerStopError, createStopSignal, stopReasonOf } from '../../../runner/src/stop-signal.js';
import type { StopSignalOptions } from '../../../runner/src/stop-signal.js';

interface Listener {
  next: (snap: unknown) => void;
  error: (err: Error) => void;
  active: boolean;
}

/** `ops/killSwitch` as the kit sees it: onSnapshot listeners and get(). */
class FakeKillSwitch {
  listeners: Listener[] = [];
  /** What get() answers; a function so a test can make it hang or fail. */
  read: () => Promise<unknown> = () => new Promise(() => {});
  paths: string[] = [];

  readonly db = {
    doc: (path: string) => {
      this.paths.push(path);
      return {
        onSnapshot: (next: Listener['next'], error: Listener['error']) => {
          const l: Listener = { next, error, active: true };
          this.listeners.push(l);
          return () => {
            l.active = false;
          };
        },
        get: () => this.read(),
      };
    },
  } as unknown as Firestore;

  get active(): Listener[] {
    return this.listeners.filter((l) => l.active);
  }
  emit(data: Record<string, unknown> | undefined): void {
    for (const l of this.active) l.next(snapshot(data));
  }
  /** The SDK calls the error callback and ends that listener. */
  fail(message: string): void {
    for (const l of this.active) {
      l.active = false;
      l.error(new Error(message));
    }
  }
}

function snapshot(data: Record<string, unknown> | undefined) {
  return { exists: data !== undefined, data: () => data };
}

let ks: FakeKillSwitch;
let proc: EventEmitter;
let disposers: Array<() => void>;

function start(opts: Partial<StopSignalOptions> = {}) {
  const s = createStopSignal({ db: ks.db, process: proc, probeIntervalMs: 0, ...opts });
  disposers.push(s.dispose);
  let ready: boolean | undefined;
  void s.ready.then((r) => {
    ready = r;
  });
  return Object.assign(s, { readyValue: () => ready });
}

beforeEach(() => {
  vi.useFakeTimers();
  ks = new FakeKillSwitch();
  proc = new EventEmitter();
  disposers = [];
});
afterEach(() => {
  for (const d of disposers) d();
  vi.useRealTimers();
});

describe('createStopSignal', () => {
  it('listens to ops/killSwitch and is ready on the first snapshot that is not halted', async () => {
    const s = start();
    expect(ks.paths).toEqual(['ops/killSwitch']);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.readyValue()).toBeUndefined();
    ks.emit({ halted: false, updatedAt: Timestamp.fromMillis(Date.parse('2030-01-01T00:00:00Z')), note: 'console' });
    await vi.advanceTimersByTimeAsync(0);
    // A Timestamp updatedAt (as the console writes it) is well formed, not a halt.
    expect(s.readyValue()).toBe(true);
    expect(s.signal.aborted).toBe(false);
  });

  it.each([
    ['missing', undefined, /does not exist/],
    ['halted', { halted: true, reason: 'closed', updatedBy: 'ops' }, /halted: closed \(by ops\)/],
    ['malformed halted', { halted: 'false' }, /malformed/],
    ['malformed updatedAt', { halted: false, updatedAt: 42 }, /malformed/],
  ])('a %s first snapshot aborts with reason halted and ready false', async (_name, data, detail) => {
    const s = start();
    ks.emit(data);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.readyValue()).toBe(false);
    const why = stopReasonOf(s.signal);
    expect(why).toBeInstanceOf(RunnerStopError);
    expect(why?.reason).toBe('halted');
    expect(why?.detail).toMatch(detail);
    expect(why?.message).toMatch(/^runner stopped \(halted\): /);
    expect(ks.active).toHaveLength(0);
  });

  it('aborts with halted when the switch flips after ready, and stops listening', async () => {
    const s = start();
    ks.emit({ halted: false });
    const t = Date.now();
    ks.emit({ halted: true, reason: 'risk review' });
    expect(s.signal.aborted).toBe(true);
    const why = s.signal.reason as RunnerStopError;
    expect(why).toMatchObject({ reason: 'halted', atMs: t });
    expect(why.detail).toContain('risk review');
    expect(ks.active).toHaveLength(0);
    // Abort is final: a later "not halted" changes nothing.
    ks.emit({ halted: false });
    expect(s.signal.reason).toBe(why);
  });

  it('aborts on each configured process signal with reason signal:<NAME>, and dispose() removes the handlers', async () => {
    const a = start();
    ks.emit({ halted: false });
    expect(proc.listenerCount('SIGTERM')).toBe(1);
    expect(proc.listenerCount('SIGINT')).toBe(1);
    proc.emit('SIGINT', 'SIGINT');
    expect(stopReasonOf(a.signal)).toMatchObject({ reason: 'signal:SIGINT', detail: 'received SIGINT' });
    expect(await a.ready).toBe(true);
    a.dispose();
    expect(proc.listenerCount('SIGTERM')).toBe(0);
    expect(proc.listenerCount('SIGINT')).toBe(0);

    const b = start({ signals: ['SIGTERM'] });
    proc.emit('SIGINT', 'SIGINT');
    expect(b.signal.aborted).toBe(false);
    proc.emit('SIGTERM', 'SIGTERM');
    expect(stopReasonOf(b.signal)?.reason).toBe('signal:SIGTERM');
    // A signal before the first snapshot: never ready.
    await vi.advanceTimersByTimeAsync(0);
    expect(b.readyValue()).toBe(false);
  });

  it('stop() aborts with stopped; dispose() aborts a live signal and ends the listener', () => {
    const a = start();
    a.stop('strategy finished its session');
    expect(stopReasonOf(a.signal)).toMatchObject({ reason: 'stopped', detail: 'strategy finished its session' });
    const b = start();
    ks.emit({ halted: false });
    b.dispose();
    expect(stopReasonOf(b.signal)?.reason).toBe('stopped');
    expect(ks.active).toHaveLength(0);
  });

  it('re-subscribes with backoff after listener errors; a healthy snapshot within the grace keeps it running', async () => {
    const s = start({ listenerErrorGraceMs: 10_000, resubscribeMinMs: 250, resubscribeMaxMs: 1_000 });
    ks.emit({ halted: false });
    const errors: number[] = [];
    ks.fail('UNAVAILABLE');
    errors.push(Date.now());
    const subscribedAt: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = ks.listeners.length;
      while (ks.listeners.length === before) await vi.advanceTimersByTimeAsync(10);
      subscribedAt.push(Date.now() - errors[0]!);
      ks.fail('UNAVAILABLE');
    }
    // 250, +500, +1000, +1000 (capped).
    expect(subscribedAt).toEqual([250, 750, 1_750, 2_750]);
    const before = ks.listeners.length;
    while (ks.listeners.length === before) await vi.advanceTimersByTimeAsync(10);
    ks.emit({ halted: false });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(s.signal.aborted).toBe(false);
    // Backoff was reset by the healthy snapshot.
    ks.fail('UNAVAILABLE');
    const again = Date.now();
    const n = ks.listeners.length;
    while (ks.listeners.length === n) await vi.advanceTimersByTimeAsync(10);
    expect(Date.now() - again).toBe(250);
  });

  it('aborts with listener_error (fail closed) when errors last longer than the grace', async () => {
    const seen: Error[] = [];
    const s = start({ listenerErrorGraceMs: 2_000, resubscribeMinMs: 100, onError: (e) => seen.push(e) });
    ks.emit({ halted: false });
    const t0 = Date.now();
    ks.fail('PERMISSION_DENIED: rules changed');
    while (!s.signal.aborted) {
      await vi.advanceTimersByTimeAsync(50);
      ks.fail('PERMISSION_DENIED: rules changed');
    }
    const why = stopReasonOf(s.signal);
    expect(why?.reason).toBe('listener_error');
    expect(why?.atMs).toBe(t0 + 2_000);
    expect(why?.detail).toContain('PERMISSION_DENIED: rules changed');
    expect(seen.length).toBeGreaterThan(1);
    // Nothing more is scheduled once aborted.
    const listeners = ks.listeners.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ks.listeners.length).toBe(listeners);
  });

  it('aborts with listener_error when no first snapshot arrives within the grace; ready is false', async () => {
    const s = start({ listenerErrorGraceMs: 3_000 });
    await vi.advanceTimersByTimeAsync(2_999);
    expect(s.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(stopReasonOf(s.signal)?.reason).toBe('listener_error');
    expect(s.readyValue()).toBe(false);
  });

  describe('with probe reads', () => {
    it('a quiet listener with healthy reads keeps running', async () => {
      ks.read = async () => snapshot({ halted: false });
      const s = start({ listenerErrorGraceMs: 2_000, probeIntervalMs: 500 });
      ks.emit({ halted: false });
      await vi.advanceTimersByTimeAsync(30_000);
      expect(s.signal.aborted).toBe(false);
    });

    it('a read that sees a halt aborts, even if the listener said nothing', async () => {
      let halted = false;
      ks.read = async () => snapshot({ halted });
      const s = start({ listenerErrorGraceMs: 2_000, probeIntervalMs: 500 });
      ks.emit({ halted: false });
      await vi.advanceTimersByTimeAsync(1_000);
      halted = true;
      await vi.advanceTimersByTimeAsync(500);
      expect(stopReasonOf(s.signal)?.reason).toBe('halted');
    });

    it('reads that hang (a silently dead connection) abort with listener_error after the grace', async () => {
      let answer = true;
      ks.read = () => (answer ? Promise.resolve(snapshot({ halted: false })) : new Promise(() => {}));
      const s = start({ listenerErrorGraceMs: 2_000, probeIntervalMs: 500 });
      ks.emit({ halted: false });
      await vi.advanceTimersByTimeAsync(1_000);
      answer = false;
      // Last confirmation at t=1000 (the read of that tick); aborted 2000 ms later.
      const lastOk = Date.now();
      while (!s.signal.aborted) await vi.advanceTimersByTimeAsync(10);
      expect(Date.now() - lastOk).toBeGreaterThanOrEqual(1_900);
      expect(Date.now() - lastOk).toBeLessThanOrEqual(2_000);
      expect(stopReasonOf(s.signal)?.reason).toBe('listener_error');
    });

    it('failing reads are reported and count against the grace', async () => {
      const seen: string[] = [];
      ks.read = () => Promise.reject(new Error('DEADLINE_EXCEEDED'));
      const s = start({ listenerErrorGraceMs: 2_000, probeIntervalMs: 500, onError: (e) => seen.push(e.message) });
      ks.emit({ halted: false });
      await vi.advanceTimersByTimeAsync(2_000);
      expect(stopReasonOf(s.signal)).toMatchObject({ reason: 'listener_error' });
      expect(stopReasonOf(s.signal)?.detail).toContain('read: DEADLINE_EXCEEDED');
      expect(seen).toContain('DEADLINE_EXCEEDED');
    });
  });

  it('refuses option values that could not fail closed', () => {
    expect(() => createStopSignal({ db: ks.db, process: proc, listenerErrorGraceMs: 0 })).toThrow(RangeError);
    expect(() => createStopSignal({ db: ks.db, process: proc, listenerErrorGraceMs: 1_000, probeIntervalMs: 1_000 })).toThrow(
      RangeError,
    );
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });
});
