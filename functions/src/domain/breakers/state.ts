import { z } from 'zod';
import { INTENT_ID_PATTERN } from '../intent.js';
import type { TrippedVerdict } from './breaker.js';
import { BREAKER_NAMES, BreakerName } from './limits.js';

/**
 * Latched breakers of one strategy, kept on `strategies/{strategyId}`. A trip stays latched —
 * refusing every intent of the strategy — until an operator resets that breaker (G7). Each
 * latched trip records what the issue asks for: the breaker, the measured value, the
 * threshold, the time and the intent that tripped it.
 */

/** A trip measured on an intent by one of the evaluated breakers. */
export interface MeasuredTrip {
  tripped: true;
  breaker: Exclude<BreakerName, 'manual'>;
  detail: string;
  /** Finite, or null when the breaker could not measure (fail-closed trips). */
  value: number | null;
  threshold: number;
  /** Decision time of the intent that tripped it, ms since the epoch. */
  trippedAt: number;
  intentId: string;
  by?: undefined;
  reason?: undefined;
}

/**
 * An operator's per-strategy halt (`breakers.manual`): latched like the others and reset the
 * same audited way, but set by a person, so it carries who and why and no intent, value or
 * threshold. `detail` repeats the reason so readers of any trip find the words in one place.
 */
export interface ManualTrip {
  tripped: true;
  breaker: 'manual';
  detail: string;
  /** The operator's reason (required, 1–1000 characters). */
  reason: string;
  /** Uid (API, dashboard) or principal (CLI) of the operator who halted the strategy. */
  by: string;
  /** When the operator halted it, ms since the epoch. */
  trippedAt: number;
  value?: undefined;
  threshold?: undefined;
  intentId?: undefined;
}

export type LatchedTrip = MeasuredTrip | ManualTrip;

export type BreakerState = Readonly<Partial<Record<BreakerName, Readonly<LatchedTrip>>>>;

export const EMPTY_BREAKER_STATE: BreakerState = Object.freeze({});

/**
 * Latches a trip. A breaker that is already latched keeps its first trip: that is the one the
 * operator must see (a second trip can only come from a race the store lost anyway).
 */
export function latchTrip(state: BreakerState, verdict: TrippedVerdict, at: { intentId: string; nowMs: number }): BreakerState {
  if (state[verdict.breaker] !== undefined) return state;
  // `manual` is set by an operator (latchManualTrip), never by an intent's verdict.
  if (verdict.breaker === 'manual') return state;
  const latched: MeasuredTrip = {
    tripped: true,
    breaker: verdict.breaker,
    detail: verdict.detail,
    value: verdict.value !== null && Number.isFinite(verdict.value) ? verdict.value : null,
    threshold: verdict.threshold,
    trippedAt: at.nowMs,
    intentId: at.intentId,
  };
  return { ...state, [verdict.breaker]: latched };
}

/** The most a manual reason may hold (the ops API and the rules use the same bound). */
export const MAX_MANUAL_REASON = 1000;

/**
 * Latches an operator's halt. Already halted by hand, the state is returned as it is: the
 * first halt (who, why, since when) is what the next operator must see; the caller reports
 * that nothing changed.
 */
export function latchManualTrip(state: BreakerState, at: { by: string; reason: string; nowMs: number }): BreakerState {
  if (state.manual !== undefined) return state;
  const latched: ManualTrip = { tripped: true, breaker: 'manual', detail: at.reason, reason: at.reason, by: at.by, trippedAt: at.nowMs };
  return { ...state, manual: latched };
}

/** One line for refusals and logs: who and why for a manual halt, what was measured otherwise. */
export function describeLatchedTrip(latched: Readonly<LatchedTrip>): string {
  const since = new Date(latched.trippedAt).toISOString();
  if (latched.breaker === 'manual') return `strategy halted by ${latched.by} since ${since}: ${latched.reason}; an operator must reset breaker manual`;
  return (
    `breaker ${latched.breaker} latched since ${since} by intent ${latched.intentId} ` +
    `(value ${latched.value ?? 'unmeasurable'}, threshold ${latched.threshold}): ${latched.detail}; an operator must reset it`
  );
}

/** The first latched breaker in BREAKER_NAMES order, or null when none is. */
export function latchedBreaker(state: BreakerState): Readonly<LatchedTrip> | null {
  for (const name of BREAKER_NAMES) {
    const latched = state[name];
    if (latched !== undefined) return latched;
  }
  return null;
}

/** A new state without `name`'s trip (a no-op when it was not latched). */
export function resetBreaker(state: BreakerState, name: BreakerName): BreakerState {
  if (state[name] === undefined) return state;
  const next: Partial<Record<BreakerName, Readonly<LatchedTrip>>> = { ...state };
  delete next[name];
  return next;
}

const MEASURED_BREAKERS = BREAKER_NAMES.filter((n): n is Exclude<BreakerName, 'manual'> => n !== 'manual');

const latchedTripSchema = z.strictObject({
  tripped: z.literal(true),
  breaker: z.enum(MEASURED_BREAKERS as [Exclude<BreakerName, 'manual'>, ...Exclude<BreakerName, 'manual'>[]]),
  detail: z.string().max(2000),
  value: z.number().nullable(),
  threshold: z.number(),
  trippedAt: z.number().int().min(0),
  intentId: z.string().regex(INTENT_ID_PATTERN),
});

/** Strict too: a manual trip names its operator and reason, and has no intent, value or threshold. */
const manualTripSchema = z.strictObject({
  tripped: z.literal(true),
  breaker: z.literal('manual'),
  detail: z.string().max(2000),
  reason: z.string().max(MAX_MANUAL_REASON).refine((v) => v.trim() !== '', 'must not be empty'),
  by: z.string().max(200).refine((v) => v.trim() !== '', 'must not be empty'),
  trippedAt: z.number().int().min(0),
});

const stateShape = {
  manual: manualTripSchema.optional(),
  ...(Object.fromEntries(MEASURED_BREAKERS.map((name) => [name, latchedTripSchema.optional()])) as Record<
    Exclude<BreakerName, 'manual'>,
    z.ZodOptional<typeof latchedTripSchema>
  >),
};

export const breakerStateSchema = z.strictObject(stateShape).superRefine((state, ctx) => {
  for (const name of BREAKER_NAMES) {
    const latched = state[name];
    if (latched !== undefined && latched.breaker !== name) {
      ctx.addIssue({ code: 'custom', path: [name, 'breaker'], message: `is "${latched.breaker}" under the key "${name}"` });
    }
  }
});

/** The stored form: a plain object with only the latched breakers (no undefined values for Firestore). */
export type BreakerStateJSON = Partial<Record<BreakerName, LatchedTrip>>;

export function serializeBreakerState(state: BreakerState): BreakerStateJSON {
  const out: BreakerStateJSON = {};
  for (const name of BREAKER_NAMES) {
    const latched = state[name];
    if (latched !== undefined) out[name] = { ...latched };
  }
  return out;
}

export interface BreakerStateIssue {
  path: string;
  message: string;
}

/**
 * Parses a stored state. Anything malformed — unknown breaker names, a missing field, a
 * non-object — is a failure the caller must treat as fail-closed (refuse), never as "no
 * breaker latched". A strategy with no document yet is the caller's to map to
 * EMPTY_BREAKER_STATE explicitly; `undefined` here is malformed.
 */
export function parseBreakerState(value: unknown): { ok: true; state: BreakerState } | { ok: false; issues: BreakerStateIssue[] } {
  const parsed = breakerStateSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        path: issue.path.length === 0 ? '(breakers)' : issue.path.map(String).join('.'),
        message: issue.message,
      })),
    };
  }
  const state: Partial<Record<BreakerName, LatchedTrip>> = {};
  for (const name of BREAKER_NAMES) {
    const latched: LatchedTrip | undefined = parsed.data[name];
    if (latched !== undefined) state[name] = latched;
  }
  return { ok: true, state };
}
