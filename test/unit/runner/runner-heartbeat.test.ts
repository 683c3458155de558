import { describe, expect, it } from 'vitest';
import { defaultStaleAfterMs, isRunnerStale } from '../../../functions/src/domain/runner-heartbeat.js';

describe('isRunnerStale', () => {
  it('is stale only when the last heartbeat is older than staleAfterMs', () => {
    expect(isRunnerStale(1_000, 1_000, 45_000)).toBe(false);
    expect(isRunnerStale(1_000, 46_000, 45_000)).toBe(false);
    expect(isRunnerStale(1_000, 46_001, 45_000)).toBe(true);
  });

  it('a last-seen time in the future (clock skew) is not stale; an unreadable one is', () => {
    expect(isRunnerStale(10_000, 1_000, 45_000)).toBe(false);
    expect(isRunnerStale(Number.NaN, 1_000, 45_000)).toBe(true);
  });

  it('defaults to three missed intervals', () => {
    expect(defaultStaleAfterMs(15_000)).toBe(45_000);
  });
});
