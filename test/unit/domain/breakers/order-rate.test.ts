import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import {
  CLAIM_BUCKET_MS,
  ORDER_RATE_WINDOW_MS,
  bucketStart,
  countInWindow,
  orderRateBreaker,
  recordClaim,
} from '../../../../functions/src/domain/breakers/order-rate.js';
import type { ClaimBucket } from '../../../../functions/src/domain/breakers/order-rate.js';
import { limitsWith, makeInput } from './fixtures.js';

describe('orderRateBreaker', () => {
  const limits = limitsWith({ maxOrdersPerMin: 10 });

  it('is off by default and with 0', () => {
    expect(orderRateBreaker(makeInput({ claimsInLastMinute: 1_000_000 }), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('lets the Nth claim of the minute through and trips on the N+1th', () => {
    expect(orderRateBreaker(makeInput({ claimsInLastMinute: 9 }), limits).tripped).toBe(false);
    expect(orderRateBreaker(makeInput({ claimsInLastMinute: 10 }), limits)).toEqual({
      tripped: true,
      breaker: 'orderRate',
      value: 11,
      threshold: 10,
      detail: expect.stringContaining('claim 11 in the last 60 s'),
    });
  });

  it('with a limit of 1 allows exactly one claim per minute', () => {
    const one = limitsWith({ maxOrdersPerMin: 1 });
    expect(orderRateBreaker(makeInput({ claimsInLastMinute: 0 }), one).tripped).toBe(false);
    expect(orderRateBreaker(makeInput({ claimsInLastMinute: 1 }), one).tripped).toBe(true);
  });

  it('fails closed on an unusable count', () => {
    expect(orderRateBreaker(makeInput({ claimsInLastMinute: Number.NaN }), limits)).toMatchObject({ tripped: true, value: null });
    expect(orderRateBreaker(makeInput({ claimsInLastMinute: -1 }), limits)).toMatchObject({ tripped: true, value: null });
  });
});

describe('claim buckets', () => {
  const T = 1_767_366_000_000; // a whole second

  it('buckets by the second', () => {
    expect(bucketStart(T + 999)).toBe(T);
    expect(bucketStart(T + 1_000)).toBe(T + 1_000);
    expect(CLAIM_BUCKET_MS).toBe(1_000);
    expect(ORDER_RATE_WINDOW_MS).toBe(60_000);
  });

  it('records claims into the current bucket', () => {
    let b: ClaimBucket[] = [];
    b = recordClaim(b, T + 10);
    b = recordClaim(b, T + 900);
    b = recordClaim(b, T + 1_500);
    expect(b).toEqual([
      { startMs: T, count: 2 },
      { startMs: T + 1_000, count: 1 },
    ]);
    expect(countInWindow(b, T + 1_500)).toBe(3);
  });

  it('does not mutate its input', () => {
    const b: ClaimBucket[] = [{ startMs: T, count: 1 }];
    recordClaim(b, T + 10);
    expect(b).toEqual([{ startMs: T, count: 1 }]);
  });

  it('stops counting a bucket once all of it is older than the window', () => {
    const b: ClaimBucket[] = [{ startMs: T, count: 4 }];
    // The bucket [T, T+1000) still overlaps (now − 60 s, now] while now − 60 s < T + 999.
    expect(countInWindow(b, T + 60_998)).toBe(4);
    expect(countInWindow(b, T + 60_999)).toBe(0);
    expect(countInWindow(b, T + 120_000)).toBe(0);
  });

  it('prunes buckets that can no longer count', () => {
    let b: ClaimBucket[] = [];
    for (let s = 0; s < 300; s++) b = recordClaim(b, T + s * 1_000);
    expect(b.length).toBeLessThanOrEqual(ORDER_RATE_WINDOW_MS / CLAIM_BUCKET_MS + 1);
    expect(b[0]?.startMs).toBeGreaterThan(T + 299_000 - 61_000);
    // 60 claims are inside the window; the bucket straddling its start counts whole (errs towards refusing).
    expect(countInWindow(b, T + 299_000)).toBe(61);
    expect(countInWindow(b, T + 299_999)).toBe(60);
  });

  it('sums shards', () => {
    const shardA = recordClaim(recordClaim([], T + 1), T + 2_001);
    const shardB = recordClaim([], T + 5);
    expect(countInWindow([...shardA, ...shardB], T + 3_000)).toBe(3);
  });

  it('never undercounts and overcounts by at most one bucket of claims', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 200 }), fc.integer({ min: 0, max: 5_000 }), (offsets, after) => {
        const times = offsets.map((o) => T + o).sort((a, b) => a - b);
        let buckets: ClaimBucket[] = [];
        for (const t of times) buckets = recordClaim(buckets, t);
        const now = (times[times.length - 1] ?? T) + after;
        const exact = times.filter((t) => now - t < ORDER_RATE_WINDOW_MS).length;
        const upper = times.filter((t) => now - t < ORDER_RATE_WINDOW_MS + CLAIM_BUCKET_MS).length;
        const counted = countInWindow(buckets, now);
        expect(counted).toBeGreaterThanOrEqual(exact);
        expect(counted).toBeLessThanOrEqual(upper);
        expect(buckets.length).toBeLessThanOrEqual(ORDER_RATE_WINDOW_MS / CLAIM_BUCKET_MS + 1);
      }),
    );
  });
});
