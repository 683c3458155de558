import type { DocumentSnapshot, Firestore } from 'firebase-admin/firestore';
import { decideKillSwitch } from '../../functions/src/domain/kill-switch.js';
import { timestampsToDates } from '../../functions/src/store/firestore-values.js';
import { KILL_SWITCH_PATH } from '../../functions/src/store/paths.js';

/**
 * The stop signal of a strategy process: one AbortSignal that aborts when the process is told
 * to stop (SIGTERM/SIGINT), when an operator halts `ops/killSwitch`, or when the kit can no
 * longer tell whether the kill switch is halted. It is a courtesy stop on the strategy side:
 * the executeIntent function refuses intents under a halt regardless (G2), but a strategy
 * that keeps running into a halt floods `submissions` with refusals and keeps positions it
 * meant to manage.
 *
 * The kill-switch rules are the function's own (`decideKillSwitch`): a missing document, or
 * one whose `halted` is not a boolean, is halted (G6). Only the deploy-time EXECUTION_HALTED
 * param is not consulted here, because strategy processes don't have it.
 */

export const StopReason = {
  /** ops/killSwitch is halted, missing or malformed. */
  halted: 'halted',
  /** The kill-switch state could not be confirmed for longer than the grace period. */
  listener_error: 'listener_error',
  /** `stop()` or `dispose()` was called. */
  stopped: 'stopped',
} as const;
/** Machine-readable stop reason; signals read `signal:SIGTERM`, `signal:SIGINT`, ... */
export type StopReason = (typeof StopReason)[keyof typeof StopReason] | `signal:${NodeJS.Signals}`;

/** The abort reason of a stop signal (`signal.reason`). */
export class RunnerStopError extends Error {
  readonly reason: StopReason;
  /** Human-readable detail, e.g. the kill-switch reason written by the operator. */
  readonly detail: string;
  /** When the signal aborted (epoch ms), so a loop can tell what it started after. */
  readonly atMs: number;

  constructor(reason: StopReason, detail: string, atMs: number) {
    super(`runner stopped (${reason}): ${detail}`);
    this.name = 'RunnerStopError';
    this.reason = reason;
    this.detail = detail;
    this.atMs = atMs;
  }
}

export function isRunnerStopError(value: unknown): value is RunnerStopError {
  return value instanceof RunnerStopError;
}

/** The stop error of an aborted stop signal, or null while it has not aborted. */
export function stopReasonOf(signal: AbortSignal): RunnerStopError | null {
  if (!signal.aborted) return null;
  const reason: unknown = signal.reason;
  return isRunnerStopError(reason)
    ? reason
    : new RunnerStopError(StopReason.stopped, reason instanceof Error ? reason.message : String(reason), Date.now());
}

/** What the kit needs from `process`: tests pass an EventEmitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface StopSignalOptions {
  /** firebase-admin Firestore holding `ops/killSwitch`. */
  db: Firestore;
  /** Process signals that stop the runner. Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
  /**
   * How long the kill-switch state may go unconfirmed before the signal aborts with
   * `listener_error` (fail closed). Confirmations are listener snapshots and probe reads;
   * the first one must arrive within this time too. Default 10 000 ms.
   */
  listenerErrorGraceMs?: number;
  /**
   * Interval of a direct read of `ops/killSwitch`, besides the listener. A listener only
   * speaks when the document changes, and firebase-admin reconnects a broken listen stream
   * silently, so without reads a dead connection looks exactly like a quiet kill switch.
   * Must be below `listenerErrorGraceMs`. 0 disables the reads (then only listener errors
   * start the grace period). Default 3 000 ms.
   */
  probeIntervalMs?: number;
  /** Backoff of re-subscribing after the listener failed: first delay and cap. Default 250 ms → 5 000 ms. */
  resubscribeMinMs?: number;
  resubscribeMaxMs?: number;
  /** Where the signals come from. Default the global `process`. */
  process?: SignalSource;
  /** Called with each listener or probe error (the kit itself does not log). */
  onError?: (err: Error) => void;
}

export interface StopSignal {
  /** Aborts once, for good; `signal.reason` is a RunnerStopError. */
  readonly signal: AbortSignal;
  /**
   * Resolves `true` on the first kill-switch read that is not halted, `false` if the signal
   * aborted first (missing or halted document, a signal, no answer within the grace period).
   * Until it resolved `true` trading is not allowed: a loop awaits it before its first
   * iteration. Never rejects.
   */
  readonly ready: Promise<boolean>;
  /** Aborts with reason `stopped` (no effect once aborted). */
  stop(detail?: string): void;
  /**
   * Removes the signal handlers, the listener and the timers. Aborts with `stopped` if the
   * signal has not aborted yet, so a loop still holding the signal can't outlive its watch.
   */
  dispose(): void;
}

export const DEFAULT_STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

export function createStopSignal(opts: StopSignalOptions): StopSignal {
  const signals = opts.signals ?? DEFAULT_STOP_SIGNALS;
  const graceMs = opts.listenerErrorGraceMs ?? 10_000;
  const probeMs = opts.probeIntervalMs ?? 3_000;
  const backoffMinMs = opts.resubscribeMinMs ?? 250;
  const backoffMaxMs = opts.resubscribeMaxMs ?? 5_000;
  const proc: SignalSource = opts.process ?? process;
  if (!(graceMs > 0)) throw new RangeError(`listenerErrorGraceMs must be > 0, got ${graceMs}`);
  if (probeMs < 0 || (probeMs > 0 && probeMs >= graceMs)) {
    throw new RangeError(`probeIntervalMs must be 0 or below listenerErrorGraceMs (${graceMs}), got ${probeMs}`);
  }

  const controller = new AbortController();
  let resolveReady: (ok: boolean) => void = () => {};
  const ready = new Promise<boolean>((resolve) => {
    resolveReady = resolve;
  });
  const ref = opts.db.doc(KILL_SWITCH_PATH);

  let unsubscribe: (() => void) | null = null;
  let resubscribeTimer: NodeJS.Timeout | null = null;
  let probeTimer: NodeJS.Timeout | null = null;
  let watchdog: NodeJS.Timeout | null = null;
  let backoffMs = backoffMinMs;
  let lastError: string | null = null;
  let probing = false;

  const stopWatching = (): void => {
    unsubscribe?.();
    unsubscribe = null;
    for (const t of [resubscribeTimer, probeTimer, watchdog]) if (t !== null) clearTimeout(t);
    resubscribeTimer = probeTimer = watchdog = null;
  };

  const abort = (reason: StopReason, detail: string): void => {
    if (controller.signal.aborted) return;
    stopWatching();
    controller.abort(new RunnerStopError(reason, detail, Date.now()));
    resolveReady(false);
  };

  // The watchdog: the kill-switch state must be confirmed within every grace period. Internal
  // timers are unref'd: they watch the process, they must not be what keeps it alive.
  const armWatchdog = (): void => {
    if (controller.signal.aborted) return;
    if (watchdog !== null) clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      abort(
        StopReason.listener_error,
        `the state of ${KILL_SWITCH_PATH} could not be confirmed for ${graceMs} ms` +
          (lastError === null ? '' : `; last error: ${lastError}`),
      );
    }, graceMs);
    watchdog.unref();
  };

  const evaluate = (snap: DocumentSnapshot): void => {
    if (controller.signal.aborted) return;
    const data = snap.exists ? timestampsToDates(snap.data()) : undefined;
    const state = decideKillSwitch(data, undefined);
    if (state.halted) {
      abort(StopReason.halted, state.reason ?? `${KILL_SWITCH_PATH} is halted`);
      return;
    }
    lastError = null;
    if (probeMs > 0) armWatchdog();
    else if (watchdog !== null) {
      // Without probes nothing would re-confirm the state in time: the watchdog only guards
      // the first snapshot and the time after an error.
      clearTimeout(watchdog);
      watchdog = null;
    }
    resolveReady(true);
  };

  const failed = (source: string, err: unknown): void => {
    const error = err instanceof Error ? err : new Error(String(err));
    lastError = `${source}: ${error.message}`;
    opts.onError?.(error);
    if (watchdog === null) armWatchdog();
  };

  const subscribe = (): void => {
    if (controller.signal.aborted) return;
    const onSnapshot = (snap: DocumentSnapshot): void => {
      backoffMs = backoffMinMs;
      evaluate(snap);
    };
    // The SDK ends a listener after calling its error callback: subscribe again, backing off.
    const onError = (err: Error): void => {
      unsubscribe = null;
      failed('listener', err);
      if (controller.signal.aborted) return;
      resubscribeTimer = setTimeout(() => {
        resubscribeTimer = null;
        subscribe();
      }, backoffMs);
      resubscribeTimer.unref();
      backoffMs = Math.min(backoffMs * 2, backoffMaxMs);
    };
    try {
      unsubscribe = ref.onSnapshot(onSnapshot, onError);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  };

  const probe = (): void => {
    // One read at a time: a hung read must not pile up more behind it; the watchdog covers it.
    if (probing || controller.signal.aborted) return;
    probing = true;
    ref.get().then(
      (snap) => {
        probing = false;
        evaluate(snap);
      },
      (err: unknown) => {
        probing = false;
        failed('read', err);
      },
    );
  };

  const onSignal = (sig: NodeJS.Signals): void => abort(`signal:${sig}`, `received ${sig}`);
  for (const sig of signals) proc.on(sig, onSignal);

  armWatchdog();
  subscribe();
  if (probeMs > 0 && !controller.signal.aborted) {
    probeTimer = setInterval(probe, probeMs);
    probeTimer.unref();
  }

  return {
    signal: controller.signal,
    ready,
    stop: (detail = 'stop() was called') => abort(StopReason.stopped, detail),
    dispose: () => {
      for (const sig of signals) proc.off(sig, onSignal);
      abort(StopReason.stopped, 'the stop signal was disposed');
      stopWatching();
    },
  };
}
