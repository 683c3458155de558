import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSubmitBudget, deadlineFrom, remainingMs, type DeadlineBudget } from '../../../functions/src/domain/deadline.js';

const budget = (overrides: Partial<DeadlineBudget> = {}): DeadlineBudget => ({
  deadlineAtMs: 100_000,
  minSubmitBudgetMs: 15_000,
  marginMs: 3_000,
  maxBrokerTimeoutMs: 10_000,
  ...overrides,
});

describe('deadlineFrom / remainingMs', () => {
  it('the deadline is handler entry + timeoutSeconds', () => {
    expect(deadlineFrom(1_000, 60)).toBe(61_000);
    expect(deadlineFrom(0, 540)).toBe(540_000);
    expect(deadlineFrom(1_767_364_200_000, 1)).toBe(1_767_364_201_000);
  });

  it('remainingMs counts down to 0 and never below', () => {
    const b = budget();
    expect(remainingMs(b, 0)).toBe(100_000);
    expect(remainingMs(b, 99_999)).toBe(1);
    expect(remainingMs(b, 100_000)).toBe(0);
    expect(remainingMs(b, 250_000)).toBe(0);
  });
});

describe('checkSubmitBudget', () => {
  it('exactly minSubmitBudgetMs left is enough', () => {
    const b = budget();
    expect(checkSubmitBudget(b, b.deadlineAtMs - b.minSubmitBudgetMs)).toEqual({ ok: true, brokerTimeoutMs: 10_000 });
  });

  it('one ms less than minSubmitBudgetMs is refused, reporting what is left and what is required', () => {
    const b = budget();
    expect(checkSubmitBudget(b, b.deadlineAtMs - b.minSubmitBudgetMs + 1)).toEqual({ ok: false, remainingMs: 14_999, requiredMs: 15_000 });
  });

  it('after the deadline nothing is left', () => {
    expect(checkSubmitBudget(budget(), 200_000)).toEqual({ ok: false, remainingMs: 0, requiredMs: 15_000 });
  });

  it('the broker timeout is maxBrokerTimeoutMs when plenty of time remains', () => {
    expect(checkSubmitBudget(budget(), 0)).toEqual({ ok: true, brokerTimeoutMs: 10_000 });
  });

  it('the broker timeout shrinks to remaining − margin when that is smaller', () => {
    const b = budget({ maxBrokerTimeoutMs: 60_000 });
    // 20 s left, 3 s margin: 17 s.
    expect(checkSubmitBudget(b, 80_000)).toEqual({ ok: true, brokerTimeoutMs: 17_000 });
    // exactly min budget left: 15 s − 3 s.
    expect(checkSubmitBudget(b, 85_000)).toEqual({ ok: true, brokerTimeoutMs: 12_000 });
  });

  it('the switch from max to remaining − margin happens where they are equal', () => {
    const b = budget({ minSubmitBudgetMs: 1_000 });
    // remaining − margin = max at remaining = 13 000.
    expect(checkSubmitBudget(b, b.deadlineAtMs - 13_000)).toEqual({ ok: true, brokerTimeoutMs: 10_000 });
    expect(checkSubmitBudget(b, b.deadlineAtMs - 12_999)).toEqual({ ok: true, brokerTimeoutMs: 9_999 });
    expect(checkSubmitBudget(b, b.deadlineAtMs - 13_001)).toEqual({ ok: true, brokerTimeoutMs: 10_000 });
  });

  it('never hands out a non-positive timeout, even with a budget no larger than the margin', () => {
    // Config validation forbids minSubmitBudgetMs <= marginMs; the domain still fails closed.
    const b = budget({ minSubmitBudgetMs: 3_000, marginMs: 3_000 });
    expect(checkSubmitBudget(b, b.deadlineAtMs - 3_000)).toEqual({ ok: false, remainingMs: 3_000, requiredMs: 3_001 });
    expect(checkSubmitBudget(b, b.deadlineAtMs - 3_001)).toEqual({ ok: true, brokerTimeoutMs: 1 });
    const zero = budget({ minSubmitBudgetMs: 0, marginMs: 0 });
    expect(checkSubmitBudget(zero, zero.deadlineAtMs).ok).toBe(false);
    expect(checkSubmitBudget(zero, zero.deadlineAtMs + 5).ok).toBe(false);
  });

  it('refuses when maxBrokerTimeoutMs is not positive', () => {
    expect(checkSubmitBudget(budget({ maxBrokerTimeoutMs: 0 }), 0).ok).toBe(false);
  });
});

describe('checkSubmitBudget: properties', () => {
  const budgetArb = fc.record({
    deadlineAtMs: fc.integer({ min: 0, max: 2 ** 42 }),
    minSubmitBudgetMs: fc.integer({ min: 0, max: 600_000 }),
    marginMs: fc.integer({ min: 0, max: 600_000 }),
    maxBrokerTimeoutMs: fc.integer({ min: -10, max: 600_000 }),
  });
  const caseArb = budgetArb.chain((b) =>
    fc.tuple(
      fc.constant(b),
      fc.oneof(
        fc.integer({ min: b.deadlineAtMs - 700_000, max: b.deadlineAtMs + 10_000 }),
        fc.constantFrom(b.deadlineAtMs - b.minSubmitBudgetMs, b.deadlineAtMs - b.minSubmitBudgetMs + 1, b.deadlineAtMs - b.marginMs),
      ),
    ),
  );

  it('whenever ok: 0 < timeout ≤ max and now + timeout ≤ deadline − margin', () => {
    fc.assert(
      fc.property(caseArb, ([b, now]) => {
        const r = checkSubmitBudget(b, now);
        if (!r.ok) return;
        expect(r.brokerTimeoutMs).toBeGreaterThan(0);
        expect(r.brokerTimeoutMs).toBeLessThanOrEqual(b.maxBrokerTimeoutMs);
        expect(now + r.brokerTimeoutMs).toBeLessThanOrEqual(b.deadlineAtMs - b.marginMs);
        expect(b.deadlineAtMs - now).toBeGreaterThanOrEqual(b.minSubmitBudgetMs);
      }),
      { numRuns: 5000 },
    );
  });

  it('ok exactly when the budget is met and a positive timeout fits; the timeout is min(max, remaining − margin)', () => {
    fc.assert(
      fc.property(caseArb, ([b, now]) => {
        const left = Math.max(0, b.deadlineAtMs - now);
        const timeout = Math.min(b.maxBrokerTimeoutMs, left - b.marginMs);
        const r = checkSubmitBudget(b, now);
        expect(r.ok).toBe(left >= b.minSubmitBudgetMs && timeout > 0);
        if (r.ok) expect(r.brokerTimeoutMs).toBe(timeout);
        else expect(r.remainingMs).toBe(left);
      }),
      { numRuns: 5000 },
    );
  });

  it('less time left never turns a refusal into ok (monotone in now)', () => {
    fc.assert(
      fc.property(caseArb, fc.nat({ max: 100_000 }), ([b, now], later) => {
        if (!checkSubmitBudget(b, now).ok) expect(checkSubmitBudget(b, now + later).ok).toBe(false);
      }),
    );
  });
});
