import type { DocumentReference, Firestore, Timestamp } from 'firebase-admin/firestore';
import type { CancelAllOutcome } from '../broker/broker.js';
import type { Clock } from '../domain/clock.js';
import { decideKillSwitch } from '../domain/kill-switch.js';
import { HaltCancelScope } from './halt-config.js';
import { HaltgateError } from '../errors.js';
import { LogEvent, type EventLogger } from '../logs.js';
import { timestampsToDates, ts } from '../store/firestore-values.js';
import { KILL_SWITCH_PATH } from '../store/paths.js';
import type { OpsEvent, PublishOpsEvent } from './ops-events.js';

/**
 * `onKillSwitchWrite`: every write of `ops/killSwitch` — API, CLI or by hand in the console —
 * gets an audit entry; a change *to halted* cancels the open orders at the broker (when
 * HALT_CANCEL_OPEN_ORDERS) and tells the runners on `ops-events`.
 *
 * Idempotent under re-delivery (same event id): the audit entry is keyed by the event id and
 * created in a transaction, and it carries the state of each side effect. Cancel-all runs only
 * under a lease taken in a transaction, so two concurrent deliveries don't both call it, and
 * never again once its result is recorded. A failed or unknown cancel-all or publish throws so
 * the platform redelivers, and so does a delivery that finds a step leased to another one: the
 * event is acknowledged only once every step is recorded (cancel-all is harmless to repeat
 * after a crash; running it twice on purpose is not what an operator expects in the audit).
 */

export const AUDIT_COLLECTION = `${KILL_SWITCH_PATH}/audit`;
/** A delivery that took a step's lease and never recorded a result is presumed dead after this. */
export const CANCEL_LEASE_MS = 120_000;

export const Transition = { halt: 'halt', resume: 'resume', none: 'none' } as const;
export type Transition = (typeof Transition)[keyof typeof Transition];

export const StepState = { pending: 'pending', running: 'running', done: 'done', failed: 'failed', skipped: 'skipped' } as const;
export type StepState = (typeof StepState)[keyof typeof StepState];

export interface KillSwitchChange {
  eventId: string;
  /** Document data before/after (undefined when absent), as the trigger delivered it. */
  before: Record<string, unknown> | undefined;
  after: Record<string, unknown> | undefined;
  eventTimeMs: number;
}

export interface HaltTriggerDeps {
  db: Firestore;
  cancelAllOpenOrders: () => Promise<CancelAllOutcome>;
  /**
   * HALT_CANCEL_SCOPE (default `all`): `haltgate` cancels only haltgate's own open orders, with
   * `cancelOwnOpenOrders` (listed at the broker, owned by a submission record, cancelled one by one).
   */
  cancelScope?: HaltCancelScope;
  cancelOwnOpenOrders?: () => Promise<CancelAllOutcome>;
  publishOpsEvent: PublishOpsEvent;
  cancelOpenOrdersOnHalt: boolean;
  clock: Clock;
  log: EventLogger;
}

export class HaltSideEffectError extends HaltgateError {
  constructor(step: string, detail: string) {
    super(`halt trigger step ${step} did not complete: ${detail}; the change will be redelivered`, {
      reason: 'halt_side_effect',
      retryable: true,
      context: { step, detail },
    });
    this.name = 'HaltSideEffectError';
  }
}

/** Halted as the functions see it from the document alone (fail closed: missing or malformed is halted). */
function documentHalted(data: Record<string, unknown> | undefined): boolean {
  return decideKillSwitch(data === undefined ? undefined : timestampsToDates(data), 'false').halted;
}

export const Posture = { trading: 'trading', reduceOnly: 'reduce_only', halted: 'halted' } as const;
export type Posture = (typeof Posture)[keyof typeof Posture];

/** The posture the claims read from the document alone: halted (missing, malformed or halted), reduce-only, or trading. */
export function postureOf(data: Record<string, unknown> | undefined): Posture {
  const state = decideKillSwitch(data === undefined ? undefined : timestampsToDates(data), 'false');
  return state.halted ? Posture.halted : state.reduceOnly ? Posture.reduceOnly : Posture.trading;
}

export function transitionOf(change: Pick<KillSwitchChange, 'before' | 'after'>): Transition {
  const was = documentHalted(change.before);
  const is = documentHalted(change.after);
  if (!was && is) return Transition.halt;
  if (was && !is) return Transition.resume;
  return Transition.none;
}

const field = (d: Record<string, unknown> | undefined, k: string): string | null => (d && typeof d[k] === 'string' ? (d[k] as string) : null);

export async function handleKillSwitchWrite(deps: HaltTriggerDeps, change: KillSwitchChange): Promise<{ transition: Transition; cancelAll: StepState; publish: StepState }> {
  const { db } = deps;
  const ref = db.collection(AUDIT_COLLECTION).doc(change.eventId);
  const transition = transitionOf(change);
  const postureBefore = postureOf(change.before);
  const postureAfter = postureOf(change.after);
  // Trading ↔ reduce-only is no halt or resume, but the runners are told (a `posture` event).
  const announce = transition !== Transition.none || postureBefore !== postureAfter;
  const scope = deps.cancelScope ?? HaltCancelScope.all;
  const who = field(change.after, 'updatedBy') ?? (change.after === undefined ? 'unknown (document deleted)' : 'unknown (no updatedBy: console?)');

  // 1. The audit entry, created once per event id.
  await db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    if (snap.exists) return;
    tx.create(ref, {
      eventId: change.eventId,
      before: change.before ?? null,
      after: change.after ?? null,
      who,
      reason: field(change.after, 'reason'),
      when: ts(change.eventTimeMs),
      recordedAt: ts(deps.clock.now()),
      transition,
      postureBefore,
      postureAfter,
      cancelAll: {
        state: transition === Transition.halt && deps.cancelOpenOrdersOnHalt ? StepState.pending : StepState.skipped,
        scope,
        ...(transition === Transition.halt && !deps.cancelOpenOrdersOnHalt ? { detail: 'HALT_CANCEL_OPEN_ORDERS is false' } : {}),
      },
      publish: { state: announce ? StepState.pending : StepState.skipped },
    });
  });
  deps.log.warn(LogEvent.killSwitchChanged, { eventId: change.eventId, transition, who, postureBefore, postureAfter });

  // Both steps are tried before a failure is thrown: the runners hear of a halt even while the
  // broker cannot cancel, and the redelivery then has only what is still open to do.
  let failure: unknown = null;
  const attempt = (step: () => Promise<StepState>) =>
    step().catch((err: unknown) => {
      failure ??= err;
      return StepState.failed;
    });
  const cancelAll = await attempt(() => runCancelAll(deps, ref, scope));
  const publish = await attempt(() => runPublish(deps, ref, change, transition, who, announce, postureAfter));
  if (failure !== null) throw failure;
  return { transition, cancelAll, publish };
}

type Step = 'cancelAll' | 'publish';

/**
 * Takes the step's lease: only the delivery that moves it from pending (or failed, or a dead
 * lease) to running performs it, so concurrent deliveries of one change don't both act.
 *
 * A step leased to another delivery throws (retryable) rather than answering for it: an ack
 * here would end the event, and if that delivery then died before recording its result (a
 * timeout, a killed instance), nothing would ever deliver the change again and the cancel-all
 * would be lost. Redelivered, this delivery finds the step recorded, or the lease dead.
 */
async function takeStep(deps: HaltTriggerDeps, ref: DocumentReference, step: Step): Promise<{ take: true } | { take: false; state: StepState }> {
  const taken = await deps.db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const current = (snap.get(step) ?? {}) as { state?: StepState; leaseAt?: Timestamp; attempts?: number };
    const nowMs = deps.clock.now();
    const leaseExpired = current.state === StepState.running && (current.leaseAt?.toMillis() ?? 0) + CANCEL_LEASE_MS < nowMs;
    if (current.state === StepState.pending || current.state === StepState.failed || leaseExpired) {
      tx.update(ref, { [`${step}.state`]: StepState.running, [`${step}.leaseAt`]: ts(nowMs), [`${step}.attempts`]: (current.attempts ?? 0) + 1 });
      return { take: true as const };
    }
    return { take: false as const, state: current.state ?? StepState.skipped, leaseAtMs: current.leaseAt?.toMillis() ?? 0 };
  });
  if (!taken.take && taken.state === StepState.running) {
    throw new HaltSideEffectError(step, `in progress in another delivery, leased until ${new Date(taken.leaseAtMs + CANCEL_LEASE_MS).toISOString()}`);
  }
  return taken;
}

async function runCancelAll(deps: HaltTriggerDeps, ref: DocumentReference, scope: HaltCancelScope): Promise<StepState> {
  const lease = await takeStep(deps, ref, 'cancelAll');
  if (!lease.take) return lease.state;

  let outcome: CancelAllOutcome;
  try {
    if (scope === HaltCancelScope.haltgate) {
      outcome = deps.cancelOwnOpenOrders
        ? await deps.cancelOwnOpenOrders()
        : { kind: 'unknown', message: 'HALT_CANCEL_SCOPE=haltgate but no way to cancel haltgate\'s own orders was given' };
    } else {
      outcome = await deps.cancelAllOpenOrders();
    }
  } catch (err) {
    outcome = { kind: 'unknown', message: err instanceof Error ? err.message : String(err) };
  }
  if (outcome.kind === 'done') {
    const failed = outcome.results.filter((r) => r.httpStatus >= 300);
    await ref.update({
      'cancelAll.state': StepState.done,
      'cancelAll.results': outcome.results,
      'cancelAll.cancelled': outcome.results.length - failed.length,
      'cancelAll.failed': failed.length,
      'cancelAll.finishedAt': ts(deps.clock.now()),
    });
    deps.log.warn(LogEvent.haltCancelAll, { outcome: 'done', scope, orders: outcome.results.length, failed: failed.length });
    return StepState.done;
  }
  await ref.update({ 'cancelAll.state': StepState.failed, 'cancelAll.detail': outcome.message, 'cancelAll.finishedAt': ts(deps.clock.now()) });
  deps.log.error(LogEvent.haltCancelAll, { outcome: 'unknown', detail: outcome.message });
  throw new HaltSideEffectError('cancelAll', outcome.message);
}

async function runPublish(
  deps: HaltTriggerDeps,
  ref: DocumentReference,
  change: KillSwitchChange,
  transition: Transition,
  who: string,
  announce: boolean,
  posture: Posture,
): Promise<StepState> {
  if (!announce) return StepState.skipped;
  const lease = await takeStep(deps, ref, 'publish');
  if (!lease.take) return lease.state;
  const event: OpsEvent = {
    type: transition === Transition.none ? 'posture' : transition,
    halted: posture === Posture.halted,
    reduceOnly: posture === Posture.reduceOnly,
    posture,
    reason: field(change.after, 'reason'),
    updatedBy: who,
    at: new Date(change.eventTimeMs).toISOString(),
    changeId: change.eventId,
  };
  try {
    // A duplicate message after a crash between publish and record is acceptable: runners dedupe on changeId.
    const messageId = await deps.publishOpsEvent(event);
    await ref.update({ 'publish.state': StepState.done, 'publish.messageId': messageId, 'publish.finishedAt': ts(deps.clock.now()) });
    deps.log.info(LogEvent.opsEventPublished, { type: event.type, messageId, changeId: change.eventId });
    return StepState.done;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    await ref.update({ 'publish.state': StepState.failed, 'publish.detail': detail, 'publish.finishedAt': ts(deps.clock.now()) });
    deps.log.error(LogEvent.opsEventPublishFailed, { changeId: change.eventId, detail });
    throw new HaltSideEffectError('publish', detail);
  }
}
