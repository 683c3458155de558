import type { Firestore } from 'firebase-admin/firestore';
import { parseKillSwitchDocument } from '../domain/kill-switch.js';
import { StoreUnavailableError } from '../errors.js';
import { timestampsToDates, ts } from './firestore-values.js';
import { KILL_SWITCH_PATH } from './paths.js';

/**
 * The one write path of `ops/killSwitch` for tools (ops API, CLI). The console writes the
 * same document by hand; the `onKillSwitchWrite` trigger audits every change whichever way
 * it came, so this module writes no audit entry of its own (one change, one entry).
 */

export const KillSwitchVia = { api: 'api', cli: 'cli' } as const;
export type KillSwitchVia = (typeof KillSwitchVia)[keyof typeof KillSwitchVia];

export interface KillSwitchWrite {
  halted: boolean;
  reason: string;
  /** Uid (API) or principal (CLI) of the operator. */
  updatedBy: string;
  via: KillSwitchVia;
  /** A resume that overrode unmet preconditions: kept on the document so the audit shows it. */
  forced?: boolean;
  /**
   * With `halted: false`: the reduce-only posture (only orders that shrink a position are
   * claimed). Written only when true; a write without it (halt, resume) clears the posture.
   */
  reduceOnly?: boolean;
  nowMs: number;
}

export interface KillSwitchWriteResult {
  before: { halted: boolean | null; reduceOnly?: boolean | null; reason: string | null; updatedBy: string | null } | null;
  /** `halted` changed (a missing or malformed document had none), or, not halted, the reduce-only posture did. */
  changed: boolean;
}

/**
 * A read, then a plain write — not a transaction. A halt must land as fast as the console's
 * own write: a read-write transaction on ops/killSwitch takes a read lock and must then wait
 * to upgrade it while every open claim holds its own read lock on the document, and claims
 * that start meanwhile keep committing (measured in `npm run bench`: seconds under load, where
 * a plain write took tens of milliseconds). `before` and `changed` are what the document said
 * just before, for the answer only; the exact before/after of every change is the trigger's
 * audit. Resume preconditions are checked by the callers, not here.
 */
export async function writeKillSwitch(db: Firestore, write: KillSwitchWrite): Promise<KillSwitchWriteResult> {
  const ref = db.doc(KILL_SWITCH_PATH);
  try {
    const snap = await ref.get();
    const parsed = snap.exists ? parseKillSwitchDocument(timestampsToDates(snap.data())) : null;
    const before = !snap.exists
      ? null
      : parsed?.ok
        ? { halted: parsed.halted, reduceOnly: parsed.reduceOnly, reason: parsed.reason, updatedBy: parsed.updatedBy }
        : { halted: null, reduceOnly: null, reason: null, updatedBy: null };
    const reduceOnly = !write.halted && write.reduceOnly === true;
    // `set`, not merge: fields a person added by hand (or a stale `forced`) must not
    // survive into a state they no longer describe.
    await ref.set({
      halted: write.halted,
      reason: write.reason,
      updatedBy: write.updatedBy,
      updatedAt: ts(write.nowMs),
      via: write.via,
      ...(write.forced ? { forced: true } : {}),
      ...(reduceOnly ? { reduceOnly: true } : {}),
    });
    const changed = before?.halted !== write.halted || (!write.halted && (before?.reduceOnly === true) !== reduceOnly);
    return { before, changed };
  } catch (err) {
    throw new StoreUnavailableError('writeKillSwitch', err);
  }
}
