import { clientOrderIdFor } from './client-order-id.js';
import type { ExecutionMode } from './execution-mode.js';
import { sameIntent, type OrderIntent } from './intent.js';
import type { KillSwitchState } from './kill-switch.js';
import {
  appendHistory,
  isTerminal,
  RefusalReason,
  SubmissionState,
  type SubmissionRecord,
} from './submission.js';

/**
 * What the claim transaction decides, given everything it read (DESIGN.md step 3). Pure: the
 * store runs it inside the transaction — possibly several times, since Firestore re-runs
 * transaction callbacks — and writes what it returns.
 */
export interface ClaimInput {
  intent: OrderIntent;
  eventId: string;
  instanceId: string;
  nowMs: number;
  /** This invocation's deadline: stored on the claim so others can tell when its owner is gone. */
  deadlineAtMs: number;
  killSwitch: KillSwitchState;
  /** The execution mode, or why the configuration is invalid. */
  config: { ok: true; mode: ExecutionMode; maxIntentAgeMs: number; ownerGraceMs: number } | { ok: false; problem: string; ownerGraceMs: number };
  /** The existing record, or `null`; `undefined` data that failed to parse is `{ unreadable }`. */
  existing: SubmissionRecord | null | { unreadable: string };
  /** The strategy's own verdict (breakers, limits); `ok` when the strategy may trade. */
  strategy: { ok: true } | { ok: false; reason: string; detail: string };
}

export const ClaimDecisionKind = {
  /** A terminal record exists for this intent: this delivery is a duplicate; acknowledge. */
  duplicate: 'duplicate',
  /** Same intentId, different payload: never submitted, kept in invalidIntents. */
  conflict: 'conflict',
  /** A live invocation owns the claim: let Pub/Sub redeliver later. */
  held: 'held',
  /** An earlier attempt may have reached the broker: look the order up, never resubmit. */
  resolve: 'resolve',
  /** The record is unreadable: fail closed, submit nothing, retry later. */
  unreadable: 'unreadable',
  /** Write a terminal `refused` record. */
  refuse: 'refuse',
  /** Write a `submitting` record: this invocation may call the broker. */
  claim: 'claim',
} as const;

export type ClaimDecision =
  | { kind: 'duplicate'; record: SubmissionRecord }
  | { kind: 'conflict'; record: SubmissionRecord }
  | { kind: 'held'; record: SubmissionRecord }
  | { kind: 'resolve'; record: SubmissionRecord }
  | { kind: 'unreadable'; problem: string }
  | { kind: 'refuse'; record: SubmissionRecord }
  | { kind: 'claim'; record: SubmissionRecord };

export function decideClaim(input: ClaimInput): ClaimDecision {
  const { existing } = input;
  if (existing !== null && 'unreadable' in existing) return { kind: 'unreadable', problem: existing.unreadable };

  if (existing !== null) {
    // An intentId is an idempotency key, unique forever: a different payload under a known id
    // is a publisher bug, and sending either version could be the wrong order.
    if (!sameIntent(existing.intent, input.intent)) return { kind: 'conflict', record: existing };
    if (isTerminal(existing.state)) return { kind: 'duplicate', record: existing };
    if (existing.state === SubmissionState.submitting) {
      const owner = existing.owner;
      const ownerGone = owner === null || input.nowMs > owner.deadlineAtMs + input.config.ownerGraceMs;
      // A live owner is (or is about to be) calling the broker: a second caller must not.
      if (!ownerGone) return { kind: 'held', record: existing };
      // The owner's deadline has passed: it died or timed out, maybe after sending.
      return { kind: 'resolve', record: existing };
    }
    if (existing.state === SubmissionState.unknown) return { kind: 'resolve', record: existing };
    // `released`: nothing was sent; this delivery may claim again, as a new attempt.
  }

  const refusal = refusalFor(input);
  const attempts = existing === null ? 0 : existing.attempts;
  const base = {
    intentId: input.intent.intentId,
    intent: input.intent,
    strategyId: input.intent.strategyId,
    clientOrderId: clientOrderIdFor(input.intent.intentId),
    brokerOrderId: null,
    brokerStatus: null,
    executionMode: input.config.ok ? input.config.mode : 'invalid',
    updatedAtMs: input.nowMs,
  };
  const history = existing?.history ?? [];

  if (refusal !== null) {
    return {
      kind: 'refuse',
      record: {
        ...base,
        state: SubmissionState.refused,
        reason: refusal.reason,
        detail: refusal.detail,
        attempts,
        owner: null,
        claimedAtMs: existing?.claimedAtMs ?? null,
        history: appendHistory(history, { state: SubmissionState.refused, atMs: input.nowMs, reason: refusal.reason }),
      },
    };
  }

  const attempt = attempts + 1;
  return {
    kind: 'claim',
    record: {
      ...base,
      state: SubmissionState.submitting,
      reason: null,
      detail: null,
      attempts: attempt,
      owner: { instanceId: input.instanceId, eventId: input.eventId, deadlineAtMs: input.deadlineAtMs },
      claimedAtMs: input.nowMs,
      history: appendHistory(history, { state: SubmissionState.submitting, atMs: input.nowMs, attempt }),
    },
  };
}

/** The first reason this intent may not be submitted, in a fixed order; the kill switch first. */
function refusalFor(input: ClaimInput): { reason: string; detail: string } | null {
  if (input.killSwitch.halted) {
    return { reason: RefusalReason.halted, detail: input.killSwitch.reason ?? 'halted' };
  }
  if (!input.config.ok) return { reason: RefusalReason.config_invalid, detail: input.config.problem };
  if (input.config.mode === 'off') return { reason: RefusalReason.mode_off, detail: 'EXECUTION_MODE is off' };
  const expiry = expiryOf(input.intent, input.nowMs, input.config.maxIntentAgeMs);
  if (expiry !== null) return { reason: RefusalReason.expired, detail: expiry };
  if (!input.strategy.ok) return { reason: input.strategy.reason, detail: input.strategy.detail };
  return null;
}

/**
 * Redelivery can come up to 24 h later: a retry must never send a stale order. An intent is
 * expired once its own `expiresAt` has passed, or (when `MAX_INTENT_AGE_MS` > 0) once it is
 * older than that.
 */
export function expiryOf(intent: OrderIntent, nowMs: number, maxIntentAgeMs: number): string | null {
  if (intent.expiresAt !== undefined && nowMs >= Date.parse(intent.expiresAt)) {
    return `intent expired at ${intent.expiresAt}`;
  }
  if (maxIntentAgeMs > 0) {
    const ageMs = nowMs - Date.parse(intent.createdAt);
    if (ageMs > maxIntentAgeMs) return `intent is ${ageMs} ms old; MAX_INTENT_AGE_MS is ${maxIntentAgeMs}`;
  }
  return null;
}
