import type { Broker, LookupOutcome } from '../broker/broker.js';
import type { ReconcileConfig, ReconcileConfigResult, RuntimeConfig } from '../config.js';
import type { Clock } from '../domain/clock.js';
import { callsBroker, type ExecutionMode } from '../domain/execution-mode.js';
import { decideReconcile, reconcileEligibility, type ReconcileDecision, type ReconcileSettings } from '../domain/reconcile-decision.js';
import { SubmissionState, type SubmissionRecord } from '../domain/submission.js';
import { describeCause } from '../errors.js';
import { LogEvent, type EventLogger } from '../logs.js';
import type { ReconcileReport, ReconcileStore } from '../store/reconcile-store.js';

/** timeoutSeconds of the scheduled function; the run stops starting lookups well before it. */
export const RECONCILE_TIMEOUT_SECONDS = 120;

export interface ReconcileDeps {
  store: ReconcileStore;
  /** The broker of a record's execution mode. Only its lookup is ever called here. */
  brokerFor: (config: RuntimeConfig, mode: ExecutionMode) => Broker;
  clock: Clock;
  loadConfig: () => ReconcileConfigResult;
  log: EventLogger;
}

export interface ReconcileOptions {
  /**
   * Records read per state and run. Every one may cost a broker lookup, and lookups share
   * Alpaca's 200 requests/min with submissions: a run every minute must stay well below it.
   */
  batchSize?: number;
  /** Wall time a run may spend; no lookup starts when less than one broker timeout is left. */
  timeBudgetMs?: number;
  /** After this many failed lookups in a row the broker is taken to be down: stop the run. */
  maxConsecutiveLookupFailures?: number;
}

export const RECONCILE_DEFAULTS = {
  batchSize: 25,
  timeBudgetMs: (RECONCILE_TIMEOUT_SECONDS - 20) * 1000,
  maxConsecutiveLookupFailures: 3,
} as const;

const MAX_REPORTED_PROBLEMS = 10;

/**
 * reconcileSubmissions, as an ordinary function: settles records whose outcome at the broker is
 * not known — `unknown` ones, and `submitting` ones whose owner is gone (it died or timed out,
 * maybe after sending). Each is looked up by client_order_id; it is never submitted (G1).
 * Found → `submitted`; not found → `unknown`, and `abandoned` once the broker has had
 * `RECONCILE_ABANDON_AFTER_MS` to show it; lookup failed → left for the next run. Every write
 * re-checks state and attempt in a transaction, so an owner or redelivery that settled the
 * record meanwhile wins.
 */
export async function handleReconcileSubmissions(deps: ReconcileDeps, opts: ReconcileOptions = {}): Promise<ReconcileReport> {
  const batchSize = opts.batchSize ?? RECONCILE_DEFAULTS.batchSize;
  const timeBudgetMs = opts.timeBudgetMs ?? RECONCILE_DEFAULTS.timeBudgetMs;
  const maxFailures = opts.maxConsecutiveLookupFailures ?? RECONCILE_DEFAULTS.maxConsecutiveLookupFailures;
  const startMs = deps.clock.now();
  const report: ReconcileReport = {
    lastRunAtMs: startMs,
    scanned: 0,
    submitted: 0,
    abandoned: 0,
    stillUnknown: 0,
    markedUnknown: 0,
    errors: 0,
    durationMs: 0,
    problems: [],
  };
  const problem = (text: string) => {
    report.errors += 1;
    if (report.problems.length < MAX_REPORTED_PROBLEMS) report.problems.push(text);
  };

  const configResult = deps.loadConfig();
  if (!configResult.ok) {
    // Fail closed (G6): without a valid configuration nothing is decided.
    deps.log.error(LogEvent.configInvalid, { problems: configResult.problems, function: 'reconcileSubmissions' });
    problem(`configuration is invalid: ${configResult.problems.join('; ')}`);
    return finish(deps, report, startMs);
  }
  const config = configResult.config;
  const settings: ReconcileSettings = { ownerGraceMs: config.ownerGraceMs, abandonAfterMs: config.reconcileAbandonAfterMs };

  // Oldest first. A `submitting` record updated less than OWNER_GRACE_MS ago cannot have an
  // orphaned owner yet (its deadline lies after its claim), so those are not even read.
  const submitting = await deps.store.findInState({
    state: SubmissionState.submitting,
    limit: batchSize,
    updatedBeforeMs: startMs - settings.ownerGraceMs,
  });
  const unknown = await deps.store.findInState({ state: SubmissionState.unknown, limit: batchSize });
  const candidates = [...submitting, ...unknown];
  report.scanned = candidates.length;

  let consecutiveFailures = 0;
  for (const [index, candidate] of candidates.entries()) {
    if (!candidate.ok) {
      deps.log.error(LogEvent.recordUnreadable, { intentId: candidate.intentId, problem: candidate.problem });
      problem(`submissions/${candidate.intentId} is unreadable: ${candidate.problem}`);
      continue;
    }
    const record = candidate.record;
    if (!reconcileEligibility(record, deps.clock.now(), settings).eligible) continue; // a live owner

    const left = candidates.length - index;
    if (deps.clock.now() - startMs > timeBudgetMs - config.brokerTimeoutMs) {
      report.stillUnknown += left;
      problem(`time budget used up; ${left} records left for the next run`);
      break;
    }
    if (consecutiveFailures >= maxFailures) {
      report.stillUnknown += left;
      problem(`${consecutiveFailures} lookups failed in a row; ${left} records left for the next run`);
      break;
    }

    const lookup = await lookUp(deps, config, record);
    if (lookup.kind === 'unknown') consecutiveFailures += 1;
    else consecutiveFailures = 0;
    const decision = decideReconcile(record, lookup, deps.clock.now(), settings);
    if (decision.kind !== 'skip') {
      deps.log.info(LogEvent.reconcileDecided, { intentId: record.intentId, state: record.state, attempt: record.attempts, decision: decision.kind });
    }
    await apply(deps, record, decision, report, problem);
  }
  return finish(deps, report, startMs);
}

async function lookUp(deps: ReconcileDeps, config: ReconcileConfig, record: SubmissionRecord): Promise<LookupOutcome> {
  const mode = record.executionMode as ExecutionMode;
  if (!(callsBroker(mode) || mode === 'dry_run')) {
    return { kind: 'unknown', message: `record has execution mode ${JSON.stringify(record.executionMode)}; no broker to ask` };
  }
  try {
    return await deps.brokerFor(config, mode).getOrderByClientOrderId(record.clientOrderId, { timeoutMs: config.brokerTimeoutMs });
  } catch (err) {
    // Brokers classify instead of throwing; anything thrown is still "we do not know".
    return { kind: 'unknown', message: describeCause(err) };
  }
}

async function apply(
  deps: ReconcileDeps,
  record: SubmissionRecord,
  decision: ReconcileDecision,
  report: ReconcileReport,
  problem: (text: string) => void,
): Promise<void> {
  const { intentId } = record;
  const attempt = record.attempts;
  try {
    switch (decision.kind) {
      case 'skip':
        return;
      case 'wait':
        report.stillUnknown += 1;
        if (decision.why.startsWith('lookup failed')) problem(`${intentId}: ${decision.why}`);
        return;
      case 'submitted': {
        // Either earlier state may be current: the order is at the broker whichever it is.
        const written = await deps.store.recordOutcome(
          intentId,
          { attempt, from: [SubmissionState.submitting, SubmissionState.unknown] },
          {
            state: SubmissionState.submitted,
            reason: null,
            detail: decision.detail,
            brokerOrderId: decision.brokerOrderId,
            brokerStatus: decision.brokerStatus,
            order: decision.order,
          },
        );
        if (written.applied) report.submitted += 1;
        else notApplied(deps, intentId, SubmissionState.submitted, written.why);
        return;
      }
      case 'mark_unknown': {
        const written = await deps.store.recordOutcome(
          intentId,
          { attempt, from: [SubmissionState.submitting] },
          { state: SubmissionState.unknown, reason: decision.reason, detail: decision.detail },
        );
        if (written.applied) {
          report.markedUnknown += 1;
          report.stillUnknown += 1;
        } else notApplied(deps, intentId, SubmissionState.unknown, written.why);
        return;
      }
      case 'abandon': {
        // Only from the very state the grace period was measured in.
        const written = await deps.store.recordOutcome(
          intentId,
          { attempt, from: [record.state] },
          { state: SubmissionState.abandoned, reason: decision.reason, detail: decision.detail },
        );
        if (written.applied) report.abandoned += 1;
        else notApplied(deps, intentId, SubmissionState.abandoned, written.why);
        return;
      }
    }
  } catch (err) {
    problem(`${intentId}: ${describeCause(err)}`);
  }
}

/** Someone else settled the record between our read and our write: theirs stands. */
function notApplied(deps: ReconcileDeps, intentId: string, wanted: SubmissionState, why: string): void {
  deps.log.warn(LogEvent.outcomeNotApplied, { intentId, wanted, why, by: 'reconciler' });
}

async function finish(deps: ReconcileDeps, report: ReconcileReport, startMs: number): Promise<ReconcileReport> {
  report.durationMs = deps.clock.now() - startMs;
  const fields = { ...report };
  if (report.errors > 0) deps.log.warn(LogEvent.reconcileRun, fields);
  else deps.log.info(LogEvent.reconcileRun, fields);
  try {
    await deps.store.writeReport(report);
  } catch (err) {
    // The records are settled, but the scheduler should see the run fail: the ops status
    // would otherwise show an old run as the latest.
    deps.log.error(LogEvent.reconcileFailed, { error: describeCause(err) });
    throw err;
  }
  return report;
}
