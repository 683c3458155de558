import { defineInt, defineSecret, defineString } from 'firebase-functions/params';
import { z } from 'zod';
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
  alpacaBaseUrl: declare('ALPACA_BASE_URL'),
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
  alpacaBaseUrl: string | null;
  alpacaKeyId: string | null;
  alpacaSecretKey: string | null;
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
    SHUTDOWN_DRAIN_TIMEOUT_MS: intString('SHUTDOWN_DRAIN_TIMEOUT_MS', 0, 60_000),
    ALPACA_BASE_URL: z
      .string()
      .trim()
      .refine((v) => v === '' || URL.canParse(v), 'ALPACA_BASE_URL must be empty or a URL'),
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

  const parsed = envSchema.safeParse(raw);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => i.message);
  const mode = parseExecutionMode(raw.EXECUTION_MODE);
  if (!mode.ok) problems.push(mode.problem);

  if (parsed.success && mode.ok && (mode.mode === 'paper' || mode.mode === 'live')) {
    if (!parsed.data.ALPACA_KEY_ID || !parsed.data.ALPACA_SECRET_KEY) {
      problems.push(`EXECUTION_MODE=${mode.mode} needs the secrets ALPACA_KEY_ID and ALPACA_SECRET_KEY`);
    }
  }
  if (!parsed.success || !mode.ok || problems.length > 0) {
    return { ok: false, problems, partial: parsed.success ? toConfig(parsed.data, mode.ok ? mode.mode : 'off') : {} };
  }
  return { ok: true, config: toConfig(parsed.data, mode.mode) };
}

function toConfig(env: z.infer<typeof envSchema>, executionMode: ExecutionMode): RuntimeConfig {
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
