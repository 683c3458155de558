import { describe, expect, it } from 'vitest';
import { loadReconcileConfig, PARAM_SPECS } from '../../../functions/src/config.js';

function problemsOf(env: Record<string, string>): string[] {
  const r = loadReconcileConfig(env);
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.problems;
}

describe('loadReconcileConfig', () => {
  it('defaults RECONCILE_ABANDON_AFTER_MS to the declared 15 minutes', () => {
    const r = loadReconcileConfig({});
    expect(r.ok && r.config.reconcileAbandonAfterMs).toBe(900_000);
    expect(PARAM_SPECS.RECONCILE_ABANDON_AFTER_MS.default).toBe(900_000);
  });

  it('reads a set value and keeps the runtime configuration', () => {
    const r = loadReconcileConfig({ RECONCILE_ABANDON_AFTER_MS: '120000', BROKER_TIMEOUT_MS: '5000', OWNER_GRACE_MS: '1000' });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config).toMatchObject({ reconcileAbandonAfterMs: 120_000, brokerTimeoutMs: 5000, ownerGraceMs: 1000 });
  });

  it('must be at least 10 × BROKER_TIMEOUT_MS: a request still in flight must not be abandoned', () => {
    expect(loadReconcileConfig({ RECONCILE_ABANDON_AFTER_MS: '100000', BROKER_TIMEOUT_MS: '10000' }).ok).toBe(true);
    expect(problemsOf({ RECONCILE_ABANDON_AFTER_MS: '99999', BROKER_TIMEOUT_MS: '10000' }).join()).toMatch(
      /RECONCILE_ABANDON_AFTER_MS \(99999\) must be at least 10 x BROKER_TIMEOUT_MS \(10000\)/,
    );
  });

  it.each([
    ['59999', /at least 60000/],
    ['15m', /whole number/],
    ['-1', /at least 60000/],
  ])('refuses %j', (value, pattern) => {
    expect(problemsOf({ RECONCILE_ABANDON_AFTER_MS: value }).join()).toMatch(pattern);
  });

  it('an invalid runtime configuration makes the reconciler configuration invalid too (fail closed)', () => {
    expect(problemsOf({ EXECUTION_MODE: 'Live' }).join()).toMatch(/EXECUTION_MODE/);
  });
});
