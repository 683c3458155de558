import type { BreakerLimits } from './breakers/limits.js';

/**
 * Whether the fills ledger may be trusted by the P&L breakers (consecutiveLosses, dailyLoss).
 * Pure: the claim transaction reads the ledger's sync state (`ops/fillsCursor`, in the same
 * batched read as the kill switch) and asks this.
 *
 * A P&L breaker that reads a ledger which stopped syncing sees no new losses and never trips:
 * it fails open. So a strategy that enables one is refused — not latched, it recovers by itself
 * — while the ledger is:
 * - `breaker:ledgerStale`: never synced successfully (a fresh deployment until its first
 *   successful `syncFills` run), its sync state missing or malformed, or its last successful
 *   sync older than `CB_LEDGER_MAX_AGE_MS` (or implausibly far in the future);
 * - `breaker:ledgerIncomplete`: a fill of one of this strategy's orders, or a fill whose order
 *   could not be told, is quarantined (unreadable) and not yet resolved by an operator.
 * Strategies without a P&L breaker are not affected: nothing they are checked against reads it.
 */

export const LEDGER_STALE_REASON = 'breaker:ledgerStale';
export const LEDGER_INCOMPLETE_REASON = 'breaker:ledgerIncomplete';

/** How far in the future a last-success time may lie (server vs. function clock) and still count. */
export const LEDGER_CLOCK_SKEW_MS = 60_000;

export interface LedgerSyncState {
  /** Server time of the last run that read every page and applied every readable fill. */
  lastSuccessAtMs: number;
  /** Open (unresolved) quarantined fills per strategy. */
  quarantinedByStrategy: Readonly<Record<string, number>>;
  /** Open quarantined fills that could not be tied to any order (they count for every strategy). */
  quarantinedUnattributed: number;
}

export type ParsedLedgerState =
  | { ok: true; state: LedgerSyncState }
  /** No successful sync recorded yet. */
  | { ok: true; state: null }
  | { ok: false; problem: string };

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

/**
 * The sync state document's data (Timestamps already turned into Dates), or undefined when the
 * document does not exist. `lastSuccessAt` absent: never synced successfully (the cursor of an
 * older version, or failures only). Present, it must come with a well-formed `quarantine`.
 */
export function parseLedgerSyncState(data: unknown): ParsedLedgerState {
  if (data === undefined) return { ok: true, state: null };
  if (!isMap(data)) return { ok: false, problem: 'ops/fillsCursor is not a document object' };
  const at = data.lastSuccessAt;
  if (at === undefined || at === null) return { ok: true, state: null };
  if (!(at instanceof Date) || !Number.isFinite(at.getTime())) return { ok: false, problem: 'ops/fillsCursor.lastSuccessAt is not a timestamp' };
  const q = data.quarantine;
  if (!isMap(q)) return { ok: false, problem: 'ops/fillsCursor.quarantine is not a map' };
  if (!isCount(q.unattributed)) return { ok: false, problem: 'ops/fillsCursor.quarantine.unattributed is not a count' };
  if (!isMap(q.byStrategy)) return { ok: false, problem: 'ops/fillsCursor.quarantine.byStrategy is not a map' };
  const byStrategy: Record<string, number> = {};
  for (const [id, n] of Object.entries(q.byStrategy)) {
    if (!isCount(n)) return { ok: false, problem: `ops/fillsCursor.quarantine.byStrategy.${id} is not a count` };
    byStrategy[id] = n;
  }
  return { ok: true, state: { lastSuccessAtMs: at.getTime(), quarantinedByStrategy: byStrategy, quarantinedUnattributed: q.unattributed } };
}

/** Whether the strategy's resolved limits switch on a breaker that reads the fills ledger. */
export function pnlBreakersEnabled(limits: Pick<BreakerLimits, 'maxConsecutiveLosses' | 'maxDailyLoss'>): boolean {
  return limits.maxConsecutiveLosses > 0 || limits.maxDailyLoss > 0;
}

export interface LedgerCheckInput {
  strategyId: string;
  /** pnlBreakersEnabled(limits) of the strategy. */
  pnlGuarded: boolean;
  ledger: ParsedLedgerState;
  nowMs: number;
  /** CB_LEDGER_MAX_AGE_MS. */
  maxAgeMs: number;
}

export type LedgerVerdict = { ok: true } | { ok: false; reason: typeof LEDGER_STALE_REASON | typeof LEDGER_INCOMPLETE_REASON; detail: string };

export function decideLedger(input: LedgerCheckInput): LedgerVerdict {
  if (!input.pnlGuarded) return { ok: true };
  const stale = (detail: string): LedgerVerdict => ({
    ok: false,
    reason: LEDGER_STALE_REASON,
    detail: `${detail}; the strategy enables a P&L breaker (consecutiveLosses / dailyLoss), which cannot be trusted on it`,
  });
  if (!input.ledger.ok) return stale(`the fills ledger's sync state is unreadable (${input.ledger.problem})`);
  const state = input.ledger.state;
  if (state === null) return stale('the fills ledger has never synced successfully (syncFills runs every minute in paper and live mode)');
  const ageMs = input.nowMs - state.lastSuccessAtMs;
  const at = new Date(state.lastSuccessAtMs).toISOString();
  if (ageMs < -LEDGER_CLOCK_SKEW_MS) return stale(`the fills ledger's last successful sync (${at}) lies in the future`);
  if (ageMs > input.maxAgeMs) {
    return stale(`the fills ledger last synced successfully at ${at}, ${Math.round(ageMs / 1000)} s ago, more than CB_LEDGER_MAX_AGE_MS (${input.maxAgeMs} ms)`);
  }
  const own = state.quarantinedByStrategy[input.strategyId] ?? 0;
  if (own > 0 || state.quarantinedUnattributed > 0) {
    const parts = [
      own > 0 ? `${own} fill(s) of this strategy's orders` : null,
      state.quarantinedUnattributed > 0 ? `${state.quarantinedUnattributed} fill(s) whose order could not be told` : null,
    ].filter((p): p is string => p !== null);
    return {
      ok: false,
      reason: LEDGER_INCOMPLETE_REASON,
      detail: `${parts.join(' and ')} could not be read and are quarantined in fillsQuarantine: this strategy's realized P&L may be incomplete; an operator resolves them (open: false)`,
    };
  }
  return { ok: true };
}
