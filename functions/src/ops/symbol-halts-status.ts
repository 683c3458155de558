import type { Firestore } from 'firebase-admin/firestore';
import { decideSymbolHalt, SYMBOL_HALTS, symbolHaltDocumentSchema } from '../domain/symbol-halt.js';
import { timestampsToDates } from '../store/firestore-values.js';
import type { OpsStatus } from './status.js';

/** Bounds the read (the dashboard polls the status); a deployment halts a handful of symbols at most. */
export const MAX_SYMBOL_HALTS_READ = 200;

/**
 * The halted symbols for `GET /status`: every `symbolHalts` document the claim would read as
 * halted — `halted: true`, or malformed (`problem` says how) — newest first by id order.
 */
export async function readSymbolHalts(db: Firestore): Promise<NonNullable<OpsStatus['symbolHalts']>> {
  const snap = await db.collection(SYMBOL_HALTS).limit(MAX_SYMBOL_HALTS_READ).get();
  const out: NonNullable<OpsStatus['symbolHalts']> = [];
  for (const doc of snap.docs) {
    const data = timestampsToDates(doc.data()) as Record<string, unknown>;
    // Written by the tools with its symbol; by hand perhaps without: the id maps back (`_` is `/`).
    const symbol = typeof data.symbol === 'string' ? data.symbol : doc.id.replace(/_/g, '/');
    const decision = decideSymbolHalt(symbol, data);
    if (!decision.halted) continue;
    const malformed = !symbolHaltDocumentSchema.safeParse(data).success;
    out.push({
      symbol,
      docId: doc.id,
      reason: typeof data.reason === 'string' ? data.reason : null,
      updatedBy: typeof data.updatedBy === 'string' ? data.updatedBy : null,
      since: data.updatedAt instanceof Date ? data.updatedAt.toISOString() : null,
      problem: malformed ? decision.reason : null,
    });
  }
  return out;
}
