import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { breakerRefusalReason, trip } from '../../../../functions/src/domain/breakers/breaker.js';
import { BREAKER_NAMES } from '../../../../functions/src/domain/breakers/limits.js';
import type { BreakerName } from '../../../../functions/src/domain/breakers/limits.js';
import {
  EMPTY_BREAKER_STATE,
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
    const tripArb = (name: BreakerName) =>
      fc.record({
        tripped: fc.constant(true as const),
        breaker: fc.constant(name),
        detail: fc.string({ maxLength: 200 }),
        value: fc.option(num, { nil: null }),
        threshold: num,
        trippedAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
        intentId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      });
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
