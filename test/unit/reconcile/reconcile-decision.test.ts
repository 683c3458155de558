import { describe, expect, it } from 'vitest';
import {
  abandonGraceStartMs,
  decideReconcile,
  reconcileEligibility,
  type ReconcileLookup,
  type ReconcileSettings,
} from '../../../functions/src/domain/reconcile-decision.js';
import { SubmissionState, type SubmissionRecord } from '../../../functions/src/domain/submission.js';

const T0 = Date.parse('2026-03-02T15:00:00Z');
const SETTINGS: ReconcileSettings = { ownerGraceMs: 30_000, abandonAfterMs: 900_000 };
const DEADLINE = T0 + 60_000;

function record(overrides: Partial<SubmissionRecord> = {}): SubmissionRecord {
  return {
    intentId: 'it-1',
    state: SubmissionState.submitting,
    reason: null,
    detail: null,
    intent: {
      intentId: 'it-1',
      strategyId: 's1',
      symbol: 'AAPL',
      side: 'buy',
      qty: 1,
      type: 'market',
      timeInForce: 'day',
      createdAt: new Date(T0).toISOString(),
    },
    strategyId: 's1',
    clientOrderId: 'it-1',
    brokerOrderId: null,
    brokerStatus: null,
    attempts: 1,
    owner: { instanceId: 'inst-a', eventId: 'ev-1', deadlineAtMs: DEADLINE },
    executionMode: 'paper',
    claimedAtMs: T0,
    updatedAtMs: T0,
    history: [{ state: SubmissionState.submitting, atMs: T0, attempt: 1 }],
    ...overrides,
  };
}

const FOUND: ReconcileLookup = { kind: 'found', order: { id: 'ord-1', status: 'accepted' } };
const NOT_FOUND: ReconcileLookup = { kind: 'not_found' };
const FAILED: ReconcileLookup = { kind: 'unknown', message: 'timeout after 10000 ms' };

/** The first moment a `submitting` owner counts as gone. */
const OWNER_GONE_AT = DEADLINE + SETTINGS.ownerGraceMs + 1;

describe('reconcileEligibility', () => {
  it('a submitting record is left alone up to and including deadline + grace', () => {
    expect(reconcileEligibility(record(), T0, SETTINGS).eligible).toBe(false);
    expect(reconcileEligibility(record(), DEADLINE + SETTINGS.ownerGraceMs, SETTINGS)).toMatchObject({
      eligible: false,
      why: expect.stringMatching(/inst-a is live/),
    });
  });

  it('a submitting record is eligible 1 ms after deadline + grace', () => {
    expect(reconcileEligibility(record(), OWNER_GONE_AT, SETTINGS)).toEqual({ eligible: true });
  });

  it('a submitting record without an owner is eligible at once', () => {
    expect(reconcileEligibility(record({ owner: null }), T0, SETTINGS)).toEqual({ eligible: true });
  });

  it('an unknown record is always eligible, even while its owner is live', () => {
    expect(reconcileEligibility(record({ state: SubmissionState.unknown }), T0, SETTINGS)).toEqual({ eligible: true });
  });

  it.each([
    SubmissionState.refused,
    SubmissionState.submitted,
    SubmissionState.rejected,
    SubmissionState.released,
    SubmissionState.abandoned,
    SubmissionState.dry_run,
  ])('a %s record is never reconciled', (state) => {
    expect(reconcileEligibility(record({ state }), OWNER_GONE_AT + 10 * SETTINGS.abandonAfterMs, SETTINGS)).toMatchObject({
      eligible: false,
      why: `state ${state} is not reconciled`,
    });
  });
});

describe('abandonGraceStartMs', () => {
  it('is the owner deadline when the record was last updated before it', () => {
    expect(abandonGraceStartMs(record())).toBe(DEADLINE);
  });

  it('is the last update when that came after the deadline (unknown written late)', () => {
    expect(abandonGraceStartMs(record({ state: SubmissionState.unknown, updatedAtMs: DEADLINE + 5_000 }))).toBe(DEADLINE + 5_000);
  });

  it('without an owner, the later of claim and update', () => {
    expect(abandonGraceStartMs(record({ owner: null, claimedAtMs: T0 + 7, updatedAtMs: T0 + 3 }))).toBe(T0 + 7);
    expect(abandonGraceStartMs(record({ owner: null, claimedAtMs: null, updatedAtMs: T0 + 3 }))).toBe(T0 + 3);
  });
});

describe('decideReconcile', () => {
  it('a live owner is skipped whatever the broker says', () => {
    for (const lookup of [FOUND, NOT_FOUND, FAILED]) {
      expect(decideReconcile(record(), lookup, DEADLINE, SETTINGS).kind).toBe('skip');
    }
  });

  it('a settled record is skipped', () => {
    expect(decideReconcile(record({ state: SubmissionState.submitted }), FOUND, OWNER_GONE_AT, SETTINGS).kind).toBe('skip');
  });

  it.each([SubmissionState.submitting, SubmissionState.unknown])('%s found at the broker → submitted with the order', (state) => {
    expect(decideReconcile(record({ state }), FOUND, OWNER_GONE_AT, SETTINGS)).toEqual({
      kind: 'submitted',
      brokerOrderId: 'ord-1',
      brokerStatus: 'accepted',
      order: null,
      detail: `reconciler found the order by client_order_id after ${state}`,
    });
  });

  it('the order view comes with the adoption when the lookup shows fills (the broker time when it has one)', () => {
    const found: ReconcileLookup = {
      kind: 'found',
      order: { id: 'ord-1', status: 'partially_filled', filledQty: '3', filledAvgPrice: '10.50', updatedAt: '2026-03-02T15:00:05Z' },
    };
    const decision = decideReconcile(record({ state: SubmissionState.unknown }), found, OWNER_GONE_AT, SETTINGS);
    expect(decision).toMatchObject({
      kind: 'submitted',
      order: { status: 'partially_filled', filledQty: '3', filledAvgPrice: '10.5', updatedAtMs: Date.parse('2026-03-02T15:00:05Z'), final: false },
    });
  });

  it('an unknown record is adopted as soon as the broker shows it, even before the owner deadline', () => {
    expect(decideReconcile(record({ state: SubmissionState.unknown }), FOUND, T0 + 1, SETTINGS).kind).toBe('submitted');
  });

  it.each([SubmissionState.submitting, SubmissionState.unknown])('%s with a failed lookup waits, even long after the grace period', (state) => {
    const d = decideReconcile(record({ state }), FAILED, DEADLINE + 100 * SETTINGS.abandonAfterMs, SETTINGS);
    expect(d).toEqual({ kind: 'wait', why: 'lookup failed: timeout after 10000 ms' });
  });

  it('an orphaned submitting record not at the broker becomes unknown (owner_gone) within the grace period', () => {
    expect(decideReconcile(record(), NOT_FOUND, OWNER_GONE_AT, SETTINGS)).toMatchObject({ kind: 'mark_unknown', reason: 'owner_gone' });
  });

  it('an unknown record not at the broker waits within the grace period', () => {
    const d = decideReconcile(record({ state: SubmissionState.unknown }), NOT_FOUND, DEADLINE + 1000, SETTINGS);
    expect(d).toEqual({ kind: 'wait', why: `not at the broker yet; abandoned after ${SETTINGS.abandonAfterMs - 1000} ms more` });
  });

  it('grace boundary: exactly abandonAfterMs after the last possible send still waits; 1 ms later abandons', () => {
    const unknownRec = record({ state: SubmissionState.unknown, updatedAtMs: DEADLINE - 40_000 });
    expect(decideReconcile(unknownRec, NOT_FOUND, DEADLINE + SETTINGS.abandonAfterMs, SETTINGS).kind).toBe('wait');
    const d = decideReconcile(unknownRec, NOT_FOUND, DEADLINE + SETTINGS.abandonAfterMs + 1, SETTINGS);
    expect(d).toMatchObject({ kind: 'abandon', reason: 'not_at_broker' });
    expect(d.kind === 'abandon' && d.detail).toMatch(/client_order_id it-1/);
  });

  it('the grace period counts from the unknown write when that came after the deadline', () => {
    const late = record({ state: SubmissionState.unknown, updatedAtMs: DEADLINE + 60_000 });
    expect(decideReconcile(late, NOT_FOUND, DEADLINE + SETTINGS.abandonAfterMs + 1, SETTINGS).kind).toBe('wait');
    expect(decideReconcile(late, NOT_FOUND, DEADLINE + 60_000 + SETTINGS.abandonAfterMs + 1, SETTINGS).kind).toBe('abandon');
  });

  it('a submitting record orphaned for longer than the grace period is abandoned directly', () => {
    expect(decideReconcile(record(), NOT_FOUND, DEADLINE + SETTINGS.abandonAfterMs + 1, SETTINGS)).toMatchObject({
      kind: 'abandon',
      reason: 'not_at_broker',
    });
  });

  it('is pure: the same inputs give the same decision and the record is not changed', () => {
    const rec = record({ state: SubmissionState.unknown });
    const copy = structuredClone(rec);
    const a = decideReconcile(rec, NOT_FOUND, OWNER_GONE_AT, SETTINGS);
    const b = decideReconcile(rec, NOT_FOUND, OWNER_GONE_AT, SETTINGS);
    expect(a).toEqual(b);
    expect(rec).toEqual(copy);
  });
});
