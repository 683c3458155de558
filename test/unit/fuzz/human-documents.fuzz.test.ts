/**
 * Bad input at every door (issue 14): the documents people write in the Firebase console —
 * `ops/killSwitch` and `strategies/{id}.limits` — as arbitrary Firestore values (Timestamps,
 * GeoPoints, bytes, nested maps, wrong types). Each one goes through the claim transaction as
 * Firestore hands it over (the in-memory store runs the same timestampsToDates, decideKillSwitch
 * and breaker gate), and the decision is checked against the data contract in DESIGN.md, by an
 * oracle written from the contract, not from the code:
 *
 *   ops/killSwitch: `{ halted: boolean, reason?, updatedBy?, updatedAt? }`; a missing document or
 *   `halted` not a boolean → halted; the known fields with a wrong type → halted; only an
 *   explicit not-halted word in EXECUTION_HALTED leaves it to the document.
 *   strategies/{id}.limits: exactly the documented optional fields, each of its type and range;
 *   anything else → refused `config_invalid` (never "ignore the override").
 */
import fc from 'fast-check';
import { Timestamp } from 'firebase-admin/firestore';
import { describe, expect, it } from 'vitest';
import { loadRuntimeConfig } from '../../../functions/src/config.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';
import { decideKillSwitch } from '../../../functions/src/domain/kill-switch.js';
import { timestampsToDates } from '../../../functions/src/store/firestore-values.js';
import { KILL_SWITCH_PATH } from '../../../functions/src/store/paths.js';
import type { StoreClaimDecision } from '../../../functions/src/store/submission-store.js';
import { createMemorySubmissionStore, MemoryFirestore } from '../../support/memory-store.js';
import { INTENT, T0, WORLD_ENV } from '../../support/pipeline-world.js';
import { bytesArb, dateArb, firestoreDocArb, firestoreValueArb, geoPointArb, isPlainMap, timestampArb } from './arbitraries.js';

const CONFIG = loadRuntimeConfig(WORLD_ENV);
if (!CONFIG.ok) throw new Error('invalid test configuration');
const OPEN = { halted: false, updatedBy: 'operator', updatedAt: new Timestamp(Math.floor(T0 / 1000), 0) };

/** One claim of a fresh intent with these documents in the database, as Firestore would hand them over. */
async function claimWith(docs: { killSwitch?: unknown; strategy?: unknown }, haltedParam = 'false'): Promise<{ decision: StoreClaimDecision; db: MemoryFirestore }> {
  const db = new MemoryFirestore();
  if (docs.killSwitch !== undefined) db.set(KILL_SWITCH_PATH, docs.killSwitch as Record<string, unknown>);
  if (docs.strategy !== undefined) db.set(`strategies/${INTENT.strategyId}`, docs.strategy as Record<string, unknown>);
  const clock = fixedClock(T0);
  const store = createMemorySubmissionStore(db, { clock });
  const decision = await store.claimSubmission({
    intent: INTENT,
    eventId: 'e1',
    instanceId: 'i1',
    deadlineAtMs: T0 + 60_000,
    config: { ok: true, mode: 'paper', maxIntentAgeMs: 0, ownerGraceMs: 1000 },
    haltedParam,
    breakerDefaults: CONFIG.ok ? CONFIG.config.breakerDefaults : null,
  });
  return { decision, db };
}

// ------------------------------------------------------------------------------------------
// ops/killSwitch

const NOT_HALTED_WORDS = new Set(['', '0', 'false', 'no', 'off']);
const GOOD_ISO = ['2026-01-02T14:30:00Z', '2026-01-02T14:30:00.123+05:30', '1999-12-31T23:59:59-08:00'];
const BAD_ISO = ['2026-01-02', '2026-01-02T14:30:00', 'yesterday', '2026-13-02T14:30:00Z', '2026-01-02T14:30:00+0530', ''];

/** The contract's answer: is trading open? `unsure` only for free-form date strings. */
function contractOpen(doc: unknown, param: string): boolean | 'unsure' {
  if (!NOT_HALTED_WORDS.has(param.trim().toLowerCase())) return false;
  if (!isPlainMap(doc)) return false;
  if (doc.halted !== false) return false;
  for (const f of ['reason', 'updatedBy']) {
    if (Object.hasOwn(doc, f) && doc[f] !== null && typeof doc[f] !== 'string') return false;
  }
  if (Object.hasOwn(doc, 'updatedAt') && doc.updatedAt !== null) {
    const at = doc.updatedAt;
    if (at instanceof Timestamp) return true;
    if (at instanceof Date) return !Number.isNaN(at.getTime());
    if (typeof at !== 'string') return false;
    if (GOOD_ISO.includes(at)) return true;
    if (BAD_ISO.includes(at)) return false;
    return 'unsure';
  }
  return true;
}

const fieldArb = fc.oneof(firestoreValueArb, fc.string({ maxLength: 6 }), fc.constant(null), fc.constantFrom(...GOOD_ISO, ...BAD_ISO), timestampArb, dateArb);
const killSwitchDocArb: fc.Arbitrary<Record<string, unknown> | undefined> = fc.oneof(
  fc.constant(undefined),
  firestoreDocArb,
  // Near misses of a good document: every known field of any type, plus notes.
  fc
    .tuple(
      fc.record(
        {
          halted: fc.oneof(fc.boolean(), fc.constantFrom('false', 'true', 0, 1, null), firestoreValueArb),
          reason: fieldArb,
          updatedBy: fieldArb,
          updatedAt: fieldArb,
        },
        { requiredKeys: [] },
      ),
      fc.dictionary(fc.constantFrom('note', 'ticket', 'Halted', 'halted '), firestoreValueArb, { maxKeys: 2, noNullPrototype: true }),
    )
    .map(([known, extra]) => ({ ...extra, ...known })),
  fc.record({ halted: fc.constant(false), reason: fc.option(fc.string({ maxLength: 6 })), updatedBy: fc.option(fc.string({ maxLength: 6 })), updatedAt: fc.oneof(timestampArb, fc.constantFrom(...GOOD_ISO), fc.constant(null)) }, { requiredKeys: ['halted'], noNullPrototype: true }),
);
// `reduceOnly` (DESIGN.md contract additions, issue 11) is checked on its own below.
const docWithoutReduceOnly = killSwitchDocArb.filter((d) => d === undefined || !Object.hasOwn(d, 'reduceOnly'));
const paramArb = fc.oneof(fc.constantFrom('false', 'FALSE', ' no ', '0', 'off', '', 'true', '1', 'flase', 'on'), fc.string({ maxLength: 6 }));

describe('ops/killSwitch as people write it', () => {
  it('never throws; trading is open exactly when the contract says so, and a halted claim is refused `halted`', async () => {
    let open = 0;
    await fc.assert(
      fc.asyncProperty(docWithoutReduceOnly, paramArb, async (doc, param) => {
        const state = decideKillSwitch(doc === undefined ? undefined : timestampsToDates(doc), param);
        const expected = contractOpen(doc, param);
        if (expected !== 'unsure') expect(!state.halted, `open? ${JSON.stringify(doc)} param ${JSON.stringify(param)}`).toBe(expected);
        else if (!state.halted) expect(Number.isNaN(Date.parse(String((doc as Record<string, unknown>).updatedAt)))).toBe(false);
        if (state.halted) expect(state.reason).toBeTruthy();

        // The same document through the claim transaction.
        const { decision } = await claimWith({ killSwitch: doc }, param);
        if (state.halted) {
          expect(decision.kind).toBe('refuse');
          if (decision.kind === 'refuse') expect(decision.record.reason).toBe('halted');
        } else {
          open += 1;
          expect(decision.kind).toBe('claim');
        }
      }),
      { seed: 1402, numRuns: 3000 },
    );
    expect(open).toBeGreaterThan(50); // the generator reaches open documents too
  });

  // DESIGN.md, contract additions: `reduceOnly` is an optional boolean, "Not a boolean → halted".
  it('a `reduceOnly` that is not a boolean halts', async () => {
    await fc.assert(
      fc.asyncProperty(firestoreValueArb.filter((v) => typeof v !== 'boolean'), async (reduceOnly) => {
        const { decision } = await claimWith({ killSwitch: { ...OPEN, reduceOnly } });
        expect(decision.kind).toBe('refuse');
        if (decision.kind === 'refuse') expect(decision.record.reason).toBe('halted');
      }),
      { seed: 1403, numRuns: 200 },
    );
  });
});

// ------------------------------------------------------------------------------------------
// strategies/{id}.limits

type Kind = 'bool' | 'threshold' | 'count' | 'losses' | 'window';
const LIMIT_FIELDS: Record<string, Kind> = {
  requireMarketData: 'bool',
  maxDataAgeMs: 'threshold',
  volRatioThreshold: 'threshold',
  volRecentN: 'window',
  volBaselineN: 'window',
  maxConsecutiveLosses: 'losses',
  maxDailyLoss: 'threshold',
  maxOrdersPerMin: 'count',
  maxNotional: 'threshold',
  priceCollarPct: 'threshold',
  maxBrokerErrors: 'count',
};
const fin = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const KIND_OK: Record<Kind, (v: unknown) => boolean> = {
  bool: (v) => typeof v === 'boolean',
  threshold: (v) => fin(v) && v >= 0,
  count: (v) => fin(v) && Number.isInteger(v) && v >= 0,
  losses: (v) => fin(v) && Number.isInteger(v) && v >= 0 && v <= 100,
  window: (v) => fin(v) && Number.isInteger(v) && v >= 2,
};

/** The contract's answer for a `limits` field that is present. */
function limitsValid(limits: unknown): boolean {
  if (!isPlainMap(limits)) return false;
  for (const [k, v] of Object.entries(limits)) {
    if (!Object.hasOwn(LIMIT_FIELDS, k) || !KIND_OK[LIMIT_FIELDS[k]!](v)) return false;
  }
  const recent = (limits.volRecentN as number | undefined) ?? 5;
  const baseline = (limits.volBaselineN as number | undefined) ?? 30;
  return recent + baseline + 1 <= 1000;
}

const limitValueArb = fc.oneof(
  fc.boolean(),
  fc.integer({ min: -3, max: 1200 }),
  fc.double({ min: -10, max: 1e6 }),
  fc.constantFrom(0, 1, 2, 5, 100, 101, 999, 0.5, -0, Number.NaN, Number.POSITIVE_INFINITY, '5', null),
  timestampArb,
  geoPointArb,
  bytesArb,
  firestoreValueArb,
);
const limitsArb: fc.Arbitrary<unknown> = fc.oneof(
  // Only known fields, any values.
  fc.dictionary(fc.constantFrom(...Object.keys(LIMIT_FIELDS)), limitValueArb, { maxKeys: 4, noNullPrototype: true }),
  // Valid overrides.
  fc.record(
    {
      requireMarketData: fc.boolean(),
      maxNotional: fc.double({ min: 0, max: 1e7, noNaN: true, noDefaultInfinity: true }),
      maxOrdersPerMin: fc.nat(1000),
      maxConsecutiveLosses: fc.nat(100),
      volRecentN: fc.integer({ min: 2, max: 600 }),
      volBaselineN: fc.integer({ min: 2, max: 600 }),
    },
    { requiredKeys: [], noNullPrototype: true },
  ),
  // Misspelt or unknown keys, and anything at all.
  fc.dictionary(fc.constantFrom('maxNotonal', 'MaxNotional', 'tradingTimeZone', 'note', 'maxNotional', 'constructor'), limitValueArb, { maxKeys: 2, noNullPrototype: true }),
  firestoreValueArb,
  fc.constantFrom(null, [], 'maxNotional: 5', 0, true),
);
// A Timestamp as the whole `limits` field is checked on its own below.
const limitsNotTimestamp = limitsArb.filter((l) => !(l instanceof Timestamp) && !(l instanceof Date));

describe('strategies/{id}.limits as people write it', () => {
  it('never throws; an override that is not exactly valid refuses with config_invalid, and latches nothing', async () => {
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(limitsNotTimestamp, async (limits) => {
        const { decision, db } = await claimWith({ killSwitch: OPEN, strategy: { limits } });
        const strategyWrites = db.commits.filter((c) => c.path === `strategies/${INTENT.strategyId}`).length;
        if (limitsValid(limits)) {
          valid += 1;
          // A valid override may switch a breaker on (and trip it); it is never config_invalid.
          if (decision.kind === 'refuse') expect(decision.record.reason, JSON.stringify(decision.record.detail)).toMatch(/^breaker:/);
          else expect(decision.kind).toBe('claim');
        } else {
          expect(decision.kind, `limits ${JSON.stringify(limits)}`).toBe('refuse');
          if (decision.kind === 'refuse') expect(decision.record.reason).toBe('config_invalid');
          expect(strategyWrites).toBe(1); // only the test's own write: no latch
        }
      }),
      { seed: 1404, numRuns: 3000 },
    );
    expect(valid).toBeGreaterThan(50);
  });

  it('a missing strategy document or one without limits uses the defaults (claims)', async () => {
    expect((await claimWith({ killSwitch: OPEN })).decision.kind).toBe('claim');
    expect((await claimWith({ killSwitch: OPEN, strategy: { note: 'x' } })).decision.kind).toBe('claim');
  });

  // Found by this fuzz: zod's object schemas accept any non-array object, a Date among them, and
  // the store turns a Timestamp into a Date before parsing. So `limits` set to a timestamp in the
  // console is read as `{}` (the defaults) — and, worse, `breakers` set to a timestamp is read
  // as "no breaker latched" (G7: latched trips vanish). Both contradict the code's own contract
  // ("anything malformed — ... a non-object — ... fail closed"). Fixed: parseStrategyDocument
  // requires plain maps.
  it('`limits` holding a Timestamp refuses with config_invalid', async () => {
    const { decision } = await claimWith({ killSwitch: OPEN, strategy: { limits: new Timestamp(1_700_000_000, 0) } });
    expect(decision).toMatchObject({ kind: 'refuse', record: { reason: 'config_invalid' } });
  });
  it('`breakers` holding a Timestamp refuses with config_invalid', async () => {
    const { decision } = await claimWith({ killSwitch: OPEN, strategy: { breakers: new Timestamp(1_700_000_000, 0) } });
    expect(decision).toMatchObject({ kind: 'refuse', record: { reason: 'config_invalid' } });
  });

  it('the rest of a strategy document, as people might write it: never throws, claims only over well-formed state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ breakers: firestoreValueArb, stats: firestoreValueArb }, { requiredKeys: [], noNullPrototype: true }), async (strategy) => {
        const { decision } = await claimWith({ killSwitch: OPEN, strategy });
        if (decision.kind === 'claim') {
          // Arbitrary values are never a valid latched trip or stats record: only an empty map
          // (no breaker latched) or an absent field can let the claim through. (A Timestamp is the known bug above.)
          for (const f of ['breakers', 'stats'] as const) {
            const v = strategy[f];
            if (v === undefined || v instanceof Timestamp || v instanceof Date) continue;
            expect(isPlainMap(v) && Object.keys(v).length === 0 && f === 'breakers', `${f} = ${JSON.stringify(v)}`).toBe(true);
          }
        }
      }),
      { seed: 1405, numRuns: 1500 },
    );
  });
});
