import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decideLedger,
  LEDGER_CLOCK_SKEW_MS,
  LEDGER_INCOMPLETE_REASON,
  LEDGER_STALE_REASON,
  parseLedgerSyncState,
  pnlBreakersEnabled,
  type LedgerCheckInput,
  type ParsedLedgerState,
} from '../../../functions/src/domain/ledger-freshness.js';

const NOW = Date.parse('2026-03-10T15:00:00Z');
const MAX = 300_000;

const doc = (lastSuccessAtMs: number, quarantine: unknown = { byStrategy: {}, unattributed: 0, truncated: false }) => ({
  sinceMs: lastSuccessAtMs - 1000,
  lastSuccessAt: new Date(lastSuccessAtMs),
  quarantine,
});

function check(ledger: ParsedLedgerState, over: Partial<LedgerCheckInput> = {}) {
  return decideLedger({ strategyId: 's1', pnlGuarded: true, ledger, nowMs: NOW, maxAgeMs: MAX, ...over });
}

describe('parseLedgerSyncState', () => {
  it('a missing document, or one without lastSuccessAt (an older cursor, failures only), is "never synced"', () => {
    expect(parseLedgerSyncState(undefined)).toEqual({ ok: true, state: null });
    expect(parseLedgerSyncState({ sinceMs: 5, updatedAt: new Date(5) })).toEqual({ ok: true, state: null });
    expect(parseLedgerSyncState({ lastError: 'boom', lastSuccessAt: null })).toEqual({ ok: true, state: null });
  });
  it('reads a well-formed state', () => {
    expect(parseLedgerSyncState(doc(NOW - 1000, { byStrategy: { s1: 2 }, unattributed: 1 }))).toEqual({
      ok: true,
      state: { lastSuccessAtMs: NOW - 1000, quarantinedByStrategy: { s1: 2 }, quarantinedUnattributed: 1 },
    });
  });
  it.each([
    ['not an object', 'x'],
    ['an array', []],
    ['lastSuccessAt a number', { ...doc(NOW), lastSuccessAt: NOW }],
    ['lastSuccessAt a string', { ...doc(NOW), lastSuccessAt: new Date(NOW).toISOString() }],
    ['lastSuccessAt an invalid date', { ...doc(NOW), lastSuccessAt: new Date(Number.NaN) }],
    ['quarantine missing', { lastSuccessAt: new Date(NOW) }],
    ['quarantine a Date', doc(NOW, new Date(NOW))],
    ['unattributed missing', doc(NOW, { byStrategy: {} })],
    ['unattributed negative', doc(NOW, { byStrategy: {}, unattributed: -1 })],
    ['unattributed fractional', doc(NOW, { byStrategy: {}, unattributed: 0.5 })],
    ['byStrategy not a map', doc(NOW, { byStrategy: [], unattributed: 0 })],
    ['a count a string', doc(NOW, { byStrategy: { s1: '1' }, unattributed: 0 })],
  ])('%s is malformed', (_name, data) => {
    expect(parseLedgerSyncState(data).ok).toBe(false);
  });
});

describe('pnlBreakersEnabled', () => {
  it('only consecutiveLosses and dailyLoss read the ledger', () => {
    expect(pnlBreakersEnabled({ maxConsecutiveLosses: 0, maxDailyLoss: 0 })).toBe(false);
    expect(pnlBreakersEnabled({ maxConsecutiveLosses: 1, maxDailyLoss: 0 })).toBe(true);
    expect(pnlBreakersEnabled({ maxConsecutiveLosses: 0, maxDailyLoss: 0.01 })).toBe(true);
  });
});

describe('decideLedger', () => {
  const fresh = parseLedgerSyncState(doc(NOW - 10_000));

  it('a strategy without a P&L breaker is never refused, whatever the ledger', () => {
    for (const ledger of [{ ok: true, state: null } as const, { ok: false, problem: 'x' } as const, parseLedgerSyncState(doc(0, { byStrategy: { s1: 3 }, unattributed: 2 }))]) {
      expect(check(ledger, { pnlGuarded: false })).toEqual({ ok: true });
    }
  });
  it('never synced (a fresh deployment) is stale', () => {
    expect(check({ ok: true, state: null })).toMatchObject({ ok: false, reason: LEDGER_STALE_REASON, detail: expect.stringMatching(/never synced/) });
  });
  it('malformed is stale, naming the problem', () => {
    expect(check({ ok: false, problem: 'ops/fillsCursor.quarantine is not a map' })).toMatchObject({ reason: LEDGER_STALE_REASON, detail: expect.stringMatching(/quarantine is not a map/) });
  });
  it('current is ok; exactly the max age is ok; one millisecond more is stale', () => {
    expect(check(fresh)).toEqual({ ok: true });
    expect(check(parseLedgerSyncState(doc(NOW - MAX)))).toEqual({ ok: true });
    expect(check(parseLedgerSyncState(doc(NOW - MAX - 1)))).toMatchObject({ ok: false, reason: LEDGER_STALE_REASON, detail: expect.stringMatching(/CB_LEDGER_MAX_AGE_MS \(300000 ms\)/) });
  });
  it('a last success slightly ahead of this clock is tolerated; far in the future is stale', () => {
    expect(check(parseLedgerSyncState(doc(NOW + LEDGER_CLOCK_SKEW_MS)))).toEqual({ ok: true });
    expect(check(parseLedgerSyncState(doc(NOW + LEDGER_CLOCK_SKEW_MS + 1)))).toMatchObject({ reason: LEDGER_STALE_REASON, detail: expect.stringMatching(/future/) });
  });
  it("an open quarantined fill of this strategy, or an unattributed one, is incomplete; another strategy's is not", () => {
    const own = parseLedgerSyncState(doc(NOW - 1000, { byStrategy: { s1: 1 }, unattributed: 0 }));
    expect(check(own)).toMatchObject({ ok: false, reason: LEDGER_INCOMPLETE_REASON, detail: expect.stringMatching(/1 fill\(s\) of this strategy/) });
    expect(check(own, { strategyId: 's2' })).toEqual({ ok: true });
    const unattributed = parseLedgerSyncState(doc(NOW - 1000, { byStrategy: {}, unattributed: 2 }));
    expect(check(unattributed, { strategyId: 's2' })).toMatchObject({ reason: LEDGER_INCOMPLETE_REASON, detail: expect.stringMatching(/could not be told/) });
  });
  it('stale wins over incomplete (the older problem explains the newer)', () => {
    expect(check(parseLedgerSyncState(doc(NOW - MAX - 1, { byStrategy: { s1: 1 }, unattributed: 0 })))).toMatchObject({ reason: LEDGER_STALE_REASON });
  });
});

describe('decideLedger properties (pinned clock)', () => {
  const ageArb = fc.integer({ min: -10 * LEDGER_CLOCK_SKEW_MS, max: 10 * 86_400_000 });
  const maxArb = fc.integer({ min: 60_000, max: 86_400_000 });
  const countsArb = fc.record({ own: fc.nat(3), other: fc.nat(3), unattributed: fc.nat(2) });

  it('ok exactly when guarded is false, or the age is within [-skew, max] and nothing open concerns the strategy', () => {
    fc.assert(
      fc.property(fc.boolean(), ageArb, maxArb, countsArb, (pnlGuarded, age, maxAgeMs, c) => {
        const ledger = parseLedgerSyncState(doc(NOW - age, { byStrategy: { s1: c.own, s2: c.other }, unattributed: c.unattributed }));
        const v = decideLedger({ strategyId: 's1', pnlGuarded, ledger, nowMs: NOW, maxAgeMs });
        const current = age <= maxAgeMs && age >= -LEDGER_CLOCK_SKEW_MS;
        const expected = !pnlGuarded || (current && c.own === 0 && c.unattributed === 0);
        expect(v.ok).toBe(expected);
        if (!v.ok) expect(v.reason).toBe(current ? LEDGER_INCOMPLETE_REASON : LEDGER_STALE_REASON);
      }),
      { seed: 1010, numRuns: 2000 },
    );
  });

  it('monotone in age: once stale (past the max), older is stale too; a newer success never makes it staler', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 86_400_000 }), fc.integer({ min: 0, max: 86_400_000 }), maxArb, (a, b, maxAgeMs) => {
        const [younger, older] = a <= b ? [a, b] : [b, a];
        const v = (age: number) => decideLedger({ strategyId: 's1', pnlGuarded: true, ledger: parseLedgerSyncState(doc(NOW - age)), nowMs: NOW, maxAgeMs }).ok;
        if (!v(younger)) expect(v(older)).toBe(false);
        if (v(older)) expect(v(younger)).toBe(true);
      }),
      { seed: 1011, numRuns: 1000 },
    );
  });

  it('recovers: a stale ledger is ok again as soon as a success is recorded at the decision time (not latched)', () => {
    fc.assert(
      fc.property(maxArb, fc.integer({ min: 1, max: 86_400_000 }), (maxAgeMs, extra) => {
        const stale = decideLedger({ strategyId: 's1', pnlGuarded: true, ledger: parseLedgerSyncState(doc(NOW - maxAgeMs - extra)), nowMs: NOW, maxAgeMs });
        const after = decideLedger({ strategyId: 's1', pnlGuarded: true, ledger: parseLedgerSyncState(doc(NOW)), nowMs: NOW, maxAgeMs });
        expect(stale.ok).toBe(false);
        expect(after.ok).toBe(true);
      }),
      { seed: 1012, numRuns: 300 },
    );
  });

  it('never throws and never says ok for a guarded strategy on anything that is not a well-formed current state', () => {
    fc.assert(
      fc.property(fc.anything(), (data) => {
        const parsed = parseLedgerSyncState(data);
        const v = decideLedger({ strategyId: 's1', pnlGuarded: true, ledger: parsed, nowMs: NOW, maxAgeMs: MAX });
        if (v.ok) {
          expect(parsed.ok && parsed.state !== null).toBe(true);
        }
      }),
      { seed: 1013, numRuns: 2000 },
    );
  });
});
