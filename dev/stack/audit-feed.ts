import type { Firestore, QueryDocumentSnapshot } from 'firebase-admin/firestore';

/**
 * `npm start` prints what `onKillSwitchWrite` records in `ops/killSwitch/audit/{eventId}`, so
 * whoever halts from the dashboard or by hand sees the trigger's audit (who, why, transition,
 * cancel-all result) in the terminal without opening Firestore. One line when an entry is
 * created and one when each of its side effects settles.
 */
export function watchKillSwitchAudit(db: Firestore, print: (line: string) => void): () => void {
  const settled = new Map<string, Set<string>>();
  const describe = (d: QueryDocumentSnapshot): string[] => {
    const lines: string[] = [];
    const seen = settled.get(d.id) ?? new Set<string>();
    if (!settled.has(d.id)) {
      settled.set(d.id, seen);
      const reason = d.get('reason') as string | null;
      lines.push(`[audit] ${String(d.get('transition'))} by ${String(d.get('who'))}${reason ? `: "${reason}"` : ''} (ops/killSwitch/audit/${d.id})`);
    }
    for (const step of ['cancelAll', 'publish'] as const) {
      const s = (d.get(step) ?? {}) as { state?: string; cancelled?: number; failed?: number; detail?: string };
      if (seen.has(step) || (s.state !== 'done' && s.state !== 'failed')) continue;
      seen.add(step);
      const extra = step === 'cancelAll' && s.state === 'done' ? `, ${s.cancelled ?? 0} cancelled, ${s.failed ?? 0} failed` : s.detail ? `: ${s.detail}` : '';
      lines.push(`[audit]   ${step === 'cancelAll' ? 'cancel open orders' : 'ops-events'}: ${s.state}${extra}`);
    }
    return lines;
  };
  return db.collection('ops/killSwitch/audit').onSnapshot(
    (snap) => {
      for (const change of snap.docChanges()) {
        if (change.type === 'removed') continue;
        for (const line of describe(change.doc)) print(line);
      }
    },
    (err) => print(`[audit] no longer watching ops/killSwitch/audit: ${err.message}`),
  );
}
