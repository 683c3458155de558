import { isPlainMap } from './firestore-values.js';
import type { DocumentData } from 'firebase-admin/firestore';
import { breakerRefusalReason } from '../domain/breakers/breaker.js';
import { evaluateBreakers } from '../domain/breakers/index.js';
import { resolveLimits, type BreakerLimits } from '../domain/breakers/limits.js';
import { ORDER_RATE_WINDOW_MS } from '../domain/breakers/order-rate.js';
import { describeLatchedTrip, EMPTY_BREAKER_STATE, latchedBreaker, latchTrip, parseBreakerState, serializeBreakerState, type BreakerState } from '../domain/breakers/state.js';
import { emptyStrategyStats, parseStrategyStats, type StrategyStats } from '../domain/breakers/stats.js';
import type { ClaimInput } from '../domain/claim-decision.js';
import type { OrderIntent } from '../domain/intent.js';
import { referencePrice, formatPrice, type ExposureContext } from '../domain/breakers/exposure-limits.js';
import { deadManVerdict } from '../domain/dead-man-switch.js';
import { qtyUnits, readExposure, withPending } from '../domain/exposure/exposure.js';
import type { PricedExposure } from '../domain/exposure/position-limits.js';
import { reduceOnlyVerdict } from '../domain/exposure/reduce-only.js';
import { decideLedger, parseLedgerSyncState, pnlBreakersEnabled } from '../domain/ledger-freshness.js';
import { exposureDocument, keptLastPrice } from './exposure-store.js';
import { RefusalReason } from '../domain/submission.js';

/**
 * The strategy's say in a claim: latched breakers, limits and breaker evaluation, run inside
 * the claim transaction on the `strategies/{strategyId}` document it read (G7).
 *
 * The store only asks the gate when everything else (kill switch, config, mode, expiry, the
 * existing record) already allows the claim: a halt and a trip racing on one intent therefore
 * give one `refused` record with one reason, and a halted intent never latches a breaker.
 *
 * Strategy document fields this reads (all optional; a missing document is a fresh strategy):
 *   `breakers` latched trips (state.ts), `stats` counters (stats.ts), `limits` the operator's
 *   override (limits.ts). Anything malformed refuses with `config_invalid` — never "no breaker
 *   latched" or "zero losses", which would silently loosen what the operator set (G6).
 */

export interface StrategyGateInput {
  /** The strategy document's data (Timestamps as Dates), or undefined when it does not exist. */
  strategyData: unknown;
  intent: OrderIntent;
  nowMs: number;
  /** The CB_* params, resolved; null when the configuration is invalid. */
  breakerDefaults: BreakerLimits | null;
  /**
   * Claims of this strategy committed since `sinceMs`, counted inside the transaction. Only
   * called when the order-rate breaker is on, so the default costs no extra round trip.
   *
   * Why a count query and not a counter on `strategies/{id}`: that document is read by every
   * claim of the strategy; writing it on every claim would cap the strategy near Firestore's
   * ~1 sustained write/s per document and make every pair of its claim transactions conflict.
   * The claim already writes `submissions/{intentId}` with `strategyId` and `claimedAt`, so a
   * `count()` over those (composite index strategyId + claimedAt) costs one read per 1000
   * entries and no write. Read inside the transaction it is exact — concurrent claims of the
   * same strategy serialise on the range, and only while this breaker is on.
   */
  countRecentClaims: (sinceMs: number) => Promise<number>;
  /**
   * The fills ledger, for strategies with a P&L breaker (domain/ledger-freshness.ts): the data
   * of `ops/fillsCursor` as the claim transaction read it — in the same batched read as the kill
   * switch, the record and the strategy, so it costs no round trip — and CB_LEDGER_MAX_AGE_MS.
   * `null` in modes without a ledger (off, dry_run: syncFills has no broker fills to follow).
   * Absent is treated like a ledger never synced: fail closed.
   */
  ledger?: { data: unknown; maxAgeMs: number } | null;
  /**
   * The strategy's exposure in the intent's symbol (`strategies/{id}/exposure/{symbol}`), read
   * in the claim's batched read; `track`: this claim adds its quantity to pending (paper and
   * live); `readOthers`: the strategy's other symbols, a query inside the transaction, asked
   * only while the gross exposure limit is on. Absent (tests of the gate alone): the exposure
   * limits and the reduce-only posture refuse, as they cannot be checked.
   */
  exposure?: { data: unknown; track: boolean; readOthers: () => Promise<{ ok: true; others: PricedExposure[] } | { ok: false; problem: string }> };
  /** ops/killSwitch's reduce-only posture (KillSwitchState.reduceOnly). */
  reduceOnly?: boolean;
  /** `runners/{strategyId}` (Timestamps as Dates), read in the same batched read; for the dead-man switch. */
  runner?: unknown;
}

export interface StrategyGateResult {
  verdict: ClaimInput['strategy'];
  /** Merged into `strategies/{strategyId}` in the claim's commit (a breaker latching). */
  strategyUpdate?: DocumentData;
  /** Set as `strategies/{strategyId}/exposure/{symbol}` in the claim's commit: the claimed quantity pending. */
  exposureUpdate?: DocumentData;
}

export type StrategyGate = (input: StrategyGateInput) => StrategyGateResult | Promise<StrategyGateResult>;

export const allowAllStrategies: StrategyGate = () => ({ verdict: { ok: true } });

/** What the strategy document holds, parsed; or why it cannot be trusted. */
export type ParsedStrategy =
  | { ok: true; state: BreakerState; stats: StrategyStats; limitsOverride: unknown }
  | { ok: false; detail: string };

export function parseStrategyDocument(strategyId: string, data: unknown): ParsedStrategy {
  if (data === undefined) return { ok: true, state: EMPTY_BREAKER_STATE, stats: emptyStrategyStats(), limitsOverride: undefined };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, detail: `strategies/${strategyId} is not a document object` };
  }
  const doc = data as Record<string, unknown>;
  // Each part must be a plain map. The store turns Timestamps into Dates, and a schema of
  // optional fields accepts a Date as an empty object: a `breakers` overwritten with a
  // timestamp would read as "nothing latched" and trade again (fail open).
  for (const field of ['breakers', 'stats', 'limits'] as const) {
    if (doc[field] !== undefined && !isPlainMap(doc[field])) {
      return { ok: false, detail: `strategies/${strategyId}.${field} is not a map` };
    }
  }
  let state: BreakerState = EMPTY_BREAKER_STATE;
  if (doc.breakers !== undefined) {
    const parsed = parseBreakerState(doc.breakers);
    if (!parsed.ok) return { ok: false, detail: `strategies/${strategyId}.breakers is malformed: ${describe(parsed.issues)}` };
    state = parsed.state;
  }
  let stats = emptyStrategyStats();
  if (doc.stats !== undefined) {
    const parsed = parseStrategyStats(doc.stats);
    if (!parsed.ok) return { ok: false, detail: `strategies/${strategyId}.stats is malformed: ${describe(parsed.issues)}` };
    stats = parsed.stats;
  }
  return { ok: true, state, stats, limitsOverride: doc.limits };
}

/** The breaker gate: the one executeIntent runs. */
export const breakerGate: StrategyGate = async (input) => {
  const { intent, nowMs } = input;
  const strategyId = intent.strategyId;
  const parsed = parseStrategyDocument(strategyId, input.strategyData);
  if (!parsed.ok) return refuse(RefusalReason.config_invalid, parsed.detail);

  // A latched breaker refuses without evaluating anything: only an operator's reset ends it.
  const latched = latchedBreaker(parsed.state);
  if (latched !== null) {
    return refuse(breakerRefusalReason(latched.breaker), describeLatchedTrip(latched));
  }

  if (input.breakerDefaults === null) return refuse(RefusalReason.config_invalid, 'breaker defaults (CB_* params) are not available');
  const limits = resolveLimits(input.breakerDefaults, parsed.limitsOverride);
  if (!limits.ok) {
    return refuse(RefusalReason.config_invalid, `strategies/${strategyId}.limits is invalid: ${describe(limits.issues)}`);
  }

  // Before any breaker is evaluated: on a stale ledger the P&L breakers would read old losses
  // (never tripping on new ones). Not latched — the strategy trades again once the ledger is
  // current, and nothing else is evaluated or latched meanwhile.
  if (input.ledger !== null) {
    const ledger = decideLedger({
      strategyId,
      pnlGuarded: pnlBreakersEnabled(limits.limits),
      ledger: input.ledger === undefined ? { ok: true, state: null } : parseLedgerSyncState(input.ledger.data),
      nowMs,
      maxAgeMs: input.ledger?.maxAgeMs ?? 0,
    });
    if (!ledger.ok) return refuse(ledger.reason, ledger.detail);
  }

  // The dead-man switch and the reduce-only posture refuse before any breaker: like a halt,
  // they are not the intent's fault, and nothing latches for an intent refused anyway.
  const deadMan = deadManVerdict(strategyId, input.runner, nowMs, limits.limits.maxRunnerSilenceMs ?? 0);
  if (!deadMan.ok) return refuse(RefusalReason.runner_stale, deadMan.detail);

  const current = input.exposure === undefined ? undefined : readExposure(input.exposure.data);
  if (current !== undefined && !current.ok && input.exposure?.track) {
    // Pending quantities could not be kept: every later limit and reduce-only check would be wrong.
    return refuse(RefusalReason.config_invalid, `strategies/${strategyId}/exposure/${intent.symbol} is unreadable: ${current.problem}`);
  }
  let qty: bigint | null = null;
  try {
    qty = qtyUnits(intent.qty);
  } catch (err) {
    // Only a quantity no order can carry (1e21 and above) has no exact units: nothing to keep pending.
    if (input.exposure?.track) return refuse(RefusalReason.config_invalid, `exposure cannot be tracked: ${(err as Error).message}`);
  }
  if (input.reduceOnly === true) {
    if (current === undefined || !current.ok || qty === null) {
      return refuse(RefusalReason.reduce_only, `reduce-only: the position in ${intent.symbol} cannot be read exactly, so nothing can be shown to reduce it`);
    }
    const ro = reduceOnlyVerdict(current.exposure, intent.side, qty);
    if (!ro.allowed) return refuse(RefusalReason.reduce_only, ro.detail);
  }
  let others: ExposureContext['others'] = null;
  if (limits.limits.maxGrossExposure > 0 && input.exposure !== undefined) {
    const read = await input.exposure.readOthers();
    if (!read.ok) return refuse(RefusalReason.config_invalid, read.problem);
    others = read.others;
  }

  const claimsInLastMinute = limits.limits.maxOrdersPerMin > 0 ? await input.countRecentClaims(nowMs - ORDER_RATE_WINDOW_MS) : 0;
  const verdict = evaluateBreakers(
    { intent, nowMs, stats: parsed.stats, claimsInLastMinute, ...(current !== undefined ? { exposure: { current, others } } : {}) },
    limits.limits,
  );
  if (!verdict.tripped) {
    if (!input.exposure?.track || current === undefined || !current.ok || qty === null) return { verdict: { ok: true } };
    const price = referencePrice({ intent, nowMs, stats: parsed.stats, claimsInLastMinute });
    return {
      verdict: { ok: true },
      exposureUpdate: exposureDocument(withPending(current.exposure, intent.side, qty), price.ok ? formatPrice(price.price) : keptLastPrice(input.exposure.data)),
    };
  }

  const state = latchTrip(parsed.state, verdict, { intentId: intent.intentId, nowMs });
  return {
    verdict: { ok: false, reason: breakerRefusalReason(verdict.breaker), detail: verdict.detail },
    // The whole map, merged: latching only ever adds a key, so a merge cannot undo a reset.
    strategyUpdate: { breakers: serializeBreakerState(state) },
  };
};

function refuse(reason: string, detail: string): StrategyGateResult {
  return { verdict: { ok: false, reason, detail } };
}

function describe(issues: ReadonlyArray<{ path: string; message: string }>): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
