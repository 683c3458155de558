import type { Firestore, Timestamp } from 'firebase-admin/firestore';
import type { Broker } from '../broker/broker.js';
import type { Clock } from '../domain/clock.js';
import { runnerSilence, RUNNERS_COLLECTION } from '../domain/runner-heartbeat.js';
import { LogEvent, type EventLogger } from '../logs.js';
import { ts } from '../store/firestore-values.js';
import { STRATEGIES } from '../store/paths.js';
import { cancelOwnedOpenOrders } from './cancel-owned.js';

/**
 * The dead-man switch, cancel side. A strategy with `limits.maxRunnerSilenceMs` > 0 whose
 * runner heartbeat (`runners/{strategyId}`) is older than that has its intents refused
 * `runner_stale` by the claim; here, once per silent spell, its open orders at the broker —
 * only haltgate's orders of that strategy, found by client order id in `submissions` — are
 * cancelled one by one. Another strategy's orders and orders haltgate did not place stay.
 *
 * "Once" is recorded on `strategies/{id}.runnerWatch` (functions only):
 *   episode     the silent spell: the heartbeat's lastSeenAt (ms) it began at, or `never`
 *   state       running (lease taken) | done | failed (tried again on the next run)
 *   leaseAt, attempts, startedAt, finishedAt, cancelled, failed, detail, orders (first 50)
 * A spell already `done` is left alone; a runner that comes back gets a new lastSeenAt, so its
 * next silence is a new episode and is cancelled again. The lease keeps two overlapping runs
 * from both cancelling.
 */

export const RUNNER_WATCH_FIELD = 'runnerWatch';
export const RUNNER_WATCH_LEASE_MS = 120_000;
/** Strategies with the switch on, read per run. */
const MAX_WATCHED = 500;
const MAX_ORDERS_RECORDED = 50;

export interface RunnerWatchDeps {
  db: Firestore;
  /** The broker orders were sent to; null when no broker is in use (off, dry_run): nothing to cancel. */
  broker: Broker | null;
  brokerTimeoutMs: number;
  clock: Clock;
  log: EventLogger;
}

export interface RunnerWatchStrategyResult {
  strategyId: string;
  stale: boolean;
  episode: string;
  action: 'none' | 'already_done' | 'leased_elsewhere' | 'cancelled' | 'failed' | 'no_broker';
  cancelled: number;
  failed: number;
  detail?: string;
}

export interface RunnerWatchResult {
  watched: number;
  strategies: RunnerWatchStrategyResult[];
}

interface StoredWatch {
  episode?: unknown;
  state?: unknown;
  leaseAt?: Timestamp;
  attempts?: unknown;
}

export async function handleRunnerWatch(deps: RunnerWatchDeps): Promise<RunnerWatchResult> {
  const { db } = deps;
  const watchedSnap = await db.collection(STRATEGIES).where('limits.maxRunnerSilenceMs', '>', 0).limit(MAX_WATCHED).get();
  const results: RunnerWatchStrategyResult[] = [];
  for (const doc of watchedSnap.docs) {
    const strategyId = doc.id;
    const maxSilenceMs: unknown = doc.get('limits.maxRunnerSilenceMs');
    if (typeof maxSilenceMs !== 'number') continue;
    const heartbeat = await db.collection(RUNNERS_COLLECTION).doc(strategyId).get();
    const nowMs = deps.clock.now();
    const silence = runnerSilence(heartbeat.exists ? heartbeat.data() : undefined, nowMs, maxSilenceMs);
    const base = { strategyId, stale: silence.stale, episode: silence.episode, cancelled: 0, failed: 0 };
    if (!silence.stale) {
      results.push({ ...base, action: 'none' });
      continue;
    }
    if (deps.broker === null) {
      results.push({ ...base, action: 'no_broker' });
      continue;
    }
    const lease = await takeLease(db, strategyId, silence.episode, nowMs);
    if (lease !== 'taken') {
      results.push({ ...base, action: lease });
      continue;
    }
    deps.log.warn(LogEvent.runnerStaleCancel, { strategyId, episode: silence.episode, reason: silence.reason, phase: 'start' });
    const ref = db.collection(STRATEGIES).doc(strategyId);
    let out;
    try {
      out = await cancelOwnedOpenOrders({ db, broker: deps.broker, timeoutMs: deps.brokerTimeoutMs }, (owner) => owner.strategyId === strategyId);
    } catch (err) {
      out = { ok: false as const, message: err instanceof Error ? err.message : String(err) };
    }
    const finishedAt = ts(deps.clock.now());
    if (!out.ok || out.failed.length > 0) {
      const detail = out.ok ? `${out.failed.length} cancel(s) not confirmed: ${out.failed.slice(0, 5).map((f) => `${f.orderId}: ${f.detail ?? '?'}`).join('; ')}` : out.message;
      await ref.update({
        [`${RUNNER_WATCH_FIELD}.state`]: 'failed',
        [`${RUNNER_WATCH_FIELD}.detail`]: detail,
        [`${RUNNER_WATCH_FIELD}.finishedAt`]: finishedAt,
        ...(out.ok ? { [`${RUNNER_WATCH_FIELD}.cancelled`]: out.cancelled.length, [`${RUNNER_WATCH_FIELD}.failed`]: out.failed.length } : {}),
      });
      deps.log.error(LogEvent.runnerStaleCancel, { strategyId, episode: silence.episode, outcome: 'failed', detail });
      results.push({ ...base, action: 'failed', cancelled: out.ok ? out.cancelled.length : 0, failed: out.ok ? out.failed.length : 0, detail });
      continue;
    }
    await ref.update({
      [`${RUNNER_WATCH_FIELD}.state`]: 'done',
      [`${RUNNER_WATCH_FIELD}.detail`]: silence.reason,
      [`${RUNNER_WATCH_FIELD}.finishedAt`]: finishedAt,
      [`${RUNNER_WATCH_FIELD}.cancelled`]: out.cancelled.length,
      [`${RUNNER_WATCH_FIELD}.failed`]: 0,
      [`${RUNNER_WATCH_FIELD}.orders`]: out.cancelled.slice(0, MAX_ORDERS_RECORDED).map((c) => ({ orderId: c.orderId, intentId: c.intentId, outcome: c.outcome })),
    });
    deps.log.warn(LogEvent.runnerStaleCancel, { strategyId, episode: silence.episode, outcome: 'done', cancelled: out.cancelled.length });
    results.push({ ...base, action: 'cancelled', cancelled: out.cancelled.length });
  }
  return { watched: watchedSnap.size, strategies: results };
}

/** Takes the episode's lease unless it is done or another run holds a live lease. */
async function takeLease(db: Firestore, strategyId: string, episode: string, nowMs: number): Promise<'taken' | 'already_done' | 'leased_elsewhere'> {
  const ref = db.collection(STRATEGIES).doc(strategyId);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const current = (snap.get(RUNNER_WATCH_FIELD) ?? {}) as StoredWatch;
    const sameEpisode = current.episode === episode;
    if (sameEpisode && current.state === 'done') return 'already_done' as const;
    const leaseLive = sameEpisode && current.state === 'running' && (current.leaseAt?.toMillis?.() ?? 0) + RUNNER_WATCH_LEASE_MS >= nowMs;
    if (leaseLive) return 'leased_elsewhere' as const;
    const attempts = sameEpisode && typeof current.attempts === 'number' ? current.attempts + 1 : 1;
    // A whole new map for a new episode: nothing of the last spell's result survives into it.
    tx.update(ref, {
      [RUNNER_WATCH_FIELD]: {
        episode,
        state: 'running',
        leaseAt: ts(nowMs),
        attempts,
        startedAt: ts(nowMs),
        cancelled: null,
        failed: null,
        detail: null,
        finishedAt: null,
        orders: [],
      },
    });
    return 'taken' as const;
  });
}
