import type { Firestore } from 'firebase-admin/firestore';
import { DEFAULT_TRADING_TIME_ZONE, isValidTimeZone, tradingDayKey } from '../domain/breakers/trading-day.js';
import { parseKillSwitchDocument } from '../domain/kill-switch.js';
import { tradingDayStartMs } from '../domain/trading-day-bounds.js';
import { STRATEGY_AUDIT } from '../store/breaker-admin.js';
import { STRATEGY_PNL } from '../store/fills-store.js';
import { timestampsToDates, ts } from '../store/firestore-values.js';
import { KILL_SWITCH_PATH, STRATEGIES, SUBMISSIONS } from '../store/paths.js';
import { AUDIT_COLLECTION } from './halt-trigger.js';
import {
  BUCKET_MS,
  breakerMarkers,
  bucketStartsOf,
  bucketSubmissions,
  killSwitchAuditEntry,
  killSwitchTimeline,
  realizedToday,
  type OpsKillSwitchAudit,
  type OpsPnl,
  type OpsTimeline,
} from './timeline.js';

/**
 * The Firestore reads behind `/timeline`, `/pnl` and `/kill-switch/audit`. The dashboard polls
 * them, so every read is bounded (limits below) and a limit that was hit is said in the answer
 * (`truncated`). Every query is a range or order on ONE field of one collection, which
 * Firestore's automatic single-field indexes serve: no composite index is needed.
 */

/** Submissions read per timeline: a window busier than this is shown from its newest part. */
export const MAX_TIMELINE_SUBMISSIONS = 10_000;
/** Kill-switch audit entries read for the window's markers. */
export const MAX_WINDOW_AUDIT = 500;
/** Strategies whose breakers, audit and P&L are read (ordered by id). */
export const MAX_STRATEGIES = 100;
export const MAX_STRATEGY_AUDIT = 100;
/** P&L events read per strategy and day. */
export const MAX_PNL_EVENTS = 2_000;

const msOf = (v: unknown): number => (v instanceof Date ? v.getTime() : Number.NaN);

export async function readTimeline(input: { db: Firestore; nowMs: number; hours: number }): Promise<OpsTimeline> {
  const { db, nowMs, hours } = input;
  const fromMs = nowMs - hours * 3_600_000;
  const bucketStarts = bucketStartsOf(fromMs, nowMs);
  // The chart starts at the first whole minute: so does everything read for it.
  const windowStart = bucketStarts[0] ?? fromMs;
  const since = ts(windowStart);

  const [subsSnap, auditSnap, priorSnap, killSnap, strategiesSnap] = await Promise.all([
    // Newest first, so a cut keeps the recent part; only the three fields the chart needs travel.
    db.collection(SUBMISSIONS).where('updatedAt', '>=', since).orderBy('updatedAt', 'desc').select('state', 'reason', 'updatedAt').limit(MAX_TIMELINE_SUBMISSIONS).get(),
    db.collection(AUDIT_COLLECTION).where('when', '>=', since).orderBy('when', 'desc').limit(MAX_WINDOW_AUDIT).get(),
    // The newest change before the window: the state the window starts in.
    db.collection(AUDIT_COLLECTION).where('when', '<', since).orderBy('when', 'desc').limit(1).get(),
    db.doc(KILL_SWITCH_PATH).get(),
    db.collection(STRATEGIES).orderBy('__name__').limit(MAX_STRATEGIES).get(),
  ]);
  const strategyAudits = await Promise.all(
    strategiesSnap.docs.map((doc) => doc.ref.collection(STRATEGY_AUDIT).where('at', '>=', since).orderBy('at', 'desc').limit(MAX_STRATEGY_AUDIT).get()),
  );

  const records = subsSnap.docs.map((d) => {
    const data = timestampsToDates(d.data()) as Record<string, unknown>;
    return { state: typeof data.state === 'string' ? data.state : null, reason: typeof data.reason === 'string' ? data.reason : null, atMs: msOf(data.updatedAt) };
  });
  const truncated = subsSnap.size >= MAX_TIMELINE_SUBMISSIONS;
  const oldest = records.length ? records[records.length - 1]!.atMs : Number.NaN;

  const entries = auditSnap.docs.map((d) => killSwitchAuditEntry(d.id, timestampsToDates(d.data()) as Record<string, unknown>));
  const kill = killSnap.exists ? parseKillSwitchDocument(timestampsToDates(killSnap.data())) : null;
  const current = kill === null ? null : kill.ok ? { halted: kill.halted, updatedAtMs: kill.updatedAtMs, reason: kill.reason, updatedBy: kill.updatedBy } : { halted: true, updatedAtMs: null, reason: kill.problem, updatedBy: null };
  const priorDoc = priorSnap.docs[0];
  const prior = priorDoc === undefined ? undefined : killSwitchAuditEntry(priorDoc.id, timestampsToDates(priorDoc.data()) as Record<string, unknown>).after;
  const ks = killSwitchTimeline(entries, current, windowStart, nowMs, prior);

  const trips = breakerMarkers(
    strategiesSnap.docs.map((doc, i) => ({
      strategyId: doc.id,
      breakers: (timestampsToDates(doc.data()) as Record<string, unknown>).breakers,
      audit: (strategyAudits[i]?.docs ?? []).map((a) => timestampsToDates(a.data()) as Record<string, unknown>),
    })),
    windowStart,
    nowMs,
  );

  return {
    generatedAt: new Date(nowMs).toISOString(),
    from: new Date(windowStart).toISOString(),
    to: new Date(nowMs).toISOString(),
    hours,
    bucketMs: BUCKET_MS,
    bucketStarts,
    series: bucketSubmissions(records, bucketStarts),
    truncated,
    coveredFrom: truncated && Number.isFinite(oldest) ? new Date(oldest).toISOString() : null,
    markers: [...ks.markers, ...trips].sort((a, b) => a.atMs - b.atMs),
    haltedSpans: ks.haltedSpans,
  };
}

/** The trading time zone as this function is configured, or the default with the reason why. */
export function tradingTimeZoneOf(configured: string | undefined): { timeZone: string; source: string } {
  const tz = configured?.trim() ?? '';
  if (tz === '') return { timeZone: DEFAULT_TRADING_TIME_ZONE, source: 'default (CB_TRADING_TIME_ZONE not set)' };
  if (!isValidTimeZone(tz)) return { timeZone: DEFAULT_TRADING_TIME_ZONE, source: `default (CB_TRADING_TIME_ZONE "${tz}" is not a time zone)` };
  return { timeZone: tz, source: 'CB_TRADING_TIME_ZONE' };
}

export async function readPnlToday(input: { db: Firestore; nowMs: number; timeZone: string; timeZoneSource: string }): Promise<OpsPnl> {
  const { db, nowMs, timeZone } = input;
  const dayStartMs = tradingDayStartMs(nowMs, timeZone);
  const bucketStarts = bucketStartsOf(dayStartMs, nowMs);
  const strategiesSnap = await db.collection(STRATEGIES).orderBy('__name__').limit(MAX_STRATEGIES).get();
  const perStrategy = await Promise.all(
    strategiesSnap.docs.map(async (doc) => {
      const snap = await doc.ref.collection(STRATEGY_PNL).where('at', '>=', ts(dayStartMs)).orderBy('at', 'asc').limit(MAX_PNL_EVENTS).get();
      return {
        strategyId: doc.id,
        truncated: snap.size >= MAX_PNL_EVENTS,
        events: snap.docs.map((e) => {
          const d = timestampsToDates(e.data()) as Record<string, unknown>;
          const at = msOf(d.at);
          return { atMs: Number.isFinite(at) ? at : null, realized: d.realized, pnlMicros: d.pnlMicros };
        }),
      };
    }),
  );
  return {
    generatedAt: new Date(nowMs).toISOString(),
    timeZone,
    timeZoneSource: input.timeZoneSource,
    tradingDay: tradingDayKey(nowMs, timeZone),
    dayStart: new Date(dayStartMs).toISOString(),
    bucketMs: BUCKET_MS,
    bucketStarts,
    strategies: realizedToday(perStrategy, bucketStarts, dayStartMs, nowMs),
  };
}

export async function readKillSwitchAudit(input: { db: Firestore; nowMs: number; limit: number }): Promise<OpsKillSwitchAudit> {
  const snap = await input.db.collection(AUDIT_COLLECTION).orderBy('when', 'desc').limit(input.limit).get();
  return {
    generatedAt: new Date(input.nowMs).toISOString(),
    limit: input.limit,
    entries: snap.docs.map((d) => {
      const { whenMs: _whenMs, ...entry } = killSwitchAuditEntry(d.id, timestampsToDates(d.data()) as Record<string, unknown>);
      return entry;
    }),
  };
}
