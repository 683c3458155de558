import * as logger from 'firebase-functions/logger';

/**
 * Every log line haltgate writes is one of these named events, so operators can build
 * log-based metrics and alerts on stable names. Fields never carry secrets.
 */
export const LogEvent = {
  intentInvalid: 'intent_invalid',
  intentConflict: 'intent_conflict',
  intentDuplicate: 'intent_duplicate',
  intentRefused: 'intent_refused',
  claimHeld: 'claim_held',
  claimCommitted: 'claim_committed',
  claimReleased: 'claim_released',
  brokerCallStarted: 'broker_call_started',
  brokerOutcome: 'broker_outcome',
  outcomeNotApplied: 'outcome_not_applied',
  resolveLookup: 'resolve_lookup',
  recordUnreadable: 'record_unreadable',
  deliveryRetry: 'delivery_retry',
  deliveryFailed: 'delivery_failed',
  configInvalid: 'config_invalid',
  shutdownRequested: 'shutdown_requested',
  drainComplete: 'drain_complete',
  drainTimedOut: 'drain_timed_out',
  // breakers and the fills ledger (issue 4)
  brokerStatsNotRecorded: 'broker_stats_not_recorded',
  fillsSyncRun: 'fills_sync_run',
  fillsSyncFailed: 'fills_sync_failed',
  fillUnmatched: 'fill_unmatched',
  // issue 10: a fill of haltgate's order that could not be read, kept in fillsQuarantine
  fillQuarantined: 'fill_quarantined',
  // ops API and the halt trigger (issue 5)
  opsRequestDenied: 'ops_request_denied',
  opsRequestFailed: 'ops_request_failed',
  opsHalt: 'ops_halt',
  opsResume: 'ops_resume',
  opsBreakerReset: 'ops_breaker_reset',
  killSwitchChanged: 'kill_switch_changed',
  haltCancelAll: 'halt_cancel_all',
  /** The runner dead-man switch cancelled (or failed to cancel) a silent strategy's open orders. */
  runnerStaleCancel: 'runner_stale_cancel',
  runnerWatchFailed: 'runner_watch_failed',
  opsEventPublished: 'ops_event_published',
  opsEventPublishFailed: 'ops_event_publish_failed',
  reconcileDecided: 'reconcile_decided',
  reconcileRun: 'reconcile_run',
  reconcileFailed: 'reconcile_failed',
  instanceReportFailed: 'instance_report_failed',
  // the order lifecycle (issue 10)
  orderSyncRun: 'order_sync_run',
  orderSyncFailed: 'order_sync_failed',
  orderChanged: 'order_changed',
  orderUpdatePublished: 'order_update_published',
  orderUpdatePublishFailed: 'order_update_publish_failed',
} as const;
export type LogEvent = (typeof LogEvent)[keyof typeof LogEvent];

export type LogFields = Record<string, unknown>;

export interface EventLogger {
  info(event: LogEvent, fields?: LogFields): void;
  warn(event: LogEvent, fields?: LogFields): void;
  error(event: LogEvent, fields?: LogFields): void;
}

/**
 * Structured Cloud Logging through firebase-functions' logger. `write` with an explicit
 * severity: `logger.error(string)` would attach a made-up stack trace to every event.
 */
export const cloudEventLogger: EventLogger = {
  info: (event, fields) => logger.write({ severity: 'INFO', message: event, event, ...fields }),
  warn: (event, fields) => logger.write({ severity: 'WARNING', message: event, event, ...fields }),
  error: (event, fields) => logger.write({ severity: 'ERROR', message: event, event, ...fields }),
};

/** Keeps events in memory: for tests and the local stack's status line. */
export function memoryEventLogger(): EventLogger & { events: Array<{ level: string; event: LogEvent; fields: LogFields }> } {
  const events: Array<{ level: string; event: LogEvent; fields: LogFields }> = [];
  const push = (level: string) => (event: LogEvent, fields: LogFields = {}) => void events.push({ level, event, fields });
  return { events, info: push('info'), warn: push('warn'), error: push('error') };
}
