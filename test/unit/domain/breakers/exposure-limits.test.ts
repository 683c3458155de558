import { describe, expect, it } from 'vitest';
import { grossExposureBreaker, positionBreaker, positionNotionalBreaker, referencePrice, storedPrice } from '../../../../functions/src/domain/breakers/exposure-limits.js';
import type { ExposureContext } from '../../../../functions/src/domain/breakers/exposure-limits.js';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { FLAT } from '../../../../functions/src/domain/exposure/exposure.js';
import { shares } from '../exposure/fixtures.js';
import { limitsWith, makeInput, makeIntent, makeLimitIntent, marketDataFromCloses } from './fixtures.js';

const at = (exposure = FLAT, others: ExposureContext['others'] = []): ExposureContext => ({ current: { ok: true, exposure }, others });
const P = (p: number) => BigInt(Math.round(p * 1e9));

describe('exposure limits as breakers', () => {
  it('are off by default: they need neither an exposure nor a price', () => {
    const input = makeInput({ intent: makeIntent({ qty: 1e9 }) });
    for (const b of [positionBreaker, positionNotionalBreaker, grossExposureBreaker]) expect(b(input, DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('fail closed when the claim did not read the exposure, or read an unreadable one', () => {
    const limits = limitsWith({ maxPositionQty: 10 });
    expect(positionBreaker(makeInput(), limits)).toMatchObject({ tripped: true, breaker: 'position', value: null, detail: expect.stringContaining('not read') });
    const unreadable: ExposureContext = { current: { ok: false, problem: 'position: must be a decimal string' }, others: [] };
    expect(positionBreaker(makeInput({ exposure: unreadable }), limits)).toMatchObject({ tripped: true, value: null, detail: expect.stringContaining('unreadable: position') });
    expect(grossExposureBreaker(makeInput({ exposure: { ...at(), others: null } }), limitsWith({ maxGrossExposure: 1 }))).toMatchObject({
      tripped: true,
      value: null,
      detail: expect.stringContaining('other exposures were not read'),
    });
  });

  it('position: long 6 with a buy of 3 pending may buy 1 under a limit of 10, not 2', () => {
    const limits = limitsWith({ maxPositionQty: 10 });
    const exposure = at(shares(6n, 3n));
    expect(positionBreaker(makeInput({ intent: makeIntent({ qty: 1, side: 'buy' }), exposure }), limits)).toEqual({ tripped: false });
    expect(positionBreaker(makeInput({ intent: makeIntent({ qty: 2, side: 'buy' }), exposure }), limits)).toMatchObject({ tripped: true, breaker: 'position', value: 11, threshold: 10 });
  });

  it('positionNotional values at the limit price, else the last close; with neither it trips', () => {
    const limits = limitsWith({ maxPositionNotional: 1_000 });
    expect(positionNotionalBreaker(makeInput({ intent: makeLimitIntent(100, { qty: 10 }), exposure: at() }), limits)).toEqual({ tripped: false });
    expect(positionNotionalBreaker(makeInput({ intent: makeLimitIntent(100.01, { qty: 10 }), exposure: at() }), limits)).toMatchObject({ tripped: true, value: 1000.1 });
    expect(positionNotionalBreaker(makeInput({ intent: makeIntent({ qty: 10, marketData: marketDataFromCloses([90, 101]) }), exposure: at() }), limits)).toMatchObject({ tripped: true, value: 1010 });
    expect(positionNotionalBreaker(makeInput({ intent: makeIntent({ qty: 1 }), exposure: at() }), limits)).toMatchObject({ tripped: true, value: null, detail: expect.stringContaining('no price') });
  });

  it('grossExposure sums the other symbols at their last known price', () => {
    const limits = limitsWith({ maxGrossExposure: 3_000 });
    const others = [{ symbol: 'MSFT', exposure: shares(-5n), price: P(200) }];
    expect(grossExposureBreaker(makeInput({ intent: makeLimitIntent(100, { qty: 20 }), exposure: at(FLAT, others) }), limits)).toEqual({ tripped: false });
    expect(grossExposureBreaker(makeInput({ intent: makeLimitIntent(100, { qty: 21 }), exposure: at(FLAT, others) }), limits)).toMatchObject({ tripped: true, value: 3100 });
  });

  it('a quantity finer than 9 decimals counts rounded up; one no order can carry trips', () => {
    expect(positionBreaker(makeInput({ intent: makeIntent({ qty: 1.0000000001 }), exposure: at() }), limitsWith({ maxPositionQty: 1 }))).toMatchObject({ tripped: true, value: 1.000000001 });
    expect(positionBreaker(makeInput({ intent: makeIntent({ qty: 1e21 }), exposure: at() }), limitsWith({ maxPositionQty: 10 }))).toMatchObject({ tripped: true, value: null, detail: expect.stringContaining('1e+21') });
  });
});

describe('prices', () => {
  it('reference price: limit price first, then the last bar close', () => {
    expect(referencePrice(makeInput({ intent: makeLimitIntent(12.5) }))).toMatchObject({ ok: true, price: P(12.5), source: 'limit price' });
    expect(referencePrice(makeInput({ intent: makeIntent({ marketData: marketDataFromCloses([1, 2]) }) }))).toMatchObject({ ok: true, price: P(2) });
    expect(referencePrice(makeInput({ intent: makeIntent() }))).toMatchObject({ ok: false });
  });

  it('stored prices: a positive decimal string, else none', () => {
    expect(storedPrice('101.25')).toBe(P(101.25));
    for (const bad of [undefined, null, 101.25, '0', '-1', 'abc', '1e3']) expect(storedPrice(bad)).toBeNull();
  });
});
