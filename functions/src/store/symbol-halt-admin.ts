import type { Firestore } from 'firebase-admin/firestore';
import type { Clock } from '../domain/clock.js';
import { decideSymbolHalt, isHaltableSymbol, SYMBOL_HALTS, symbolHaltDocId } from '../domain/symbol-halt.js';
import { HaltgateError, StoreUnavailableError } from '../errors.js';
import { timestampsToDates, ts } from './firestore-values.js';

/**
 * The tools' write path of `symbolHalts/{symbol}` (ops API, CLI): halts or resumes one symbol
 * for every strategy. The document and its audit entry (`symbolHalts/{id}/audit/{auto}`:
 * before, after, who, why, when, via) are written in one transaction, so there is never a
 * change without its entry. Operators with the claim may also write the document from a
 * client under the security rules (the same shape); those writes are not audited here.
 */

export const SYMBOL_HALT_AUDIT = 'audit';
export const MAX_SYMBOL_HALT_REASON = 1000;

export class SymbolHaltRequestError extends HaltgateError {
  constructor(message: string, context: Record<string, unknown>) {
    super(message, { reason: 'bad_request', retryable: false, context });
    this.name = 'SymbolHaltRequestError';
  }
}

export interface SymbolHaltWrite {
  symbol: string;
  halted: boolean;
  reason: string;
  updatedBy: string;
  via: 'api' | 'cli';
}

export interface SymbolHaltWriteResult {
  symbol: string;
  docId: string;
  /** Halted before this write (as the claim would have read it: malformed counts as halted); null when there was no document. */
  before: { halted: boolean; reason: string | null } | null;
  halted: boolean;
  changed: boolean;
  auditId: string;
}

export async function writeSymbolHalt(db: Firestore, write: SymbolHaltWrite, clock: Clock): Promise<SymbolHaltWriteResult> {
  const context = { symbol: write.symbol };
  if (!isHaltableSymbol(write.symbol)) {
    throw new SymbolHaltRequestError(`"${write.symbol}" is not a symbol (upper-case ticker such as AAPL, BRK.B or BTC/USD)`, context);
  }
  const reason = write.reason.trim();
  if (reason === '' || reason.length > MAX_SYMBOL_HALT_REASON || write.updatedBy.trim() === '') {
    throw new SymbolHaltRequestError(`a symbol halt or resume needs who did it and why (a reason of 1-${MAX_SYMBOL_HALT_REASON} characters)`, context);
  }
  const docId = symbolHaltDocId(write.symbol);
  const ref = db.collection(SYMBOL_HALTS).doc(docId);
  const auditRef = ref.collection(SYMBOL_HALT_AUDIT).doc();
  try {
    return await db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const beforeData = snap.exists ? (timestampsToDates(snap.data()) as Record<string, unknown>) : undefined;
      const decided = snap.exists ? decideSymbolHalt(write.symbol, beforeData) : null;
      const atMs = clock.now();
      const after = { symbol: write.symbol, halted: write.halted, reason, updatedBy: write.updatedBy, updatedAt: ts(atMs), via: write.via };
      // `set`, not merge: hand-added fields must not survive into a state they no longer describe.
      tx.set(ref, after);
      tx.set(auditRef, {
        action: write.halted ? 'halt_symbol' : 'resume_symbol',
        symbol: write.symbol,
        before: snap.exists ? (snap.data() ?? null) : null,
        after,
        who: write.updatedBy,
        why: reason,
        at: ts(atMs),
        via: write.via,
      });
      return {
        symbol: write.symbol,
        docId,
        before: decided === null ? null : { halted: decided.halted, reason: decided.reason },
        halted: write.halted,
        changed: (decided?.halted ?? false) !== write.halted,
        auditId: auditRef.id,
      };
    });
  } catch (err) {
    throw new StoreUnavailableError('writeSymbolHalt', err);
  }
}
