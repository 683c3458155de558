import fc from 'fast-check';
import { idArb } from '../../../support/intent-arbitraries.js';
import { describe, expect, it } from 'vitest';
import { breakerRefusalReason, trip } from '../../../../functions/src/domain/breakers/breaker.js';
import { BREAKER_NAMES } from '../../../../functions/src/domain/breakers/limits.js';
import type { BreakerName } from '../../../../functions/src/domain/breakers/limits.js';
import {
  EMPTY_BREAKER_STATE,
  describeLatchedTrip,
  latchManualTrip,
  latchTrip,
  latchedBreaker,
  parseBreakerState,
  resetBreaker,
  serializeBreakerState,
} from '../../../../functions/src/domain/breakers/state.js';
import type { BreakerState, LatchedTrip } from '../../../../functions/src/domain/breakers/state.js';

const T = Date.parse('2026-01-02T15:00:00Z');

describe('breaker state', () => {
  it('latches a trip with name, value, threshold, time and intent', () => {
    const state = latchTrip(EMPTY_BREAKER_STATE, trip('notional', 600, 500, 'too big'), { intentId: 'i-1', nowMs: T });
    expect(state).toEqual({
      notional: { tripped: true, breaker: 'notional', detail: 'too big', value: 600, threshold: 500, trippedAt: T, intentId: 'i-1' },
    });
    expect(EMPTY_BREAKER_STATE).toEqual({});
  });

  it('keeps the first trip of a breaker that is already latched', () => {
    const first = latchTrip(EMPTY_BREAKER_STATE, trip('notional', 600, 500, 'first'), { intentId: 'i-1', nowMs: T });
    const second = latchTrip(first, trip('notional', 900, 500, 'second'), { intentId: 'i-2', nowMs: T + 1 });
    expect(second).toBe(first);
  });

  it('stores a non-finite measurement as null', () => {
    const state = latchTrip(EMPTY_BREAKER_STATE, { tripped: true, breaker: 'volatility', value: Infinity, threshold: 3, detail: 'x' }, { intentId: 'i', nowMs: T });
    expect(state.volatility?.value).toBeNull();
    expect(trip('volatility', Number.NaN, 3, 'x').value).toBeNull();
  });

  it('reports the first latched breaker in the fixed order', () => {
    expect(latchedBreaker(EMPTY_BREAKER_STATE)).toBeNull();
    let s = latchTrip(EMPTY_BREAKER_STATE, trip('brokerErrors', 3, 3, 'b'), { intentId: 'i-1', nowMs: T });
    s = latchTrip(s, trip('volatility', 5, 3, 'v'), { intentId: 'i-2', nowMs: T + 1 });
    expect(latchedBreaker(s)?.breaker).toBe('volatility');
  });

  it('resets one breaker and leaves the others latched', () => {
    let s = latchTrip(EMPTY_BREAKER_STATE, trip('brokerErrors', 3, 3, 'b'), { intentId: 'i-1', nowMs: T });
    s = latchTrip(s, trip('volatility', 5, 3, 'v'), { intentId: 'i-2', nowMs: T + 1 });
    const after = resetBreaker(s, 'volatility');
    expect(Object.keys(after)).toEqual(['brokerErrors']);
    expect(s.volatility).toBeDefined(); // the input is untouched
    expect(latchedBreaker(resetBreaker(after, 'brokerErrors'))).toBeNull();
    expect(resetBreaker(after, 'dailyLoss')).toBe(after);
  });

  it('names the refusal reason breaker:<name>', () => {
    expect(breakerRefusalReason('dailyLoss')).toBe('breaker:dailyLoss');
  });
});

describe('parseBreakerState', () => {
  const good: LatchedTrip = { tripped: true, breaker: 'orderRate', detail: 'd', value: 11, threshold: 10, trippedAt: T, intentId: 'i-1' };

  it('accepts an empty state and a latched one', () => {
    expect(parseBreakerState({})).toEqual({ ok: true, state: {} });
    expect(parseBreakerState({ orderRate: good })).toEqual({ ok: true, state: { orderRate: good } });
    expect(parseBreakerState({ orderRate: { ...good, value: null } }).ok).toBe(true);
  });

  it('fails on anything malformed (the caller fails closed)', () => {
    const bad: unknown[] = [
      undefined,
      null,
      'tripped',
      [],
      { unknownBreaker: good },
      { orderRate: { ...good, breaker: 'notional' } },
      { orderRate: { ...good, tripped: false } },
      { orderRate: { ...good, threshold: undefined } },
      { orderRate: { ...good, value: Number.NaN } },
      { orderRate: { ...good, value: '11' } },
      { orderRate: { ...good, trippedAt: -1 } },
      { orderRate: { ...good, intentId: 'has space' } },
      { orderRate: { ...good, extra: 1 } },
      { orderRate: null },
    ];
    for (const value of bad) {
      const r = parseBreakerState(value);
      expect(r.ok, JSON.stringify(value)).toBe(false);
      if (!r.ok) expect(r.issues.length).toBeGreaterThan(0);
    }
  });

  it('round-trips any state through serialise → JSON → parse', () => {
    const num = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
    const tripArb = (name: BreakerName): fc.Arbitrary<LatchedTrip> =>
      name === 'manual'
        ? fc
            .record({
              reason: fc.string({ minLength: 1, maxLength: 200 }).filter((s) => s.trim() !== '' && s.trim() === s),
              by: fc.string({ minLength: 1, maxLength: 50 }).filter((s) => s.trim() !== ''),
              trippedAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
            })
            .map((m) => ({ tripped: true as const, breaker: 'manual' as const, detail: m.reason, reason: m.reason, by: m.by, trippedAt: m.trippedAt }))
        : (fc.record({
        tripped: fc.constant(true as const),
        breaker: fc.constant(name),
        detail: fc.string({ maxLength: 200 }),
        value: fc.option(num, { nil: null }),
        threshold: num,
        trippedAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
        intentId: idArb,
      }) as fc.Arbitrary<LatchedTrip>);
    const stateArb = fc
      .record(Object.fromEntries(BREAKER_NAMES.map((n) => [n, fc.option(tripArb(n), { nil: undefined })])) as Record<BreakerName, fc.Arbitrary<LatchedTrip | undefined>>)
      .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as BreakerState);
    fc.assert(
      fc.property(stateArb, (state) => {
        const stored = serializeBreakerState(state);
        expect(Object.values(stored).every((v) => v !== undefined)).toBe(true);
        const parsed = parseBreakerState(JSON.parse(JSON.stringify(stored)));
        expect(parsed).toEqual({ ok: true, state });
        if (parsed.ok) expect(latchedBreaker(parsed.state)).toEqual(latchedBreaker(state));
      }),
    );
  });
});

describe('the manual breaker (per-strategy halt)', () => {
  const measured = { tripped: true, breaker: 'notional', detail: 'd', value: 5, threshold: 1, trippedAt: 1, intentId: 'i-1' };
  const manual = { tripped: true, breaker: 'manual', detail: 'runaway', reason: 'runaway', by: 'op-alice', trippedAt: 2 };

  it('is first in BREAKER_NAMES, so a manual halt is what latchedBreaker reports', () => {
    expect(BREAKER_NAMES[0]).toBe('manual');
    const parsed = parseBreakerState({ notional: measured, manual });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(latchedBreaker(parsed.state)).toEqual(manual);
    expect(breakerRefusalReason('manual')).toBe('breaker:manual');
  });

  it('carries who and why and no intent, value or threshold; the other breakers keep their strict shape', () => {
    expect(parseBreakerState({ manual }).ok).toBe(true);
    for (const bad of [
      { manual: { ...manual, intentId: 'i-1' } },
      { manual: { ...manual, value: null } },
      { manual: { ...manual, threshold: 0 } },
      { manual: { ...manual, by: undefined } },
      { manual: { ...manual, by: '' } },
      { manual: { ...manual, reason: '  ' } },
      { manual: { ...manual, reason: 'x'.repeat(1001) } },
      { manual: { ...manual, breaker: 'notional' } },
      { manual: measured },
      // A measured breaker may not take the manual shape, nor carry `by`.
      { notional: { ...manual, breaker: 'notional' } },
      { notional: { ...measured, by: 'op-alice' } },
      { notional: { ...measured, intentId: undefined } },
    ]) {
      expect(parseBreakerState(JSON.parse(JSON.stringify(bad))).ok, JSON.stringify(bad)).toBe(false);
    }
  });

  it('latchManualTrip keeps the first halt; latchTrip never latches manual from a verdict', () => {
    const once = latchManualTrip(EMPTY_BREAKER_STATE, { by: 'op-alice', reason: 'first', nowMs: 10 });
    expect(once.manual).toEqual({ tripped: true, breaker: 'manual', detail: 'first', reason: 'first', by: 'op-alice', trippedAt: 10 });
    expect(latchManualTrip(once, { by: 'op-bob', reason: 'second', nowMs: 20 })).toBe(once);
    expect(latchTrip(EMPTY_BREAKER_STATE, trip('manual', 1, 1, 'x'), { intentId: 'i', nowMs: 1 })).toBe(EMPTY_BREAKER_STATE);
    expect(resetBreaker(once, 'manual')).toEqual({});
    expect(describeLatchedTrip(once.manual!)).toMatch(/halted by op-alice since 1970-01-01T00:00:00.010Z: first/);
  });
});
