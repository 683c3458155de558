import type { Firestore } from 'firebase-admin/firestore';
import type { PubSubEmulator } from '../pubsub/emulator.js';

/** The live one-line status of the local stack: record counts by state, deliveries in flight, halt state. */
export interface StackStatus {
  counts: Record<string, number>;
  /** Push deliveries awaiting an answer from the function. */
  inFlight: number;
  /** Messages published and not acknowledged yet (in flight or waiting for redelivery). */
  backlog: number;
  invalid: number;
  /** null: no kill-switch document (which the functions treat as halted). */
  halted: boolean | null;
}

const STATES = ['submitted', 'refused', 'unknown', 'submitting', 'released', 'rejected', 'abandoned', 'dry_run'] as const;

export async function readStatus(db: Firestore, pubsub: PubSubEmulator, subscription: string | undefined): Promise<StackStatus> {
  const submissions = db.collection('submissions');
  const [counts, invalid, kill] = await Promise.all([
    Promise.all(STATES.map(async (s) => [s, (await submissions.where('state', '==', s).count().get()).data().count] as const)),
    db.collection('invalidIntents').count().get(),
    db.doc('ops/killSwitch').get(),
  ]);
  const stats = pubsub.stats();
  const sub = subscription ? Object.values(stats.subscriptions).find((s) => s.name === subscription) : undefined;
  const halted = kill.exists ? kill.get('halted') !== false : null;
  return {
    counts: Object.fromEntries(counts),
    inFlight: sub?.inFlight ?? stats.inFlight,
    backlog: sub?.unacked ?? stats.unacked,
    invalid: invalid.data().count,
    halted,
  };
}

export function formatStatus(s: StackStatus): string {
  const c = (k: string) => s.counts[k] ?? 0;
  const halt = s.halted === null ? 'HALTED (no ops/killSwitch)' : s.halted ? 'HALTED' : 'open';
  const extra = (['released', 'rejected', 'abandoned'] as const)
    .filter((k) => c(k) > 0)
    .map((k) => ` ${k} ${c(k)}`)
    .join('');
  return (
    `submitted ${c('submitted')} | refused ${c('refused')} | unknown ${c('unknown')} | ` +
    `in flight ${s.inFlight} (submitting ${c('submitting')}, backlog ${s.backlog})${extra}` +
    `${s.invalid > 0 ? ` | invalid ${s.invalid}` : ''} | kill switch: ${halt}`
  );
}
