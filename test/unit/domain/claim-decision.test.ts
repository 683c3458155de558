import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideClaim, expiryOf, type ClaimDecision, type ClaimInput } from '../../../functions/src/domain/claim-decision.js';
import { clientOrderIdFor } from '../../../functions/src/domain/client-order-id.js';
import type { ExecutionMode } from '../../../functions/src/domain/execution-mode.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { decideKillSwitch, type KillSwitchState } from '../../../functions/src/domain/kill-switch.js';
import {
  MAX_HISTORY,
  SubmissionState,
  TERMINAL_STATES,
  type HistoryEntry,
  type SubmissionRecord,
} from '../../../functions/src/domain/submission.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

const CREATED_MS = Date.UTC(2026, 0, 2, 14, 30);
const NOW = CREATED_MS + 1_000;
const DEADLINE = NOW + 60_000;
const GRACE = 30_000;

const INTENT: OrderIntent = {
  intentId: 'mom-0001',
  strategyId: 'momentum',
  symbol: 'AAPL',
  side: 'buy',
  qty: 10,
  type: 'limit',
  limitPrice: 187.25,
  timeInForce: 'day',
  createdAt: new Date(CREATED_MS).toISOString(),
  expiresAt: new Date(CREATED_MS + 5 * 60_000).toISOString(),
};

const CLEAR: KillSwitchState = decideKillSwitch({ halted: false }, 'false');
const HALTED: KillSwitchState = decideKillSwitch({ halted: true, reason: 'fat finger', updatedBy: 'alice' }, 'false');

const okConfig = (mode: ExecutionMode = 'paper', maxIntentAgeMs = 0): ClaimInput['config'] => ({ ok: true, mode, maxIntentAgeMs, ownerGraceMs: GRACE });
const BAD_CONFIG: ClaimInput['config'] = { ok: false, problem: 'EXECUTION_MODE="livee" is not one of off, dry_run, paper, live', ownerGraceMs: GRACE };

function input(overrides: Partial<ClaimInput> = {}): ClaimInput {
  return {
    intent: INTENT,
    eventId: 'evt-2',
    instanceId: 'inst-B',
    nowMs: NOW,
    deadlineAtMs: DEADLINE,
    killSwitch: CLEAR,
    config: okConfig(),
    existing: null,
    strategy: { ok: true },
    ...overrides,
  };
}

function record(overrides: Partial<SubmissionRecord> = {}): SubmissionRecord {
  return {
    intentId: INTENT.intentId,
    state: SubmissionState.submitting,
    reason: null,
    detail: null,
    intent: INTENT,
    strategyId: INTENT.strategyId,
    clientOrderId: clientOrderIdFor(INTENT.intentId),
    brokerOrderId: null,
    brokerStatus: null,
    attempts: 1,
    owner: { instanceId: 'inst-A', eventId: 'evt-1', deadlineAtMs: NOW + 10_000 },
    executionMode: 'paper',
    claimedAtMs: NOW - 5_000,
    updatedAtMs: NOW - 5_000,
    history: [{ state: SubmissionState.submitting, atMs: NOW - 5_000, attempt: 1 }],
    ...overrides,
  };
}

function expectKind<K extends ClaimDecision['kind']>(d: ClaimDecision, kind: K): Extract<ClaimDecision, { kind: K }> {
  expect(d.kind, JSON.stringify(d)).toBe(kind);
  return d as Extract<ClaimDecision, { kind: K }>;
}

function refusalReason(overrides: Partial<ClaimInput>): string | null {
  const d = expectKind(decideClaim(input(overrides)), 'refuse');
  expect(d.record.state).toBe('refused');
  return d.record.reason;
}

const TERMINALS = [...TERMINAL_STATES];

// ---------------------------------------------------------------------------------------------

describe('decideClaim: a new intent', () => {
  it('claims when everything is clear: attempt 1, owner set, one history entry, clientOrderId derived', () => {
    const d = expectKind(decideClaim(input()), 'claim');
    expect(d.record).toEqual({
      intentId: INTENT.intentId,
      intent: INTENT,
      strategyId: INTENT.strategyId,
      clientOrderId: INTENT.intentId,
      brokerOrderId: null,
      brokerStatus: null,
      executionMode: 'paper',
      updatedAtMs: NOW,
      state: 'submitting',
      reason: null,
      detail: null,
      attempts: 1,
      owner: { instanceId: 'inst-B', eventId: 'evt-2', deadlineAtMs: DEADLINE },
      claimedAtMs: NOW,
      history: [{ state: 'submitting', atMs: NOW, attempt: 1 }],
    });
  });

  it('derives a hashed clientOrderId for an intentId longer than 48 characters', () => {
    const long = { ...INTENT, intentId: 'x'.repeat(64) };
    const d = expectKind(decideClaim(input({ intent: long })), 'claim');
    expect(d.record.clientOrderId).toBe(clientOrderIdFor(long.intentId));
    expect(d.record.clientOrderId).toMatch(/^hg\./);
  });

  it.each(['dry_run', 'paper', 'live'] as const)('claims in mode %s and records the mode', (mode) => {
    expect(expectKind(decideClaim(input({ config: okConfig(mode) })), 'claim').record.executionMode).toBe(mode);
  });
});

describe('decideClaim: refusals', () => {
  it('halted refuses with reason halted and the kill-switch reason as detail', () => {
    const d = expectKind(decideClaim(input({ killSwitch: HALTED })), 'refuse');
    expect(d.record).toMatchObject({
      state: 'refused',
      reason: 'halted',
      detail: 'ops/killSwitch is halted: fat finger (by alice)',
      attempts: 0,
      owner: null,
      claimedAtMs: null,
      updatedAtMs: NOW,
      clientOrderId: INTENT.intentId,
      history: [{ state: 'refused', atMs: NOW, reason: 'halted' }],
    });
  });

  it('halted with no reason text still gives a detail', () => {
    const d = expectKind(decideClaim(input({ killSwitch: { halted: true, reduceOnly: false, reason: null, sources: ['param'], document: null } })), 'refuse');
    expect(d.record.detail).toBe('halted');
  });

  it('an invalid configuration refuses with config_invalid and the problem, mode recorded as invalid', () => {
    const d = expectKind(decideClaim(input({ config: BAD_CONFIG })), 'refuse');
    expect(d.record).toMatchObject({ reason: 'config_invalid', detail: BAD_CONFIG.ok ? '' : BAD_CONFIG.problem, executionMode: 'invalid' });
  });

  it('mode off refuses with mode_off', () => {
    const d = expectKind(decideClaim(input({ config: okConfig('off') })), 'refuse');
    expect(d.record).toMatchObject({ reason: 'mode_off', detail: 'EXECUTION_MODE is off', executionMode: 'off' });
  });

  it('expired: exactly at expiresAt and after it; 1 ms before is fine', () => {
    const at = Date.parse(INTENT.expiresAt!);
    expect(refusalReason({ nowMs: at })).toBe('expired');
    expect(refusalReason({ nowMs: at + 1 })).toBe('expired');
    expect(decideClaim(input({ nowMs: at - 1 })).kind).toBe('claim');
    const d = expectKind(decideClaim(input({ nowMs: at })), 'refuse');
    expect(d.record.detail).toBe(`intent expired at ${INTENT.expiresAt}`);
  });

  it('maxIntentAgeMs: older than the limit is expired, exactly at the limit is not; 0 disables it', () => {
    const noExpiry = { ...INTENT, expiresAt: undefined };
    const base = { intent: noExpiry, config: okConfig('paper', 60_000) };
    expect(decideClaim(input({ ...base, nowMs: CREATED_MS + 60_000 })).kind).toBe('claim');
    const d = expectKind(decideClaim(input({ ...base, nowMs: CREATED_MS + 60_001 })), 'refuse');
    expect(d.record.reason).toBe('expired');
    expect(d.record.detail).toBe('intent is 60001 ms old; MAX_INTENT_AGE_MS is 60000');
    expect(decideClaim(input({ intent: noExpiry, config: okConfig('paper', 0), nowMs: CREATED_MS + 86_400_000 })).kind).toBe('claim');
  });

  it('the strategy refusal reason and detail pass through', () => {
    const d = expectKind(decideClaim(input({ strategy: { ok: false, reason: 'breaker:volatility', detail: 'range 9% > 5%' } })), 'refuse');
    expect(d.record).toMatchObject({ reason: 'breaker:volatility', detail: 'range 9% > 5%' });
    expect(d.record.history.at(-1)).toEqual({ state: 'refused', atMs: NOW, reason: 'breaker:volatility' });
  });

  describe('fixed order: halted, config_invalid, mode_off, expired, strategy', () => {
    const expired = Date.parse(INTENT.expiresAt!) + 1;
    const breaker = { ok: false as const, reason: 'breaker:volatility', detail: 'x' };
    it.each([
      ['halted beats everything', { killSwitch: HALTED, config: BAD_CONFIG, nowMs: expired, strategy: breaker }, 'halted'],
      ['halted beats mode_off', { killSwitch: HALTED, config: okConfig('off') }, 'halted'],
      ['halted beats expired', { killSwitch: HALTED, nowMs: expired }, 'halted'],
      ['halted beats the strategy', { killSwitch: HALTED, strategy: breaker }, 'halted'],
      ['config_invalid beats expired and strategy', { config: BAD_CONFIG, nowMs: expired, strategy: breaker }, 'config_invalid'],
      ['mode_off beats expired and strategy', { config: okConfig('off'), nowMs: expired, strategy: breaker }, 'mode_off'],
      ['expired beats the strategy', { nowMs: expired, strategy: breaker }, 'expired'],
    ] as const)('%s', (_label, overrides, reason) => {
      expect(refusalReason(overrides as Partial<ClaimInput>)).toBe(reason);
    });
  });
});

describe('decideClaim: an existing record', () => {
  it.each(TERMINALS)('terminal %s with the same intent is a duplicate, returning the stored record', (state) => {
    const existing = record({ state, owner: null });
    const d = expectKind(decideClaim(input({ existing })), 'duplicate');
    expect(d.record).toBe(existing);
  });

  it('a duplicate is recognised even with keys in another order', () => {
    const reordered = Object.fromEntries(Object.entries(INTENT).reverse()) as OrderIntent;
    expect(decideClaim(input({ existing: record({ state: 'submitted', intent: reordered }) })).kind).toBe('duplicate');
  });

  it.each(Object.values(SubmissionState))('a different payload under the same id in state %s is a conflict', (state) => {
    const existing = record({ state, intent: { ...INTENT, qty: 11 } });
    const d = expectKind(decideClaim(input({ existing })), 'conflict');
    expect(d.record).toBe(existing);
  });

  it('conflict wins over the kill switch (nothing is submitted either way)', () => {
    expect(decideClaim(input({ killSwitch: HALTED, existing: record({ intent: { ...INTENT, side: 'sell' } }) })).kind).toBe('conflict');
  });

  it('submitting with a live owner is held', () => {
    const existing = record();
    expect(expectKind(decideClaim(input({ existing })), 'held').record).toBe(existing);
  });

  it('submitting: held up to and including owner deadline + grace, resolve 1 ms later', () => {
    const owner = { instanceId: 'inst-A', eventId: 'evt-1', deadlineAtMs: NOW - 1_000 };
    const existing = record({ owner });
    expect(decideClaim(input({ existing, nowMs: owner.deadlineAtMs + GRACE })).kind).toBe('held');
    expect(decideClaim(input({ existing, nowMs: owner.deadlineAtMs + GRACE + 1 })).kind).toBe('resolve');
  });

  it('submitting past deadline + grace resolves (look up, never resubmit), even when halted', () => {
    const existing = record({ owner: { instanceId: 'inst-A', eventId: 'evt-1', deadlineAtMs: NOW - GRACE - 1 } });
    expect(expectKind(decideClaim(input({ existing })), 'resolve').record).toBe(existing);
    expect(decideClaim(input({ existing, killSwitch: HALTED })).kind).toBe('resolve');
  });

  it('submitting with no owner resolves', () => {
    expect(decideClaim(input({ existing: record({ owner: null }) })).kind).toBe('resolve');
  });

  it('the grace comes from the config, valid or not', () => {
    const existing = record({ owner: { instanceId: 'inst-A', eventId: 'evt-1', deadlineAtMs: NOW - 10 } });
    expect(decideClaim(input({ existing, config: { ...okConfig(), ownerGraceMs: 5 } })).kind).toBe('resolve');
    expect(decideClaim(input({ existing, config: { ...BAD_CONFIG, ownerGraceMs: 5 } })).kind).toBe('resolve');
    expect(decideClaim(input({ existing, config: { ...BAD_CONFIG, ownerGraceMs: 10 } })).kind).toBe('held');
  });

  it('unknown resolves, whatever its owner', () => {
    expect(decideClaim(input({ existing: record({ state: 'unknown' }) })).kind).toBe('resolve');
    expect(decideClaim(input({ existing: record({ state: 'unknown', owner: null }) })).kind).toBe('resolve');
  });

  it('released claims again as attempt n+1, keeping the history', () => {
    const history: HistoryEntry[] = [
      { state: 'submitting', atMs: NOW - 9_000, attempt: 1 },
      { state: 'released', atMs: NOW - 8_000, reason: 'shutdown' },
      { state: 'submitting', atMs: NOW - 7_000, attempt: 2 },
      { state: 'released', atMs: NOW - 6_000, reason: 'deadline' },
    ];
    const existing = record({ state: 'released', attempts: 2, owner: null, history, claimedAtMs: NOW - 7_000 });
    const d = expectKind(decideClaim(input({ existing })), 'claim');
    expect(d.record.attempts).toBe(3);
    expect(d.record.owner).toEqual({ instanceId: 'inst-B', eventId: 'evt-2', deadlineAtMs: DEADLINE });
    expect(d.record.claimedAtMs).toBe(NOW);
    expect(d.record.history).toEqual([...history, { state: 'submitting', atMs: NOW, attempt: 3 }]);
    expect(existing.history).toHaveLength(4); // the input is not mutated
  });

  it('released but now halted is refused, keeping attempts and the earlier claim time', () => {
    const existing = record({ state: 'released', attempts: 2, owner: null, claimedAtMs: NOW - 7_000 });
    const d = expectKind(decideClaim(input({ existing, killSwitch: HALTED })), 'refuse');
    expect(d.record).toMatchObject({ reason: 'halted', attempts: 2, claimedAtMs: NOW - 7_000, owner: null });
    expect(d.record.history).toEqual([...existing.history, { state: 'refused', atMs: NOW, reason: 'halted' }]);
  });

  it('an unreadable record is unreadable, whatever else holds', () => {
    expect(decideClaim(input({ existing: { unreadable: 'state is "wat"' } }))).toEqual({ kind: 'unreadable', problem: 'state is "wat"' });
    expect(decideClaim(input({ existing: { unreadable: 'x' }, killSwitch: HALTED, config: BAD_CONFIG })).kind).toBe('unreadable');
  });

  it('history stays bounded at MAX_HISTORY, keeping the newest entries', () => {
    const history: HistoryEntry[] = Array.from({ length: MAX_HISTORY }, (_, i) => ({ state: i % 2 ? 'released' : 'submitting', atMs: i }));
    const existing = record({ state: 'released', attempts: 10, owner: null, history });
    const claim = expectKind(decideClaim(input({ existing })), 'claim');
    expect(claim.record.history).toHaveLength(MAX_HISTORY);
    expect(claim.record.history[0]).toEqual(history[1]);
    expect(claim.record.history.at(-1)).toEqual({ state: 'submitting', atMs: NOW, attempt: 11 });
    const refuse = expectKind(decideClaim(input({ existing, killSwitch: HALTED })), 'refuse');
    expect(refuse.record.history).toHaveLength(MAX_HISTORY);
    expect(refuse.record.history.at(-1)).toMatchObject({ state: 'refused', reason: 'halted' });
  });
});

describe('expiryOf', () => {
  const noExpiry = { ...INTENT, expiresAt: undefined };
  it('is null for a fresh intent without expiresAt and with the age limit off', () => {
    expect(expiryOf(noExpiry, CREATED_MS + 10 ** 9, 0)).toBeNull();
  });
  it('expiresAt applies even when the age limit is off', () => {
    expect(expiryOf(INTENT, Date.parse(INTENT.expiresAt!), 0)).toMatch(/expired at/);
  });
  it('expiresAt is checked first', () => {
    expect(expiryOf(INTENT, Date.parse(INTENT.expiresAt!) + 1, 1)).toMatch(/expired at/);
  });
  it('honours an offset in createdAt', () => {
    const intent = { ...noExpiry, createdAt: '2026-01-02T15:30:00+01:00' };
    expect(expiryOf(intent, CREATED_MS + 1_000, 1_000)).toBeNull();
    expect(expiryOf(intent, CREATED_MS + 1_001, 1_000)).not.toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const stateArb = fc.constantFrom(...Object.values(SubmissionState));
const intentArb: fc.Arbitrary<OrderIntent> = fc.record({
  qty: fc.integer({ min: 1, max: 1000 }),
  side: fc.constantFrom('buy' as const, 'sell' as const),
  expiresInMs: fc.option(fc.integer({ min: 1, max: 600_000 }), { nil: undefined }),
}).map(({ qty, side, expiresInMs }) => {
  const intent: OrderIntent = { ...INTENT, qty, side, expiresAt: undefined };
  if (expiresInMs !== undefined) intent.expiresAt = new Date(CREATED_MS + expiresInMs).toISOString();
  else delete intent.expiresAt;
  return intent;
});
const killSwitchArb: fc.Arbitrary<KillSwitchState> = fc.oneof(
  fc.constant(CLEAR),
  fc.constant(HALTED),
  fc.record({ halted: fc.boolean(), reduceOnly: fc.constant(false), reason: fc.option(fc.string()), sources: fc.constant<KillSwitchState['sources']>([]), document: fc.constant(null) }),
);
const configArb: fc.Arbitrary<ClaimInput['config']> = fc.oneof(
  fc.record({
    ok: fc.constant(true as const),
    mode: fc.constantFrom<ExecutionMode>('off', 'dry_run', 'paper', 'live'),
    maxIntentAgeMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600_000 })),
    ownerGraceMs: fc.integer({ min: 0, max: 60_000 }),
  }),
  fc.record({ ok: fc.constant(false as const), problem: fc.string(), ownerGraceMs: fc.integer({ min: 0, max: 60_000 }) }),
);
const strategyArb: fc.Arbitrary<ClaimInput['strategy']> = fc.oneof(
  fc.constant({ ok: true as const }),
  fc.record({ ok: fc.constant(false as const), reason: fc.constantFrom('breaker:volatility', 'breaker:daily_loss'), detail: fc.string() }),
);
const ownerArb = fc.option(
  fc.record({ instanceId: fc.string(), eventId: fc.string(), deadlineAtMs: fc.integer({ min: CREATED_MS - 100_000, max: CREATED_MS + 800_000 }) }),
);
const historyArb: fc.Arbitrary<HistoryEntry[]> = fc.array(fc.record({ state: stateArb, atMs: fc.nat() }), { maxLength: MAX_HISTORY + 5 });
const recordFor = (intentArbitrary: fc.Arbitrary<OrderIntent>, states: fc.Arbitrary<SubmissionRecord['state']>) =>
  fc.record({ state: states, intent: intentArbitrary, attempts: fc.nat({ max: 50 }), owner: ownerArb, history: historyArb }).map((r) => record(r));
const existingArb: fc.Arbitrary<ClaimInput['existing']> = fc.oneof(
  fc.constant(null),
  fc.record({ unreadable: fc.string() }),
  recordFor(intentArb, stateArb),
);
const inputArb = (over: { killSwitch?: fc.Arbitrary<KillSwitchState>; existing?: fc.Arbitrary<ClaimInput['existing']> } = {}) =>
  fc.record({
    intent: intentArb,
    eventId: fc.string(),
    instanceId: fc.string(),
    nowMs: fc.integer({ min: CREATED_MS - 1_000, max: CREATED_MS + 900_000 }),
    deadlineAtMs: fc.integer({ min: CREATED_MS, max: CREATED_MS + 1_000_000 }),
    killSwitch: over.killSwitch ?? killSwitchArb,
    config: configArb,
    existing: over.existing ?? existingArb,
    strategy: strategyArb,
  });

describe('decideClaim: properties', () => {
  it('never claims while the kill switch is halted, whatever else holds', () => {
    const halted = killSwitchArb.map((k) => ({ ...k, halted: true }));
    fc.assert(
      fc.property(inputArb({ killSwitch: halted }), (inp) => {
        const d = decideClaim(inp);
        expect(d.kind).not.toBe('claim');
        if (d.kind === 'refuse') expect(d.record.reason).toBe('halted');
      }),
      { numRuns: 3000 },
    );
  });

  it('a terminal record of the same intent is always a duplicate: never claim, never refuse', () => {
    fc.assert(
      fc.property(
        inputArb().chain((inp) =>
          fc.tuple(fc.constant(inp), recordFor(fc.constant(inp.intent), fc.constantFrom(...TERMINALS))),
        ),
        ([inp, existing]) => {
          const d = decideClaim({ ...inp, existing });
          expect(d.kind).toBe('duplicate');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('claims only when nothing refuses: not halted, config ok, mode not off, not expired, strategy ok, no live claim', () => {
    fc.assert(
      fc.property(inputArb(), (inp) => {
        const d = decideClaim(inp);
        if (d.kind !== 'claim') return;
        expect(inp.killSwitch.halted).toBe(false);
        expect(inp.config.ok && inp.config.mode !== 'off').toBe(true);
        expect(inp.config.ok && expiryOf(inp.intent, inp.nowMs, inp.config.maxIntentAgeMs)).toBeNull();
        expect(inp.strategy.ok).toBe(true);
        expect(inp.existing === null || ('state' in inp.existing && inp.existing.state === 'released')).toBe(true);
        const prev = inp.existing === null || 'unreadable' in inp.existing ? 0 : inp.existing.attempts;
        expect(d.record.attempts).toBe(prev + 1);
        expect(d.record.owner).toEqual({ instanceId: inp.instanceId, eventId: inp.eventId, deadlineAtMs: inp.deadlineAtMs });
        expect(d.record.clientOrderId).toBe(clientOrderIdFor(inp.intent.intentId));
      }),
      { numRuns: 3000 },
    );
  });

  it('history never exceeds MAX_HISTORY and always ends with this decision', () => {
    fc.assert(
      fc.property(inputArb(), (inp) => {
        const d = decideClaim(inp);
        if (d.kind !== 'claim' && d.kind !== 'refuse') return;
        expect(d.record.history.length).toBeLessThanOrEqual(MAX_HISTORY);
        expect(d.record.history.at(-1)).toMatchObject({ state: d.record.state, atMs: inp.nowMs });
      }),
      { numRuns: 2000 },
    );
  });

  it('is deterministic (the store may run it several times in one transaction)', () => {
    fc.assert(
      fc.property(inputArb(), (inp) => {
        expect(decideClaim(inp)).toEqual(decideClaim(inp));
      }),
    );
  });
});
