import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HaltgateError, ShutdownInProgressError } from '../../../functions/src/errors.js';
import { processShutdownGate, ShutdownGate } from '../../../functions/src/safety/shutdown-gate.js';
import { deferred, flush } from '../../support/deferred.js';


beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ShutdownGate', () => {
  it('starts open with nothing in flight', () => {
    const gate = new ShutdownGate();
    expect(gate.shuttingDown).toBe(false);
    expect(gate.shutdownReason).toBeNull();
    expect(gate.inflight).toBe(0);
    expect(() => gate.assertOpen()).not.toThrow();
  });

  it('run returns the call result and counts it while in flight', async () => {
    const gate = new ShutdownGate();
    const a = deferred<string>();
    const b = deferred<number>();
    const pa = gate.run(() => a.promise);
    expect(gate.inflight).toBe(1);
    const pb = gate.run(() => b.promise);
    expect(gate.inflight).toBe(2);
    a.resolve('order-1');
    await expect(pa).resolves.toBe('order-1');
    expect(gate.inflight).toBe(1);
    b.resolve(7);
    await expect(pb).resolves.toBe(7);
    expect(gate.inflight).toBe(0);
  });

  it('the in-flight count drops when a call rejects, and the rejection passes through', async () => {
    const gate = new ShutdownGate();
    const d = deferred();
    const p = gate.run(() => d.promise);
    expect(gate.inflight).toBe(1);
    const boom = new Error('broker down');
    d.reject(boom);
    await expect(p).rejects.toBe(boom);
    expect(gate.inflight).toBe(0);
  });

  it('a call that throws synchronously is counted out again', async () => {
    const gate = new ShutdownGate();
    await expect(
      gate.run(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(gate.inflight).toBe(0);
  });

  it('after requestShutdown, run refuses with ShutdownInProgressError and never calls the function', async () => {
    const gate = new ShutdownGate();
    gate.requestShutdown('SIGTERM');
    expect(gate.shuttingDown).toBe(true);
    const call = vi.fn(async () => 'sent');
    const p = gate.run(call);
    await expect(p).rejects.toBeInstanceOf(ShutdownInProgressError);
    await expect(p).rejects.toMatchObject({ reason: 'shutting_down', retryable: true, context: { shutdownReason: 'SIGTERM' } });
    expect(call).not.toHaveBeenCalled();
    expect(gate.inflight).toBe(0);
  });

  it('assertOpen throws after requestShutdown, naming the reason', () => {
    const gate = new ShutdownGate();
    gate.requestShutdown('SIGTERM');
    expect(() => gate.assertOpen()).toThrow(ShutdownInProgressError);
    expect(() => gate.assertOpen()).toThrow(/SIGTERM/);
    try {
      gate.assertOpen();
    } catch (err) {
      expect(err).toBeInstanceOf(HaltgateError);
    }
  });

  it('keeps the first shutdown reason', () => {
    const gate = new ShutdownGate();
    gate.requestShutdown('SIGTERM');
    gate.requestShutdown('SIGINT');
    expect(gate.shutdownReason).toBe('SIGTERM');
    expect(() => gate.assertOpen()).toThrow(/SIGTERM/);
  });

  it('calls already in flight finish normally after shutdown is requested', async () => {
    const gate = new ShutdownGate();
    const d = deferred<string>();
    const p = gate.run(() => d.promise);
    gate.requestShutdown('SIGTERM');
    expect(gate.inflight).toBe(1);
    d.resolve('done');
    await expect(p).resolves.toBe('done');
    expect(gate.inflight).toBe(0);
  });

  it('waitForInflightZero resolves true at once when nothing is in flight', async () => {
    const gate = new ShutdownGate();
    await expect(gate.waitForInflightZero(0)).resolves.toBe(true);
    await expect(gate.waitForInflightZero(1000)).resolves.toBe(true);
  });

  it('waitForInflightZero resolves true when the last call finishes, before the timeout', async () => {
    const gate = new ShutdownGate();
    const a = deferred();
    const b = deferred();
    const pa = gate.run(() => a.promise);
    const pb = gate.run(() => b.promise);
    gate.requestShutdown('SIGTERM');
    let settled: boolean | undefined;
    void gate.waitForInflightZero(10_000).then((v) => (settled = v));

    await vi.advanceTimersByTimeAsync(1_000);
    a.resolve();
    await pa;
    await flush();
    expect(settled).toBeUndefined(); // one call is still in flight

    b.resolve();
    await pb;
    await flush();
    expect(settled).toBe(true);
    // The timer was cleared: moving past the timeout changes nothing.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(settled).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('waitForInflightZero resolves false on timeout while a call hangs', async () => {
    const gate = new ShutdownGate();
    const d = deferred();
    const p = gate.run(() => d.promise);
    let settled: boolean | undefined;
    void gate.waitForInflightZero(5_000).then((v) => (settled = v));

    await vi.advanceTimersByTimeAsync(4_999);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(false);
    expect(gate.inflight).toBe(1);

    // A late finish after the timeout does not break anything.
    d.resolve();
    await p;
    expect(gate.inflight).toBe(0);
  });

  it('several waiters are all woken', async () => {
    const gate = new ShutdownGate();
    const d = deferred();
    const p = gate.run(() => d.promise);
    const w1 = gate.waitForInflightZero(10_000);
    const w2 = gate.waitForInflightZero(20_000);
    d.resolve();
    await p;
    await expect(Promise.all([w1, w2])).resolves.toEqual([true, true]);
  });

  it('a waiter that timed out is not woken again, and later waiters still work', async () => {
    const gate = new ShutdownGate();
    const d1 = deferred();
    const p1 = gate.run(() => d1.promise);
    const early = gate.waitForInflightZero(100);
    await vi.advanceTimersByTimeAsync(100);
    await expect(early).resolves.toBe(false);
    const late = gate.waitForInflightZero(10_000);
    d1.resolve();
    await p1;
    await expect(late).resolves.toBe(true);
  });

  it('a rejected call also wakes the waiters', async () => {
    const gate = new ShutdownGate();
    const d = deferred();
    const p = gate.run(() => d.promise).catch(() => 'caught');
    const w = gate.waitForInflightZero(10_000);
    d.reject(new Error('x'));
    await p;
    await expect(w).resolves.toBe(true);
  });

  it('the process gate is a ShutdownGate that starts open', () => {
    expect(processShutdownGate).toBeInstanceOf(ShutdownGate);
    expect(processShutdownGate.shuttingDown).toBe(false);
  });
});
