/**
 * Interruptible waits and the loop helper built on them. A strategy loop spends most of its
 * life waiting; these are the places where a stop must take effect at once rather than
 * after the wait runs out.
 */

/**
 * Waits `ms` milliseconds. Resolves `true` when the full time elapsed and `false` as soon as
 * `signal` aborts (at once if it already has). It never rejects: an abort is the normal way
 * for a runner to end, so loops read `if (!(await sleep(ms, signal))) break;` rather than
 * catching an exception.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One iteration of an `every` loop; `iteration` counts from 1. */
export type IterationFn = (signal: AbortSignal, iteration: number) => unknown;

/**
 * Runs `fn`, waits `ms` (interruptibly), and repeats until `signal` aborts. The wait is a
 * fixed delay after each iteration ends, so a slow iteration never overlaps the next one.
 *
 * - No iteration starts once `signal` has aborted: the check happens synchronously right
 *   before each call, after the wait.
 * - An iteration that is running when the signal aborts is awaited, not abandoned; `fn`
 *   receives the signal so it can cut its own work short (pass it to fetch, `sleep`, ...).
 * - If `fn` throws or rejects, no further iteration starts and `every` rejects with that
 *   error; the caller decides whether a failed iteration ends the runner.
 *
 * Resolves with the number of iterations that ran once the signal aborted.
 */
export async function every(ms: number, signal: AbortSignal, fn: IterationFn): Promise<number> {
  let iterations = 0;
  while (!signal.aborted) {
    iterations += 1;
    await fn(signal, iterations);
    if (!(await sleep(ms, signal))) break;
  }
  return iterations;
}
