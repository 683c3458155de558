import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pendingRelease, tracksExposure } from '../../../../functions/src/domain/exposure/pending-release.js';
import type { OrderView } from '../../../../functions/src/domain/order-lifecycle.js';
import { SubmissionState, type SubmissionRecord } from '../../../../functions/src/domain/submission.js';
import { makeIntent } from '../../../support/intents.js';
import { SHARE } from './fixtures.js';

const record = (state: SubmissionState, over: Partial<SubmissionRecord> = {}): SubmissionRecord => ({
  intentId: 'i-1',
  state,
  reason: null,
  detail: null,
  intent: makeIntent({ intentId: 'i-1', qty: 10, side: 'sell' }),
  strategyId: 's',
  clientOrderId: 'hg-i-1',
  brokerOrderId: null,
  brokerStatus: null,
  attempts: 1,
  owner: null,
  executionMode: 'paper',
  claimedAtMs: 1,
  updatedAtMs: 1,
  history: [],
  ...over,
});
const order = (status: string, filledQty: string, final: boolean): OrderView => ({ status, filledQty, filledAvgPrice: null, updatedAtMs: 2, final });

describe('pending exposure released once, when the claimed quantity will never fill', () => {
  it('only paper and live claims hold pending exposure', () => {
    expect(['paper', 'live'].map(tracksExposure)).toEqual([true, true]);
    expect(['dry_run', 'off', ''].map(tracksExposure)).toEqual([false, false, false]);
    expect(pendingRelease(record('submitting', { executionMode: 'dry_run' }), record('rejected', { executionMode: 'dry_run' }))).toBeNull();
  });

  it.each(['rejected', 'released', 'refused', 'abandoned'] as const)('a claim that ends %s releases its whole quantity', (to) => {
    expect(pendingRelease(record('submitting'), record(to))).toMatchObject({ side: 'sell', qty: 10n * SHARE });
    expect(pendingRelease(record('unknown'), record(to))).toMatchObject({ qty: 10n * SHARE });
  });

  it('placed orders release nothing until final; then the unfilled rest, except when filled', () => {
    expect(pendingRelease(record('submitting'), record('submitted', { order: order('accepted', '0', false) }))).toBeNull();
    expect(pendingRelease(record('unknown'), record('submitted'))).toBeNull();
    const open = record('submitted', { order: order('partially_filled', '4', false) });
    expect(pendingRelease(open, record('submitted', { order: order('canceled', '4', true) }))).toMatchObject({ qty: 6n * SHARE, why: expect.stringContaining('canceled') });
    expect(pendingRelease(open, record('submitted', { order: order('expired', '0', true) }))).toMatchObject({ qty: 10n * SHARE });
    expect(pendingRelease(open, record('submitted', { order: order('rejected', '0', true) }))).toMatchObject({ qty: 10n * SHARE });
    expect(pendingRelease(open, record('submitted', { order: order('filled', '10', true) }))).toBeNull();
    // Rejected in the very answer that accepted it (no order view before).
    expect(pendingRelease(record('submitting'), record('submitted', { order: order('rejected', '0', true) }))).toMatchObject({ qty: 10n * SHARE });
  });

  it('a record already released or final releases nothing again (exactly once)', () => {
    const final = record('submitted', { order: order('canceled', '4', true) });
    expect(pendingRelease(final, final)).toBeNull();
    expect(pendingRelease(final, record('submitted', { order: order('canceled', '4', true), detail: 'x' }))).toBeNull();
    expect(pendingRelease(record('released'), record('refused'))).toBeNull();
    expect(pendingRelease(record('rejected'), record('rejected'))).toBeNull();
    expect(pendingRelease(null, record('refused'))).toBeNull();
  });

  it('an unreadable filled quantity releases nothing (pending stays: stricter)', () => {
    const open = record('submitted', { order: order('new', '0', false) });
    for (const bad of ['', '-1', 'x', '1e3']) expect(pendingRelease(open, record('submitted', { order: order('canceled', bad, true) }))).toBeNull();
  });

  it('fills plus the final release always add up to the claimed quantity (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.constantFrom('canceled', 'expired', 'rejected', 'filled'), (filled, status) => {
        fc.pre(status !== 'filled' || filled === 10);
        const release = pendingRelease(record('submitted', { order: order('new', '0', false) }), record('submitted', { order: order(status, String(filled), true) }));
        expect(BigInt(filled) * SHARE + (release?.qty ?? 0n)).toBe(10n * SHARE);
      }),
    );
  });
});
