/**
 * Alpaca's request budget: a count per API key per minute, reported on every answer as
 * `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds when the
 * window starts afresh). The simulator uses fixed windows on minute boundaries of its clock, so
 * a pinned `now` keeps every request in one window and a test can count exactly.
 */

export interface RateLimitDecision {
  headers: Record<string, string>;
  /** The request went beyond the limit of its window. */
  exceeded: boolean;
}

export interface RateLimiter {
  /** Counts one request of `key` at `nowMs` against `limit`. */
  take(key: string, nowMs: number, limit: number): RateLimitDecision;
  clear(): void;
}

const WINDOW_MS = 60_000;

export function createRateLimiter(): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    take(key, nowMs, limit) {
      const start = Math.floor(nowMs / WINDOW_MS) * WINDOW_MS;
      let w = windows.get(key);
      if (w === undefined || w.start !== start) {
        w = { start, count: 0 };
        windows.set(key, w);
      }
      w.count += 1;
      return {
        exceeded: w.count > limit,
        headers: {
          'x-ratelimit-limit': String(limit),
          'x-ratelimit-remaining': String(Math.max(0, limit - w.count)),
          'x-ratelimit-reset': String((start + WINDOW_MS) / 1000),
        },
      };
    },
    clear: () => windows.clear(),
  };
}
