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

export interface LatchedTrip {
  tripped: true;
  breaker: BreakerName;
  detail: string;
  /** Finite, or null when the breaker could not measure (fail-closed trips). */
  value: number | null;
  threshold: number;
  /** Decision time of the intent that tripped it, ms since the epoch. */
  trippedAt: number;
  intentId: string;
}

export type BreakerState = Readonly<Partial<Record<BreakerName, Readonly<LatchedTrip>>>>;

export const EMPTY_BREAKER_STATE: BreakerState = Object.freeze({});

/**
 * Latches a trip. A breaker that is already latched keeps its first trip: that is the one the
 * operator must see (a second trip can only come from a race the store lost anyway).
 */
export function latchTrip(state: BreakerState, verdict: TrippedVerdict, at: { intentId: string; nowMs: number }): BreakerState {
  if (state[verdict.breaker] !== undefined) return state;
  const latched: LatchedTrip = {
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

const latchedTripSchema = z.strictObject({
  tripped: z.literal(true),
  breaker: z.enum(BreakerName),
  detail: z.string().max(2000),
  value: z.number().nullable(),
  threshold: z.number(),
  trippedAt: z.number().int().min(0),
  intentId: z.string().regex(INTENT_ID_PATTERN),
});

const stateShape = Object.fromEntries(BREAKER_NAMES.map((name) => [name, latchedTripSchema.optional()])) as Record<
  BreakerName,
  z.ZodOptional<typeof latchedTripSchema>
>;

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
    const latched = parsed.data[name];
    if (latched !== undefined) state[name] = latched;
  }
  return { ok: true, state };
}
