/**
 * Breakers through the exported `executeIntent` (the whole CloudEvent, as the functions
 * framework delivers it), against the official Firestore emulator (through the gRPC
 * interposer, which logs the commits the functions make) and the Alpaca simulator: each
 * breaker trips, refuses, latches, and resumes only after an operator's reset (G7).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeIntent } from '../../../functions/src/index.js';
import { tradingDayKey } from '../../../functions/src/domain/breakers/trading-day.js';
import { systemClock } from '../../../functions/src/domain/clock.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { resetBreaker, ResetBreakerError } from '../../../functions/src/store/breaker-admin.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { deliveryError, startTestBackends, type TestBackends } from '../../support/backends.js';
import { markLedgerSynced } from '../../support/ledger.js';

let b: TestBackends;

const A = 'strat-a';
const OTHER = 'strat-other';

function deliver(event: ReturnType<typeof pubsubCloudEvent>): Promise<unknown> {
  return (executeIntent as unknown as (e: unknown) => Promise<unknown>)(event);
}

async function send(intent: OrderIntent): Promise<Record<string, unknown>> {
  await deliveryError(deliver(pubsubCloudEvent(intent)));
  return (await b.db.doc(`submissions/${intent.intentId}`).get()).data() ?? {};
}

/** Bars one minute apart ending now, with these closes. */
function bars(closes: number[]): NonNullable<OrderIntent['marketData']> {
  const end = Date.now();
  return {
    asOf: new Date(end).toISOString(),
    bars: closes.map((c, i) => ({ t: new Date(end - (closes.length - 1 - i) * 60_000).toISOString(), o: c, h: c, l: c, c, v: 100 })),
  };
}

const CALM = bars([100, 101, 100, 101, 100, 101]);
const benign = (strategyId: string) => makeIntent({ strategyId, type: 'limit', limitPrice: 100.5, qty: 1, marketData: CALM });

async function strategy(id: string) {
  return (await b.db.doc(`strategies/${id}`).get()).data();
}

function setLimits(id: string, limits: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return b.db.doc(`strategies/${id}`).set({ limits, ...extra }, { merge: true });
}

function stats(over: Record<string, unknown>) {
  return { recentRealized: [], daily: null, consecutiveBrokerErrors: 0, ...over };
}

const CB_VARS = () => Object.keys(process.env).filter((k) => k.startsWith('CB_'));

beforeAll(async () => {
  b = await startTestBackends();
});
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  for (const k of CB_VARS()) delete process.env[k];
  await b.reset();
  // The P&L breakers refuse on a ledger never synced (breaker:ledgerStale, tested in
  // ledger-freshness.emulator.test.ts): here the ledger is current.
  await markLedgerSynced(b.db);
});
afterEach(() => {
  for (const k of CB_VARS()) delete process.env[k];
});

interface TripCase {
  name: string;
  /** Configure the breaker (env or limits) and the state that makes it trip. */
  arm: () => Promise<unknown>;
  /** The intent that trips it (after `arm`). */
  trip: () => Promise<Record<string, unknown>>;
  /** Take away the tripping condition: the latch must still refuse. */
  clear?: () => Promise<unknown>;
}

const today = () => tradingDayKey(Date.now(), 'America/New_York');

const cases: TripCase[] = [
  {
    name: 'missingData',
    arm: async () => {
      process.env.CB_REQUIRE_MARKET_DATA = 'true';
    },
    trip: () => send(makeIntent({ strategyId: A })),
  },
  {
    name: 'volatility',
    arm: () => setLimits(A, { volRatioThreshold: 3, volRecentN: 2, volBaselineN: 3 }),
    trip: () => send(makeIntent({ strategyId: A, marketData: bars([100, 100.1, 100, 100.1, 110, 95]) })),
  },
  {
    name: 'consecutiveLosses',
    arm: () =>
      setLimits(A, { maxConsecutiveLosses: 2 }, {
        stats: stats({ recentRealized: [{ orderId: 'o1', pnlMicros: -5, timeMs: 1 }, { orderId: 'o2', pnlMicros: -7, timeMs: 2 }] }),
      }),
    trip: () => send(benign(A)),
    clear: () => b.db.doc(`strategies/${A}`).set({ stats: stats({ recentRealized: [{ orderId: 'o3', pnlMicros: 9, timeMs: 3 }] }) }, { merge: true }),
  },
  {
    name: 'dailyLoss',
    arm: () => setLimits(A, { maxDailyLoss: 500 }, { stats: stats({ daily: { dayKey: today(), realizedMicros: -600_000_000 } }) }),
    trip: () => send(benign(A)),
    clear: () => b.db.doc(`strategies/${A}`).set({ stats: stats({}) }, { merge: true }),
  },
  {
    name: 'orderRate',
    arm: async () => {
      await setLimits(A, { maxOrdersPerMin: 2 });
      expect((await send(benign(A))).state).toBe('submitted');
      expect((await send(benign(A))).state).toBe('submitted');
    },
    trip: () => send(benign(A)),
    clear: () => setLimits(A, { maxOrdersPerMin: 100 }),
  },
  {
    name: 'notional',
    arm: async () => {
      process.env.CB_MAX_NOTIONAL = '1000';
    },
    trip: () => send(makeIntent({ strategyId: A, type: 'limit', limitPrice: 187.5, qty: 10 })),
  },
  {
    name: 'priceCollar',
    arm: () => setLimits(A, { priceCollarPct: 1 }),
    trip: () => send(makeIntent({ strategyId: A, type: 'limit', limitPrice: 103, marketData: bars([100, 100]) })),
  },
  {
    name: 'brokerErrors',
    arm: async () => {
      await setLimits(A, { maxBrokerErrors: 2 });
      b.sim.faults.next(['503', '503']);
      expect((await send(benign(A))).state).toBe('unknown');
      expect((await send(benign(A))).state).toBe('unknown');
      expect((await strategy(A))?.stats?.consecutiveBrokerErrors).toBe(2);
    },
    trip: () => send(benign(A)),
  },
];

describe('each breaker trips, refuses, latches, and resumes only after a reset', () => {
  it.each(cases)('$name', async (c) => {
    await c.arm();
    const ordersBefore = b.sim.orders().length;
    const tripped = await c.trip();
    expect(tripped).toMatchObject({ state: 'refused', reason: `breaker:${c.name}` });
    expect(b.sim.orders()).toHaveLength(ordersBefore);

    // The latch records what the issue asks for: name, value, threshold, time, intent.
    const latched = (await strategy(A))?.breakers?.[c.name];
    expect(latched).toMatchObject({ tripped: true, breaker: c.name, intentId: tripped.intentId, threshold: expect.any(Number) });
    expect(latched.trippedAt).toBeGreaterThan(Date.now() - 60_000);
    expect('value' in latched).toBe(true);

    // Latched: refused even once the condition is gone; other strategies are unaffected.
    await c.clear?.();
    const whileLatched = await send(benign(A));
    expect(whileLatched).toMatchObject({ state: 'refused', reason: `breaker:${c.name}` });
    expect(whileLatched.detail).toMatch(/latched since .* by intent /);
    expect((await send(benign(OTHER))).state).toBe('submitted');

    // The operator resets it: audited, and the strategy trades again.
    const reset = await resetBreaker(b.db, A, c.name, 'ops@test', 'checked the market', systemClock);
    expect(reset.before).toMatchObject({ breaker: c.name, intentId: tripped.intentId });
    const audit = await b.db.collection(`strategies/${A}/audit`).get();
    expect(audit.docs.map((d) => d.data())).toEqual([
      expect.objectContaining({ action: 'reset_breaker', breaker: c.name, who: 'ops@test', why: 'checked the market', before: expect.objectContaining({ intentId: tripped.intentId }) }),
    ]);
    // Env-armed breakers stay on: the resumed (benign) intent passes them.
    const resumed = await send(benign(A));
    expect(resumed).toMatchObject({ state: 'submitted' });
    expect((await strategy(A))?.breakers?.[c.name]).toBeUndefined();
  });
});

describe('resetBreaker', () => {
  it('refuses an unknown name and a breaker that is not latched, writing nothing', async () => {
    await expect(resetBreaker(b.db, A, 'nope', 'ops', 'why', systemClock)).rejects.toMatchObject({ failure: 'unknown_breaker' });
    await expect(resetBreaker(b.db, A, 'notional', 'ops', 'why', systemClock)).rejects.toBeInstanceOf(ResetBreakerError);
    await expect(resetBreaker(b.db, A, 'notional', 'ops', 'why', systemClock)).rejects.toMatchObject({ failure: 'not_latched' });
    expect((await b.db.collection(`strategies/${A}/audit`).get()).size).toBe(0);
  });
});

describe('disabled breakers never trip', () => {
  it('with every param at its default, extreme inputs are all submitted', async () => {
    await b.db.doc(`strategies/${A}`).set({
      stats: stats({
        recentRealized: Array.from({ length: 100 }, (_, i) => ({ orderId: `o${i}`, pnlMicros: -1_000_000_000, timeMs: i })),
        daily: { dayKey: today(), realizedMicros: -9_000_000_000_000 },
        consecutiveBrokerErrors: 1000,
      }),
    });
    const extreme = [
      makeIntent({ strategyId: A }), // no market data at all
      makeIntent({ strategyId: A, type: 'limit', limitPrice: 1_000_000, qty: 5000, marketData: bars([1, 1, 1, 1, 1, 500, 0.01]) }),
      ...Array.from({ length: 4 }, () => makeIntent({ strategyId: A })),
    ];
    for (const intent of extreme) expect((await send(intent)).state).toBe('submitted');
    expect((await strategy(A))?.breakers).toBeUndefined();
  });
});

describe('invalid overrides and state fail closed', () => {
  it.each([
    ['a negative threshold', { maxNotional: -5 }, /limits\.maxNotional/],
    ['an unknown (misspelt) key', { maxNotonal: 5 }, /maxNotonal/],
    ['a null', { maxNotional: null }, /limits\.maxNotional/],
    ['not an object', 'tight', /limits/],
  ])('%s refuses with config_invalid', async (_name, limits, detail) => {
    await b.db.doc(`strategies/${A}`).set({ limits });
    const rec = await send(benign(A));
    expect(rec).toMatchObject({ state: 'refused', reason: 'config_invalid' });
    expect(rec.detail).toMatch(detail);
    expect((await send(benign(OTHER))).state).toBe('submitted');
  });

  it('an invalid CB_* param refuses every intent with config_invalid', async () => {
    process.env.CB_MAX_NOTIONAL = '-1';
    const rec = await send(benign(OTHER));
    expect(rec).toMatchObject({ state: 'refused', reason: 'config_invalid' });
    expect(rec.detail).toMatch(/CB_MAX_NOTIONAL/);
  });

  it('malformed stored breaker state or stats refuse with config_invalid, never "nothing latched"', async () => {
    await b.db.doc(`strategies/${A}`).set({ breakers: { notional: { tripped: 'yes' } } });
    expect(await send(benign(A))).toMatchObject({ state: 'refused', reason: 'config_invalid' });
    await b.db.doc(`strategies/${A}`).set({ stats: { recentRealized: 'lots' } });
    expect(await send(benign(A))).toMatchObject({ state: 'refused', reason: 'config_invalid' });
  });
});

describe('order rate under concurrency', () => {
  it('concurrent claims of one strategy never exceed maxOrdersPerMin (the count is read in the claim transaction)', async () => {
    await setLimits(A, { maxOrdersPerMin: 3 });
    const intents = Array.from({ length: 8 }, () => benign(A));
    const recs = await Promise.all(intents.map((i) => send(i)));
    expect(recs.filter((r) => r.state === 'submitted')).toHaveLength(3);
    expect(recs.filter((r) => r.state === 'refused').map((r) => r.reason)).toEqual(Array(5).fill('breaker:orderRate'));
    expect(b.sim.orders()).toHaveLength(3);
  });
});

describe('a trip and a halt racing on the same intent', () => {
  it('a halted intent that would trip is refused as halted and latches nothing', async () => {
    await setLimits(A, { maxNotional: 1000 });
    await b.db.doc('ops/killSwitch').set({ halted: true, reason: 'halt first' });
    const rec = await send(makeIntent({ strategyId: A, type: 'limit', limitPrice: 187.5, qty: 10 }));
    expect(rec).toMatchObject({ state: 'refused', reason: 'halted' });
    expect((await strategy(A))?.breakers).toBeUndefined();
  });

  it('give exactly one terminal record', async () => {
    b.sim.faults.set({ latencyMs: { min: 1, max: 10 } });
    await setLimits(A, { maxNotional: 1000 });
    for (let round = 0; round < 3; round++) {
      await b.db.doc('ops/killSwitch').set({ halted: false, reason: 'test' });
      await b.db.doc(`strategies/${A}`).set({ limits: { maxNotional: 1000 } });
      b.interposer.commits.clear();
      const intent = makeIntent({ strategyId: A, type: 'limit', limitPrice: 187.5, qty: 10 });
      const event = pubsubCloudEvent(intent);
      const deliveries = Array.from({ length: 8 }, () => deliveryError(deliver(event)));
      const halt = b.db.doc('ops/killSwitch').set({ halted: true, reason: 'race halt' });
      const errors = await Promise.all(deliveries);
      await halt;
      expect(errors.filter((e) => e !== null)).toEqual([]);

      const snap = await b.db.doc(`submissions/${intent.intentId}`).get();
      const rec = snap.data()!;
      expect(rec.state).toBe('refused');
      expect(['halted', 'breaker:notional']).toContain(rec.reason);
      expect(rec.history.filter((h: { state: string }) => h.state === 'refused')).toHaveLength(1);
      // Exactly one of the eight deliveries wrote the record: one accepted commit (seen on the
      // wire at the interposer, with the server's commit time), and the document's server
      // times agree: created by that commit and never written again.
      const recordWrites = b.interposer.commits.writing(`submissions/${intent.intentId}`);
      expect(recordWrites).toHaveLength(1);
      expect(recordWrites[0]!.transactional).toBe(true);
      expect(snap.createTime!.isEqual(snap.updateTime!)).toBe(true);
      expect(micros(snap.updateTime!)).toBe(recordWrites[0]!.commitMicros);
      // A halted intent never latches a breaker; a tripped one latches it with its own id.
      const latched = (await strategy(A))?.breakers?.notional;
      if (rec.reason === 'halted') expect(latched).toBeUndefined();
      else expect(latched).toMatchObject({ intentId: intent.intentId });
      expect(b.sim.orders()).toHaveLength(0);
    }
  });
});

/** A Firestore Timestamp in microseconds (the server's commit-time resolution). */
function micros(t: { seconds: number; nanoseconds: number }): number {
  return t.seconds * 1_000_000 + Math.floor(t.nanoseconds / 1000);
}
