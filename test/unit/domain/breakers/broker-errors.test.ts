import { describe, expect, it } from 'vitest';
import { brokerErrorsBreaker } from '../../../../functions/src/domain/breakers/broker-errors.js';
import { DISABLED_LIMITS } from '../../../../functions/src/domain/breakers/limits.js';
import { emptyStrategyStats } from '../../../../functions/src/domain/breakers/stats.js';
import { limitsWith, makeInput } from './fixtures.js';

const withErrors = (n: number) => makeInput({ stats: { ...emptyStrategyStats(), consecutiveBrokerErrors: n } });

describe('brokerErrorsBreaker', () => {
  const limits = limitsWith({ maxBrokerErrors: 3 });

  it('is off by default and with 0', () => {
    expect(brokerErrorsBreaker(withErrors(1_000), DISABLED_LIMITS)).toEqual({ tripped: false });
  });

  it('trips at exactly N consecutive errors', () => {
    expect(brokerErrorsBreaker(withErrors(2), limits).tripped).toBe(false);
    expect(brokerErrorsBreaker(withErrors(3), limits)).toEqual({
      tripped: true,
      breaker: 'brokerErrors',
      value: 3,
      threshold: 3,
      detail: expect.stringContaining('unknown or 5xx'),
    });
    expect(brokerErrorsBreaker(withErrors(7), limits)).toMatchObject({ tripped: true, value: 7 });
  });
});
