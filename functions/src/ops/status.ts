import { z } from 'zod';

/**
 * `GET /status`: the JSON the dashboard, the CLI and operators' scripts read. Described by
 * zod so clients can validate what they get (the CLI and the tests do) and so the shape is
 * written down in one place. Times are ISO-8601 strings.
 */

const iso = z.string().nullable();

export const breakerStatusSchema = z.object({
  name: z.string(),
  tripped: z.boolean(),
  reason: z.string().nullable(),
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  since: iso,
  intentId: z.string().nullable(),
  /** `manual` only: the operator who halted the strategy. Optional for readers of older versions. */
  by: z.string().nullable().optional(),
});

export const strategyStatusSchema = z.object({
  strategyId: z.string(),
  breakers: z.array(breakerStatusSchema),
  /** The stored breaker state is malformed: the strategy is refused (fail closed) until fixed. */
  problem: z.string().nullable(),
});

export const submissionSummarySchema = z.object({
  intentId: z.string(),
  strategyId: z.string().nullable(),
  symbol: z.string().nullable(),
  side: z.string().nullable(),
  qty: z.number().nullable(),
  state: z.string(),
  reason: z.string().nullable(),
  updatedAt: iso,
});

/** An order that was accepted and then came to nothing (order lifecycle, issue 10). */
export const badFinalOrderSchema = z.object({
  intentId: z.string(),
  strategyId: z.string().nullable(),
  symbol: z.string().nullable(),
  /** `rejected_after_acceptance` or `expired_unfilled` (domain/order-lifecycle.ts BadFinal). */
  kind: z.string(),
  status: z.string(),
  filledQty: z.string(),
  updatedAt: iso,
});

export const opsStatusSchema = z.object({
  generatedAt: z.string(),
  killSwitch: z.object({
    halted: z.boolean(),
    /** The combined reason, naming the source (document and/or EXECUTION_HALTED). */
    reason: z.string().nullable(),
    sources: z.array(z.string()),
    /** From the document, when it is well formed. */
    documentReason: z.string().nullable(),
    who: z.string().nullable(),
    since: iso,
    /** Not halted, and only orders that shrink a position are claimed. Optional for readers of older versions. */
    reduceOnly: z.boolean().optional(),
    /** `trading`, `reduce_only` or `halted`. Optional for readers of older versions. */
    posture: z.enum(['trading', 'reduce_only', 'halted']).optional(),
  }),
  /**
   * Symbols halted for every strategy (`symbolHalts/{symbol}`): halted ones and malformed ones
   * (which halt too), at most 200 documents read. Optional for readers of older versions.
   */
  symbolHalts: z
    .array(z.object({ symbol: z.string(), docId: z.string(), reason: z.string().nullable(), updatedBy: z.string().nullable(), since: iso, problem: z.string().nullable() }))
    .optional(),
  /**
   * What executeIntent runs with: from the newest `functionInstances` report of an
   * executeIntent instance when there is one, else from the reader's own configuration (the
   * ops function's), else unknown (`configValid: null`). `source` says which.
   */
  execution: z.object({
    mode: z.string().nullable(),
    configValid: z.boolean().nullable(),
    problems: z.array(z.string()),
    source: z.string(),
  }),
  strategies: z.array(strategyStatusSchema),
  submissions: z.object({
    windowMs: z.number(),
    countsByState: z.record(z.string(), z.number()),
    stuckAfterMs: z.number(),
    stuck: z.array(submissionSummarySchema),
    recent: z.array(submissionSummarySchema),
  }),
  /**
   * The order lifecycle: submitted orders not final yet, per strategy (`order.final == false`,
   * at most 2000 read: `openTruncated` says when there were more), and the bad finals
   * among the orders that changed within `badFinalsWindowMs` (newest first). Always present in
   * what readOpsStatus returns; optional for readers of older versions.
   */
  orders: z
    .object({
      openByStrategy: z.array(z.object({ strategyId: z.string(), open: z.number(), oldestUpdatedAt: iso })),
      openTruncated: z.boolean(),
      badFinalsWindowMs: z.number(),
      badFinals: z.array(badFinalOrderSchema),
    })
    .optional(),
  reconciler: z
    .object({
      lastRunAt: iso,
      ok: z.boolean().nullable(),
      result: z.string().nullable(),
    })
    .nullable(),
  /**
   * The fills ledger (syncFills): when it last synced successfully and how old that is, what
   * its last failure said, and the quarantined fills still open. `stale` uses
   * CB_LEDGER_MAX_AGE_MS as the reader knows it; strategies with a P&L breaker are refused
   * (`breaker:ledgerStale` / `breaker:ledgerIncomplete`) while it is stale or has open entries.
   */
  ledger: z
    .object({
      lastSuccessAt: iso,
      ageMs: z.number().nullable(),
      maxAgeMs: z.number().nullable(),
      stale: z.boolean(),
      problem: z.string().nullable(),
      lastFailureAt: iso,
      lastError: z.string().nullable(),
      cursorAt: iso,
      lastRun: z.record(z.string(), z.number()).nullable(),
      quarantine: z.object({
        open: z.number(),
        byStrategy: z.record(z.string(), z.number()),
        unattributed: z.number(),
        recent: z.array(
          z.object({ id: z.string(), fillId: z.string().nullable(), orderId: z.string().nullable(), strategyId: z.string().nullable(), reason: z.string(), quarantinedAt: iso }),
        ),
      }),
    })
    // Always present in what readOpsStatus answers; optional for clients of older versions.
    .optional(),
  /** The newest reports of function instances: what each runs with (secrets `<omitted>`). */
  functions: z.array(
    z.object({
      function: z.string(),
      instanceId: z.string(),
      version: z.string().nullable(),
      revision: z.string().nullable(),
      reportedAt: iso,
      mode: z.string().nullable(),
      configValid: z.boolean(),
      problems: z.array(z.string()),
      config: z.record(z.string(), z.unknown()),
    }),
  ),
  runners: z.array(z.object({ runnerId: z.string(), state: z.string().nullable(), lastSeenAt: iso, stale: z.boolean() })),
  instance: z.object({ instanceId: z.string(), shuttingDown: z.boolean(), shutdownReason: z.string().nullable(), inflight: z.number() }),
});

export type OpsStatus = z.infer<typeof opsStatusSchema>;
export type StrategyStatus = z.infer<typeof strategyStatusSchema>;
export type SubmissionSummary = z.infer<typeof submissionSummarySchema>;
export type BadFinalOrder = z.infer<typeof badFinalOrderSchema>;
