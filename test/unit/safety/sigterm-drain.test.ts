import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { ShutdownGate } from '../../../functions/src/safety/shutdown-gate.js';
import { DEFAULT_RESPONSE_FLUSH_MS, installSigtermDrain } from '../../../functions/src/safety/sigterm-drain.js';
import { deferred, flush } from '../../support/deferred.js';

/** Just what the drain uses of `process`: signal listeners, kill and pid. */
class FakeProcess extends EventEmitter {
  readonly pid = 4242;
  readonly kills: Array<{ pid: number; signal: string | number | undefined }> = [];
  kill(pid: number, signal?: string | number): true {
    this.kills.push({ pid, signal });
    return true;
  }
}

/** After the drain: the pause that lets HTTP answers go out, then the hand-over. */
const handOver = async () => {
  await flush();
  await vi.advanceTimersByTimeAsync(DEFAULT_RESPONSE_FLUSH_MS);
};

function setup(drainTimeoutMs = 8000) {
  const proc = new FakeProcess();
  const gate = new ShutdownGate();
  const log = memoryEventLogger();
  const install = () =>
    installSigtermDrain({ gate, drainTimeoutMs, log, proc: proc as unknown as NodeJS.Process });
  return { proc, gate, log, install };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('installSigtermDrain', () => {
  it('takes listeners added later (as the functions framework does after listen) aside', async () => {
    const { proc, install } = setup();
    install();
    const framework = vi.fn();
    proc.on('SIGTERM', framework);
    await flush();
    // Only ours is attached: the framework's would call process.exit() at once.
    expect(proc.listenerCount('SIGTERM')).toBe(1);
    expect(proc.listeners('SIGTERM')).not.toContain(framework);
  });

  it('takes listeners that were there before it was installed aside too', () => {
    const { proc, install } = setup();
    const early = vi.fn();
    proc.on('SIGINT', early);
    install();
    expect(proc.listeners('SIGINT')).not.toContain(early);
    expect(proc.listenerCount('SIGINT')).toBe(1);
  });

  it('on SIGTERM: shutdown is requested at once; deferred listeners run only after in-flight calls finish', async () => {
    const { proc, gate, log, install } = setup();
    install();
    const framework = vi.fn();
    proc.on('SIGTERM', framework);
    await flush();

    const call = deferred<string>();
    const inflight = gate.run(() => call.promise);
    proc.emit('SIGTERM', 'SIGTERM');

    expect(gate.shuttingDown).toBe(true);
    expect(gate.shutdownReason).toBe('SIGTERM');
    // No new broker call may start now.
    await expect(gate.run(async () => 'new')).rejects.toMatchObject({ name: 'ShutdownInProgressError' });
    expect(log.events.map((e) => e.event)).toEqual(['shutdown_requested']);
    expect(log.events[0]!.fields).toMatchObject({ signal: 'SIGTERM', inflight: 1, drainTimeoutMs: 8000 });

    await vi.advanceTimersByTimeAsync(5000);
    await flush();
    expect(framework).not.toHaveBeenCalled();

    call.resolve('done');
    expect(await inflight).toBe('done');
    await flush();
    // Drained, but the answer of the drained invocation is given time to be written first.
    await vi.advanceTimersByTimeAsync(DEFAULT_RESPONSE_FLUSH_MS - 1);
    expect(framework).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(framework).toHaveBeenCalledTimes(1);
    expect(framework).toHaveBeenCalledWith('SIGTERM');
    expect(log.events.map((e) => e.event)).toEqual(['shutdown_requested', 'drain_complete']);
    expect(proc.kills).toEqual([]);
  });

  it('waits for tracked invocations too, which (unlike broker calls) may still run after the signal', async () => {
    const { proc, gate, install } = setup();
    install();
    const framework = vi.fn();
    proc.on('SIGTERM', framework);
    await flush();
    const claim = deferred();
    // An invocation in its claim transaction when the signal comes...
    const invocation = gate.track(async () => {
      await claim.promise;
      // ...finds the gate shut after the claim, and must still write its release.
      expect(gate.shuttingDown).toBe(true);
      return gate.track(async () => 'released');
    });
    proc.emit('SIGTERM', 'SIGTERM');
    await handOver();
    expect(framework).not.toHaveBeenCalled();
    claim.resolve();
    expect(await invocation).toBe('released');
    await handOver();
    expect(framework).toHaveBeenCalledTimes(1);
  });

  it('with nothing in flight the deferred listeners run right away', async () => {
    const { proc, install } = setup();
    install();
    const framework = vi.fn();
    proc.on('SIGTERM', framework);
    await flush();
    proc.emit('SIGTERM', 'SIGTERM');
    await handOver();
    expect(framework).toHaveBeenCalledTimes(1);
  });

  it('a drain that times out still hands over (the process must exit before SIGKILL), and says so', async () => {
    const { proc, gate, log, install } = setup(3000);
    install();
    const framework = vi.fn();
    proc.on('SIGTERM', framework);
    await flush();
    void gate.run(() => new Promise<never>(() => {})); // a broker call that never returns
    proc.emit('SIGTERM', 'SIGTERM');

    await vi.advanceTimersByTimeAsync(2999);
    expect(framework).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await handOver();
    expect(framework).toHaveBeenCalledTimes(1);
    const timedOut = log.events.find((e) => e.event === 'drain_timed_out');
    expect(timedOut).toMatchObject({ level: 'error', fields: { signal: 'SIGTERM', inflight: 1, waitedMs: 3000 } });
  });

  it('with no other listener it re-raises the signal after the drain, with its own listeners removed', async () => {
    const { proc, install } = setup();
    install();
    proc.emit('SIGTERM', 'SIGTERM');
    await handOver();
    expect(proc.kills).toEqual([{ pid: 4242, signal: 'SIGTERM' }]);
    // Uninstalled first, so the re-raised signal gets the default action (the process ends).
    expect(proc.listenerCount('SIGTERM')).toBe(0);
    expect(proc.listenerCount('SIGINT')).toBe(0);
    expect(proc.listenerCount('newListener')).toBe(0);
  });

  it('re-raises the signal that was received (SIGINT)', async () => {
    const { proc, install } = setup();
    install();
    proc.emit('SIGINT', 'SIGINT');
    await handOver();
    expect(proc.kills).toEqual([{ pid: 4242, signal: 'SIGINT' }]);
  });

  it('a second signal while draining changes nothing: one drain, one hand-over', async () => {
    const { proc, gate, log, install } = setup();
    install();
    const onTerm = vi.fn();
    const onInt = vi.fn();
    proc.on('SIGTERM', onTerm);
    proc.on('SIGINT', onInt);
    await flush();
    const call = deferred();
    void gate.run(() => call.promise);

    proc.emit('SIGTERM', 'SIGTERM');
    proc.emit('SIGTERM', 'SIGTERM');
    proc.emit('SIGINT', 'SIGINT');
    await vi.advanceTimersByTimeAsync(100);
    expect(onTerm).not.toHaveBeenCalled();
    expect(onInt).not.toHaveBeenCalled();
    expect(log.events.filter((e) => e.event === 'shutdown_requested')).toHaveLength(1);
    expect(gate.shutdownReason).toBe('SIGTERM');

    call.resolve();
    await handOver();
    proc.emit('SIGTERM', 'SIGTERM'); // and after the hand-over, too
    await handOver();
    expect(onTerm).toHaveBeenCalledTimes(1);
    expect(onInt).not.toHaveBeenCalled();
    expect(proc.kills).toEqual([]);
  });

  it('a listener removed again before it could be taken aside is not called later', async () => {
    const { proc, install } = setup();
    install();
    const gone = vi.fn();
    proc.on('SIGTERM', gone);
    proc.removeListener('SIGTERM', gone);
    await flush();
    proc.emit('SIGTERM', 'SIGTERM');
    await handOver();
    expect(gone).not.toHaveBeenCalled();
    expect(proc.kills).toEqual([{ pid: 4242, signal: 'SIGTERM' }]);
  });

  it('uninstall puts the deferred listeners back and stops taking new ones aside', async () => {
    const { proc, install } = setup();
    const drain = install();
    const framework = vi.fn();
    proc.on('SIGTERM', framework);
    await flush();
    drain.uninstall();
    expect(proc.listeners('SIGTERM')).toEqual([framework]);
    const later = vi.fn();
    proc.on('SIGTERM', later);
    await flush();
    expect(proc.listeners('SIGTERM')).toEqual([framework, later]);
  });

  it('ignores other events', async () => {
    const { proc, install } = setup();
    install();
    const onExit = vi.fn();
    proc.on('exit', onExit);
    await flush();
    expect(proc.listeners('exit')).toEqual([onExit]);
  });
});
