import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OrderRequest } from '../../../functions/src/broker/broker.js';
import { createDryRunBroker } from '../../../functions/src/broker/dry-run.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';

const order: OrderRequest = { clientOrderId: 'intent-1', symbol: 'AAPL', side: 'buy', qty: 3, type: 'limit', limitPrice: 187.5, timeInForce: 'day' };
const CALL = { timeoutMs: 100 };

describe('createDryRunBroker', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('makes no network call and remembers what it was asked', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const seen: OrderRequest[] = [];
    const broker = createDryRunBroker({ clock: fixedClock(Date.parse('2026-01-02T14:30:00Z')), onSubmit: (o) => seen.push(o) });
    expect(broker.name).toBe('dry-run');

    const outcome = await broker.submitOrder(order, CALL);
    expect(outcome).toEqual({
      kind: 'accepted',
      order: {
        id: 'dry-run-intent-1',
        clientOrderId: 'intent-1',
        status: 'dry_run',
        symbol: 'AAPL',
        side: 'buy',
        qty: '3',
        filledQty: '0',
        filledAvgPrice: null,
        type: 'limit',
        limitPrice: '187.5',
        submittedAt: '2026-01-02T14:30:00.000Z',
        createdAt: '2026-01-02T14:30:00.000Z',
      },
    });
    expect(broker.decisions).toEqual([order]);
    expect(seen).toEqual([order]);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('keeps copies: mutating the request afterwards does not rewrite history', async () => {
    const broker = createDryRunBroker({ clock: fixedClock(0) });
    const mutable = { ...order };
    await broker.submitOrder(mutable, CALL);
    mutable.qty = 999;
    expect(broker.decisions[0]!.qty).toBe(3);
  });

  it('finds what it accepted, nothing else; a second submit of the same id is a duplicate', async () => {
    const broker = createDryRunBroker({ clock: fixedClock(0) });
    expect(await broker.getOrderByClientOrderId('intent-1', CALL)).toEqual({ kind: 'not_found' });
    await broker.submitOrder(order, CALL);
    expect(await broker.getOrderByClientOrderId('intent-1', CALL)).toMatchObject({ kind: 'found', order: { id: 'dry-run-intent-1' } });
    expect(await broker.submitOrder(order, CALL)).toMatchObject({ kind: 'duplicate', httpStatus: 422 });
    expect(broker.decisions).toHaveLength(2);
  });

  it('market orders carry no limit price', async () => {
    const broker = createDryRunBroker({ clock: fixedClock(0) });
    const outcome = await broker.submitOrder({ ...order, clientOrderId: 'm', type: 'market', limitPrice: undefined }, CALL);
    expect(outcome).toMatchObject({ kind: 'accepted', order: { limitPrice: null, type: 'market' } });
  });

  it('cancel-all is done with nothing, listings are empty', async () => {
    const broker = createDryRunBroker({ clock: fixedClock(0) });
    await broker.submitOrder(order, CALL);
    expect(await broker.cancelAllOpenOrders(CALL)).toEqual({ kind: 'done', results: [] });
    expect(await broker.listOrders({ since: new Date(0) }, CALL)).toEqual({ kind: 'ok', items: [] });
    expect(await broker.listFills({ since: new Date(0) }, CALL)).toEqual({ kind: 'ok', items: [] });
  });
});

describe('createDryRunBroker memory', () => {
  it('keeps at most maxRemembered requests and orders, forgetting the oldest', async () => {
    const broker = createDryRunBroker({ clock: fixedClock(0), maxRemembered: 2 });
    for (const id of ['a', 'b', 'c']) await broker.submitOrder({ ...order, clientOrderId: id }, CALL);
    expect(broker.decisions.map((d) => d.clientOrderId)).toEqual(['b', 'c']);
    expect(await broker.getOrderByClientOrderId('a', CALL)).toEqual({ kind: 'not_found' });
    expect(await broker.getOrderByClientOrderId('c', CALL)).toMatchObject({ kind: 'found' });
  });

  it('refuses a nonsensical bound', () => {
    expect(() => createDryRunBroker({ clock: fixedClock(0), maxRemembered: 0 })).toThrow(RangeError);
  });
});
