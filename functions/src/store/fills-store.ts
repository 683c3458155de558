import { createHash } from 'node:crypto';
import { FieldValue, type DocumentReference, type Firestore } from 'firebase-admin/firestore';
import { emptyStrategyStats, parseStrategyStats, recordRealizedPiece, type StrategyStats } from '../domain/breakers/stats.js';
import type { Clock } from '../domain/clock.js';
import { readExposure, withFill, type Exposure } from '../domain/exposure/exposure.js';
import { MONEY_DECIMALS, QTY_DECIMALS, formatDecimal, parseDecimal } from '../domain/pnl/decimal.js';
import { applyFill, emptyPosition, parsePosition, serializePosition, type Fill, type PositionLots } from '../domain/pnl/fifo.js';
import { pieceToStat } from '../domain/pnl/realized-events.js';
import { StoreUnavailableError } from '../errors.js';
import { exposureDocument, exposureRef, keptLastPrice } from './exposure-store.js';
import { ts, withoutUndefined } from './firestore-values.js';
import { FILLS_CURSOR_PATH, FILLS_QUARANTINE, STRATEGIES, SUBMISSIONS } from './paths.js';

/**
 * Firestore side of the fills ledger (see reconcile/sync-fills.ts for the flow):
 *   `ops/fillsCursor`                     the cursor and sync state: { sinceMs, since, updatedAt,
 *                                         lastSuccessAt (server time of the last complete run),
 *                                         lastRun (its counts), quarantine { byStrategy, unattributed,
 *                                         truncated }, lastFailureAt, lastError } — read by every claim
 *                                         (domain/ledger-freshness.ts) in its batched read
 *   `fillsQuarantine/{id}`                fills of haltgate's orders that could not be read, kept
 *                                         with the reason until an operator sets `open: false`
 *   `strategies/{id}/fills/{fillId}`      each broker fill once, keyed by the broker's fill id
 *   `strategies/{id}/positions/{symbol}`  FIFO lots (pnl/fifo.ts serialised form)
 *   `strategies/{id}/pnl/{fillId}`        one realized P&L event per closing fill
 *   `strategies/{id}.stats`               recentRealized / daily (read by the loss breakers)
 */

export { FILLS_CURSOR_PATH, FILLS_QUARANTINE };
export const STRATEGY_FILLS = 'fills';
export const STRATEGY_POSITIONS = 'positions';
export const STRATEGY_PNL = 'pnl';

/** A fill already tied to its strategy and intent. */
export interface OwnedFill {
  strategyId: string;
  intentId: string;
  fill: Fill;
  /** The broker's own time text, kept as reported. */
  transactionTime: string;
}

export interface ApplyFillsResult {
  applied: number;
  skipped: number;
  realizedEvents: number;
}

/** A fill that could not be read, of an order that is (or may be) haltgate's. */
export interface QuarantineEntry {
  fillId: string | null;
  orderId: string | null;
  /** Null when the fill's order could not be told: it then counts against every P&L-guarded strategy. */
  strategyId: string | null;
  intentId: string | null;
  reason: string;
  transactionTime: string | null;
  /** The fill as the broker sent it. */
  raw: unknown;
}

/** Open quarantined fills, as recorded on the sync state for the claims. */
export interface QuarantineSummary {
  byStrategy: Record<string, number>;
  unattributed: number;
  /** More open entries than one summary reads: counted as unattributed too (fail closed). */
  truncated: boolean;
}

export interface FillsStore {
  readCursor(): Promise<number | null>;
  /**
   * Ends a complete run: the cursor, `lastSuccessAt` (server time), the run's counts, and the
   * open quarantine read afresh (so an operator's `open: false` counts from the next run on).
   */
  recordSyncSuccess(input: { cursorMs: number; run: Record<string, number> }): Promise<QuarantineSummary>;
  /** A run that failed: the cursor and `lastSuccessAt` stay, so the ledger ages. */
  recordSyncFailure(message: string): Promise<void>;
  /** Keeps each entry once (an entry seen again, or resolved, is left as it is); returns how many are new. */
  quarantineFills(entries: readonly QuarantineEntry[]): Promise<number>;
  /** The haltgate submission a broker order belongs to, or null when it is not haltgate's. */
  ownerByBrokerOrderId(orderId: string): Promise<{ strategyId: string; intentId: string } | null>;
  ownerByClientOrderId(clientOrderId: string): Promise<{ strategyId: string; intentId: string } | null>;
  /** Applies fills of ONE strategy, in the given order, in one transaction; idempotent per fill id. */
  applyFills(strategyId: string, fills: readonly OwnedFill[], timeZone: string): Promise<ApplyFillsResult>;
}

/** Fill ids and symbols become document ids: `/` is the only character Firestore forbids in one. */
export function docIdOf(text: string): string {
  const id = text.replace(/%/g, '%25').replace(/\//g, '%2F');
  return id === '.' || id === '..' || /^__.*__$/.test(id) ? `%${id}` : id;
}

/** The raw fill kept in a quarantine entry is cut to this many characters of JSON. */
export const MAX_QUARANTINE_RAW_CHARS = 8 * 1024;
/** Open quarantine entries one summary reads; more count as unattributed (truncated). */
export const MAX_QUARANTINE_SUMMARY = 1000;

/** The entry's document id: the broker's fill id, or a digest of the raw fill when it has none. */
export function quarantineIdOf(entry: Pick<QuarantineEntry, 'fillId' | 'raw'>): string {
  if (entry.fillId !== null) return docIdOf(entry.fillId);
  return `raw-${createHash('sha256').update(JSON.stringify(entry.raw) ?? 'undefined').digest('hex').slice(0, 40)}`;
}

/** Most fills a single applyFills call may carry: 2 writes per fill + positions + stats ≤ 500. */
export const MAX_FILLS_PER_TRANSACTION = 200;

export function createFirestoreFillsStore(db: Firestore, opts: { clock: Clock }): FillsStore {
  const cursorRef = db.doc(FILLS_CURSOR_PATH);

  async function ownerWhere(field: 'brokerOrderId' | 'clientOrderId', value: string) {
    const snap = await db.collection(SUBMISSIONS).where(field, '==', value).limit(1).get();
    const doc = snap.docs[0];
    if (doc === undefined) return null;
    const data = doc.data();
    return typeof data.strategyId === 'string' ? { strategyId: data.strategyId, intentId: doc.id } : null;
  }

  return {
    async readCursor() {
      try {
        const data = (await cursorRef.get()).data();
        return typeof data?.sinceMs === 'number' && Number.isFinite(data.sinceMs) ? data.sinceMs : null;
      } catch (err) {
        throw new StoreUnavailableError('readFillsCursor', err);
      }
    },

    async recordSyncSuccess({ cursorMs, run }) {
      try {
        // `!= false`: an entry whose `open` an operator mistyped (a string) still counts as open.
        const snap = await db.collection(FILLS_QUARANTINE).where('open', '!=', false).limit(MAX_QUARANTINE_SUMMARY + 1).get();
        const summary: QuarantineSummary = { byStrategy: {}, unattributed: 0, truncated: snap.size > MAX_QUARANTINE_SUMMARY };
        for (const doc of snap.docs.slice(0, MAX_QUARANTINE_SUMMARY)) {
          const strategyId: unknown = doc.get('strategyId');
          if (typeof strategyId === 'string' && strategyId !== '') summary.byStrategy[strategyId] = (summary.byStrategy[strategyId] ?? 0) + 1;
          else summary.unattributed += 1;
        }
        if (summary.truncated) summary.unattributed += 1;
        await cursorRef.set(
          {
            sinceMs: cursorMs,
            since: ts(cursorMs),
            updatedAt: ts(opts.clock.now()),
            lastSuccessAt: FieldValue.serverTimestamp(),
            lastRun: run,
            quarantine: summary,
            lastError: null,
          },
          { merge: true },
        );
        return summary;
      } catch (err) {
        throw new StoreUnavailableError('recordFillsSyncSuccess', err);
      }
    },

    async recordSyncFailure(message) {
      try {
        await cursorRef.set({ lastFailureAt: FieldValue.serverTimestamp(), lastError: message.slice(0, 2000) }, { merge: true });
      } catch (err) {
        throw new StoreUnavailableError('recordFillsSyncFailure', err);
      }
    },

    async quarantineFills(entries) {
      let kept = 0;
      try {
        for (const entry of entries) {
          const rawText = JSON.stringify(entry.raw) ?? String(entry.raw);
          try {
            // create(): an entry is kept once; the overlap re-reading it, or an operator having
            // resolved it, leaves it as it is.
            await db
              .collection(FILLS_QUARANTINE)
              .doc(quarantineIdOf(entry))
              .create({
                open: true,
                fillId: entry.fillId,
                orderId: entry.orderId,
                strategyId: entry.strategyId,
                intentId: entry.intentId,
                reason: entry.reason.slice(0, 2000),
                transactionTime: entry.transactionTime,
                raw: rawText.slice(0, MAX_QUARANTINE_RAW_CHARS),
                rawTruncated: rawText.length > MAX_QUARANTINE_RAW_CHARS,
                quarantinedAt: FieldValue.serverTimestamp(),
              });
            kept += 1;
          } catch (err) {
            if ((err as { code?: unknown }).code !== 6) throw err; // 6 = ALREADY_EXISTS
          }
        }
        return kept;
      } catch (err) {
        throw new StoreUnavailableError('quarantineFills', err);
      }
    },

    async ownerByBrokerOrderId(orderId) {
      try {
        return await ownerWhere('brokerOrderId', orderId);
      } catch (err) {
        throw new StoreUnavailableError('ownerByBrokerOrderId', err);
      }
    },

    async ownerByClientOrderId(clientOrderId) {
      try {
        return await ownerWhere('clientOrderId', clientOrderId);
      } catch (err) {
        throw new StoreUnavailableError('ownerByClientOrderId', err);
      }
    },

    async applyFills(strategyId, fills, timeZone) {
      if (fills.length === 0) return { applied: 0, skipped: 0, realizedEvents: 0 };
      if (fills.length > MAX_FILLS_PER_TRANSACTION) throw new RangeError(`applyFills: at most ${MAX_FILLS_PER_TRANSACTION} fills per call`);
      const strategyRef = db.collection(STRATEGIES).doc(strategyId);
      const fillRefs = fills.map((f) => strategyRef.collection(STRATEGY_FILLS).doc(docIdOf(f.fill.id)));
      const symbols = [...new Set(fills.map((f) => f.fill.symbol))];
      const positionRefs = new Map<string, DocumentReference>(
        symbols.map((s) => [s, strategyRef.collection(STRATEGY_POSITIONS).doc(docIdOf(s))]),
      );
      // The strategy's exposure per symbol moves with its fills (issue 11): pending → position.
      const exposureRefs = symbols.map((s) => exposureRef(db, strategyId, s));
      let outcome: ApplyFillsResult | { malformed: string };
      try {
        // Malformed stored state is returned from the callback before any write, not thrown:
        // see breaker-admin.ts — a throw leaves the read locks to a Rollback nobody waits for.
        outcome = await db.runTransaction(async (tx): Promise<ApplyFillsResult | { malformed: string }> => {
          // Every read first (transactions require it): the fills, the positions, the stats.
          const snaps = await tx.getAll(strategyRef, ...positionRefs.values(), ...fillRefs, ...exposureRefs);
          const strategySnap = snaps[0];
          const positionSnaps = snaps.slice(1, 1 + positionRefs.size);
          const fillSnaps = snaps.slice(1 + positionRefs.size, 1 + positionRefs.size + fillRefs.length);
          const exposureSnaps = snaps.slice(1 + positionRefs.size + fillRefs.length);
          // An unreadable exposure is left alone: it already refuses every claim of its symbol.
          const exposures = new Map<string, { exposure: Exposure; lastPrice: string | null }>();
          for (const [i, symbol] of symbols.entries()) {
            const data = exposureSnaps[i]?.data();
            const read = readExposure(data);
            if (read.ok) exposures.set(symbol, { exposure: read.exposure, lastPrice: keptLastPrice(data) });
          }

          let stats: StrategyStats = emptyStrategyStats();
          const storedStats: unknown = strategySnap?.data()?.stats;
          if (storedStats !== undefined) {
            const parsed = parseStrategyStats(storedStats);
            // Never rebuild the loss counters from zero: that would un-trip the loss breakers.
            if (!parsed.ok) return { malformed: `strategies/${strategyId}.stats is malformed: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}` };
            stats = parsed.stats;
          }
          const positions = new Map<string, PositionLots>();
          for (const [i, symbol] of symbols.entries()) {
            const data = positionSnaps[i]?.data();
            if (data === undefined) {
              positions.set(symbol, emptyPosition(symbol));
              continue;
            }
            const parsed = parsePosition(data);
            if (!parsed.ok) return { malformed: `position ${symbol} of ${strategyId} is malformed: ${parsed.issues.map((x) => `${x.path}: ${x.message}`).join('; ')}` };
            positions.set(symbol, parsed.position);
          }

          let applied = 0;
          let skipped = 0;
          let realizedEvents = 0;
          const seen = new Set<string>();
          const changedSymbols = new Set<string>();
          for (const [i, owned] of fills.entries()) {
            const { fill } = owned;
            // Written by an earlier run (or twice in this batch): each fill counts once.
            if (fillSnaps[i]?.exists || seen.has(fill.id)) {
              skipped += 1;
              continue;
            }
            seen.add(fill.id);
            const before = positions.get(fill.symbol) ?? emptyPosition(fill.symbol);
            const { position, realized } = applyFill(before, fill);
            positions.set(fill.symbol, position);
            changedSymbols.add(fill.symbol);
            const exposure = exposures.get(fill.symbol);
            if (exposure !== undefined) {
              exposures.set(fill.symbol, { exposure: withFill(exposure.exposure, fill.side, parseDecimal(fill.qty, QTY_DECIMALS)), lastPrice: fill.price });
            }
            const fillRef = fillRefs[i];
            if (fillRef === undefined) throw new Error('invariant: fill ref missing');
            tx.set(
              fillRef,
              withoutUndefined({
                fillId: fill.id,
                orderId: fill.orderId,
                intentId: owned.intentId,
                symbol: fill.symbol,
                side: fill.side,
                qty: fill.qty,
                price: fill.price,
                fee: fill.fee,
                transactionTime: owned.transactionTime,
                at: ts(fill.timeMs),
                realizedPnl: realized === null ? null : formatDecimal(realized.realized, MONEY_DECIMALS),
              }),
            );
            if (realized !== null) {
              const stat = pieceToStat(realized);
              stats = recordRealizedPiece(stats, stat, timeZone);
              realizedEvents += 1;
              tx.set(strategyRef.collection(STRATEGY_PNL).doc(docIdOf(fill.id)), {
                fillId: fill.id,
                orderId: fill.orderId,
                intentId: owned.intentId,
                symbol: fill.symbol,
                closedQty: formatDecimal(realized.closedQty, QTY_DECIMALS),
                realized: formatDecimal(realized.realized, MONEY_DECIMALS),
                pnlMicros: stat.pnlMicros,
                at: ts(fill.timeMs),
              });
            }
            applied += 1;
          }
          for (const symbol of changedSymbols) {
            const ref = positionRefs.get(symbol);
            const position = positions.get(symbol);
            if (ref !== undefined && position !== undefined) tx.set(ref, serializePosition(position));
            const exposure = exposures.get(symbol);
            const eRef = exposureRefs[symbols.indexOf(symbol)];
            if (exposure !== undefined && eRef !== undefined) tx.set(eRef, exposureDocument(exposure.exposure, exposure.lastPrice));
          }
          // The strategy document — read by every claim — is written at most once per batch, and
          // only when something was realized (opening fills do not touch it).
          if (realizedEvents > 0) tx.set(strategyRef, { stats }, { merge: true });
          return { applied, skipped, realizedEvents };
        });
      } catch (err) {
        throw new StoreUnavailableError('applyFills', err);
      }
      // As before the change: the sync stops on it (fills_sync_failed) until someone repairs it.
      if ('malformed' in outcome) throw new StoreUnavailableError('applyFills', new Error(outcome.malformed));
      return outcome;
    },
  };
}
