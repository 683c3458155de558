import { z } from 'zod';
import { parseKillSwitchDocument } from '../domain/kill-switch.js';
import { MONEY_DECIMALS, formatDecimal, isDecimalString, parseDecimal } from '../domain/pnl/decimal.js';
import { SubmissionState } from '../domain/submission.js';

/**
 * What the dashboard draws, as pure functions over plain data (times in epoch ms, documents
 * with Timestamps already turned into Dates), and the JSON it gets, described with zod like
 * `/status` (status.ts). The Firestore reads are in timeline-reader.ts.
 *
 *   GET /timeline?hours=6      intents per minute by outcome, halts/resumes, breaker trips/resets
 *   GET /pnl                   realized P&L per strategy today (trading day in CB_TRADING_TIME_ZONE)
 *   GET /kill-switch/audit     the kill switch's audit trail, newest first
 */

export const BUCKET_MS = 60_000;
export const DEFAULT_TIMELINE_HOURS = 6;
export const MAX_TIMELINE_HOURS = 24;
/** Refused reasons drawn as series of their own; the rarer rest is one `refused: other`. */
export const MAX_REFUSED_SERIES = 6;
export const DEFAULT_AUDIT_LIMIT = 20;
export const MAX_AUDIT_LIMIT = 100;

// Query strings arrive as text; unknown parameters (cache busters) are ignored, not refused.
export const timelineQuerySchema = z.object({
  hours: z.coerce.number().int('hours must be a whole number').min(1).max(MAX_TIMELINE_HOURS).default(DEFAULT_TIMELINE_HOURS),
});
export const auditQuerySchema = z.object({
  limit: z.coerce.number().int('limit must be a whole number').min(1).max(MAX_AUDIT_LIMIT).default(DEFAULT_AUDIT_LIMIT),
});

/** Outcome groups of the timeline: a submission's state, refusals split by reason. */
export const Outcome = {
  submitted: 'submitted',
  dry_run: 'dry_run',
  refused: 'refused',
  rejected: 'rejected',
  unknown: 'unknown',
  abandoned: 'abandoned',
  released: 'released',
  in_flight: 'in_flight',
  unreadable: 'unreadable',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Drawing order (and legend order); the three named by the issue are always there so the legend does not jump. */
const OUTCOME_ORDER: readonly Outcome[] = ['submitted', 'dry_run', 'refused', 'rejected', 'unknown', 'abandoned', 'released', 'in_flight', 'unreadable'];
const ALWAYS_SHOWN: readonly Outcome[] = ['submitted', 'rejected', 'unknown'];

const iso = z.string();

export const timelineSeriesSchema = z.object({
  /** Stable id: the outcome, or `refused:<reason>`. */
  key: z.string(),
  outcome: z.enum(Outcome),
  /** For refused: the reason code (`halted`, `breaker:dailyLoss`, …; `other` for the merged rest). */
  reason: z.string().nullable(),
  label: z.string(),
  total: z.number().int(),
  /** One count per bucket, aligned with `bucketStarts`. */
  counts: z.array(z.number().int()),
});

export const MarkerKind = { halt: 'halt', resume: 'resume', trip: 'trip', reset: 'reset' } as const;
export type MarkerKind = (typeof MarkerKind)[keyof typeof MarkerKind];

export const timelineMarkerSchema = z.object({
  kind: z.enum(MarkerKind),
  at: iso,
  atMs: z.number(),
  label: z.string(),
  who: z.string().nullable(),
  reason: z.string().nullable(),
  strategyId: z.string().nullable(),
  breaker: z.string().nullable(),
  /** Where it was read: the kill-switch audit, the kill-switch document itself (audit not written yet), a strategy's breakers or its audit. */
  source: z.enum(['killSwitchAudit', 'killSwitchDocument', 'breakerState', 'strategyAudit']),
});

export const opsTimelineSchema = z.object({
  generatedAt: iso,
  from: iso,
  to: iso,
  hours: z.number().int(),
  bucketMs: z.number().int(),
  /** Start of each one-minute bucket, epoch ms; a record counts in the minute of its `updatedAt` (when it reached its state). */
  bucketStarts: z.array(z.number()),
  series: z.array(timelineSeriesSchema),
  /** The read limit was hit: records older than `coveredFrom` are not counted. */
  truncated: z.boolean(),
  coveredFrom: iso.nullable(),
  markers: z.array(timelineMarkerSchema),
  /** Intervals in the window when the kill-switch document said halted (from the audit, then the document). */
  haltedSpans: z.array(z.object({ fromMs: z.number(), toMs: z.number() })),
});

export const opsPnlSchema = z.object({
  generatedAt: iso,
  timeZone: z.string(),
  /** Where the time zone came from: this function's CB_TRADING_TIME_ZONE, or the default when that is invalid. */
  timeZoneSource: z.string(),
  tradingDay: z.string(),
  dayStart: iso,
  bucketMs: z.number().int(),
  bucketStarts: z.array(z.number()),
  strategies: z.array(
    z.object({
      strategyId: z.string(),
      /** Exact sum of the day's realized P&L events, decimal string. */
      realized: z.string(),
      realizedMicros: z.number().int(),
      /** Closing fills today. */
      events: z.number().int(),
      /** Cumulative realized P&L (money units, rounded to 1e-6) at the end of each bucket. */
      cumulative: z.array(z.number()),
      /** More events than one read takes: the sum covers the earliest ones only. */
      truncated: z.boolean(),
      /** Events whose amount could not be read (neither `realized` nor `pnlMicros`). */
      unreadable: z.number().int(),
    }),
  ),
});

const auditSideSchema = z
  .object({
    /** As the functions read it: halted, active, reduce_only (not halted, only reducing orders), or malformed (which is halted). */
    state: z.enum(['halted', 'active', 'reduce_only', 'malformed']),
    reason: z.string().nullable(),
    updatedBy: z.string().nullable(),
  })
  .nullable();

export const killSwitchAuditEntrySchema = z.object({
  id: z.string(),
  when: iso.nullable(),
  who: z.string().nullable(),
  transition: z.string(),
  reason: z.string().nullable(),
  /** null: the document did not exist (halted). */
  before: auditSideSchema,
  after: auditSideSchema,
  forced: z.boolean(),
  via: z.string().nullable(),
  cancelAll: z.object({ state: z.string(), cancelled: z.number().nullable(), failed: z.number().nullable(), detail: z.string().nullable() }).nullable(),
  publish: z.object({ state: z.string(), detail: z.string().nullable() }).nullable(),
});

export const opsKillSwitchAuditSchema = z.object({
  generatedAt: iso,
  limit: z.number().int(),
  entries: z.array(killSwitchAuditEntrySchema),
});

export type OpsTimeline = z.infer<typeof opsTimelineSchema>;
export type TimelineSeries = z.infer<typeof timelineSeriesSchema>;
export type TimelineMarker = z.infer<typeof timelineMarkerSchema>;
export type OpsPnl = z.infer<typeof opsPnlSchema>;
export type KillSwitchAuditEntry = z.infer<typeof killSwitchAuditEntrySchema>;
export type OpsKillSwitchAudit = z.infer<typeof opsKillSwitchAuditSchema>;

// ---------------------------------------------------------------------------------------------
// Buckets

/** Bucket starts covering [fromMs, toMs]: whole minutes, the first one holding `fromMs`. */
export function bucketStartsOf(fromMs: number, toMs: number, bucketMs = BUCKET_MS): number[] {
  const first = Math.floor(fromMs / bucketMs) * bucketMs;
  const out: number[] = [];
  for (let t = first; t <= toMs; t += bucketMs) out.push(t);
  return out;
}

/** The outcome group of a record: a refusal keeps its reason, `submitting` is in flight. */
export function outcomeOf(state: string | null, reason: string | null): { outcome: Outcome; reason: string | null } {
  switch (state) {
    case SubmissionState.refused:
      return { outcome: Outcome.refused, reason: reason && reason.trim() !== '' ? reason : 'unspecified' };
    case SubmissionState.submitting:
      return { outcome: Outcome.in_flight, reason: null };
    case SubmissionState.submitted:
    case SubmissionState.dry_run:
    case SubmissionState.rejected:
    case SubmissionState.unknown:
    case SubmissionState.abandoned:
    case SubmissionState.released:
      return { outcome: state, reason: null };
    default:
      return { outcome: Outcome.unreadable, reason: null };
  }
}

const LABELS: Record<Outcome, string> = {
  submitted: 'submitted',
  dry_run: 'dry run',
  refused: 'refused',
  rejected: 'rejected',
  unknown: 'unknown',
  abandoned: 'abandoned',
  released: 'released',
  in_flight: 'in flight',
  unreadable: 'unreadable',
};

export interface TimelineRecord {
  state: string | null;
  reason: string | null;
  /** When the record reached its state (`updatedAt`); NaN when unreadable (not counted). */
  atMs: number;
}

/**
 * Counts per minute and outcome. Records outside the buckets are not counted. Refusal reasons
 * beyond the MAX_REFUSED_SERIES most frequent are merged into `refused: other`, so a flood of
 * odd reasons cannot grow the legend without bound.
 */
export function bucketSubmissions(records: readonly TimelineRecord[], bucketStarts: readonly number[], bucketMs = BUCKET_MS): TimelineSeries[] {
  const first = bucketStarts[0];
  const n = bucketStarts.length;
  const byKey = new Map<string, { outcome: Outcome; reason: string | null; counts: number[] }>();
  const ensure = (outcome: Outcome, reason: string | null) => {
    const key = outcome === Outcome.refused ? `refused:${reason}` : outcome;
    let s = byKey.get(key);
    if (s === undefined) {
      s = { outcome, reason, counts: new Array<number>(n).fill(0) };
      byKey.set(key, s);
    }
    return s;
  };
  for (const o of ALWAYS_SHOWN) ensure(o, null);
  if (first !== undefined) {
    for (const r of records) {
      if (!Number.isFinite(r.atMs)) continue;
      const i = Math.floor((r.atMs - first) / bucketMs);
      if (i < 0 || i >= n) continue;
      const { outcome, reason } = outcomeOf(r.state, r.reason);
      const s = ensure(outcome, reason);
      s.counts[i] = (s.counts[i] ?? 0) + 1;
    }
  }

  const total = (c: readonly number[]) => c.reduce((a, b) => a + b, 0);
  // Refusal reasons: the most frequent first (ties by name), the rest merged.
  const refused = [...byKey.entries()]
    .filter(([, s]) => s.outcome === Outcome.refused)
    .sort(([ka, a], [kb, b]) => total(b.counts) - total(a.counts) || ka.localeCompare(kb));
  if (refused.length > MAX_REFUSED_SERIES) {
    const other = { outcome: Outcome.refused, reason: 'other', counts: new Array<number>(n).fill(0) };
    for (const [key, s] of refused.slice(MAX_REFUSED_SERIES - 1)) {
      s.counts.forEach((c, i) => (other.counts[i] = (other.counts[i] ?? 0) + c));
      byKey.delete(key);
    }
    byKey.set('refused:other', other);
  }
  const refusedOrder = new Map(
    [...byKey.entries()]
      .filter(([, s]) => s.outcome === Outcome.refused)
      .sort(([ka, a], [kb, b]) => (ka === 'refused:other' ? 1 : kb === 'refused:other' ? -1 : total(b.counts) - total(a.counts) || ka.localeCompare(kb)))
      .map(([k], i) => [k, i]),
  );

  return [...byKey.entries()]
    .sort(([ka, a], [kb, b]) => OUTCOME_ORDER.indexOf(a.outcome) - OUTCOME_ORDER.indexOf(b.outcome) || (refusedOrder.get(ka) ?? 0) - (refusedOrder.get(kb) ?? 0))
    .map(([key, s]) => ({
      key,
      outcome: s.outcome,
      reason: s.reason,
      label: s.outcome === Outcome.refused ? `refused: ${s.reason}` : LABELS[s.outcome],
      total: total(s.counts),
      counts: s.counts,
    }));
}

// ---------------------------------------------------------------------------------------------
// The kill switch: audit entries, markers, halted spans

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) ? (v as Record<string, unknown>) : null);
const msOf = (v: unknown): number | null => (v instanceof Date ? v.getTime() : typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? Date.parse(v) : null);

function auditSide(doc: unknown): KillSwitchAuditEntry['before'] {
  const d = obj(doc);
  if (d === null) return null;
  const parsed = parseKillSwitchDocument(d);
  // As the functions decide it (fail closed): malformed counts as halted.
  if (!parsed.ok) return { state: 'malformed', reason: str(d.reason), updatedBy: str(d.updatedBy) };
  return { state: parsed.halted ? 'halted' : parsed.reduceOnly ? 'reduce_only' : 'active', reason: parsed.reason, updatedBy: parsed.updatedBy };
}

/** One `ops/killSwitch/audit/{id}` document as written by halt-trigger.ts (Timestamps as Dates). */
export function killSwitchAuditEntry(id: string, data: Record<string, unknown>): KillSwitchAuditEntry & { whenMs: number | null } {
  const whenMs = msOf(data.when);
  const after = obj(data.after);
  const cancel = obj(data.cancelAll);
  const publish = obj(data.publish);
  return {
    id,
    when: whenMs === null ? null : new Date(whenMs).toISOString(),
    whenMs,
    who: str(data.who),
    transition: str(data.transition) ?? 'unknown',
    reason: str(data.reason),
    before: auditSide(data.before),
    after: auditSide(data.after),
    forced: after?.forced === true,
    via: str(after?.via),
    cancelAll: cancel ? { state: str(cancel.state) ?? 'unknown', cancelled: num(cancel.cancelled), failed: num(cancel.failed), detail: str(cancel.detail) } : null,
    publish: publish ? { state: str(publish.state) ?? 'unknown', detail: str(publish.detail) } : null,
  };
}

const haltedSide = (s: KillSwitchAuditEntry['before']) => s === null || s.state === 'halted' || s.state === 'malformed';

export interface CurrentKillSwitch {
  /** The document alone (EXECUTION_HALTED is shown by the banner, not on the timeline). */
  halted: boolean;
  updatedAtMs: number | null;
  reason: string | null;
  updatedBy: string | null;
}

/**
 * Halt and resume markers and the halted spans of the window. The audit gives the changes;
 * the state before the first one is that change's `before`. The document itself comes last:
 * when it says otherwise than the newest audit entry (the trigger has not run yet, or is not
 * deployed), its `updatedAt` is a change of its own — a fresh halt shows at once.
 */
export function killSwitchTimeline(
  entries: ReadonlyArray<KillSwitchAuditEntry & { whenMs: number | null }>,
  current: CurrentKillSwitch | null,
  fromMs: number,
  toMs: number,
  /** `after` of the newest audit entry before the window, when there is one: the state at its start. */
  prior?: KillSwitchAuditEntry['after'],
): { markers: TimelineMarker[]; haltedSpans: Array<{ fromMs: number; toMs: number }> } {
  const changes = entries
    .filter((e): e is KillSwitchAuditEntry & { whenMs: number } => e.whenMs !== null && e.whenMs >= fromMs && e.whenMs <= toMs)
    .filter((e) => e.transition === 'halt' || e.transition === 'resume')
    .sort((a, b) => a.whenMs - b.whenMs || a.id.localeCompare(b.id));

  const markers: TimelineMarker[] = changes.map((e) => ({
    kind: e.transition === 'halt' ? MarkerKind.halt : MarkerKind.resume,
    at: new Date(e.whenMs).toISOString(),
    atMs: e.whenMs,
    label: e.transition === 'halt' ? 'HALT' : 'RESUME',
    who: e.who,
    reason: e.reason,
    strategyId: null,
    breaker: null,
    source: 'killSwitchAudit',
  }));
  const points: Array<{ atMs: number; halted: boolean }> = changes.map((e) => ({ atMs: e.whenMs, halted: e.transition === 'halt' }));

  // The state at the window's start, when the audit tells it (null: it does not).
  const known: boolean | null = changes.length ? haltedSide(changes[0]!.before) : prior !== undefined ? haltedSide(prior) : null;
  const currentHalted = current === null ? true : current.halted;
  const lastAudited = points.length ? points[points.length - 1]!.halted : known;
  const at = current?.updatedAtMs ?? null;
  const docInWindow = at !== null && at >= fromMs && at <= toMs && (points.length === 0 || at >= points[points.length - 1]!.atMs);
  let startHalted: boolean;
  if (lastAudited !== currentHalted && docInWindow && at !== null) {
    // The document changed after the last audited change (or with no audit at all): a change of its own.
    points.push({ atMs: at, halted: currentHalted });
    markers.push({
      kind: currentHalted ? MarkerKind.halt : MarkerKind.resume,
      at: new Date(at).toISOString(),
      atMs: at,
      label: currentHalted ? 'HALT' : 'RESUME',
      who: current?.updatedBy ?? null,
      reason: current?.reason ?? null,
      strategyId: null,
      breaker: null,
      source: 'killSwitchDocument',
    });
    startHalted = known ?? !currentHalted;
  } else {
    // Nothing tells otherwise: the document's state held since before the window.
    startHalted = known ?? currentHalted;
  }

  const spans: Array<{ fromMs: number; toMs: number }> = [];
  let openAt: number | null = startHalted ? fromMs : null;
  for (const p of points) {
    if (p.halted && openAt === null) openAt = p.atMs;
    else if (!p.halted && openAt !== null) {
      if (p.atMs > openAt) spans.push({ fromMs: openAt, toMs: p.atMs });
      openAt = null;
    }
  }
  if (openAt !== null && toMs > openAt) spans.push({ fromMs: openAt, toMs });
  return { markers, haltedSpans: spans };
}

// ---------------------------------------------------------------------------------------------
// Breakers: trips (latched now, or cleared by a reset in the window) and resets

export interface StrategyBreakerInput {
  strategyId: string;
  /** `strategies/{id}.breakers` as stored (Dates for Timestamps); malformed entries are skipped here (status reports them). */
  breakers: unknown;
  /** `strategies/{id}/audit` documents in the window (breaker-admin.ts `reset_breaker`). */
  audit: ReadonlyArray<Record<string, unknown>>;
}

export function breakerMarkers(inputs: readonly StrategyBreakerInput[], fromMs: number, toMs: number): TimelineMarker[] {
  const out: TimelineMarker[] = [];
  const seen = new Set<string>();
  const inWindow = (t: number | null): t is number => t !== null && t >= fromMs && t <= toMs;
  const trip = (strategyId: string, raw: unknown, name: string | null, source: TimelineMarker['source']) => {
    const t = obj(raw);
    if (t === null) return;
    const at = msOf(t.trippedAt);
    const breaker = str(t.breaker) ?? name;
    const key = `${strategyId}\u0000${breaker}\u0000${at}`;
    if (!inWindow(at) || breaker === null || seen.has(key)) return;
    seen.add(key);
    out.push({
      kind: MarkerKind.trip,
      at: new Date(at).toISOString(),
      atMs: at,
      label: breaker === 'manual' ? 'HALT strategy (manual)' : `TRIP ${breaker}`,
      // A manual halt names its operator; measured trips have none.
      who: str(t.by),
      reason: str(t.detail),
      strategyId,
      breaker,
      source,
    });
  };
  for (const s of inputs) {
    const latched = obj(s.breakers);
    if (latched !== null) for (const [name, t] of Object.entries(latched)) trip(s.strategyId, t, name, 'breakerState');
    for (const a of s.audit) {
      if (a.action !== 'reset_breaker') continue;
      trip(s.strategyId, a.before, str(a.breaker), 'strategyAudit');
      const at = msOf(a.at);
      const breaker = str(a.breaker);
      if (!inWindow(at) || breaker === null) continue;
      out.push({
        kind: MarkerKind.reset,
        at: new Date(at).toISOString(),
        atMs: at,
        label: `${breaker} reset`,
        who: str(a.who),
        reason: str(a.why),
        strategyId: s.strategyId,
        breaker,
        source: 'strategyAudit',
      });
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs || a.label.localeCompare(b.label));
}

// ---------------------------------------------------------------------------------------------
// Realized P&L today

export interface PnlEventInput {
  atMs: number | null;
  /** Exact decimal string as fills-store.ts writes it. */
  realized: unknown;
  pnlMicros: unknown;
}

const MICRO_UNITS = 10n ** BigInt(MONEY_DECIMALS - 6);

/** Exact amount of one event in 10⁻¹⁸ units: the decimal string first, the micro-units when it is missing. */
function eventUnits(e: PnlEventInput): bigint | null {
  if (typeof e.realized === 'string' && isDecimalString(e.realized, MONEY_DECIMALS)) return parseDecimal(e.realized, MONEY_DECIMALS);
  if (typeof e.pnlMicros === 'number' && Number.isSafeInteger(e.pnlMicros)) return BigInt(e.pnlMicros) * MICRO_UNITS;
  return null;
}

/** Rounded to micro-units for drawing (exactness lives in `realized`). */
const toMoney = (units: bigint): number => Number((units < 0n ? -1n : 1n) * (((units < 0n ? -units : units) + MICRO_UNITS / 2n) / MICRO_UNITS)) / 1e6;

export function realizedToday(
  strategies: ReadonlyArray<{ strategyId: string; events: readonly PnlEventInput[]; truncated: boolean }>,
  bucketStarts: readonly number[],
  dayStartMs: number,
  nowMs: number,
  bucketMs = BUCKET_MS,
): OpsPnl['strategies'] {
  return strategies.map((s) => {
    const events = s.events
      .filter((e): e is PnlEventInput & { atMs: number } => e.atMs !== null && e.atMs >= dayStartMs && e.atMs <= nowMs)
      .sort((a, b) => a.atMs - b.atMs);
    let sum = 0n;
    let unreadable = 0;
    let counted = 0;
    const perBucket = new Array<bigint>(bucketStarts.length).fill(0n);
    const first = bucketStarts[0] ?? dayStartMs;
    for (const e of events) {
      const units = eventUnits(e);
      if (units === null) {
        unreadable += 1;
        continue;
      }
      counted += 1;
      sum += units;
      const i = Math.min(bucketStarts.length - 1, Math.max(0, Math.floor((e.atMs - first) / bucketMs)));
      if (bucketStarts.length) perBucket[i] = (perBucket[i] ?? 0n) + units;
    }
    let running = 0n;
    const cumulative = perBucket.map((u) => toMoney((running += u)));
    const micros = (sum < 0n ? -1n : 1n) * (((sum < 0n ? -sum : sum) + MICRO_UNITS / 2n) / MICRO_UNITS);
    return {
      strategyId: s.strategyId,
      realized: formatDecimal(sum, MONEY_DECIMALS),
      realizedMicros: Number(micros),
      events: counted,
      cumulative,
      truncated: s.truncated,
      unreadable,
    };
  });
}
