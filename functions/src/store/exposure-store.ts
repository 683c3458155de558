import { FieldValue, type DocumentData, type DocumentReference, type Firestore, type Transaction } from 'firebase-admin/firestore';
import { storedPrice } from '../domain/breakers/exposure-limits.js';
import { exposureFields, readExposure, withoutPending, type Exposure } from '../domain/exposure/exposure.js';
import type { PendingRelease } from '../domain/exposure/pending-release.js';
import type { PricedExposure } from '../domain/exposure/position-limits.js';
import { symbolHaltDocId } from '../domain/symbol-halt.js';
import { STRATEGIES } from './paths.js';

/**
 * `strategies/{strategyId}/exposure/{symbol}` (functions only): `{ position, pendingBuy,
 * pendingSell, lastPrice, updatedAt }`, exact decimal strings (domain/exposure/exposure.ts).
 * `lastPrice` is the last reference price a claim or a fill of that symbol carried: what the
 * gross exposure limit values the symbol at when another symbol's intent is checked.
 * A symbol's document id is the symbol, `/` written `_` (BTC/USD → BTC_USD), as symbolHalts.
 */
export const EXPOSURE = 'exposure';

export function exposureRef(db: Firestore, strategyId: string, symbol: string): DocumentReference {
  return db.collection(STRATEGIES).doc(strategyId).collection(EXPOSURE).doc(symbolHaltDocId(symbol));
}

/** The whole document for `tx.set` (no merge: every field is rewritten from what was read). */
export function exposureDocument(e: Exposure, lastPrice: string | null): DocumentData {
  return { ...exposureFields(e), lastPrice, updatedAt: FieldValue.serverTimestamp() };
}

/** The stored `lastPrice`, kept as it was when a write has no newer one. */
export function keptLastPrice(data: unknown): string | null {
  const text = (data as { lastPrice?: unknown } | undefined)?.lastPrice;
  return storedPrice(text) === null ? null : (text as string);
}

/**
 * Every exposure document of the strategy, inside `tx` (one query: only while the gross
 * exposure limit is on). An unreadable one makes the whole read fail: the gross limit then
 * refuses rather than leave a symbol out of the sum.
 */
export async function readStrategyExposures(tx: Transaction, db: Firestore, strategyId: string): Promise<StrategyExposures> {
  const snap = await tx.get(db.collection(STRATEGIES).doc(strategyId).collection(EXPOSURE));
  return strategyExposuresFrom(strategyId, snap.docs.map((d) => [d.id, d.data()]));
}

export type StrategyExposures = { ok: true; others: PricedExposure[] } | { ok: false; problem: string };

/** The strategy's exposure documents (`[id, data]`) with their last prices; the first unreadable one fails the read. */
export function strategyExposuresFrom(strategyId: string, docs: ReadonlyArray<readonly [string, DocumentData]>): StrategyExposures {
  const others: PricedExposure[] = [];
  for (const [id, data] of docs) {
    const read = readExposure(data);
    if (!read.ok) return { ok: false, problem: `strategies/${strategyId}/exposure/${id} is unreadable: ${read.problem}` };
    others.push({ symbol: id.replace(/_/g, '/'), exposure: read.exposure, price: storedPrice(data.lastPrice) });
  }
  return { ok: true, others };
}

/**
 * The exposure document after `release`, from the data the same transaction read; null when
 * that data is unreadable (then it is left alone: a corrupt exposure already refuses every
 * claim of the symbol, and an operator must look at it).
 */
export function releasedExposureDocument(data: unknown, release: PendingRelease): DocumentData | null {
  const read = readExposure(data);
  if (!read.ok) return null;
  return exposureDocument(withoutPending(read.exposure, release.side, release.qty), keptLastPrice(data));
}
