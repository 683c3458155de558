import type { DocumentData } from 'firebase-admin/firestore';
import type { BreakerLimits } from '../domain/breakers/limits.js';
import { decideClaim, type ClaimDecision, type ClaimInput } from '../domain/claim-decision.js';
import { tracksExposure } from '../domain/exposure/pending-release.js';
import type { PricedExposure } from '../domain/exposure/position-limits.js';
import type { OrderIntent } from '../domain/intent.js';
import { decideKillSwitch } from '../domain/kill-switch.js';
import { RefusalReason } from '../domain/submission.js';
import { decideSymbolHalt } from '../domain/symbol-halt.js';
import type { StrategyGate } from './strategy-gate.js';
import { recordFromDocument } from './submission-document.js';

/**
 * What the claim transaction decides from what it read, in the order the guarantees need:
 * kill switch and the record's own checks (decideClaim), then the symbol's halt, then the
 * strategy (its gate: latched breakers, limits, ledger age, dead-man switch, reduce-only,
 * breakers). Shared by the Firestore store (inside one transaction) and the in-memory store the
 * interleaving tests drive, so both decide exactly alike; each does its own reads and writes.
 */

export interface ClaimRequest {
  intent: OrderIntent;
  eventId: string;
  instanceId: string;
  deadlineAtMs: number;
  config: ClaimInput['config'];
  /** Raw `EXECUTION_HALTED`, ORed with the document inside the transaction. */
  haltedParam: string | undefined;
  /** The CB_* breaker defaults; null (or absent) when the configuration is invalid. */
  breakerDefaults?: BreakerLimits | null;
  /** CB_LEDGER_MAX_AGE_MS; absent: a P&L-guarded strategy is refused as on a stale ledger. */
  ledgerMaxAgeMs?: number;
  /**
   * The latest time the claim may begin (epoch ms): a claim that waited in the claim lane past
   * it has been given up on by its invocation (only the submit budget was left), so it is not
   * begun at all. Absent: no limit.
   */
  startByMs?: number;
}

/** The documents the claim reads by name (undefined: absent). Timestamps as Dates, except `submission` and `exposure`, as stored. */
export interface ClaimReads {
  killSwitch: unknown;
  submission: DocumentData | undefined;
  strategy: unknown;
  ledger: unknown;
  exposure: DocumentData | undefined;
  symbolHalt: unknown;
  runner: unknown;
}

/** The queries the gate may make inside the transaction (only while the breaker that needs them is on). */
export interface ClaimQueries {
  countRecentClaims(sinceMs: number): Promise<number>;
  readStrategyExposures(): Promise<{ ok: true; others: PricedExposure[] } | { ok: false; problem: string }>;
}

export interface ClaimFlowResult {
  decision: ClaimDecision;
  /** Merged into `strategies/{strategyId}` with the claim or refusal (a breaker latching). */
  strategyUpdate?: DocumentData;
  /** Set as the exposure document with a claim (its quantity pending). */
  exposureUpdate?: DocumentData;
}

export async function runClaimFlow(request: ClaimRequest, reads: ClaimReads, queries: ClaimQueries, gate: StrategyGate, nowMs: number): Promise<ClaimFlowResult> {
  const killSwitch = decideKillSwitch(reads.killSwitch, request.haltedParam);
  let existing: ClaimInput['existing'] = null;
  if (reads.submission !== undefined) {
    const parsed = recordFromDocument(reads.submission);
    existing = parsed.ok ? parsed.record : { unreadable: parsed.problem };
  }
  const claimInput: ClaimInput = {
    intent: request.intent,
    eventId: request.eventId,
    instanceId: request.instanceId,
    nowMs,
    deadlineAtMs: request.deadlineAtMs,
    killSwitch,
    config: request.config,
    existing,
    strategy: { ok: true },
  };
  let decision = decideClaim(claimInput);
  if (decision.kind !== 'claim') return { decision };
  // A halted symbol refuses like a strategy refusal: after the kill switch and the record's own
  // checks, before any breaker (nothing latches for it).
  const symbolHalt = decideSymbolHalt(request.intent.symbol, reads.symbolHalt);
  if (symbolHalt.halted) {
    return { decision: decideClaim({ ...claimInput, strategy: { ok: false, reason: RefusalReason.symbol_halted, detail: symbolHalt.reason ?? 'symbol halted' } }) };
  }
  // The strategy is asked only when nothing else refuses: a halted, duplicate or expired intent
  // never latches a breaker nor pays for the order-rate count. Only paper and live have a broker
  // whose fills and order states the syncs follow: only they keep pending exposure and check the
  // fills ledger's age.
  const tracked = request.config.ok && tracksExposure(request.config.mode);
  const strategy = await gate({
    strategyData: reads.strategy,
    intent: request.intent,
    nowMs,
    breakerDefaults: request.breakerDefaults ?? null,
    ledger: tracked ? { data: reads.ledger, maxAgeMs: request.ledgerMaxAgeMs ?? 0 } : null,
    reduceOnly: killSwitch.reduceOnly,
    runner: reads.runner,
    exposure: { data: reads.exposure, track: tracked, readOthers: () => queries.readStrategyExposures() },
    countRecentClaims: (sinceMs) => queries.countRecentClaims(sinceMs),
  });
  if (!strategy.verdict.ok) decision = decideClaim({ ...claimInput, strategy: strategy.verdict });
  return {
    decision,
    ...(strategy.strategyUpdate ? { strategyUpdate: strategy.strategyUpdate } : {}),
    ...(decision.kind === 'claim' && strategy.exposureUpdate ? { exposureUpdate: strategy.exposureUpdate } : {}),
  };
}
