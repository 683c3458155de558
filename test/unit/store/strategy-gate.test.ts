import { describe, expect, it } from 'vitest';
import { DISABLED_LIMITS } from '../../../functions/src/domain/breakers/limits.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { breakerGate, parseStrategyDocument, type StrategyGateInput } from '../../../functions/src/store/strategy-gate.js';

const NOW = Date.parse('2026-03-10T15:00:00Z');

const intent: OrderIntent = {
  intentId: 'i-1',
  strategyId: 's1',
  symbol: 'AAPL',
  side: 'buy',
  qty: 10,
  type: 'limit',
  limitPrice: 200,
  timeInForce: 'day',
  createdAt: '2026-03-10T15:00:00Z',
};

function input(over: Partial<StrategyGateInput> = {}): StrategyGateInput & { counted: number[] } {
  const counted: number[] = [];
  return {
    strategyData: undefined,
    intent,
    nowMs: NOW,
    breakerDefaults: DISABLED_LIMITS,
    countRecentClaims: async (since) => {
      counted.push(since);
      return 0;
    },
    counted,
    ...over,
  };
}

const latched = {
  tripped: true,
  breaker: 'notional',
  detail: 'too big',
  value: 2000,
  threshold: 1000,
  trippedAt: NOW - 1000,
  intentId: 'i-0',
};

describe('parseStrategyDocument', () => {
  it('a missing document is a fresh strategy', () => {
    expect(parseStrategyDocument('s1', undefined)).toMatchObject({ ok: true, state: {}, limitsOverride: undefined });
  });
  it.each([
    ['not an object', 'x', /not a document object/],
    ['bad breakers', { breakers: { bogus: latched } }, /breakers is malformed/],
    ['bad stats', { stats: { recentRealized: [] } }, /stats is malformed/],
  ])('%s fails closed', (_n, data, detail) => {
    const r = parseStrategyDocument('s1', data);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail).toMatch(detail);
  });
});

describe('breakerGate', () => {
  it('all defaults off: ok, no write, no claim count', async () => {
    const i = input();
    expect(await breakerGate(i)).toEqual({ verdict: { ok: true } });
    expect(i.counted).toEqual([]);
  });

  it('a trip refuses and latches name, value, threshold, time and intent', async () => {
    const r = await breakerGate(input({ strategyData: { limits: { maxNotional: 1000 } } }));
    expect(r.verdict).toMatchObject({ ok: false, reason: 'breaker:notional' });
    expect(r.strategyUpdate).toEqual({
      breakers: { notional: { tripped: true, breaker: 'notional', value: 2000, threshold: 1000, trippedAt: NOW, intentId: 'i-1', detail: expect.any(String) } },
    });
  });

  it('a latched breaker refuses without evaluating (and without writing)', async () => {
    const i = input({ strategyData: { breakers: { notional: latched }, limits: { maxOrdersPerMin: 1 } } });
    const r = await breakerGate(i);
    expect(r.verdict).toMatchObject({ ok: false, reason: 'breaker:notional' });
    if (!r.verdict.ok) expect(r.verdict.detail).toMatch(/latched since .* by intent i-0/);
    expect(r.strategyUpdate).toBeUndefined();
    expect(i.counted).toEqual([]);
  });

  it("an operator's manual halt refuses with who and why (it has no intent)", async () => {
    const manual = { tripped: true, breaker: 'manual', reason: 'runaway', detail: 'runaway', by: 'ops@example.com', trippedAt: NOW - 1000 };
    const r = await breakerGate(input({ strategyData: { breakers: { manual } } }));
    expect(r.verdict).toMatchObject({ ok: false, reason: 'breaker:manual' });
    if (!r.verdict.ok) expect(r.verdict.detail).toMatch(/^strategy halted by ops@example.com since .*: runaway/);
  });

  it.each([{ maxNotional: -5 }, { maxNotonal: 5 }, null, 'x'])('invalid override %j refuses with config_invalid', async (limits) => {
    const r = await breakerGate(input({ strategyData: { limits } }));
    expect(r.verdict).toMatchObject({ ok: false, reason: 'config_invalid' });
  });

  it('malformed stats refuse with config_invalid (never zeroed)', async () => {
    const r = await breakerGate(input({ strategyData: { stats: { recentRealized: 'x', daily: null, consecutiveBrokerErrors: 0 } } }));
    expect(r.verdict).toMatchObject({ ok: false, reason: 'config_invalid' });
  });

  it('no breaker defaults (invalid config) refuses with config_invalid', async () => {
    expect((await breakerGate(input({ breakerDefaults: null }))).verdict).toMatchObject({ ok: false, reason: 'config_invalid' });
  });

  it('order rate: counts claims of the last 60 s only when enabled', async () => {
    const i = input({ strategyData: { limits: { maxOrdersPerMin: 3 } }, countRecentClaims: async () => 3 });
    const counted: number[] = [];
    i.countRecentClaims = async (since) => (counted.push(since), 3);
    const r = await breakerGate(i);
    expect(counted).toEqual([NOW - 60_000]);
    expect(r.verdict).toMatchObject({ ok: false, reason: 'breaker:orderRate' });
  });
});
