import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BadFinal,
  badFinalOf,
  BrokerOrderStatus,
  decideOrderUpdate,
  FINAL_ORDER_STATUSES,
  isFinalOrderStatus,
  mergeOrderView,
  orderUpdateAttributes,
  orderUpdateId,
  orderUpdateMessageSchema,
  orderViewOf,
  rateLimitStep,
  type BrokerOrderFacts,
  type OrderView,
  type RecordFacts,
} from '../../../functions/src/domain/order-lifecycle.js';
import { SubmissionState } from '../../../functions/src/domain/submission.js';

const T0 = Date.parse('2026-03-02T15:00:00Z');

const order = (over: Partial<BrokerOrderFacts> = {}): BrokerOrderFacts => ({ id: 'o1', status: 'new', filledQty: '0', filledAvgPrice: null, ...over });
const view = (over: Partial<OrderView> = {}): OrderView => ({ status: 'new', filledQty: '0', filledAvgPrice: null, updatedAtMs: T0, final: false, ...over });
const facts = (over: Partial<RecordFacts> = {}): RecordFacts => ({
  intentId: 'it-1',
  strategyId: 's1',
  state: SubmissionState.submitted,
  reason: null,
  attempts: 1,
  order: view(),
  ...over,
});

describe('final statuses', () => {
  it('filled, canceled, expired and rejected are final; replaced and every open status are not', () => {
    expect([...FINAL_ORDER_STATUSES].sort()).toEqual(['canceled', 'expired', 'filled', 'rejected']);
    for (const status of Object.values(BrokerOrderStatus)) {
      expect(isFinalOrderStatus(status), status).toBe(['filled', 'canceled', 'expired', 'rejected'].includes(status));
    }
  });
});

describe('orderViewOf', () => {
  it('one order: its status, fills and price (normalised decimals), the broker time, final when final', () => {
    const built = orderViewOf([order({ status: 'filled', filledQty: '10.0', filledAvgPrice: '187.50', updatedAt: '2026-03-02T15:00:03.5Z' })], T0);
    expect(built).toEqual({ ok: true, view: { status: 'filled', filledQty: '10', filledAvgPrice: '187.5', updatedAtMs: Date.parse('2026-03-02T15:00:03.5Z'), final: true } });
  });

  it("without the broker's updated_at the view is stamped with haltgate's clock", () => {
    expect(orderViewOf([order()], T0)).toMatchObject({ ok: true, view: { updatedAtMs: T0, filledAvgPrice: null, final: false } });
    expect(orderViewOf([order({ updatedAt: 'yesterday' })], T0)).toMatchObject({ ok: true, view: { updatedAtMs: T0 } });
  });

  it('a replaced chain: the head decides status and finality; fills summed, price weighted exactly', () => {
    const chain = [
      order({ id: 'a', status: 'replaced', filledQty: '3', filledAvgPrice: '10', replacedBy: 'b' }),
      order({ id: 'b', status: 'filled', filledQty: '1', filledAvgPrice: '14' }),
    ];
    expect(orderViewOf(chain, T0)).toMatchObject({ ok: true, view: { status: 'filled', filledQty: '4', filledAvgPrice: '11', final: true } });
  });

  it('a chain whose successor is not known yet ends in replaced: not final', () => {
    expect(orderViewOf([order({ status: 'replaced', replacedBy: 'b' })], T0)).toMatchObject({ ok: true, view: { status: 'replaced', final: false } });
  });

  it('refuses what it cannot read: no order, a bad quantity, fills without a price', () => {
    expect(orderViewOf([], T0).ok).toBe(false);
    expect(orderViewOf([order({ filledQty: '-1' })], T0).ok).toBe(false);
    expect(orderViewOf([order({ filledQty: 'ten' })], T0).ok).toBe(false);
    expect(orderViewOf([order({ filledQty: '2', filledAvgPrice: null })], T0).ok).toBe(false);
    expect(orderViewOf([order({ filledQty: '2', filledAvgPrice: '0' })], T0).ok).toBe(false);
  });

  it('property: the summed quantity is exact and the mean price lies between the chain prices', () => {
    const leg = fc.record({ qty: fc.integer({ min: 0, max: 10_000 }), cents: fc.integer({ min: 1, max: 1_000_000 }) });
    fc.assert(
      fc.property(fc.array(leg, { minLength: 1, maxLength: 6 }), (legs) => {
        const chain = legs.map((l, i) =>
          order({ id: `o${i}`, status: i === legs.length - 1 ? 'filled' : 'replaced', filledQty: String(l.qty), filledAvgPrice: l.qty === 0 ? null : (l.cents / 100).toFixed(2) }),
        );
        const built = orderViewOf(chain, T0);
        expect(built.ok).toBe(true);
        if (!built.ok) return;
        const total = legs.reduce((a, l) => a + l.qty, 0);
        expect(built.view.filledQty).toBe(String(total));
        if (total === 0) expect(built.view.filledAvgPrice).toBeNull();
        else {
          const prices = legs.filter((l) => l.qty > 0).map((l) => l.cents / 100);
          const p = Number(built.view.filledAvgPrice);
          expect(p).toBeGreaterThanOrEqual(Math.min(...prices) - 1e-9);
          expect(p).toBeLessThanOrEqual(Math.max(...prices) + 1e-9);
        }
      }),
    );
  });
});

describe('mergeOrderView', () => {
  it('a first view is a change', () => {
    expect(mergeOrderView(null, view())).toEqual({ changed: true, view: view() });
    expect(mergeOrderView(undefined, view())).toMatchObject({ changed: true });
  });

  it('partial then full fill: each step a change; the same view again is none', () => {
    const partial = view({ status: 'partially_filled', filledQty: '4', filledAvgPrice: '10' });
    const full = view({ status: 'filled', filledQty: '10', filledAvgPrice: '10', final: true });
    expect(mergeOrderView(view(), partial)).toEqual({ changed: true, view: partial });
    expect(mergeOrderView(partial, { ...partial, updatedAtMs: T0 + 5 })).toMatchObject({ changed: false, why: 'no change' });
    expect(mergeOrderView(partial, full)).toEqual({ changed: true, view: full });
  });

  it('a final view never changes again', () => {
    const final = view({ status: 'canceled', final: true });
    expect(mergeOrderView(final, view({ status: 'filled', filledQty: '10', filledAvgPrice: '1', final: true }))).toMatchObject({ changed: false, why: 'already final' });
  });

  it('a stale answer does not move the record back: fewer fills, or an earlier status with the same fills', () => {
    const partial = view({ status: 'partially_filled', filledQty: '4', filledAvgPrice: '10' });
    expect(mergeOrderView(partial, view({ status: 'partially_filled', filledQty: '3', filledAvgPrice: '10' }))).toMatchObject({ changed: false });
    expect(mergeOrderView(view({ status: 'new' }), view({ status: 'accepted' }))).toMatchObject({ changed: false });
    expect(mergeOrderView(view({ status: 'accepted' }), view({ status: 'new' }))).toMatchObject({ changed: true });
  });

  it('a post-acceptance rejection is a change to a final view', () => {
    expect(mergeOrderView(view({ status: 'new' }), view({ status: 'rejected', final: true }))).toMatchObject({ changed: true, view: { status: 'rejected', final: true } });
  });

  it('property: filled quantity never decreases and a final view is never left, whatever the broker answers in whatever order', () => {
    const statuses = ['accepted', 'pending_new', 'new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected', 'replaced'];
    const answer = fc.record({ status: fc.constantFrom(...statuses), qty: fc.integer({ min: 0, max: 20 }) });
    fc.assert(
      fc.property(fc.array(answer, { maxLength: 30 }), (answers) => {
        let current: OrderView | null = null;
        for (const a of answers) {
          const next = view({ status: a.status, filledQty: String(a.qty), filledAvgPrice: a.qty === 0 ? null : '1', final: isFinalOrderStatus(a.status) });
          const merged = mergeOrderView(current, next);
          if (current !== null && merged.changed) {
            expect(Number(merged.view.filledQty)).toBeGreaterThanOrEqual(Number(current.filledQty));
            expect(current.final).toBe(false);
          }
          if (merged.changed) current = merged.view;
          else if (current !== null) expect(merged.view).toBe(current);
        }
      }),
    );
  });
});

describe('decideOrderUpdate', () => {
  it('publishes a new record, each state change and each change of broker status or fills; not a rewrite', () => {
    expect(decideOrderUpdate(null, facts({ state: SubmissionState.submitting, order: null }))).toMatchObject({ publish: true, id: 'it-1:1:submitting:-:-' });
    expect(decideOrderUpdate(facts({ state: SubmissionState.submitting, order: null }), facts())).toMatchObject({ publish: true, id: 'it-1:1:submitted:new:0' });
    expect(decideOrderUpdate(facts(), facts({ order: view({ status: 'partially_filled', filledQty: '4', filledAvgPrice: '10' }) }))).toMatchObject({
      publish: true,
      id: 'it-1:1:submitted:partially_filled:4',
    });
    expect(decideOrderUpdate(facts({ order: view({ filledQty: '4' }) }), facts({ order: view({ filledQty: '5' }) }))).toMatchObject({ publish: true });
    expect(decideOrderUpdate(facts(), facts({ order: view({ updatedAtMs: T0 + 1000 }) }))).toMatchObject({ publish: false });
    expect(decideOrderUpdate(facts(), facts({ reason: 'a detail' }))).toMatchObject({ publish: false });
    expect(decideOrderUpdate(facts(), null)).toMatchObject({ publish: false, why: 'record deleted' });
  });

  it('refusals, rejections and abandonments are published, with their reason and no order', () => {
    for (const [state, reason] of [
      [SubmissionState.refused, 'halted'],
      [SubmissionState.rejected, '40310000'],
      [SubmissionState.abandoned, 'not_at_broker'],
    ] as const) {
      const d = decideOrderUpdate(facts({ state: SubmissionState.unknown, order: null }), facts({ state, reason, order: null }));
      expect(d).toEqual({ publish: true, id: `it-1:1:${state}:-:-`, message: { intentId: 'it-1', strategyId: 's1', state, reason, order: null } });
    }
  });

  it('a re-claim after a release is a change of its own (the attempt is in the id)', () => {
    const a = decideOrderUpdate(facts({ state: SubmissionState.released, order: null }), facts({ state: SubmissionState.submitting, attempts: 2, order: null }));
    expect(a).toMatchObject({ publish: true, id: 'it-1:2:submitting:-:-' });
  });

  it('the message has exactly the contract fields and passes the schema strategies read with; updatedAt as ISO', () => {
    const d = decideOrderUpdate(facts({ state: SubmissionState.submitting, order: null }), facts({ order: view({ status: 'filled', filledQty: '10', filledAvgPrice: '2', final: true }) }));
    if (!d.publish) throw new Error('expected a publish');
    expect(Object.keys(d.message).sort()).toEqual(['intentId', 'order', 'reason', 'state', 'strategyId']);
    expect(Object.keys(d.message.order!).sort()).toEqual(['filledAvgPrice', 'filledQty', 'final', 'status', 'updatedAt']);
    expect(d.message.order!.updatedAt).toBe(new Date(T0).toISOString());
    expect(orderUpdateMessageSchema.parse(d.message)).toEqual(d.message);
    expect(orderUpdateMessageSchema.safeParse({ ...d.message, extra: 1 }).success).toBe(false);
    expect(orderUpdateAttributes(d.id, d.message)).toEqual({ updateId: d.id, intentId: 'it-1', strategyId: 's1', state: 'submitted', orderStatus: 'filled' });
  });

  it('property: the id is a function of the change alone, and different changes have different ids', () => {
    const arb = fc.record({
      state: fc.constantFrom(...Object.values(SubmissionState)),
      attempts: fc.integer({ min: 0, max: 5 }),
      status: fc.option(fc.constantFrom('new', 'partially_filled', 'filled'), { nil: null }),
      qty: fc.integer({ min: 0, max: 5 }),
    });
    const toFacts = (a: { state: SubmissionState; attempts: number; status: string | null; qty: number }) =>
      facts({ state: a.state, attempts: a.attempts, order: a.status === null ? null : view({ status: a.status, filledQty: String(a.qty) }) });
    fc.assert(
      fc.property(arb, arb, (a, b) => {
        const fa = toFacts(a);
        const fb = toFacts(b);
        const same = a.state === b.state && a.attempts === b.attempts && a.status === b.status && (a.status === null || a.qty === b.qty);
        expect(orderUpdateId(fa) === orderUpdateId(fb)).toBe(same);
        // Worth publishing exactly when the id differs.
        expect(decideOrderUpdate(fa, fb).publish).toBe(!same);
      }),
    );
  });
});

describe('badFinalOf', () => {
  it('rejected after acceptance and expired unfilled are bad; filled, canceled, expired partly filled and open ones are not', () => {
    expect(badFinalOf(view({ status: 'rejected', final: true }))).toBe(BadFinal.rejected_after_acceptance);
    expect(badFinalOf(view({ status: 'expired', final: true }))).toBe(BadFinal.expired_unfilled);
    expect(badFinalOf(view({ status: 'expired', filledQty: '2', filledAvgPrice: '1', final: true }))).toBeNull();
    expect(badFinalOf(view({ status: 'filled', filledQty: '2', filledAvgPrice: '1', final: true }))).toBeNull();
    expect(badFinalOf(view({ status: 'canceled', final: true }))).toBeNull();
    expect(badFinalOf(view({ status: 'new' }))).toBeNull();
    expect(badFinalOf(null)).toBeNull();
    expect(badFinalOf(view({ status: 'expired', filledQty: 'garbage', final: true }))).toBeNull();
  });
});

describe('rateLimitStep', () => {
  const settings = { minRemaining: 40, maxWaitMs: 30_000, timeLeftMs: 60_000 };
  const info = (remaining: number | null, resetAtMs: number | null) => ({ info: { limit: 200, remaining, resetAtMs }, rateLimited: false, retryAfterMs: null });

  it('goes while enough requests are left, or when the broker says nothing', () => {
    expect(rateLimitStep(info(41, T0 + 10_000), T0, settings)).toEqual({ kind: 'go' });
    expect(rateLimitStep({ info: null, rateLimited: false, retryAfterMs: null }, T0, settings)).toEqual({ kind: 'go' });
    expect(rateLimitStep(info(null, null), T0, settings)).toEqual({ kind: 'go' });
  });

  it('at the threshold: waits for the reset when it fits, stops otherwise', () => {
    expect(rateLimitStep(info(40, T0 + 10_000), T0, settings)).toEqual({ kind: 'wait', ms: 10_000 });
    expect(rateLimitStep(info(3, T0 - 5), T0, settings)).toEqual({ kind: 'wait', ms: 0 });
    expect(rateLimitStep(info(3, T0 + 31_000), T0, settings)).toMatchObject({ kind: 'stop' });
    expect(rateLimitStep(info(3, T0 + 20_000), T0, { ...settings, timeLeftMs: 20_000 })).toMatchObject({ kind: 'stop' });
    expect(rateLimitStep(info(3, null), T0, settings)).toMatchObject({ kind: 'stop', why: expect.stringMatching(/no reset time/) });
  });

  it('a 429 waits Retry-After, else the reset; stops when neither is known', () => {
    expect(rateLimitStep({ info: null, rateLimited: true, retryAfterMs: 2_000 }, T0, settings)).toEqual({ kind: 'wait', ms: 2_000 });
    expect(rateLimitStep({ info: { limit: 200, remaining: 0, resetAtMs: T0 + 4_000 }, rateLimited: true, retryAfterMs: null }, T0, settings)).toEqual({ kind: 'wait', ms: 4_000 });
    expect(rateLimitStep({ info: null, rateLimited: true, retryAfterMs: null }, T0, settings)).toMatchObject({ kind: 'stop', why: expect.stringMatching(/429/) });
  });
});
