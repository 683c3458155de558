import { hostname } from 'node:os';
import { FieldValue, Timestamp } from 'firebase-admin/firestore';
import type { Firestore } from 'firebase-admin/firestore';
import { systemClock } from '../../functions/src/domain/clock.js';
import type { Clock } from '../../functions/src/domain/clock.js';
import { RUNNERS_COLLECTION, RunnerState } from '../../functions/src/domain/runner-heartbeat.js';
import { stopReasonOf } from './stop-signal.js';

/**
 * The heartbeat of a strategy runner: `runners/{runnerId}`, which the ops status lists,
 * flagging runners whose last heartbeat is stale (`isRunnerStale`). Observability only: a
 * failed heartbeat write never stops the runner (the kill switch does that), it is reported
 * to `onError`.
 *
 * Document fields:
 *   runnerId, pid, hostname, intervalMs   who, and how often to expect a write
 *   state        'running' | 'stopping' (the stop signal aborted, the loop is finishing its
 *                iteration) | 'stopped' (the loop returned)
 *   lastSeenAt   SERVER time of the last write (FieldValue.serverTimestamp()), so staleness
 *                is judged on one clock whatever the runner hosts' clocks say
 *   clientTime   the runner's own clock at that write (the `clock` option): compare with
 *                lastSeenAt to spot a skewed host
 *   startedAt    server time of the first write of this run
 *   beats        writes so far in this run
 *   stopReason, stopDetail   on stopping/stopped: the stop signal's reason ('signal:SIGTERM',
 *                'halted', 'listener_error', 'stopped'), or 'error' / 'finished' (see stop())
 *   stoppedAt    server time of the `stopped` write
 */

export interface HeartbeatOptions {
  /** Time between `running` writes. Default 15 000 ms. */
  intervalMs?: number;
  /** The runner's clock, for `clientTime`. Default the system clock. */
  clock?: Clock;
  /** How long `stop()` waits for its write before giving up (Firestore unreachable). Default 5 000 ms. */
  finalWriteTimeoutMs?: number;
  /** Called with each failed write. */
  onError?: (err: Error) => void;
}

export interface Heartbeat {
  /**
   * Call once the loop has returned: writes `stopped` with the stop signal's reason — or,
   * when the signal has not aborted, `error` (if `error` is given) or `finished`. Stops the
   * periodic writes. Resolves when the write committed or `finalWriteTimeoutMs` passed;
   * never rejects, so it belongs in a `finally`. Idempotent.
   */
  stop(error?: unknown): Promise<void>;
}

export function heartbeat(db: Firestore, runnerId: string, signal: AbortSignal, opts: HeartbeatOptions = {}): Heartbeat {
  const intervalMs = opts.intervalMs ?? 15_000;
  const clock = opts.clock ?? systemClock;
  const finalWriteTimeoutMs = opts.finalWriteTimeoutMs ?? 5_000;
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${intervalMs}`);
  const ref = db.collection(RUNNERS_COLLECTION).doc(runnerId);

  let beats = 0;
  let inFlight = false;
  let stopping: Promise<void> | null = null;
  // Writes are chained so that a slow `running` write can never land after `stopped`.
  let queue: Promise<void> = Promise.resolve();

  const report = (err: unknown): void => {
    opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  };
  const enqueue = (write: () => Promise<unknown>): Promise<void> => {
    queue = queue.then(write).then(
      () => undefined,
      (err: unknown) => report(err),
    );
    return queue;
  };
  const beat = (state: RunnerState, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    beats += 1;
    return {
      state,
      lastSeenAt: FieldValue.serverTimestamp(),
      clientTime: Timestamp.fromMillis(clock.now()),
      beats,
      ...extra,
    };
  };

  // The first write replaces the document, so nothing of a previous run (stopReason) survives.
  enqueue(() =>
    ref.set({
      runnerId,
      pid: process.pid,
      hostname: hostname(),
      intervalMs,
      startedAt: FieldValue.serverTimestamp(),
      stopReason: null,
      stopDetail: null,
      ...beat(RunnerState.running),
    }),
  );

  const timer = setInterval(() => {
    // A write that hangs (Firestore unreachable) is not joined by more: skip this beat.
    if (inFlight || signal.aborted || stopping !== null) return;
    inFlight = true;
    void enqueue(() => ref.set(beat(RunnerState.running), { merge: true })).finally(() => {
      inFlight = false;
    });
  }, intervalMs);
  // The heartbeat reports on the process; it must not be what keeps it alive.
  timer.unref();

  const onAbort = (): void => {
    clearInterval(timer);
    if (stopping !== null) return;
    const why = stopReasonOf(signal);
    void enqueue(() =>
      ref.set(beat(RunnerState.stopping, { stopReason: why?.reason ?? 'stopped', stopDetail: why?.detail ?? null }), {
        merge: true,
      }),
    );
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });

  return {
    stop(error?: unknown) {
      stopping ??= (async () => {
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
        const why = stopReasonOf(signal);
        const [stopReason, stopDetail] =
          why !== null
            ? [why.reason, why.detail]
            : error !== undefined
              ? ['error', error instanceof Error ? error.message : String(error)]
              : ['finished', 'the loop returned before the stop signal aborted'];
        const written = enqueue(() =>
          ref.set(beat(RunnerState.stopped, { stopReason, stopDetail, stoppedAt: FieldValue.serverTimestamp() }), {
            merge: true,
          }),
        );
        let timeout: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<void>((resolve) => {
          timeout = setTimeout(() => {
            report(new Error(`the stopped heartbeat of runners/${runnerId} was not written within ${finalWriteTimeoutMs} ms`));
            resolve();
          }, finalWriteTimeoutMs);
          timeout.unref();
        });
        await Promise.race([written, gaveUp]);
        clearTimeout(timeout);
      })();
      return stopping;
    },
  };
}
