import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeConfig,
  FALLBACK_TIMEOUTS,
  loadRuntimeConfig,
  PARAM_SPECS,
  type RuntimeConfig,
  type RuntimeConfigResult,
} from '../../functions/src/config.js';
import { DISABLED_LIMITS } from '../../functions/src/domain/breakers/limits.js';

const DEFAULTS: RuntimeConfig = {
  executionMode: 'dry_run',
  executionHalted: 'false',
  executeTimeoutSeconds: 60,
  minSubmitBudgetMs: 15_000,
  brokerTimeoutMs: 10_000,
  deadlineMarginMs: 3_000,
  ownerGraceMs: 30_000,
  maxIntentAgeMs: 0,
  shutdownDrainTimeoutMs: 8_000,
  maxOpenClaims: 8,
  ledgerMaxAgeMs: 300_000,
  alpacaBaseUrl: null,
  alpacaKeyId: null,
  alpacaSecretKey: null,
  breakerDefaults: DISABLED_LIMITS,
};

const KEYS = { ALPACA_KEY_ID: 'PKTESTKEYID123', ALPACA_SECRET_KEY: 'sEcReT/with+chars=' };

function ok(result: RuntimeConfigResult): RuntimeConfig {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.problems)}`);
  return result.config;
}

function problems(env: Record<string, string | undefined>): string[] {
  const r = loadRuntimeConfig(env);
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.problems;
}

describe('loadRuntimeConfig: defaults', () => {
  it('an empty environment gives the declared defaults (mode dry_run, no secrets)', () => {
    expect(ok(loadRuntimeConfig({}))).toEqual(DEFAULTS);
  });

  it('the defaults are the ones PARAM_SPECS declares', () => {
    const c = ok(loadRuntimeConfig({}));
    expect(c.executionMode).toBe(PARAM_SPECS.EXECUTION_MODE.default);
    expect(c.executionHalted).toBe(PARAM_SPECS.EXECUTION_HALTED.default);
    expect(c.executeTimeoutSeconds).toBe(PARAM_SPECS.EXECUTE_TIMEOUT_SECONDS.default);
    expect(c.minSubmitBudgetMs).toBe(PARAM_SPECS.MIN_SUBMIT_BUDGET_MS.default);
    expect(c.brokerTimeoutMs).toBe(PARAM_SPECS.BROKER_TIMEOUT_MS.default);
    expect(c.deadlineMarginMs).toBe(PARAM_SPECS.DEADLINE_MARGIN_MS.default);
    expect(c.ownerGraceMs).toBe(PARAM_SPECS.OWNER_GRACE_MS.default);
    expect(c.maxIntentAgeMs).toBe(PARAM_SPECS.MAX_INTENT_AGE_MS.default);
    expect(c.shutdownDrainTimeoutMs).toBe(PARAM_SPECS.SHUTDOWN_DRAIN_TIMEOUT_MS.default);
    expect(FALLBACK_TIMEOUTS).toEqual({ executeTimeoutSeconds: 60, ownerGraceMs: 30_000, shutdownDrainTimeoutMs: 8_000 });
  });

  it('an empty string means the default', () => {
    const env = Object.fromEntries(Object.keys(PARAM_SPECS).map((k) => [k, '']));
    expect(ok(loadRuntimeConfig(env))).toEqual(DEFAULTS);
  });

  it('ignores unrelated variables', () => {
    expect(ok(loadRuntimeConfig({ PATH: '/bin', HOME: '/root', EXECUTION_MODEX: 'live' }))).toEqual(DEFAULTS);
  });

  it('reads every value that is set', () => {
    const c = ok(
      loadRuntimeConfig({
        EXECUTION_MODE: 'live',
        EXECUTION_HALTED: 'true',
        EXECUTE_TIMEOUT_SECONDS: '540',
        MIN_SUBMIT_BUDGET_MS: '20000',
        BROKER_TIMEOUT_MS: '15000',
        DEADLINE_MARGIN_MS: '0',
        OWNER_GRACE_MS: '0',
        MAX_INTENT_AGE_MS: '60000',
        SHUTDOWN_DRAIN_TIMEOUT_MS: '5000',
        MAX_OPEN_CLAIMS: '32',
        ALPACA_BASE_URL: 'http://127.0.0.1:8080',
        ...KEYS,
      }),
    );
    expect(c).toEqual({
      executionMode: 'live',
      executionHalted: 'true',
      executeTimeoutSeconds: 540,
      minSubmitBudgetMs: 20_000,
      brokerTimeoutMs: 15_000,
      deadlineMarginMs: 0,
      ownerGraceMs: 0,
      maxIntentAgeMs: 60_000,
      shutdownDrainTimeoutMs: 5_000,
      maxOpenClaims: 32,
      ledgerMaxAgeMs: 300_000,
      alpacaBaseUrl: 'http://127.0.0.1:8080',
      alpacaKeyId: KEYS.ALPACA_KEY_ID,
      alpacaSecretKey: KEYS.ALPACA_SECRET_KEY,
      breakerDefaults: DISABLED_LIMITS,
    });
  });

  it('trims whitespace around whole numbers', () => {
    expect(ok(loadRuntimeConfig({ EXECUTE_TIMEOUT_SECONDS: ' 120 ' })).executeTimeoutSeconds).toBe(120);
  });

  it('keeps EXECUTION_HALTED raw: the kill switch parses it', () => {
    expect(ok(loadRuntimeConfig({ EXECUTION_HALTED: ' flase ' })).executionHalted).toBe(' flase ');
  });

  it.each(['off', 'dry_run'])('mode %s needs no secrets', (mode) => {
    expect(ok(loadRuntimeConfig({ EXECUTION_MODE: mode })).executionMode).toBe(mode);
  });

  it.each(['paper', 'live'])('mode %s with both secrets is ok', (mode) => {
    expect(ok(loadRuntimeConfig({ EXECUTION_MODE: mode, ...KEYS })).executionMode).toBe(mode);
  });
});

describe('loadRuntimeConfig: invalid values', () => {
  it.each(['Paper ', 'livee', 'LIVE', 'dry-run', 'on'])('EXECUTION_MODE %j is refused with a problem naming it', (mode) => {
    const r = loadRuntimeConfig({ EXECUTION_MODE: mode, ...KEYS });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([`EXECUTION_MODE=${JSON.stringify(mode)} is not one of off, dry_run, paper, live`]);
    // The rest of the config is still readable (the deadline and the halted param are needed).
    expect(r.partial.executionMode).toBe('off');
    expect(r.partial.executeTimeoutSeconds).toBe(60);
    expect(r.partial.executionHalted).toBe('false');
  });

  it.each([
    ['0', 'EXECUTE_TIMEOUT_SECONDS must be at least 1'],
    ['-5', 'EXECUTE_TIMEOUT_SECONDS must be at least 1'],
    ['541', 'EXECUTE_TIMEOUT_SECONDS must be at most 540'],
    ['abc', 'EXECUTE_TIMEOUT_SECONDS must be a whole number'],
    ['1.5', 'EXECUTE_TIMEOUT_SECONDS must be a whole number'],
    ['60s', 'EXECUTE_TIMEOUT_SECONDS must be a whole number'],
    ['1e2', 'EXECUTE_TIMEOUT_SECONDS must be a whole number'],
    ['0x3c', 'EXECUTE_TIMEOUT_SECONDS must be a whole number'],
  ])('EXECUTE_TIMEOUT_SECONDS=%j is refused: %s', (value, message) => {
    const r = loadRuntimeConfig({ EXECUTE_TIMEOUT_SECONDS: value });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toContain(message);
    expect(r.partial).toEqual({});
  });

  it.each([
    ['MIN_SUBMIT_BUDGET_MS', '0', 'MIN_SUBMIT_BUDGET_MS must be at least 1'],
    ['BROKER_TIMEOUT_MS', '0', 'BROKER_TIMEOUT_MS must be at least 1'],
    ['BROKER_TIMEOUT_MS', '540001', 'BROKER_TIMEOUT_MS must be at most 540000'],
    ['DEADLINE_MARGIN_MS', '-1', 'DEADLINE_MARGIN_MS must be at least 0'],
    ['OWNER_GRACE_MS', 'soon', 'OWNER_GRACE_MS must be a whole number'],
    ['OWNER_GRACE_MS', '86400001', 'OWNER_GRACE_MS must be at most 86400000'],
    ['MAX_INTENT_AGE_MS', '-1', 'MAX_INTENT_AGE_MS must be at least 0'],
    ['MAX_INTENT_AGE_MS', '604800001', 'MAX_INTENT_AGE_MS must be at most 604800000'],
  ])('%s=%j is refused: %s', (name, value, message) => {
    expect(problems({ [name]: value })).toContain(message);
  });

  it('MIN_SUBMIT_BUDGET_MS equal to DEADLINE_MARGIN_MS is refused; one more is fine', () => {
    expect(problems({ MIN_SUBMIT_BUDGET_MS: '3000', DEADLINE_MARGIN_MS: '3000' })).toEqual([
      'MIN_SUBMIT_BUDGET_MS (3000) must be greater than DEADLINE_MARGIN_MS (3000)',
    ]);
    expect(problems({ MIN_SUBMIT_BUDGET_MS: '2000', DEADLINE_MARGIN_MS: '3000' })).toEqual([
      'MIN_SUBMIT_BUDGET_MS (2000) must be greater than DEADLINE_MARGIN_MS (3000)',
    ]);
    expect(ok(loadRuntimeConfig({ MIN_SUBMIT_BUDGET_MS: '3001', DEADLINE_MARGIN_MS: '3000' })).minSubmitBudgetMs).toBe(3001);
  });

  it('MIN_SUBMIT_BUDGET_MS at or above the function timeout is refused; just below is fine', () => {
    expect(problems({ EXECUTE_TIMEOUT_SECONDS: '15', MIN_SUBMIT_BUDGET_MS: '15000' })).toEqual([
      'MIN_SUBMIT_BUDGET_MS (15000) must be below EXECUTE_TIMEOUT_SECONDS (15 s), or no intent could ever be submitted',
    ]);
    expect(problems({ EXECUTE_TIMEOUT_SECONDS: '10' })[0]).toMatch(/MIN_SUBMIT_BUDGET_MS \(15000\) must be below EXECUTE_TIMEOUT_SECONDS \(10 s\)/);
    expect(ok(loadRuntimeConfig({ EXECUTE_TIMEOUT_SECONDS: '15', MIN_SUBMIT_BUDGET_MS: '14999' })).executeTimeoutSeconds).toBe(15);
  });

  it.each(['not a url', 'http//missing-colon', '://x'])('ALPACA_BASE_URL=%j is refused', (url) => {
    expect(problems({ ALPACA_BASE_URL: url })).toEqual(['ALPACA_BASE_URL must be empty or a URL']);
  });

  it.each(['paper', 'live'])('mode %s without secrets is refused, naming both', (mode) => {
    for (const env of [{}, { ALPACA_KEY_ID: 'k' }, { ALPACA_SECRET_KEY: 's' }, { ALPACA_KEY_ID: '', ALPACA_SECRET_KEY: '' }]) {
      const r = loadRuntimeConfig({ EXECUTION_MODE: mode, ...env });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems).toEqual([`EXECUTION_MODE=${mode} needs the secrets ALPACA_KEY_ID and ALPACA_SECRET_KEY`]);
    }
  });

  it('reports several problems at once', () => {
    const p = problems({ EXECUTION_MODE: 'livee', BROKER_TIMEOUT_MS: 'x', ALPACA_BASE_URL: 'nope' });
    expect(p).toEqual(
      expect.arrayContaining([
        'BROKER_TIMEOUT_MS must be a whole number',
        'ALPACA_BASE_URL must be empty or a URL',
        'EXECUTION_MODE="livee" is not one of off, dry_run, paper, live',
      ]),
    );
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...Object.keys(PARAM_SPECS), 'ALPACA_KEY_ID', 'ALPACA_SECRET_KEY'), fc.string()), (env) => {
        const r = loadRuntimeConfig(env);
        if (!r.ok) expect(r.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('loadRuntimeConfig: the last answer is kept for the same values', () => {
  const envArb = fc.dictionary(
    fc.constantFrom(...Object.keys(PARAM_SPECS), 'ALPACA_KEY_ID', 'ALPACA_SECRET_KEY'),
    fc.oneof(fc.constantFrom('', ' ', 'null', 'paper', 'live', 'true', '15000', '3000', '0', '-1', 'x'), fc.string({ maxLength: 6 })),
  );
  it('property: an environment answered after another is answered as when read first', () => {
    fc.assert(
      fc.property(envArb, envArb, (a, b) => {
        const first = loadRuntimeConfig(a);
        const other = loadRuntimeConfig(b);
        expect(loadRuntimeConfig(a)).toEqual(first);
        loadRuntimeConfig(a);
        expect(loadRuntimeConfig(b)).toEqual(other);
      }),
    );
  });
  it('a secret set and a secret unset are different environments', () => {
    expect(loadRuntimeConfig({ EXECUTION_MODE: 'paper', ...KEYS }).ok).toBe(true);
    expect(loadRuntimeConfig({ EXECUTION_MODE: 'paper', ALPACA_KEY_ID: KEYS.ALPACA_KEY_ID }).ok).toBe(false);
    expect(loadRuntimeConfig({ EXECUTION_MODE: 'paper', ALPACA_KEY_ID: KEYS.ALPACA_KEY_ID, ALPACA_SECRET_KEY: 'null' }).ok).toBe(true);
  });
  it('the same values give the very same answer (no parse per invocation)', () => {
    const env = { EXECUTION_MODE: 'dry_run', CB_MAX_NOTIONAL: '5000' };
    expect(loadRuntimeConfig({ ...env })).toBe(loadRuntimeConfig({ ...env }));
  });
});

describe('describeConfig', () => {
  it('shows secrets as <omitted> and keeps everything else', () => {
    const c = ok(loadRuntimeConfig({ EXECUTION_MODE: 'paper', ...KEYS }));
    const d = describeConfig(c);
    expect(d).toEqual({ ...c, alpacaKeyId: '<omitted>', alpacaSecretKey: '<omitted>' });
    const json = JSON.stringify(d);
    expect(json).not.toContain(KEYS.ALPACA_KEY_ID);
    expect(json).not.toContain(KEYS.ALPACA_SECRET_KEY);
  });

  it('shows absent secrets as null', () => {
    expect(describeConfig(ok(loadRuntimeConfig({})))).toMatchObject({ alpacaKeyId: null, alpacaSecretKey: null });
    expect(describeConfig({})).toEqual({ alpacaKeyId: null, alpacaSecretKey: null });
  });

  it('hides the secrets of a partial (invalid) configuration too', () => {
    const r = loadRuntimeConfig({ EXECUTION_MODE: 'livee', ...KEYS });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.partial.alpacaSecretKey).toBe(KEYS.ALPACA_SECRET_KEY);
    const json = JSON.stringify(describeConfig(r.partial));
    expect(json).not.toContain(KEYS.ALPACA_SECRET_KEY);
    expect(json).not.toContain(KEYS.ALPACA_KEY_ID);
  });

  it('property: no secret value ever appears in the described configuration', () => {
    const secretArb = fc.oneof(fc.string({ minLength: 1 }), fc.string({ unit: 'binary', minLength: 1 }), fc.stringMatching(/^[A-Za-z0-9/+=]{8,40}$/)).filter((secret) => secret.trim() !== '');
    fc.assert(
      fc.property(secretArb, secretArb, fc.constantFrom('paper', 'live', 'dry_run', 'off', 'livee'), (keyId, secret, mode) => {
        const r = loadRuntimeConfig({ EXECUTION_MODE: mode, ALPACA_KEY_ID: keyId, ALPACA_SECRET_KEY: secret });
        const config = r.ok ? r.config : r.partial;
        const json = JSON.stringify(describeConfig(config));
        // With the secrets hidden, the description is the same as for any other non-empty secret.
        const hidden = 'alpacaKeyId' in config ? { ...config, alpacaKeyId: 'k', alpacaSecretKey: 's' } : config;
        const baseline = JSON.stringify(describeConfig(hidden));
        expect(json).toBe(baseline);
        // The secret could coincide with text that is legitimately there (e.g. "0" in "60000").
        for (const s of [keyId, secret]) {
          const escaped = JSON.stringify(s).slice(1, -1);
          if (!baseline.includes(escaped)) expect(json).not.toContain(escaped);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('broker secrets', () => {
  it('a whitespace-only secret is missing', () => {
    const result = loadRuntimeConfig({ EXECUTION_MODE: 'paper', ALPACA_KEY_ID: 'k', ALPACA_SECRET_KEY: '   ' });
    expect(result.ok).toBe(false);
  });
});

describe('loadRuntimeConfig: breaker params (CB_*)', () => {
  it('every breaker is off by default', () => {
    expect(ok(loadRuntimeConfig({})).breakerDefaults).toEqual(DISABLED_LIMITS);
  });

  it('reads every CB_* param', () => {
    const c = ok(
      loadRuntimeConfig({
        CB_REQUIRE_MARKET_DATA: 'true',
        CB_MAX_DATA_AGE_MS: '5000',
        CB_VOL_RATIO_THRESHOLD: '2.5',
        CB_VOL_RECENT_N: '4',
        CB_VOL_BASELINE_N: '20',
        CB_MAX_CONSECUTIVE_LOSSES: '3',
        CB_MAX_DAILY_LOSS: '500.25',
        CB_TRADING_TIME_ZONE: 'Europe/London',
        CB_MAX_ORDERS_PER_MIN: '30',
        CB_MAX_NOTIONAL: '10000',
        CB_PRICE_COLLAR_PCT: '1.5',
        CB_MAX_BROKER_ERRORS: '3',
        CB_MAX_POSITION_QTY: '250',
        CB_MAX_POSITION_NOTIONAL: '50000.5',
        CB_MAX_GROSS_EXPOSURE: '200000',
      }),
    );
    expect(c.breakerDefaults).toEqual({
      requireMarketData: true,
      maxDataAgeMs: 5000,
      volRatioThreshold: 2.5,
      volRecentN: 4,
      volBaselineN: 20,
      maxConsecutiveLosses: 3,
      maxDailyLoss: 500.25,
      tradingTimeZone: 'Europe/London',
      maxOrdersPerMin: 30,
      maxNotional: 10000,
      priceCollarPct: 1.5,
      maxBrokerErrors: 3,
      maxPositionQty: 250,
      maxPositionNotional: 50000.5,
      maxGrossExposure: 200000,
      // No deploy-time param: the dead-man switch is per strategy (limits.maxRunnerSilenceMs).
      maxRunnerSilenceMs: 0,
    });
  });

  it.each([
    ['CB_REQUIRE_MARKET_DATA', 'yes', /CB_REQUIRE_MARKET_DATA must be true or false/],
    ['CB_MAX_NOTIONAL', '-5', /CB_MAX_NOTIONAL must be a plain non-negative decimal/],
    ['CB_MAX_POSITION_QTY', '-1', /CB_MAX_POSITION_QTY must be a plain non-negative decimal/],
    ['CB_MAX_GROSS_EXPOSURE', '1e6', /CB_MAX_GROSS_EXPOSURE must be a plain non-negative decimal/],
    ['CB_PRICE_COLLAR_PCT', '1e3', /CB_PRICE_COLLAR_PCT must be a plain/],
    ['CB_VOL_RECENT_N', '1', /CB_VOL_RECENT_N must be at least 2/],
    ['CB_MAX_CONSECUTIVE_LOSSES', '101', /CB_MAX_CONSECUTIVE_LOSSES must be at most 100/],
    ['CB_MAX_ORDERS_PER_MIN', '2.5', /CB_MAX_ORDERS_PER_MIN must be a whole number/],
    ['CB_TRADING_TIME_ZONE', 'Mars/Olympus', /CB_TRADING_TIME_ZONE: must be an IANA time zone/],
    ['CB_VOL_BASELINE_N', '999', /CB_VOL_BASELINE_N: volRecentN \+ volBaselineN \+ 1 must be at most 1000/],
  ])('%s=%j makes the configuration invalid', (name, value, message) => {
    const r = loadRuntimeConfig({ [name]: value });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.join('\n')).toMatch(message);
    // The rest stays readable (the halted param is still honoured).
    expect(r.partial.executionHalted).toBe('false');
  });
});

describe('MAX_OPEN_CLAIMS', () => {
  it('is a whole number from 1 to 1000', () => {
    for (const good of ['1', '1000', ' 16 ']) expect(loadRuntimeConfig({ MAX_OPEN_CLAIMS: good }).ok).toBe(true);
    for (const bad of ['0', '1001', '-3', '2.5', 'many']) {
      const r = loadRuntimeConfig({ MAX_OPEN_CLAIMS: bad });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems.join()).toMatch(/MAX_OPEN_CLAIMS/);
    }
  });
});

describe('SHUTDOWN_DRAIN_TIMEOUT_MS', () => {
  it('must leave room inside Cloud Run’s 10 s SIGTERM grace', () => {
    expect(loadRuntimeConfig({ SHUTDOWN_DRAIN_TIMEOUT_MS: '9500' }).ok).toBe(true);
    const tooLong = loadRuntimeConfig({ SHUTDOWN_DRAIN_TIMEOUT_MS: '9501' });
    expect(tooLong.ok).toBe(false);
    if (!tooLong.ok) expect(tooLong.problems.join()).toMatch(/SHUTDOWN_DRAIN_TIMEOUT_MS must be at most 9500/);
  });
});
