import { LogEvent, type EventLogger } from '../logs.js';
import type { ShutdownGate } from './shutdown-gate.js';

type SignalName = 'SIGTERM' | 'SIGINT';
type Listener = (signal: NodeJS.Signals) => void;

/** Far below what the platform leaves after the drain (10 s grace - SHUTDOWN_DRAIN_TIMEOUT_MS). */
export const DEFAULT_RESPONSE_FLUSH_MS = 250;

/**
 * SIGTERM drain in front of the functions framework (G3).
 *
 * On SIGTERM the framework answers the latest request and calls `process.exit()` at once,
 * which would cut in-flight broker calls off between "sent" and "recorded". This puts
 * haltgate's handling first: every other listener of the signal — the framework registers
 * its own after the server listens, i.e. after this module loaded — is taken aside as it is
 * added, and only called once the drain is over:
 *   1. request shutdown: no new broker call starts (those deliveries get a retryable error
 *      and Pub/Sub redelivers them elsewhere);
 *   2. wait for in-flight calls, at most `drainTimeoutMs` (under Cloud Run's 10 s grace);
 *   3. give the HTTP answers of the drained invocations `responseFlushMs` to go out: the gate
 *      counts a call out when its outcome is recorded, a few steps before the framework
 *      answers, and `process.exit()` would drop answers not yet written (Pub/Sub would then
 *      redeliver deliveries that were in fact done);
 *   4. hand over to the deferred listeners (the framework exits), or, when there are none,
 *      re-raise the signal so the process ends as it would have.
 * G1 does not depend on this: after SIGKILL, claims and client_order_id still hold.
 */
export function installSigtermDrain(opts: {
  gate: ShutdownGate;
  drainTimeoutMs: number;
  /** Pause between the drain and the hand-over, for answers to be written (default 250 ms). */
  responseFlushMs?: number;
  log: EventLogger;
  signals?: readonly SignalName[];
  proc?: NodeJS.Process;
}): { uninstall(): void } {
  const proc = opts.proc ?? process;
  const signals = opts.signals ?? (['SIGTERM', 'SIGINT'] as const);
  const responseFlushMs = opts.responseFlushMs ?? DEFAULT_RESPONSE_FLUSH_MS;
  const deferred = new Map<SignalName, Listener[]>(signals.map((s) => [s, []]));
  const ours = new Map<SignalName, Listener>();
  let draining: Promise<void> | null = null;

  const takeAside = (signal: SignalName, listener: Listener) => {
    proc.removeListener(signal, listener);
    deferred.get(signal)!.push(listener);
  };

  const onNewListener = (event: string | symbol, listener: Listener) => {
    const signal = event as SignalName;
    if (!signals.includes(signal) || listener === ours.get(signal)) return;
    // 'newListener' fires before the listener is added: take it aside right after — unless it
    // was removed again meanwhile, or it would be called at exit although its owner withdrew it.
    queueMicrotask(() => {
      if ((proc.listeners(signal) as Listener[]).includes(listener)) takeAside(signal, listener);
    });
  };

  const handle = (signal: SignalName) => () => {
    if (draining) return; // a second signal while draining changes nothing
    opts.gate.requestShutdown(signal);
    const startedMs = Date.now();
    opts.log.warn(LogEvent.shutdownRequested, { signal, inflight: opts.gate.inflight, drainTimeoutMs: opts.drainTimeoutMs });
    draining = opts.gate.waitForInflightZero(opts.drainTimeoutMs).then((drained) => {
      const fields = { signal, inflight: opts.gate.inflight, waitedMs: Date.now() - startedMs };
      if (drained) opts.log.info(LogEvent.drainComplete, fields);
      else opts.log.error(LogEvent.drainTimedOut, fields);
      setTimeout(() => {
        const next = deferred.get(signal) ?? [];
        if (next.length > 0) {
          for (const listener of next) listener(signal);
        } else {
          uninstall();
          proc.kill(proc.pid, signal);
        }
      }, responseFlushMs);
    });
  };

  for (const signal of signals) {
    for (const listener of proc.listeners(signal) as Listener[]) takeAside(signal, listener);
    const listener = handle(signal);
    ours.set(signal, listener);
    proc.on(signal, listener);
  }
  proc.on('newListener', onNewListener);

  function uninstall() {
    proc.removeListener('newListener', onNewListener);
    for (const [signal, listener] of ours) proc.removeListener(signal, listener);
    for (const [signal, listeners] of deferred) for (const l of listeners) proc.on(signal, l);
    deferred.clear();
    ours.clear();
  }
  return { uninstall };
}
