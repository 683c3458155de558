import { NOT_TRIPPED, trip } from './breaker.js';
import type { BreakerInput, BreakerVerdict } from './breaker.js';
import { BreakerName } from './limits.js';
import type { BreakerLimits } from './limits.js';

/**
 * Order rate: more than `maxOrdersPerMin` claims for the strategy in the last 60 s
 * (> 0 enables). The intent being decided counts: with `claimsInLastMinute` already
 * committed, this claim would be number `claimsInLastMinute + 1`, so it trips when that
 * exceeds the limit — no 60 s window ever holds more than `maxOrdersPerMin` claims.
 *
 * Where the count comes from — and why not from a counter on `strategies/{strategyId}`:
 *
 * Firestore sustains about one write per second per document. The strategy document is read
 * in every claim transaction (latched breakers, limits, stats). If each claim also wrote a
 * counter there, (1) a strategy sending more than ~1 order/s would hit the per-document write
 * limit, and (2) every claim transaction of the strategy would conflict with every other one
 * on that document, so under load they would abort and retry until Pub/Sub redelivery — the
 * rate breaker itself would throttle the strategy, badly. So the strategy document is written
 * only when something rare changes (a trip, a reset, a broker-error streak, realized P&L).
 *
 * Chosen design (preferred): no counter at all. The claim already writes
 * `submissions/{intentId}` with `strategyId` and `claimedAt`; the store counts
 * `submissions where strategyId == X and claimedAt > now − 60 s` with a `count()`
 * aggregation (composite index on strategyId + claimedAt; costs one read per 1000 entries)
 * and passes the number in as `claimsInLastMinute`. Read-only: no hotspot, no extra write.
 * Only records that were actually claimed carry `claimedAt`, so refusals do not count.
 * Inside the transaction the count is exact but serialises the strategy's concurrent
 * claims (the range read conflicts with a concurrent insert); outside it, concurrent claims
 * can overshoot the limit by at most the number in flight. That trade-off is the store's.
 *
 * Alternative, also supported by the helpers below: claims counted in per-second buckets on
 * S shard documents `strategies/{id}/claimRate/{shard}` (shard = hash(intentId) mod S). Each
 * claim writes one shard (≤ 1 write/s per shard ⇒ S writes/s per strategy); the count is the
 * sum of `countInWindow` over all shards (S reads). Buckets older than the window are pruned
 * on every write, so a shard holds at most ~61 buckets.
 */

export const ORDER_RATE_WINDOW_MS = 60_000;
export const CLAIM_BUCKET_MS = 1_000;

export interface ClaimBucket {
  /** Start of the bucket, a multiple of the bucket length, ms since the epoch. */
  startMs: number;
  count: number;
}

export function bucketStart(nowMs: number, bucketMs: number = CLAIM_BUCKET_MS): number {
  return Math.floor(nowMs / bucketMs) * bucketMs;
}

/**
 * Whether a bucket may hold a claim inside the window (nowMs − windowMs, nowMs]. A bucket
 * straddling the window's start counts whole — the count errs towards refusing (the window
 * is effectively up to one bucket longer). Buckets after nowMs (another instance's clock
 * running ahead) count too, for the same reason.
 */
function overlapsWindow(bucket: ClaimBucket, nowMs: number, windowMs: number, bucketMs: number): boolean {
  return bucket.startMs + bucketMs > nowMs - windowMs + 1;
}

/** Claims in the last `windowMs` as counted by buckets (from one shard or several concatenated). */
export function countInWindow(
  buckets: readonly ClaimBucket[],
  nowMs: number,
  windowMs: number = ORDER_RATE_WINDOW_MS,
  bucketMs: number = CLAIM_BUCKET_MS,
): number {
  let total = 0;
  for (const b of buckets) if (overlapsWindow(b, nowMs, windowMs, bucketMs)) total += b.count;
  return total;
}

/** Adds one claim at nowMs and drops buckets that can no longer be counted. Returns new buckets, sorted. */
export function recordClaim(
  buckets: readonly ClaimBucket[],
  nowMs: number,
  windowMs: number = ORDER_RATE_WINDOW_MS,
  bucketMs: number = CLAIM_BUCKET_MS,
): ClaimBucket[] {
  const start = bucketStart(nowMs, bucketMs);
  const kept = buckets.filter((b) => overlapsWindow(b, nowMs, windowMs, bucketMs)).map((b) => ({ ...b }));
  const current = kept.find((b) => b.startMs === start);
  if (current !== undefined) current.count += 1;
  else kept.push({ startMs: start, count: 1 });
  return kept.sort((a, b) => a.startMs - b.startMs);
}

export function orderRateBreaker(input: BreakerInput, limits: BreakerLimits): BreakerVerdict {
  const max = limits.maxOrdersPerMin;
  if (!(max > 0)) return NOT_TRIPPED;
  const prior = input.claimsInLastMinute;
  if (!Number.isFinite(prior) || prior < 0) {
    return trip(BreakerName.orderRate, null, max, `the claim count for the last minute is unusable (${prior})`);
  }
  const withThis = prior + 1;
  if (withThis > max) {
    return trip(
      BreakerName.orderRate,
      withThis,
      max,
      `this would be claim ${withThis} in the last ${ORDER_RATE_WINDOW_MS / 1000} s; at most ${max} per minute are allowed`,
    );
  }
  return NOT_TRIPPED;
}
