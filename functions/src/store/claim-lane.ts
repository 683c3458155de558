/**
 * At most `limit` claim transactions of this instance open at once; the rest wait their turn
 * here, first come first served, before their transaction begins.
 *
 * Why: a claim transaction holds a read lock on `ops/killSwitch` from its read to its commit,
 * and a halt written outside a transaction (the console, the ops API, the CLI) commits only once
 * no claim holds that lock. When a loaded instance opens every delivery's claim at once, the
 * transactions queue inside Firestore *while holding the lock*, and on the emulator a halt then
 * waited seconds behind hundreds of claims that began after it (`npm run bench`, halt under
 * continuous load). Queued here they hold nothing: the halt waits only for the few claims that
 * are open, and the claims behind them read the halt and are refused.
 *
 * The store holds a turn while the claim's invocation still waits for it (submission-store.ts):
 * a transaction stuck in Firestore past its start-by time goes on without its turn, so a few
 * hung calls cannot stop an instance's claims until the client gives up on them.
 */
export interface ClaimLane {
  run<T>(claim: () => Promise<T>): Promise<T>;
  /** Claims open, and claims waiting for a turn (for tests and status). */
  stats(): { open: number; waiting: number };
}

export function createClaimLane(limit: number): ClaimLane {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`claim lane limit must be a whole number ≥ 1, got ${limit}`);
  let open = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    // The turn passes straight to the next waiter: `open` stays as it is.
    if (next) next();
    else open -= 1;
  };
  return {
    async run(claim) {
      if (open < limit) open += 1;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await claim();
      } finally {
        release();
      }
    },
    stats: () => ({ open, waiting: waiting.length }),
  };
}
