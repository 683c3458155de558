import type { Firestore } from 'firebase-admin/firestore';
import type { PushRelayStats } from './push-relay.js';

/** The live one-line status of the local stack: record counts by state, claims in flight, halt state. */
export interface StackStatus {
  counts: Record<string, number>;
  invalid: number;
  /** null: no kill-switch document (which the functions treat as halted). */
  halted: boolean | null;
  /** Deliveries through a push relay, when the stack has one in front of executeIntent. */
  relay?: PushRelayStats;
}

const STATES = ['submitted', 'refused', 'unknown', 'submitting', 'released', 'rejected', 'abandoned', 'dry_run'] as const;

/**
 * Read from Firestore only (the Pub/Sub emulator has no backlog metrics): `submitting` is what
 * is claimed and not settled yet.
 */
export async function readStatus(db: Firestore, relay?: { stats(): PushRelayStats }): Promise<StackStatus> {
  const submissions = db.collection('submissions');
  const [counts, invalid, kill] = await Promise.all([
    Promise.all(STATES.map(async (s) => [s, (await submissions.where('state', '==', s).count().get()).data().count] as const)),
    db.collection('invalidIntents').count().get(),
    db.doc('ops/killSwitch').get(),
  ]);
  const halted = kill.exists ? kill.get('halted') !== false : null;
  return { counts: Object.fromEntries(counts), invalid: invalid.data().count, halted, ...(relay ? { relay: relay.stats() } : {}) };
}

export function formatStatus(s: StackStatus): string {
  const c = (k: string) => s.counts[k] ?? 0;
  const halt = s.halted === null ? 'HALTED (no ops/killSwitch)' : s.halted ? 'HALTED' : 'open';
  const extra = (['released', 'rejected', 'abandoned'] as const)
    .filter((k) => c(k) > 0)
    .map((k) => ` ${k} ${c(k)}`)
    .join('');
  const relay = s.relay ? ` | deliveries ${s.relay.deliveries} (in flight ${s.relay.inFlight})` : '';
  return (
    `submitted ${c('submitted')} | refused ${c('refused')} | unknown ${c('unknown')} | in flight ${c('submitting')}${extra}` +
    `${s.invalid > 0 ? ` | invalid ${s.invalid}` : ''}${relay} | kill switch: ${halt}`
  );
}

/**
 * How the status line is shown: in a terminal, rewritten in place every time (a live
 * display); otherwise (a log file, CI, a pipe) a line only when the status changed, so the log
 * records changes instead of one identical line a second.
 */
export function createStatusPrinter(out: { write(text: string): unknown; isTTY?: boolean }): (status: string, at: Date) => void {
  let last: string | null = null;
  return (status, at) => {
    const line = `${at.toISOString().slice(11, 19)} ${status}`;
    if (out.isTTY === true) {
      out.write(`\r\x1b[2K${line}`);
    } else if (status !== last) {
      out.write(`${line}\n`);
    }
    last = status;
  };
}
