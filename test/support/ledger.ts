import { Timestamp, type Firestore } from 'firebase-admin/firestore';
import { FILLS_CURSOR_PATH } from '../../functions/src/store/paths.js';

/**
 * Writes the fills ledger's sync state as a successful syncFills run at `atMs` leaves it, so
 * tests of other things can use P&L breakers (consecutiveLosses, dailyLoss) without running
 * the ledger: a strategy with one is refused `breaker:ledgerStale` on a ledger never synced.
 */
export function markLedgerSynced(db: Firestore, atMs = Date.now(), quarantine: { byStrategy?: Record<string, number>; unattributed?: number } = {}) {
  return db.doc(FILLS_CURSOR_PATH).set({
    sinceMs: atMs,
    since: Timestamp.fromMillis(atMs),
    updatedAt: Timestamp.fromMillis(atMs),
    lastSuccessAt: Timestamp.fromMillis(atMs),
    lastRun: {},
    quarantine: { byStrategy: quarantine.byStrategy ?? {}, unattributed: quarantine.unattributed ?? 0, truncated: false },
    lastError: null,
  });
}
