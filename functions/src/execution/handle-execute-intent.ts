import type { Broker, SubmitOutcome } from '../broker/broker.js';
import type { RuntimeConfig, RuntimeConfigResult } from '../config.js';
import { FALLBACK_TIMEOUTS } from '../config.js';
import type { Clock } from '../domain/clock.js';
import { checkSubmitBudget, deadlineFrom, type DeadlineBudget } from '../domain/deadline.js';
import { callsBroker, type ExecutionMode } from '../domain/execution-mode.js';
import { parseIntentText, type OrderIntent } from '../domain/intent.js';
import { orderViewFromOrder } from '../domain/order-lifecycle.js';
import { SubmissionState, type SubmissionRecord } from '../domain/submission.js';
import {
  BrokerNotPlacedError,
  BrokerOutcomeUnknownError,
  ClaimHeldError,
  DeadlineBudgetError,
  HaltgateError,
  ShutdownInProgressError,
  StoreUnavailableError,
} from '../errors.js';
import { LogEvent, type EventLogger } from '../logs.js';
import { settledWithin } from '../safety/settled-within.js';
import type { ShutdownGate } from '../safety/shutdown-gate.js';
import type { OutcomeUpdate, StoreClaimDecision, SubmissionStore } from '../store/submission-store.js';
import { decodeMessageData, invalidIntentDocId, type IntentDelivery } from './intent-delivery.js';

export interface ExecuteIntentDeps {
  store: SubmissionStore;
  /** The broker for a broker-calling (or dry-run) mode; only called after a claim commits. */
  brokerFor: (config: RuntimeConfig, mode: ExecutionMode) => Broker;
  clock: Clock;
  gate: ShutdownGate;
  loadConfig: () => RuntimeConfigResult;
  /** Identifies this process in claims, so others can tell whose claim it is. */
  instanceId: string;
  log: EventLogger;
}

export const ExecuteOutcome = {
  invalid: 'invalid',
  conflict: 'conflict',
  duplicate: 'duplicate',
  refused: 'refused',
  submitted: 'submitted',
  rejected: 'rejected',
  dry_run: 'dry_run',
} as const;
export type ExecuteOutcome = (typeof ExecuteOutcome)[keyof typeof ExecuteOutcome];

export interface ExecuteResult {
  outcome: ExecuteOutcome;
  intentId: string | null;
  detail: string | null;
}

/**
 * executeIntent, as an ordinary function: one delivery in, at most one broker order out.
 *
 * Returns when the delivery is settled (acknowledge). Throws a retryable `HaltgateError` when
 * Pub/Sub must redeliver: nothing was decided, or the outcome must be looked up later.
 */
export async function handleExecuteIntent(deps: ExecuteIntentDeps, delivery: IntentDelivery): Promise<ExecuteResult> {
  const entryMs = deps.clock.now();
  const configResult = deps.loadConfig();
  const config = configResult.ok ? configResult.config : null;
  if (!configResult.ok) deps.log.error(LogEvent.configInvalid, { problems: configResult.problems, eventId: delivery.eventId });

  // 1. Validate. Invalid messages are kept for audit and acknowledged: a retry cannot fix them.
  const text = decodeMessageData(delivery.dataBase64);
  const parsed = parseIntentText(text);
  if (!parsed.ok) {
    await keepInvalid(deps, delivery, text, parsed.failure, parsed.issues, entryMs, null, config);
    deps.log.warn(LogEvent.intentInvalid, { eventId: delivery.eventId, failure: parsed.failure, issues: parsed.issues });
    return { outcome: ExecuteOutcome.invalid, intentId: null, detail: parsed.failure };
  }
  const intent = parsed.intent;

  const deadlineAtMs = invocationDeadline(entryMs, config);
  const budget: DeadlineBudget | null = config && {
    deadlineAtMs,
    minSubmitBudgetMs: config.minSubmitBudgetMs,
    marginMs: config.deadlineMarginMs,
    maxBrokerTimeoutMs: config.brokerTimeoutMs,
  };

  // 2. Refuse before any write if we could not see a broker call through: the delivery is
  //    left to Pub/Sub, which redelivers it to an instance that can.
  deps.gate.assertOpen();
  if (budget) assertBudget(budget, deps.clock.now(), 'before claim');

  // 3. Claim (or refuse, or recognise a duplicate) in one transaction.
  const claim = deps.store.claimSubmission({
    intent,
    eventId: delivery.eventId,
    instanceId: deps.instanceId,
    deadlineAtMs,
    config: config
      ? { ok: true, mode: config.executionMode, maxIntentAgeMs: config.maxIntentAgeMs, ownerGraceMs: config.ownerGraceMs }
      : { ok: false, problem: configProblem(configResult), ownerGraceMs: FALLBACK_TIMEOUTS.ownerGraceMs },
    haltedParam: config?.executionHalted ?? (configResult.ok ? undefined : configResult.partial.executionHalted),
    breakerDefaults: config?.breakerDefaults ?? null,
    ...(config ? { ledgerMaxAgeMs: config.ledgerMaxAgeMs } : {}),
    // claimWithinBudget gives the delivery back at this time: a claim not begun by then never is.
    ...(budget ? { startByMs: budget.deadlineAtMs - budget.minSubmitBudgetMs } : {}),
  });
  const decision = budget ? await claimWithinBudget(deps, claim, budget, intent.intentId) : await claim;
  return settleDecision(deps, delivery, intent, decision, config, budget, text, entryMs);
}

/** Even with an invalid configuration an invocation has a deadline, from the default timeout. */
function invocationDeadline(entryMs: number, config: RuntimeConfig | null): number {
  return deadlineFrom(entryMs, config?.executeTimeoutSeconds ?? FALLBACK_TIMEOUTS.executeTimeoutSeconds);
}

/**
 * The claim, or a retryable DeadlineBudgetError once only the submit budget is left: a claim
 * that has not come back by then can no longer lead to a broker call (G4), so the delivery goes
 * back to Pub/Sub now instead of waiting out the client's own retries — minutes when Firestore
 * is unreachable. If the transaction commits a claim later anyway, it is released here, as the
 * check after a slow claim would have done, so a redelivery can claim it again.
 */
async function claimWithinBudget(
  deps: ExecuteIntentDeps,
  claim: Promise<StoreClaimDecision>,
  budget: DeadlineBudget,
  intentId: string,
): Promise<StoreClaimDecision> {
  const waitMs = budget.deadlineAtMs - budget.minSubmitBudgetMs - deps.clock.now();
  const first = await settledWithin(claim, waitMs);
  if (first.settled) return first.value;
  void claim.then(
    async (late) => {
      if (late.kind !== 'claim') return;
      await release(deps, intentId, { attempt: late.record.attempts, from: [SubmissionState.submitting] }, 'the claim committed after its invocation had given up on it (no broker call)');
    },
    () => undefined, // the delivery already failed retryably; the store error changes nothing
  ).catch((err: unknown) => deps.log.warn(LogEvent.outcomeNotApplied, { intentId, wanted: SubmissionState.released, why: err instanceof Error ? err.message : String(err) }));
  throw new DeadlineBudgetError(budget.minSubmitBudgetMs, budget.minSubmitBudgetMs, 'claim not committed in time');
}

async function settleDecision(
  deps: ExecuteIntentDeps,
  delivery: IntentDelivery,
  intent: OrderIntent,
  decision: StoreClaimDecision,
  config: RuntimeConfig | null,
  budget: DeadlineBudget | null,
  text: string,
  entryMs: number,
): Promise<ExecuteResult> {
  const intentId = intent.intentId;
  switch (decision.kind) {
    case 'duplicate':
      deps.log.info(LogEvent.intentDuplicate, { intentId, eventId: delivery.eventId, state: decision.record.state });
      return { outcome: ExecuteOutcome.duplicate, intentId, detail: decision.record.state };
    case 'conflict': {
      const issues = [{ path: '(message)', message: `intentId ${intentId} was already used for a different intent (recorded ${decision.record.state}); an intentId is unique forever` }];
      await keepInvalid(deps, delivery, text, 'intent_conflict', issues, entryMs, intentId, config);
      deps.log.error(LogEvent.intentConflict, { intentId, eventId: delivery.eventId });
      return { outcome: ExecuteOutcome.conflict, intentId, detail: 'intent_conflict' };
    }
    case 'held':
      deps.log.info(LogEvent.claimHeld, { intentId, eventId: delivery.eventId, owner: decision.record.owner });
      throw new ClaimHeldError(intentId, decision.record.owner?.instanceId ?? 'unknown', decision.record.state);
    case 'unreadable':
      deps.log.error(LogEvent.recordUnreadable, { intentId, problem: decision.problem });
      // Fail closed (G6): an unreadable record could hide a sent order. Retry; an operator must look.
      throw new HaltgateError(`submission record ${intentId} is unreadable: ${decision.problem}`, {
        reason: 'record_unreadable',
        retryable: true,
        context: { intentId },
      });
    case 'refuse':
      deps.log.warn(LogEvent.intentRefused, { intentId, reason: decision.record.reason, detail: decision.record.detail });
      return { outcome: ExecuteOutcome.refused, intentId, detail: decision.record.reason };
    case 'resolve':
      return resolveByLookup(deps, decision.record, config, budget);
    case 'claim':
      // A claim implies a valid config: an invalid one is refused inside the transaction.
      if (!config || !budget) throw new Error('invariant: claim without a valid configuration');
      return submitClaimed(deps, decision.record, config, budget, decision.strategyBrokerErrors);
  }
}

/** 4-5. The claim has committed: call the broker through the gate, then record the outcome. */
async function submitClaimed(
  deps: ExecuteIntentDeps,
  record: SubmissionRecord,
  config: RuntimeConfig,
  budget: DeadlineBudget,
  streakAtClaim: number | null,
): Promise<ExecuteResult> {
  const { intentId } = record;
  const expect = { attempt: record.attempts, from: [SubmissionState.submitting] as const };
  deps.log.info(LogEvent.claimCommitted, { intentId, attempt: record.attempts, instanceId: deps.instanceId });

  // The transaction may have taken seconds (ABORTED retries back off) and SIGTERM may have
  // arrived meanwhile: check again. Nothing was sent, so the claim is released for redelivery.
  const go = mayCallBrokerNow(deps, budget, 'after claim');
  if (!go.ok) {
    await release(deps, intentId, expect, go.error.message);
    throw go.error;
  }

  const broker = deps.brokerFor(config, config.executionMode);
  const intent = record.intent;
  let started = false;
  try {
    // The gate counts the call *and* the outcome write as in flight: a SIGTERM drain waits for
    // both, so a call that reached the broker is never left recorded as `submitting`.
    return await deps.gate.run(async () => {
      started = true;
      deps.log.info(LogEvent.brokerCallStarted, { intentId, broker: broker.name, timeoutMs: go.brokerTimeoutMs });
      const outcome = await broker.submitOrder(
        {
          clientOrderId: record.clientOrderId,
          symbol: intent.symbol,
          side: intent.side,
          qty: intent.qty,
          type: intent.type,
          ...(intent.limitPrice === undefined ? {} : { limitPrice: intent.limitPrice }),
          timeInForce: intent.timeInForce,
        },
        { timeoutMs: go.brokerTimeoutMs },
      );
      deps.log.info(LogEvent.brokerOutcome, { intentId, kind: outcome.kind });
      try {
        return await recordSubmitOutcome(deps, record, config, budget, broker, outcome);
      } finally {
        // After the outcome is recorded (it matters more), and whatever the outcome: the
        // broker-error streak counts `unknown`, which throws for redelivery.
        await noteBrokerOutcome(deps, record, outcome, streakAtClaim);
      }
    });
  } catch (err) {
    // Shutdown won the race between the check above and the gate: nothing was sent.
    if (!started && err instanceof ShutdownInProgressError) await release(deps, intentId, expect, err.message);
    throw err;
  }
}

/** 5. Record what the broker said; throw when the delivery must come back. */
async function recordSubmitOutcome(
  deps: ExecuteIntentDeps,
  record: SubmissionRecord,
  config: RuntimeConfig,
  budget: DeadlineBudget,
  broker: Broker,
  outcome: SubmitOutcome,
): Promise<ExecuteResult> {
  const { intentId } = record;
  const expect = { attempt: record.attempts, from: [SubmissionState.submitting] as const };
  const sent = callsBroker(config.executionMode);
  switch (outcome.kind) {
    case 'accepted': {
      const state = sent ? SubmissionState.submitted : SubmissionState.dry_run;
      await writeOutcome(deps, intentId, expect, {
        state,
        reason: null,
        detail: sent ? `accepted by ${broker.name}` : 'dry run: decision recorded, no broker call',
        brokerOrderId: sent ? outcome.order.id : null,
        brokerStatus: outcome.order.status,
        // The broker's view as the submit answered it, in the same write (no extra round trip);
        // syncOrders keeps it current. A dry run has no broker order to follow.
        ...(sent ? { order: orderViewFromOrder(outcome.order, deps.clock.now()) } : {}),
      });
      return { outcome: sent ? ExecuteOutcome.submitted : ExecuteOutcome.dry_run, intentId, detail: outcome.order.id };
    }
    case 'rejected':
      await writeOutcome(deps, intentId, expect, {
        state: SubmissionState.rejected,
        reason: outcome.code === undefined ? `http_${outcome.httpStatus}` : String(outcome.code),
        detail: outcome.message,
      });
      return { outcome: ExecuteOutcome.rejected, intentId, detail: outcome.message };
    case 'duplicate':
      // The broker already holds this client_order_id: an earlier attempt reached it. Adopt
      // that order rather than sending another (G1).
      await writeOutcome(deps, intentId, expect, { state: SubmissionState.unknown, reason: 'duplicate_client_order_id', detail: outcome.message });
      return resolveByLookup(deps, { ...record, state: SubmissionState.unknown }, config, budget);
    case 'not_placed':
      await release(deps, intentId, expect, outcome.message);
      throw new BrokerNotPlacedError(intentId, outcome.message);
    case 'unknown':
      await writeOutcome(deps, intentId, expect, { state: SubmissionState.unknown, reason: 'broker_outcome_unknown', detail: outcome.message });
      throw new BrokerOutcomeUnknownError(intentId, outcome.message);
  }
}

/**
 * An earlier attempt may have reached the broker (its owner died or timed out, or the answer
 * was lost). Ask the broker by client_order_id; never send again (G1).
 */
async function resolveByLookup(
  deps: ExecuteIntentDeps,
  record: SubmissionRecord,
  config: RuntimeConfig | null,
  budget: DeadlineBudget | null,
): Promise<ExecuteResult> {
  const { intentId } = record;
  const mode = record.executionMode as ExecutionMode;
  if (!config || !budget || !(callsBroker(mode) || mode === 'dry_run')) {
    throw new BrokerOutcomeUnknownError(intentId, `cannot look the order up: ${config ? `mode ${record.executionMode}` : 'configuration is invalid'}`);
  }
  const budgetNow = checkSubmitBudget(budget, deps.clock.now());
  if (!budgetNow.ok) throw new DeadlineBudgetError(budgetNow.remainingMs, budgetNow.requiredMs, 'before lookup');

  const broker = deps.brokerFor(config, mode);
  const lookup = await broker.getOrderByClientOrderId(record.clientOrderId, { timeoutMs: budgetNow.brokerTimeoutMs });
  deps.log.info(LogEvent.resolveLookup, { intentId, state: record.state, lookup: lookup.kind });
  const expect = { attempt: record.attempts, from: [SubmissionState.submitting, SubmissionState.unknown] as const };

  if (lookup.kind === 'found') {
    const written = await writeOutcome(deps, intentId, expect, {
      state: SubmissionState.submitted,
      reason: null,
      detail: `found at ${broker.name} by client_order_id after ${record.state}`,
      brokerOrderId: lookup.order.id,
      brokerStatus: lookup.order.status,
      ...(callsBroker(mode) ? { order: orderViewFromOrder(lookup.order, deps.clock.now()) } : {}),
    });
    if (written) return { outcome: ExecuteOutcome.submitted, intentId, detail: lookup.order.id };
    return { outcome: ExecuteOutcome.duplicate, intentId, detail: 'settled by another invocation' };
  }
  if (lookup.kind === 'not_found' && record.state === SubmissionState.submitting) {
    // The owner is gone and the broker has no order (yet): it may still land from a request
    // the owner sent before dying. `unknown` until the reconciler's grace period decides.
    await writeOutcome(deps, intentId, expect, {
      state: SubmissionState.unknown,
      reason: 'owner_gone',
      detail: 'claim owner passed its deadline; the broker has no order with this client_order_id yet',
    });
  }
  throw new BrokerOutcomeUnknownError(
    intentId,
    lookup.kind === 'not_found' ? 'not at the broker yet; looking again later' : `lookup failed: ${lookup.message}`,
  );
}

/**
 * Keeps the strategy's broker-error streak for the brokerErrors breaker. Never throws: the
 * order's own outcome is already recorded, and failing the delivery here would only redeliver
 * it as a duplicate. A streak that could not be kept is logged loudly instead.
 */
async function noteBrokerOutcome(
  deps: ExecuteIntentDeps,
  record: SubmissionRecord,
  outcome: SubmitOutcome,
  streakAtClaim: number | null,
): Promise<void> {
  try {
    const written = await deps.store.recordBrokerOutcome(record.strategyId, outcome, streakAtClaim);
    if (!written.written && written.why !== 'unchanged') {
      deps.log.error(LogEvent.brokerStatsNotRecorded, { intentId: record.intentId, strategyId: record.strategyId, why: written.why });
    }
  } catch (err) {
    deps.log.error(LogEvent.brokerStatsNotRecorded, {
      intentId: record.intentId,
      strategyId: record.strategyId,
      why: err instanceof Error ? err.message : String(err),
    });
  }
}

async function release(deps: ExecuteIntentDeps, intentId: string, expect: { attempt: number; from: readonly SubmissionState[] }, why: string): Promise<void> {
  await writeOutcome(deps, intentId, expect, { state: SubmissionState.released, reason: 'not_sent', detail: why });
  deps.log.warn(LogEvent.claimReleased, { intentId, why });
}

/** Records an outcome; returns whether it applied (a reconciler may have moved the record on). */
async function writeOutcome(
  deps: ExecuteIntentDeps,
  intentId: string,
  expect: { attempt: number; from: readonly SubmissionState[] },
  update: OutcomeUpdate,
): Promise<boolean> {
  const written = await deps.store.recordOutcome(intentId, expect, update);
  if (!written.applied) deps.log.warn(LogEvent.outcomeNotApplied, { intentId, wanted: update.state, why: written.why });
  return written.applied;
}

/** Shutdown and deadline, checked together right before a broker call may start (G3, G4). */
function mayCallBrokerNow(
  deps: ExecuteIntentDeps,
  budget: DeadlineBudget,
  stage: string,
): { ok: true; brokerTimeoutMs: number } | { ok: false; error: HaltgateError } {
  if (deps.gate.shuttingDown) return { ok: false, error: new ShutdownInProgressError(deps.gate.shutdownReason ?? 'shutdown') };
  const check = checkSubmitBudget(budget, deps.clock.now());
  if (!check.ok) return { ok: false, error: new DeadlineBudgetError(check.remainingMs, check.requiredMs, stage) };
  return { ok: true, brokerTimeoutMs: check.brokerTimeoutMs };
}

function assertBudget(budget: DeadlineBudget, nowMs: number, stage: string): void {
  const check = checkSubmitBudget(budget, nowMs);
  if (!check.ok) throw new DeadlineBudgetError(check.remainingMs, check.requiredMs, stage);
}

function configProblem(result: RuntimeConfigResult): string {
  return result.ok ? '' : `invalid configuration: ${result.problems.join('; ')}`;
}

async function keepInvalid(
  deps: ExecuteIntentDeps,
  delivery: IntentDelivery,
  text: string,
  failure: string,
  issues: Array<{ path: string; message: string }>,
  receivedAtMs: number,
  intentId: string | null,
  config: RuntimeConfig | null,
): Promise<void> {
  const kept = deps.store.recordInvalidIntent({
    eventId: invalidIntentDocId(delivery.eventId),
    failure,
    issues,
    rawData: text,
    messageId: delivery.messageId,
    publishTime: delivery.publishTime,
    attributes: delivery.attributes,
    receivedAtMs,
    intentId,
  });
  // Not acknowledged until kept (G5), but not past the invocation's deadline either: an
  // unreachable Firestore gives the message back to Pub/Sub. A late write is harmless (the same
  // document, keyed by event id).
  const done = await settledWithin(kept, invocationDeadline(receivedAtMs, config) - deps.clock.now());
  if (!done.settled) throw new StoreUnavailableError('recordInvalidIntent', new Error('no answer before the invocation deadline'));
}
