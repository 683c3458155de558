import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { every, sleep } from '../../../runner/src/sleep.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Records when a promise settled, in fake time. */
function track<T>(p: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown; at?: number } = { settled: false };
  p.then(
    (value) => Object.assign(state, { settled: true, value, at: Date.now() }),
    (error: unknown) => Object.assign(state, { settled: true, error, at: Date.now() }),
  );
  return state;
}

describe('sleep', () => {
  it('resolves true after the full time', async () => {
    const t0 = Date.now();
    const s = track(sleep(1_000, new AbortController().signal));
    await vi.advanceTimersByTimeAsync(999);
    expect(s.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(s).toMatchObject({ settled: true, value: true, at: t0 + 1_000 });
  });

  it('resolves false as soon as the signal aborts, and leaves no timer behind', async () => {
    const c = new AbortController();
    const t0 = Date.now();
    const s = track(sleep(60_000, c.signal));
    await vi.advanceTimersByTimeAsync(100);
    c.abort(new Error('stop'));
    await vi.advanceTimersByTimeAsync(0);
    expect(s).toMatchObject({ settled: true, value: false, at: t0 + 100 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('resolves false at once when already aborted; works without a signal', async () => {
    const c = new AbortController();
    c.abort();
    expect(await sleep(60_000, c.signal)).toBe(false);
    const s = track(sleep(10));
    await vi.advanceTimersByTimeAsync(10);
    expect(s.value).toBe(true);
  });

  it('removes its abort listener when the time elapses', async () => {
    const c = new AbortController();
    const remove = vi.spyOn(c.signal, 'removeEventListener');
    const s = track(sleep(10, c.signal));
    await vi.advanceTimersByTimeAsync(10);
    expect(s.value).toBe(true);
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
  });
});

describe('every', () => {
  it('runs, waits the interval after each iteration ends, and repeats', async () => {
    const c = new AbortController();
    const starts: number[] = [];
    const t0 = Date.now();
    const loop = track(
      every(1_000, c.signal, async (signal, n) => {
        expect(signal).toBe(c.signal);
        expect(n).toBe(starts.length + 1);
        starts.push(Date.now() - t0);
        await new Promise((r) => setTimeout(r, 300));
      }),
    );
    await vi.advanceTimersByTimeAsync(3_000);
    // Fixed delay after the end: 0, 1300, 2600.
    expect(starts).toEqual([0, 1_300, 2_600]);
    c.abort();
    await vi.advanceTimersByTimeAsync(300);
    expect(loop).toMatchObject({ settled: true, value: 3 });
  });

  it('awaits the running iteration and starts none after the abort', async () => {
    const c = new AbortController();
    const events: string[] = [];
    const loop = track(
      every(100, c.signal, async (_signal, n) => {
        events.push(`start ${n}`);
        // Work that ignores the signal: every must wait for it anyway.
        await new Promise((r) => setTimeout(r, 500));
        events.push(`end ${n}`);
      }),
    );
    await vi.advanceTimersByTimeAsync(650); // iteration 2 started at 600
    c.abort();
    events.push('abort');
    await vi.advanceTimersByTimeAsync(449);
    expect(loop.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(loop).toMatchObject({ settled: true, value: 2 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'abort', 'end 2']);
  });

  it('an abort during the wait ends it at once', async () => {
    const c = new AbortController();
    let runs = 0;
    const loop = track(
      every(60_000, c.signal, () => {
        runs += 1;
      }),
    );
    await vi.advanceTimersByTimeAsync(10);
    c.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(loop).toMatchObject({ settled: true, value: 1 });
    expect(runs).toBe(1);
  });

  it('an abort inside an iteration (fn stops itself) starts no further iteration', async () => {
    const c = new AbortController();
    const loop = track(
      every(10, c.signal, (_s, i) => {
        if (i === 3) c.abort();
      }),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(loop).toMatchObject({ settled: true, value: 3 });
  });

  it('never runs when the signal already aborted', async () => {
    const c = new AbortController();
    c.abort();
    const fn = vi.fn();
    expect(await every(10, c.signal, fn)).toBe(0);
    expect(fn).not.toHaveBeenCalled();
  });

  it('rejects with the error an iteration threw, running no further iteration', async () => {
    const c = new AbortController();
    const fn = vi.fn(async (_s: AbortSignal, n: number) => {
      if (n === 2) throw new Error('feed broke');
    });
    const loop = track(every(100, c.signal, fn));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(loop.settled).toBe(true);
    expect((loop.error as Error).message).toBe('feed broke');
    expect(fn).toHaveBeenCalledTimes(2);
    expect(c.signal.aborted).toBe(false);
  });
});
