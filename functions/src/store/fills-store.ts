import type { DocumentReference, Firestore } from 'firebase-admin/firestore';
import { emptyStrategyStats, parseStrategyStats, recordRealizedPiece, type StrategyStats } from '../domain/breakers/stats.js';
import type { Clock } from '../domain/clock.js';
import { MONEY_DECIMALS, QTY_DECIMALS, formatDecimal } from '../domain/pnl/decimal.js';
import { applyFill, emptyPosition, parsePosition, serializePosition, type Fill, type PositionLots } from '../domain/pnl/fifo.js';
import { pieceToStat } from '../domain/pnl/realized-events.js';
import { StoreUnavailableError } from '../errors.js';
import { ts, withoutUndefined } from './firestore-values.js';
import { STRATEGIES, SUBMISSIONS } from './paths.js';

/**
 * Firestore side of the fills ledger (see reconcile/sync-fills.ts for the flow):
 *   `ops/fillsCursor`                     { sinceMs, updatedAt } — where the next poll starts
 *   `strategies/{id}/fills/{fillId}`      each broker fill once, keyed by the broker's fill id
 *   `strategies/{id}/positions/{symbol}`  FIFO lots (pnl/fifo.ts serialised form)
 *   `strategies/{id}/pnl/{fillId}`        one realized P&L event per closing fill
 *   `strategies/{id}.stats`               recentRealized / daily (read by the loss breakers)
 */

export const FILLS_CURSOR_PATH = 'ops/fillsCursor';
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

export interface FillsStore {
  readCursor(): Promise<number | null>;
  writeCursor(sinceMs: number): Promise<void>;
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

    async writeCursor(sinceMs) {
      try {
        await cursorRef.set({ sinceMs, since: ts(sinceMs), updatedAt: ts(opts.clock.now()) });
      } catch (err) {
        throw new StoreUnavailableError('writeFillsCursor', err);
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
      let outcome: ApplyFillsResult | { malformed: string };
      try {
        // Malformed stored state is returned from the callback before any write, not thrown:
        // see breaker-admin.ts — a throw leaves the read locks to a Rollback nobody waits for.
        outcome = await db.runTransaction(async (tx): Promise<ApplyFillsResult | { malformed: string }> => {
          // Every read first (transactions require it): the fills, the positions, the stats.
          const snaps = await tx.getAll(strategyRef, ...positionRefs.values(), ...fillRefs);
          const strategySnap = snaps[0];
          const positionSnaps = snaps.slice(1, 1 + positionRefs.size);
          const fillSnaps = snaps.slice(1 + positionRefs.size);

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
