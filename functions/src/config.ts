import { defineInt, defineSecret, defineString } from 'firebase-functions/params';
import { z } from 'zod';
import { MAX_MARKET_BARS, resolveLimits, type BreakerLimits } from './domain/breakers/limits.js';
import { RECENT_REALIZED_CAPACITY } from './domain/breakers/stats.js';
import { parseExecutionMode, type ExecutionMode } from './domain/execution-mode.js';

/**
 * Every deploy-time parameter, declared once. `firebase deploy` asks for (or reads from
 * `functions/.env.<project>`) each value; at run time the platform puts it in `process.env`.
 *
 * firebase-functions' own `.value()` does not apply defaults at run time and turns a mistyped
 * integer into 0, so the values are read through `loadRuntimeConfig()`, which applies the
 * declared defaults and validates strictly: an invalid value refuses intents with
 * `config_invalid` (G6) instead of running with a guess.
 */
export const PARAM_SPECS = {
  EXECUTION_MODE: {
    kind: 'string',
    default: 'dry_run',
    description: 'off | dry_run | paper | live. Anything else refuses every intent with config_invalid.',
  },
  EXECUTION_HALTED: {
    kind: 'string',
    default: 'false',
    description:
      'Deploy-time halt, ORed with ops/killSwitch. Only empty, 0, false, no, off mean "not halted"; anything else halts.',
  },
  EXECUTE_TIMEOUT_SECONDS: {
    kind: 'int',
    default: 60,
    description: 'timeoutSeconds of executeIntent (1-540); the deadline budget is computed from it.',
  },
  MIN_SUBMIT_BUDGET_MS: {
    kind: 'int',
    default: 15000,
    description: 'No broker call starts with less than this left before the function deadline.',
  },
  BROKER_TIMEOUT_MS: {
    kind: 'int',
    default: 10000,
    description: 'Upper bound of one broker call; shortened so it always ends DEADLINE_MARGIN_MS before the deadline.',
  },
  DEADLINE_MARGIN_MS: {
    kind: 'int',
    default: 3000,
    description: 'Time kept after a broker call to record its outcome before the function deadline.',
  },
  OWNER_GRACE_MS: {
    kind: 'int',
    default: 30000,
    description: "How long after a claim owner's deadline its submitting record counts as orphaned (clock skew, slow writes).",
  },
  MAX_INTENT_AGE_MS: {
    kind: 'int',
    default: 0,
    description: 'Refuse intents older than this (from createdAt) as expired; 0 disables (expiresAt still applies).',
  },
  MAX_OPEN_CLAIMS: {
    kind: 'int',
    default: 8,
    description:
      'How many claim transactions one executeIntent instance keeps open at once (1-1000); the rest wait their turn before their transaction begins, holding no lock, so a halt waits only for the open ones.',
  },
  SHUTDOWN_DRAIN_TIMEOUT_MS: {
    kind: 'int',
    default: 8000,
    description: "On SIGTERM, how long in-flight broker calls may finish before the process exits (under Cloud Run's 10 s grace).",
  },
  ALPACA_BASE_URL: {
    kind: 'string',
    default: '',
    description: 'Override of the Alpaca base URL; empty means the paper or live URL of EXECUTION_MODE.',
  },
  RECONCILE_ABANDON_AFTER_MS: {
    kind: 'int',
    default: 900000,
    description:
      'reconcileSubmissions marks a stuck submission abandoned once the broker has had this long to show its order (at least 60 s and 10 x BROKER_TIMEOUT_MS).',
  },
  // The order lifecycle (issue 10): syncOrders follows submitted orders at the broker.
  ORDER_SYNC_MIN_RATE_REMAINING: {
    kind: 'int',
    default: 40,
    description:
      "syncOrders pauses (until the window resets, if that fits in its run) or stops when the broker's X-RateLimit-Remaining falls to this, keeping the rest of the key's 200 requests/min for submissions (0-199).",
  },
  ORDER_SYNC_SWEEP_WINDOW_MS: {
    kind: 'int',
    default: 86400000,
    description:
      'Open orders submitted within this are followed by one paged GET /v2/orders sweep per run; older ones (gtc) by one GET /v2/orders/{id} each (60000-2592000000).',
  },
  // Breaker defaults (issue 4). Every one is off by default; `strategies/{id}.limits` overrides
  // them per strategy at run time. Decimal thresholds are strings: params have no float kind.
  CB_REQUIRE_MARKET_DATA: {
    kind: 'string',
    default: 'false',
    description: 'true | false. true: an intent without marketData bars is refused (breaker missingData).',
  },
  CB_MAX_DATA_AGE_MS: {
    kind: 'int',
    default: 0,
    description: 'With CB_REQUIRE_MARKET_DATA, marketData.asOf older than this trips missingData; 0 disables the age check.',
  },
  CB_VOL_RATIO_THRESHOLD: {
    kind: 'string',
    default: '0',
    description: 'Trip volatility when σ(recent log returns) / σ(baseline log returns) of the bar closes exceeds this; 0 disables.',
  },
  CB_VOL_RECENT_N: {
    kind: 'int',
    default: 5,
    description: 'Returns in the recent volatility window (integer ≥ 2).',
  },
  CB_VOL_BASELINE_N: {
    kind: 'int',
    default: 30,
    description: 'Returns in the baseline volatility window, just before the recent one (integer ≥ 2).',
  },
  CB_MAX_CONSECUTIVE_LOSSES: {
    kind: 'int',
    default: 0,
    description: 'Trip consecutiveLosses after this many losing closing orders in a row (0-100); 0 disables.',
  },
  CB_MAX_DAILY_LOSS: {
    kind: 'string',
    default: '0',
    description: 'Trip dailyLoss when realized P&L of the trading day is at or below minus this (account currency); 0 disables.',
  },
  CB_TRADING_TIME_ZONE: {
    kind: 'string',
    default: 'America/New_York',
    description: 'IANA time zone whose local midnight starts a trading day for CB_MAX_DAILY_LOSS.',
  },
  CB_MAX_ORDERS_PER_MIN: {
    kind: 'int',
    default: 0,
    description: 'Trip orderRate when a claim would be more than this many for the strategy in 60 s; 0 disables.',
  },
  CB_MAX_NOTIONAL: {
    kind: 'string',
    default: '0',
    description: 'Trip notional when qty × price (limit price, else last bar close) exceeds this; 0 disables.',
  },
  CB_PRICE_COLLAR_PCT: {
    kind: 'string',
    default: '0',
    description: 'Trip priceCollar when a limit price is more than this % away from the last bar close; 0 disables.',
  },
  CB_MAX_BROKER_ERRORS: {
    kind: 'int',
    default: 0,
    description: 'Trip brokerErrors after this many unknown/5xx broker outcomes in a row for the strategy; 0 disables.',
  },
  CB_MAX_POSITION_QTY: {
    kind: 'string',
    default: '0',
    description: 'Trip position when |position| in a symbol could exceed this many shares, counting pending orders of the strategy; 0 disables.',
  },
  CB_MAX_POSITION_NOTIONAL: {
    kind: 'string',
    default: '0',
    description: 'Trip positionNotional when |position| in a symbol × price (limit price, else last bar close) could exceed this; no price trips; 0 disables.',
  },
  CB_MAX_GROSS_EXPOSURE: {
    kind: 'string',
    default: '0',
    description: "Trip grossExposure when the sum over the strategy's symbols of |position| × last known price could exceed this; a symbol without a price trips; 0 disables.",
  },
  CB_LEDGER_MAX_AGE_MS: {
    kind: 'int',
    default: 300000,
    description:
      'A strategy with a P&L breaker (consecutiveLosses, dailyLoss) is refused with breaker:ledgerStale while the fills ledger has not synced successfully for longer than this (60000-86400000; syncFills runs every minute). Never off.',
  },
  HALT_CANCEL_OPEN_ORDERS: {
    kind: 'string',
    default: 'true',
    description:
      'true | false. On a change of ops/killSwitch to halted, onKillSwitchWrite cancels all open orders at the broker. Anything but an explicit false word cancels.',
  },
  HALT_CANCEL_SCOPE: {
    kind: 'string',
    default: 'all',
    description:
      'all | haltgate. What a halt cancels (with HALT_CANCEL_OPEN_ORDERS): all = every open order of the account (DELETE /v2/orders); haltgate = only the open orders haltgate placed (found by client_order_id in submissions), one by one, so manual orders stay. Anything else is config_invalid (and a halt then cancels all).',
  },
  OPS_WEB_API_KEY: {
    kind: 'string',
    default: '',
    description:
      "The Firebase project's web API key (public, not a secret): enables email/password sign-in on the ops dashboard. Empty: operators paste an ID token instead.",
  },
} as const;

type ParamName = keyof typeof PARAM_SPECS;

function declare<N extends ParamName>(name: N) {
  const spec = PARAM_SPECS[name];
  return spec.kind === 'int'
    ? defineInt(name, { default: spec.default as number, description: spec.description })
    : defineString(name, { default: spec.default as string, description: spec.description });
}

/** The params as firebase-functions sees them (for function options such as `timeoutSeconds`). */
export const params = {
  executeTimeoutSeconds: defineInt('EXECUTE_TIMEOUT_SECONDS', {
    default: PARAM_SPECS.EXECUTE_TIMEOUT_SECONDS.default,
    description: PARAM_SPECS.EXECUTE_TIMEOUT_SECONDS.description,
  }),
  executionMode: declare('EXECUTION_MODE'),
  executionHalted: declare('EXECUTION_HALTED'),
  minSubmitBudgetMs: declare('MIN_SUBMIT_BUDGET_MS'),
  brokerTimeoutMs: declare('BROKER_TIMEOUT_MS'),
  deadlineMarginMs: declare('DEADLINE_MARGIN_MS'),
  ownerGraceMs: declare('OWNER_GRACE_MS'),
  maxIntentAgeMs: declare('MAX_INTENT_AGE_MS'),
  shutdownDrainTimeoutMs: declare('SHUTDOWN_DRAIN_TIMEOUT_MS'),
  maxOpenClaims: declare('MAX_OPEN_CLAIMS'),
  alpacaBaseUrl: declare('ALPACA_BASE_URL'),
  reconcileAbandonAfterMs: declare('RECONCILE_ABANDON_AFTER_MS'),
  orderSyncMinRateRemaining: declare('ORDER_SYNC_MIN_RATE_REMAINING'),
  orderSyncSweepWindowMs: declare('ORDER_SYNC_SWEEP_WINDOW_MS'),
  cbRequireMarketData: declare('CB_REQUIRE_MARKET_DATA'),
  cbMaxDataAgeMs: declare('CB_MAX_DATA_AGE_MS'),
  cbVolRatioThreshold: declare('CB_VOL_RATIO_THRESHOLD'),
  cbVolRecentN: declare('CB_VOL_RECENT_N'),
  cbVolBaselineN: declare('CB_VOL_BASELINE_N'),
  cbMaxConsecutiveLosses: declare('CB_MAX_CONSECUTIVE_LOSSES'),
  cbMaxDailyLoss: declare('CB_MAX_DAILY_LOSS'),
  cbTradingTimeZone: declare('CB_TRADING_TIME_ZONE'),
  cbMaxOrdersPerMin: declare('CB_MAX_ORDERS_PER_MIN'),
  cbMaxNotional: declare('CB_MAX_NOTIONAL'),
  cbPriceCollarPct: declare('CB_PRICE_COLLAR_PCT'),
  cbMaxBrokerErrors: declare('CB_MAX_BROKER_ERRORS'),
  cbMaxPositionQty: declare('CB_MAX_POSITION_QTY'),
  cbMaxPositionNotional: declare('CB_MAX_POSITION_NOTIONAL'),
  cbMaxGrossExposure: declare('CB_MAX_GROSS_EXPOSURE'),
  cbLedgerMaxAgeMs: declare('CB_LEDGER_MAX_AGE_MS'),
  haltCancelOpenOrders: declare('HALT_CANCEL_OPEN_ORDERS'),
  haltCancelScope: declare('HALT_CANCEL_SCOPE'),
  opsWebApiKey: declare('OPS_WEB_API_KEY'),
};

/** Broker keys: Secret Manager only, never logged, never written to Firestore. */
export const alpacaKeyId = defineSecret('ALPACA_KEY_ID');
export const alpacaSecretKey = defineSecret('ALPACA_SECRET_KEY');
export const SECRET_NAMES = ['ALPACA_KEY_ID', 'ALPACA_SECRET_KEY'] as const;

export interface RuntimeConfig {
  executionMode: ExecutionMode;
  /** Raw `EXECUTION_HALTED`: parsed (fail closed) by the kill-switch decision. */
  executionHalted: string;
  executeTimeoutSeconds: number;
  minSubmitBudgetMs: number;
  brokerTimeoutMs: number;
  deadlineMarginMs: number;
  ownerGraceMs: number;
  maxIntentAgeMs: number;
  shutdownDrainTimeoutMs: number;
  /** MAX_OPEN_CLAIMS: claim transactions one instance keeps open at once (store/claim-lane.ts). */
  maxOpenClaims: number;
  alpacaBaseUrl: string | null;
  alpacaKeyId: string | null;
  alpacaSecretKey: string | null;
  /** The breaker limits of every strategy without a `limits` override (all off by default). */
  breakerDefaults: BreakerLimits;
  /** CB_LEDGER_MAX_AGE_MS: how old the fills ledger's last successful sync may be for P&L breakers. */
  ledgerMaxAgeMs: number;
}

export type RuntimeConfigResult = { ok: true; config: RuntimeConfig } | { ok: false; problems: string[]; partial: Partial<RuntimeConfig> };

const intString = (name: string, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

const envSchema = z
  .object({
    EXECUTION_MODE: z.string(),
    EXECUTION_HALTED: z.string(),
    EXECUTE_TIMEOUT_SECONDS: intString('EXECUTE_TIMEOUT_SECONDS', 1, 540),
    MIN_SUBMIT_BUDGET_MS: intString('MIN_SUBMIT_BUDGET_MS', 1, 540_000),
    BROKER_TIMEOUT_MS: intString('BROKER_TIMEOUT_MS', 1, 540_000),
    DEADLINE_MARGIN_MS: intString('DEADLINE_MARGIN_MS', 0, 540_000),
    OWNER_GRACE_MS: intString('OWNER_GRACE_MS', 0, 86_400_000),
    MAX_INTENT_AGE_MS: intString('MAX_INTENT_AGE_MS', 0, 86_400_000 * 7),
    SHUTDOWN_DRAIN_TIMEOUT_MS: intString('SHUTDOWN_DRAIN_TIMEOUT_MS', 0, 9_500),
    MAX_OPEN_CLAIMS: intString('MAX_OPEN_CLAIMS', 1, 1000),
    // At least one syncFills period: a smaller age would refuse between two healthy runs.
    CB_LEDGER_MAX_AGE_MS: intString('CB_LEDGER_MAX_AGE_MS', 60_000, 86_400_000),
    ALPACA_BASE_URL: z
      .string()
      .trim()
      .refine((v) => v === '' || URL.canParse(v), 'ALPACA_BASE_URL must be empty or a URL'),
    HALT_CANCEL_SCOPE: z
      .string()
      .trim()
      .refine((v) => v === 'all' || v === 'haltgate', 'HALT_CANCEL_SCOPE must be all or haltgate'),
    ALPACA_KEY_ID: z.string().trim().optional(),
    ALPACA_SECRET_KEY: z.string().trim().optional(),
  })
  .superRefine((env, ctx) => {
    if (env.MIN_SUBMIT_BUDGET_MS <= env.DEADLINE_MARGIN_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['MIN_SUBMIT_BUDGET_MS'],
        message: `MIN_SUBMIT_BUDGET_MS (${env.MIN_SUBMIT_BUDGET_MS}) must be greater than DEADLINE_MARGIN_MS (${env.DEADLINE_MARGIN_MS})`,
      });
    }
    if (env.MIN_SUBMIT_BUDGET_MS >= env.EXECUTE_TIMEOUT_SECONDS * 1000) {
      ctx.addIssue({
        code: 'custom',
        path: ['MIN_SUBMIT_BUDGET_MS'],
        message: `MIN_SUBMIT_BUDGET_MS (${env.MIN_SUBMIT_BUDGET_MS}) must be below EXECUTE_TIMEOUT_SECONDS (${env.EXECUTE_TIMEOUT_SECONDS} s), or no intent could ever be submitted`,
      });
    }
  });

/**
 * Reads and validates the configuration from an environment (`process.env` in production).
 * Never throws: an invalid configuration is a decision (`config_invalid`), not a crash loop.
 */
export function loadRuntimeConfig(env: Readonly<Record<string, string | undefined>> = process.env): RuntimeConfigResult {
  const raw: Record<string, string | undefined> = {};
  for (const [name, spec] of Object.entries(PARAM_SPECS)) {
    const value = env[name];
    raw[name] = value === undefined || value === '' ? String(spec.default) : value;
  }
  for (const name of SECRET_NAMES) raw[name] = env[name];
  // Every invocation reads its configuration, and the environment of an instance does not
  // change: the last answer is kept for the same values (zod parsing was 1.6 % of
  // executeIntent's CPU per order in a profile under `npm run bench`'s load). Another environment (tests
  // switch them) is parsed anew. Callers treat the result as read-only.
  const key = JSON.stringify(Object.values(raw)); // unset → null, distinct from any string
  if (lastLoaded?.key === key) return lastLoaded.result;
  const result = parseRuntimeConfig(raw);
  lastLoaded = { key, result };
  return result;
}

let lastLoaded: { key: string; result: RuntimeConfigResult } | null = null;

function parseRuntimeConfig(raw: Record<string, string | undefined>): RuntimeConfigResult {
  const parsed = envSchema.safeParse(raw);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => i.message);
  const mode = parseExecutionMode(raw.EXECUTION_MODE);
  if (!mode.ok) problems.push(mode.problem);

  if (parsed.success && mode.ok && (mode.mode === 'paper' || mode.mode === 'live')) {
    if (!parsed.data.ALPACA_KEY_ID || !parsed.data.ALPACA_SECRET_KEY) {
      problems.push(`EXECUTION_MODE=${mode.mode} needs the secrets ALPACA_KEY_ID and ALPACA_SECRET_KEY`);
    }
  }
  // Parsed on their own so that a bad breaker param leaves the rest of `partial` readable.
  const breakers = breakerDefaultsFrom(raw);
  if (!breakers.ok) problems.push(...breakers.problems);
  if (!parsed.success || !mode.ok || !breakers.ok || problems.length > 0) {
    return { ok: false, problems, partial: parsed.success ? toConfig(parsed.data, mode.ok ? mode.mode : 'off') : {} };
  }
  return { ok: true, config: { ...toConfig(parsed.data, mode.mode), breakerDefaults: breakers.limits } };
}

const decimalString = (name: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `${name} must be a plain non-negative decimal number (0 disables)`)
    .transform(Number);

const breakerEnvSchema = z.object({
  CB_REQUIRE_MARKET_DATA: z
    .string()
    .trim()
    .refine((v) => v === 'true' || v === 'false', 'CB_REQUIRE_MARKET_DATA must be true or false')
    .transform((v) => v === 'true'),
  CB_MAX_DATA_AGE_MS: intString('CB_MAX_DATA_AGE_MS', 0, 86_400_000 * 7),
  CB_VOL_RATIO_THRESHOLD: decimalString('CB_VOL_RATIO_THRESHOLD'),
  CB_VOL_RECENT_N: intString('CB_VOL_RECENT_N', 2, MAX_MARKET_BARS),
  CB_VOL_BASELINE_N: intString('CB_VOL_BASELINE_N', 2, MAX_MARKET_BARS),
  CB_MAX_CONSECUTIVE_LOSSES: intString('CB_MAX_CONSECUTIVE_LOSSES', 0, RECENT_REALIZED_CAPACITY),
  CB_MAX_DAILY_LOSS: decimalString('CB_MAX_DAILY_LOSS'),
  CB_TRADING_TIME_ZONE: z.string().trim(),
  CB_MAX_ORDERS_PER_MIN: intString('CB_MAX_ORDERS_PER_MIN', 0, 1_000_000),
  CB_MAX_NOTIONAL: decimalString('CB_MAX_NOTIONAL'),
  CB_PRICE_COLLAR_PCT: decimalString('CB_PRICE_COLLAR_PCT'),
  CB_MAX_BROKER_ERRORS: intString('CB_MAX_BROKER_ERRORS', 0, 1_000_000),
  CB_MAX_POSITION_QTY: decimalString('CB_MAX_POSITION_QTY'),
  CB_MAX_POSITION_NOTIONAL: decimalString('CB_MAX_POSITION_NOTIONAL'),
  CB_MAX_GROSS_EXPOSURE: decimalString('CB_MAX_GROSS_EXPOSURE'),
});

const LIMIT_TO_PARAM: Record<string, string> = {
  requireMarketData: 'CB_REQUIRE_MARKET_DATA',
  maxDataAgeMs: 'CB_MAX_DATA_AGE_MS',
  volRatioThreshold: 'CB_VOL_RATIO_THRESHOLD',
  volRecentN: 'CB_VOL_RECENT_N',
  volBaselineN: 'CB_VOL_BASELINE_N',
  maxConsecutiveLosses: 'CB_MAX_CONSECUTIVE_LOSSES',
  maxDailyLoss: 'CB_MAX_DAILY_LOSS',
  tradingTimeZone: 'CB_TRADING_TIME_ZONE',
  maxOrdersPerMin: 'CB_MAX_ORDERS_PER_MIN',
  maxNotional: 'CB_MAX_NOTIONAL',
  priceCollarPct: 'CB_PRICE_COLLAR_PCT',
  maxBrokerErrors: 'CB_MAX_BROKER_ERRORS',
  maxPositionQty: 'CB_MAX_POSITION_QTY',
  maxPositionNotional: 'CB_MAX_POSITION_NOTIONAL',
  maxGrossExposure: 'CB_MAX_GROSS_EXPOSURE',
};

/**
 * The CB_* params as breaker limits, checked by the same schema as a strategy's override
 * (limits.ts), so a default can never be something an override could not be.
 */
function breakerDefaultsFrom(raw: Record<string, string | undefined>): { ok: true; limits: BreakerLimits } | { ok: false; problems: string[] } {
  const env = breakerEnvSchema.safeParse(raw);
  if (!env.success) return { ok: false, problems: env.error.issues.map((i) => i.message) };
  const e = env.data;
  const resolved = resolveLimits(
    {
      requireMarketData: e.CB_REQUIRE_MARKET_DATA,
      maxDataAgeMs: e.CB_MAX_DATA_AGE_MS,
      volRatioThreshold: e.CB_VOL_RATIO_THRESHOLD,
      volRecentN: e.CB_VOL_RECENT_N,
      volBaselineN: e.CB_VOL_BASELINE_N,
      maxConsecutiveLosses: e.CB_MAX_CONSECUTIVE_LOSSES,
      maxDailyLoss: e.CB_MAX_DAILY_LOSS,
      tradingTimeZone: e.CB_TRADING_TIME_ZONE,
      maxOrdersPerMin: e.CB_MAX_ORDERS_PER_MIN,
      maxNotional: e.CB_MAX_NOTIONAL,
      priceCollarPct: e.CB_PRICE_COLLAR_PCT,
      maxBrokerErrors: e.CB_MAX_BROKER_ERRORS,
      // Per strategy only (limits.maxRunnerSilenceMs): no deploy-time param, off by default.
      maxRunnerSilenceMs: 0,
      maxPositionQty: e.CB_MAX_POSITION_QTY,
      maxPositionNotional: e.CB_MAX_POSITION_NOTIONAL,
      maxGrossExposure: e.CB_MAX_GROSS_EXPOSURE,
    },
    undefined,
  );
  if (resolved.ok) return resolved;
  return {
    ok: false,
    problems: resolved.issues.map((i) => {
      const field = i.path.replace(/^defaults\.?/, '');
      return `${LIMIT_TO_PARAM[field] ?? 'CB_* params'}: ${i.message}`;
    }),
  };
}

function toConfig(env: z.infer<typeof envSchema>, executionMode: ExecutionMode): Omit<RuntimeConfig, 'breakerDefaults'> {
  return {
    executionMode,
    executionHalted: env.EXECUTION_HALTED,
    executeTimeoutSeconds: env.EXECUTE_TIMEOUT_SECONDS,
    minSubmitBudgetMs: env.MIN_SUBMIT_BUDGET_MS,
    brokerTimeoutMs: env.BROKER_TIMEOUT_MS,
    deadlineMarginMs: env.DEADLINE_MARGIN_MS,
    ownerGraceMs: env.OWNER_GRACE_MS,
    maxIntentAgeMs: env.MAX_INTENT_AGE_MS,
    shutdownDrainTimeoutMs: env.SHUTDOWN_DRAIN_TIMEOUT_MS,
    maxOpenClaims: env.MAX_OPEN_CLAIMS,
    ledgerMaxAgeMs: env.CB_LEDGER_MAX_AGE_MS,
    alpacaBaseUrl: env.ALPACA_BASE_URL === '' ? null : env.ALPACA_BASE_URL,
    alpacaKeyId: env.ALPACA_KEY_ID || null,
    alpacaSecretKey: env.ALPACA_SECRET_KEY || null,
  };
}

/** The configuration as it may be logged: secrets are never shown. */
export function describeConfig(config: Partial<RuntimeConfig>): Record<string, unknown> {
  return {
    ...config,
    alpacaKeyId: config.alpacaKeyId ? '<omitted>' : null,
    alpacaSecretKey: config.alpacaSecretKey ? '<omitted>' : null,
  };
}

/** Defaults used to compute a deadline even when the configuration is invalid. */
export const FALLBACK_TIMEOUTS = {
  executeTimeoutSeconds: PARAM_SPECS.EXECUTE_TIMEOUT_SECONDS.default,
  ownerGraceMs: PARAM_SPECS.OWNER_GRACE_MS.default,
  shutdownDrainTimeoutMs: PARAM_SPECS.SHUTDOWN_DRAIN_TIMEOUT_MS.default,
} as const;

/** What the reconciler needs on top of the runtime configuration. */
export interface ReconcileConfig extends RuntimeConfig {
  reconcileAbandonAfterMs: number;
}

export type ReconcileConfigResult = { ok: true; config: ReconcileConfig } | { ok: false; problems: string[] };

/**
 * The reconciler's configuration. Validated here rather than in `loadRuntimeConfig` because
 * only the reconciler reads it; invalid means the reconciler changes nothing (G6). The grace
 * period must dwarf the longest broker request: an order whose request is still travelling
 * must not be declared abandoned.
 */
export function loadReconcileConfig(env: Readonly<Record<string, string | undefined>> = process.env): ReconcileConfigResult {
  const runtime = loadRuntimeConfig(env);
  const problems = runtime.ok ? [] : [...runtime.problems];
  const rawValue = env.RECONCILE_ABANDON_AFTER_MS;
  const raw = rawValue === undefined || rawValue === '' ? String(PARAM_SPECS.RECONCILE_ABANDON_AFTER_MS.default) : rawValue;
  const parsed = intString('RECONCILE_ABANDON_AFTER_MS', 60_000, 86_400_000 * 7).safeParse(raw);
  if (!parsed.success) problems.push(...parsed.error.issues.map((i) => i.message));
  if (runtime.ok && parsed.success && parsed.data < 10 * runtime.config.brokerTimeoutMs) {
    problems.push(
      `RECONCILE_ABANDON_AFTER_MS (${parsed.data}) must be at least 10 x BROKER_TIMEOUT_MS (${runtime.config.brokerTimeoutMs}): an order still in flight must not be abandoned`,
    );
  }
  if (!runtime.ok || !parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { ...runtime.config, reconcileAbandonAfterMs: parsed.data } };
}

/** What syncOrders needs on top of the runtime configuration. */
export interface OrderSyncConfig extends RuntimeConfig {
  orderSyncMinRateRemaining: number;
  orderSyncSweepWindowMs: number;
}

export type OrderSyncConfigResult = { ok: true; config: OrderSyncConfig } | { ok: false; problems: string[] };

/** syncOrders' configuration; invalid means it changes nothing and says why (G6). */
export function loadOrderSyncConfig(env: Readonly<Record<string, string | undefined>> = process.env): OrderSyncConfigResult {
  const runtime = loadRuntimeConfig(env);
  const problems = runtime.ok ? [] : [...runtime.problems];
  const read = (name: 'ORDER_SYNC_MIN_RATE_REMAINING' | 'ORDER_SYNC_SWEEP_WINDOW_MS', min: number, max: number): number | null => {
    const value = env[name];
    const raw = value === undefined || value === '' ? String(PARAM_SPECS[name].default) : value;
    const parsed = intString(name, min, max).safeParse(raw);
    if (parsed.success) return parsed.data;
    problems.push(...parsed.error.issues.map((i) => i.message));
    return null;
  };
  const minRemaining = read('ORDER_SYNC_MIN_RATE_REMAINING', 0, 199);
  const sweepWindowMs = read('ORDER_SYNC_SWEEP_WINDOW_MS', 60_000, 30 * 86_400_000);
  if (!runtime.ok || minRemaining === null || sweepWindowMs === null || problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { ...runtime.config, orderSyncMinRateRemaining: minRemaining, orderSyncSweepWindowMs: sweepWindowMs } };
}
