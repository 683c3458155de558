import type { DocumentData, Firestore } from 'firebase-admin/firestore';
import type { RuntimeConfigResult } from '../config.js';
import { BREAKER_NAMES } from '../domain/breakers/limits.js';
import { parseBreakerState } from '../domain/breakers/state.js';
import { decideKillSwitch } from '../domain/kill-switch.js';
import { isRunnerStale, RUNNERS_COLLECTION } from '../domain/runner-heartbeat.js';
import { SubmissionState } from '../domain/submission.js';
import { isPlainMap, timestampsToDates, ts } from '../store/firestore-values.js';
import { readInstanceReports, type InstanceReportView } from '../store/instance-report.js';
import { FILLS_CURSOR_PATH, FILLS_QUARANTINE, KILL_SWITCH_PATH, RECONCILER_STATUS_PATH, STRATEGIES, SUBMISSIONS } from '../store/paths.js';
import { LEDGER_CLOCK_SKEW_MS, parseLedgerSyncState } from '../domain/ledger-freshness.js';
import { PARAM_SPECS } from '../config.js';
import type { OpsStatus, StrategyStatus, SubmissionSummary } from './status.js';
import { readOrdersStatus } from './orders-status.js';
import { readSymbolHalts } from './symbol-halts-status.js';


export interface StatusReaderOptions {
  /** Counts by state cover this window (the issue: the last hour). */
  windowMs?: number;
  /** A non-terminal record untouched this long is stuck. */
  stuckAfterMs?: number;
  recentLimit?: number;
  /** Runners heartbeat every `intervalMs` (their doc says); stale after this when they don't. */
  defaultRunnerStaleMs?: number;
  /** Bad finals are looked for among orders that changed within this (default 24 h). */
  badFinalsWindowMs?: number;
}

export interface StatusInputs {
  db: Firestore;
  nowMs: number;
  /** The reader's own configuration (the ops function's); null where it has none (the CLI). */
  config: RuntimeConfigResult | null;
  /** The reader's EXECUTION_HALTED; undefined: taken from the newest executeIntent report. */
  haltedParam: string | undefined;
  instance: OpsStatus['instance'];
}

/** The function whose configuration decides what happens to orders. */
const EXECUTE_FUNCTION = 'executeIntent';

function executionFrom(reports: InstanceReportView[], own: RuntimeConfigResult | null): OpsStatus['execution'] {
  const report = reports.find((r) => r.function === EXECUTE_FUNCTION);
  if (report) {
    return {
      mode: report.mode,
      configValid: report.configValid,
      problems: report.problems,
      source: `executeIntent instance ${report.instanceId} (version ${report.version ?? '?'}${report.revision ? `, revision ${report.revision}` : ''}), reported ${report.reportedAt ?? '?'}`,
    };
  }
  if (own) {
    return own.ok
      ? { mode: own.config.executionMode, configValid: true, problems: [], source: 'this ops instance (no executeIntent instance has reported yet)' }
      : { mode: own.partial.executionMode ?? null, configValid: false, problems: own.problems, source: 'this ops instance (no executeIntent instance has reported yet)' };
  }
  return { mode: null, configValid: null, problems: [], source: 'unknown: no executeIntent instance has reported its configuration yet (it does on its first intent)' };
}

const NON_TERMINAL = [SubmissionState.submitting, SubmissionState.unknown, SubmissionState.released];
/** Bounds the reads of one status call: the dashboard polls it. */
const MAX_WINDOW_DOCS = 5000;

const toIso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function summarize(id: string, raw: DocumentData): SubmissionSummary {
  const d = timestampsToDates(raw) as Record<string, unknown>;
  const intent = (d.intent ?? {}) as Record<string, unknown>;
  return {
    intentId: str(d.intentId) ?? id,
    strategyId: str(d.strategyId) ?? str(intent.strategyId),
    symbol: str(intent.symbol),
    side: str(intent.side),
    qty: num(intent.qty),
    state: str(d.state) ?? 'unreadable',
    reason: str(d.reason),
    updatedAt: toIso(d.updatedAt),
  };
}

function strategyStatus(id: string, raw: DocumentData): StrategyStatus {
  const d = timestampsToDates(raw) as Record<string, unknown>;
  // Not a map (a timestamp typed over it in the console): the gate refuses the strategy.
  const parsed = d.breakers === undefined || isPlainMap(d.breakers) ? parseBreakerState(d.breakers ?? {}) : { ok: false as const, issues: [{ path: 'breakers', message: 'is not a map' }] };
  if (!parsed.ok) {
    return {
      strategyId: id,
      breakers: [],
      problem: `breaker state is malformed (${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}); the strategy is refused until fixed`,
    };
  }
  return {
    strategyId: id,
    problem: null,
    breakers: BREAKER_NAMES.map((name) => {
      const trip = parsed.state[name];
      if (trip?.breaker === 'manual') {
        // An operator's halt: who and why, no measurement and no intent.
        return { name, tripped: true, reason: trip.reason, value: null, threshold: null, since: new Date(trip.trippedAt).toISOString(), intentId: null, by: trip.by };
      }
      return trip
        ? { name, tripped: true, reason: trip.detail, value: trip.value, threshold: trip.threshold, since: new Date(trip.trippedAt).toISOString(), intentId: trip.intentId, by: null }
        : { name, tripped: false, reason: null, value: null, threshold: null, since: null, intentId: null, by: null };
    }),
  };
}

/** Reads everything `GET /status` reports. Reads only; a failed read throws (the caller answers 503). */
export async function readOpsStatus(input: StatusInputs, opts: StatusReaderOptions = {}): Promise<OpsStatus> {
  const { db, nowMs } = input;
  const windowMs = opts.windowMs ?? 3_600_000;
  const stuckAfterMs = opts.stuckAfterMs ?? 300_000;
  const recentLimit = opts.recentLimit ?? 25;
  const submissions = db.collection(SUBMISSIONS);
  // Beside the reads below; marked handled here, its failure still fails the status when awaited.
  const ordersRead = readOrdersStatus(submissions, nowMs, opts.badFinalsWindowMs);
  ordersRead.catch(() => undefined);
  const symbolHaltsRead = readSymbolHalts(db);
  symbolHaltsRead.catch(() => undefined);

  const [killSnap, reconcilerSnap, strategiesSnap, windowSnap, nonTerminalSnap, recentSnap, runnersSnap, reports, ledgerSnap, quarantineSnap] = await Promise.all([
    db.doc(KILL_SWITCH_PATH).get(),
    db.doc(RECONCILER_STATUS_PATH).get(),
    db.collection(STRATEGIES).get(),
    submissions.where('updatedAt', '>=', ts(nowMs - windowMs)).limit(MAX_WINDOW_DOCS).get(),
    // Filtered on state only (no composite index needed); age is checked here.
    submissions.where('state', 'in', NON_TERMINAL).limit(MAX_WINDOW_DOCS).get(),
    submissions.orderBy('updatedAt', 'desc').limit(recentLimit).get(),
    db.collection(RUNNERS_COLLECTION).get(),
    readInstanceReports(db),
    db.doc(FILLS_CURSOR_PATH).get(),
    // Open entries, bounded (the counts per strategy come from the sync state, as the claims see them).
    db.collection(FILLS_QUARANTINE).where('open', '!=', false).limit(MAX_QUARANTINE_SHOWN).get(),
  ]);

  const execution = executionFrom(reports, input.config);
  const reportedHalted = reports.find((r) => r.function === EXECUTE_FUNCTION)?.config.executionHalted;
  const haltedParam = input.haltedParam ?? (typeof reportedHalted === 'string' ? reportedHalted : undefined);
  const kill = decideKillSwitch(killSnap.exists ? timestampsToDates(killSnap.data()) : undefined, haltedParam);

  const countsByState: Record<string, number> = {};
  for (const doc of windowSnap.docs) {
    const state = str(doc.get('state')) ?? 'unreadable';
    countsByState[state] = (countsByState[state] ?? 0) + 1;
  }

  const stuck = nonTerminalSnap.docs
    .map((doc) => summarize(doc.id, doc.data()))
    .filter((s) => s.updatedAt === null || nowMs - Date.parse(s.updatedAt) > stuckAfterMs);

  let reconciler: OpsStatus['reconciler'] = null;
  if (reconcilerSnap.exists) {
    // Written by the reconciler (store/reconcile-store.ts `writeReport`): a run with errors is not ok.
    const r = timestampsToDates(reconcilerSnap.data()) as Record<string, unknown>;
    const counts = ['scanned', 'submitted', 'abandoned', 'stillUnknown', 'markedUnknown', 'errors']
      .filter((k) => typeof r[k] === 'number')
      .map((k) => `${k} ${r[k] as number}`);
    const problems = Array.isArray(r.problems) ? r.problems.filter((p): p is string => typeof p === 'string') : [];
    reconciler = {
      lastRunAt: toIso(r.lastRunAt),
      ok: typeof r.ok === 'boolean' ? r.ok : typeof r.errors === 'number' ? r.errors === 0 : null,
      result: counts.length || problems.length ? [counts.join(', '), ...problems.slice(0, 3)].filter(Boolean).join('; ') : null,
    };
  }

  const ledger = ledgerStatus(
    ledgerSnap.exists ? timestampsToDates(ledgerSnap.data()) : undefined,
    quarantineSnap.docs.map((doc) => ({ id: doc.id, data: timestampsToDates(doc.data()) as Record<string, unknown> })),
    nowMs,
    ledgerMaxAgeFrom(reports, input.config),
  );

  const runners = runnersSnap.docs.map((doc) => {
    const d = timestampsToDates(doc.data()) as Record<string, unknown>;
    const lastSeen = d.lastSeenAt instanceof Date ? d.lastSeenAt.getTime() : Number.NaN;
    const interval = num(d.intervalMs);
    const staleAfter = interval !== null ? interval * 3 : (opts.defaultRunnerStaleMs ?? 45_000);
    const state = str(d.state);
    return {
      runnerId: doc.id,
      state,
      lastSeenAt: toIso(d.lastSeenAt),
      // A runner that says it stopped is not stale: it is gone on purpose.
      stale: state === 'stopped' ? false : isRunnerStale(lastSeen, nowMs, staleAfter),
    };
  });

  return {
    generatedAt: new Date(nowMs).toISOString(),
    killSwitch: {
      halted: kill.halted,
      reason: kill.reason,
      sources: kill.sources,
      documentReason: kill.document?.reason ?? null,
      who: kill.document?.updatedBy ?? null,
      since: kill.document?.updatedAtMs == null ? null : new Date(kill.document.updatedAtMs).toISOString(),
      reduceOnly: kill.reduceOnly,
      posture: kill.halted ? 'halted' : kill.reduceOnly ? 'reduce_only' : 'trading',
    },
    symbolHalts: await symbolHaltsRead,
    execution,
    strategies: strategiesSnap.docs.map((doc) => strategyStatus(doc.id, doc.data())),
    submissions: {
      windowMs,
      countsByState,
      stuckAfterMs,
      stuck,
      recent: recentSnap.docs.map((doc) => summarize(doc.id, doc.data())),
    },
    orders: await ordersRead,
    reconciler,
    ledger,
    functions: reports,
    runners,
    instance: input.instance,
  };
}

/** Open quarantine entries listed in the status (the dashboard polls it). */
const MAX_QUARANTINE_SHOWN = 20;

/** CB_LEDGER_MAX_AGE_MS as executeIntent reported it, else the reader's own, else the declared default. */
function ledgerMaxAgeFrom(reports: InstanceReportView[], own: RuntimeConfigResult | null): number {
  const reported = reports.find((r) => r.function === EXECUTE_FUNCTION)?.config.ledgerMaxAgeMs;
  if (typeof reported === 'number' && Number.isFinite(reported)) return reported;
  if (own?.ok) return own.config.ledgerMaxAgeMs;
  return PARAM_SPECS.CB_LEDGER_MAX_AGE_MS.default;
}

function ledgerStatus(data: unknown, open: Array<{ id: string; data: Record<string, unknown> }>, nowMs: number, maxAgeMs: number): OpsStatus['ledger'] {
  const parsed = parseLedgerSyncState(data);
  const d = (data ?? {}) as Record<string, unknown>;
  const state = parsed.ok ? parsed.state : null;
  const ageMs = state === null ? null : nowMs - state.lastSuccessAtMs;
  const lastRun = isPlainMap(d.lastRun)
    ? Object.fromEntries(Object.entries(d.lastRun).filter((e): e is [string, number] => typeof e[1] === 'number'))
    : null;
  const byStrategy = state?.quarantinedByStrategy ?? {};
  const unattributed = state?.quarantinedUnattributed ?? 0;
  return {
    lastSuccessAt: state === null ? null : new Date(state.lastSuccessAtMs).toISOString(),
    ageMs,
    maxAgeMs,
    // As decideLedger judges it (domain/ledger-freshness.ts).
    stale: ageMs === null || ageMs > maxAgeMs || ageMs < -LEDGER_CLOCK_SKEW_MS,
    problem: parsed.ok ? (state === null ? 'never synced successfully' : null) : parsed.problem,
    lastFailureAt: toIso(d.lastFailureAt),
    lastError: str(d.lastError),
    cursorAt: typeof d.sinceMs === 'number' && Number.isFinite(d.sinceMs) ? new Date(d.sinceMs).toISOString() : null,
    lastRun,
    quarantine: {
      open: Object.values(byStrategy).reduce((a, b) => a + b, 0) + unattributed,
      byStrategy: { ...byStrategy },
      unattributed,
      recent: open.map(({ id, data: q }) => ({
        id,
        fillId: str(q.fillId),
        orderId: str(q.orderId),
        strategyId: str(q.strategyId),
        reason: str(q.reason) ?? '(no reason)',
        quarantinedAt: toIso(q.quarantinedAt),
      })),
    },
  };
}
