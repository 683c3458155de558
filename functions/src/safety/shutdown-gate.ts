import { ShutdownInProgressError } from '../errors.js';

/**
 * The process-wide shutdown gate (G3). Cloud Run sends SIGTERM and then, after a grace
 * period, SIGKILL. Once shutdown is requested no new broker call starts (the delivery is
 * refused with a retryable error and Pub/Sub redelivers it); calls already in flight are
 * counted so a drain can wait for them. One gate per process: concurrent invocations
 * (up to 80 per instance) share it.
 */
export class ShutdownGate {
  #shutdownReason: string | null = null;
  #inflight = 0;
  #waiters: Array<() => void> = [];

  get shuttingDown(): boolean {
    return this.#shutdownReason !== null;
  }

  get shutdownReason(): string | null {
    return this.#shutdownReason;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Idempotent: the first reason is kept. */
  requestShutdown(reason: string): void {
    if (this.#shutdownReason === null) this.#shutdownReason = reason;
  }

  /** Throws `ShutdownInProgressError` when shutdown was requested; cheap check before any write. */
  assertOpen(): void {
    if (this.#shutdownReason !== null) throw new ShutdownInProgressError(this.#shutdownReason);
  }

  /**
   * Runs `call` as an in-flight broker call, unless shutdown was requested. The check and the
   * increment happen in the same synchronous step, so no call can slip in after a drain
   * started counting.
   */
  async run<T>(call: () => Promise<T>): Promise<T> {
    this.assertOpen();
    return this.track(call);
  }

  /**
   * Counts `work` as in flight without refusing it. For a whole invocation: one that was
   * already inside its claim transaction when SIGTERM came must still get to release that
   * claim (or record its outcome) before the process exits, or its record would stay
   * `submitting` although nothing was sent. Broker calls inside still go through `run`.
   */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.#inflight += 1;
    try {
      return await work();
    } finally {
      this.#inflight -= 1;
      if (this.#inflight === 0) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  /** Resolves `true` once no call is in flight, or `false` if `timeoutMs` passes first. */
  waitForInflightZero(timeoutMs: number): Promise<boolean> {
    if (this.#inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(wake);
    });
  }
}

/** The gate of this process; `index.ts` binds it and the SIGTERM drain uses it. */
export const processShutdownGate = new ShutdownGate();
