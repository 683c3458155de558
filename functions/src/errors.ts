/**
 * One base class for every error haltgate raises on purpose.
 *
 * Each error is either *retryable* — the pipeline throws it out of the handler so Pub/Sub
 * redelivers the message later (nothing was decided yet) — or *terminal*: the decision is
 * recorded in Firestore and the message is acknowledged. `isRetryable` is the single place
 * the handler asks that question.
 */
export class HaltgateError extends Error {
  /** Machine-readable reason, stable across releases (logs, records, tests key on it). */
  readonly reason: string;
  readonly retryable: boolean;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    message: string,
    opts: { reason: string; retryable: boolean; cause?: unknown; context?: Record<string, unknown> },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HaltgateError';
    this.reason = opts.reason;
    this.retryable = opts.retryable;
    this.context = opts.context ?? {};
  }
}

/** The instance is shutting down (SIGTERM): start nothing new, let Pub/Sub redeliver. */
export class ShutdownInProgressError extends HaltgateError {
  constructor(shutdownReason: string) {
    super(`instance is shutting down (${shutdownReason}); the message will be redelivered`, {
      reason: 'shutting_down',
      retryable: true,
      context: { shutdownReason },
    });
    this.name = 'ShutdownInProgressError';
  }
}

/** Not enough time left before the function timeout to call the broker safely (G4). */
export class DeadlineBudgetError extends HaltgateError {
  constructor(remainingMs: number, requiredMs: number, stage: string) {
    super(
      `only ${remainingMs} ms left before the function deadline (${stage}); ${requiredMs} ms are required to call the broker`,
      { reason: 'deadline_budget', retryable: true, context: { remainingMs, requiredMs, stage } },
    );
    this.name = 'DeadlineBudgetError';
  }
}

/** Another live invocation owns the claim; this delivery must come back later. */
export class ClaimHeldError extends HaltgateError {
  constructor(intentId: string, owner: string, state: string) {
    super(`submission ${intentId} is ${state} and owned by ${owner}; retry after it settles`, {
      reason: 'claim_held',
      retryable: true,
      context: { intentId, owner, state },
    });
    this.name = 'ClaimHeldError';
  }
}

/** The broker rate-limited us (429) before placing anything: release and retry with backoff. */
export class BrokerNotPlacedError extends HaltgateError {
  constructor(intentId: string, detail: string) {
    super(`broker did not place ${intentId}: ${detail}; the claim was released for redelivery`, {
      reason: 'broker_not_placed',
      retryable: true,
      context: { intentId, detail },
    });
    this.name = 'BrokerNotPlacedError';
  }
}

/** The outcome at the broker is not known yet; redelivery resolves it by lookup, never resubmission. */
export class BrokerOutcomeUnknownError extends HaltgateError {
  constructor(intentId: string, detail: string, cause?: unknown) {
    super(`outcome of ${intentId} at the broker is unknown: ${detail}`, {
      reason: 'broker_outcome_unknown',
      retryable: true,
      cause,
      context: { intentId, detail },
    });
    this.name = 'BrokerOutcomeUnknownError';
  }
}

/** Firestore (or another dependency) could not be read or written: fail closed and retry. */
export class StoreUnavailableError extends HaltgateError {
  constructor(operation: string, cause: unknown) {
    super(`store operation ${operation} failed: ${describeCause(cause)}`, {
      reason: 'store_unavailable',
      retryable: true,
      cause,
      context: { operation },
    });
    this.name = 'StoreUnavailableError';
  }
}

/** An `order-updates` message could not be published: the trigger fails and is redelivered. */
export class OrderUpdatePublishError extends HaltgateError {
  constructor(updateId: string, cause: unknown) {
    super(`publishing order update ${updateId} failed: ${describeCause(cause)}`, {
      reason: 'order_update_publish_failed',
      retryable: true,
      cause,
      context: { updateId },
    });
    this.name = 'OrderUpdatePublishError';
  }
}

export function isHaltgateError(err: unknown): err is HaltgateError {
  return err instanceof HaltgateError;
}

/** Unknown errors are retryable: an unexpected failure must never be acknowledged as done. */
export function isRetryable(err: unknown): boolean {
  return isHaltgateError(err) ? err.retryable : true;
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}
