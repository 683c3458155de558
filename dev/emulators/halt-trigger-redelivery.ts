/**
 * Redelivery of onKillSwitchWrite's events under firebase-tools' functions emulator.
 *
 * onKillSwitchWrite is declared `retry: true`: when cancelling the open orders or publishing
 * the ops event fails it throws, and in production Eventarc delivers the same event (same id)
 * again, until the audit entry's steps are done. firebase-tools' emulator delivers a Firestore
 * event once: a function that throws gets a FATAL log, its process is killed
 * (functionsRuntimeWorker.js `processStream`: level FATAL → `process.kill()`) and the event
 * is gone — a halt whose cancel-all failed would leave the broker's orders open for good.
 *
 * The function's own audit entry (`ops/killSwitch/audit/{eventId}`) is the evidence: it is
 * created first, names the event, keeps the change's before/after, and records each side
 * effect's state. An entry with a step still `pending` (after a grace period), `failed` (the
 * first retry a backoff after the failure, as Eventarc's), or `running` on a dead lease is
 * delivered again with the same event id, rebuilt from the entry as the JSON CloudEvent the
 * emulator suite sends, with backoff. A 2xx ends the event, as for Eventarc: the function
 * answers one only once every step is recorded. The function's leases and step states decide
 * what actually runs again; nothing here writes to Firestore.
 *
 * The first retry's wait matters beyond realism: the emulator kills a worker whose function
 * threw only when it reads the FATAL line from the worker's output, which can come after the
 * 500 was answered — a delivery sent at once can land in that worker and die with it, its
 * step's lease held for CANCEL_LEASE_MS.
 *
 * Not covered: a delivery that failed before it created its audit entry leaves no evidence,
 * so it is not redelivered (the change itself is in Firestore; the claim transaction reads
 * the kill switch, so halting still works; only the cancel-all and ops event would be lost).
 */
import type { Firestore, Timestamp } from 'firebase-admin/firestore';
import { AUDIT_COLLECTION, CANCEL_LEASE_MS, StepState } from '../../functions/src/ops/halt-trigger.js';
import { KILL_SWITCH_PATH } from '../../functions/src/store/paths.js';
import { fieldsJson, timestampJson } from '../stack/firestore-event-json.js';
import { backoffMs } from './redelivery.js';

const DATA_SCHEMA = 'https://github.com/googleapis/google-cloudevents/blob/main/proto/google/events/cloud/firestore/v1/data.proto';
const OPEN_STATES = [StepState.pending, StepState.failed, StepState.running];

interface StepRecord {
  state?: string;
  leaseAt?: Pick<Timestamp, 'toMillis'>;
  finishedAt?: Pick<Timestamp, 'toMillis'>;
}

export type AuditDecision = { kind: 'settled' } | { kind: 'wait'; untilMs: number } | { kind: 'redeliver'; why: string };

/**
 * What an audit entry says about its event: done, still being worked on, or to be delivered
 * again. `pendingGraceMs`: how long a step may stay pending before its event counts as lost;
 * `failedRetryMs`: how long after a recorded failure it is first retried.
 */
export function decideAuditRedelivery(
  entry: { recordedAtMs: number; steps: Record<string, StepRecord | undefined> },
  nowMs: number,
  waits: { pendingGraceMs: number; failedRetryMs: number },
): AuditDecision {
  const millis = (t: Pick<Timestamp, 'toMillis'> | undefined) => t?.toMillis() ?? 0;
  const dueOf = (name: string, step: StepRecord | undefined): { at: number; why: string } | null => {
    switch (step?.state) {
      case StepState.pending:
        return { at: entry.recordedAtMs + waits.pendingGraceMs, why: `${name} still pending` };
      case StepState.failed:
        return { at: millis(step.finishedAt ?? step.leaseAt) + waits.failedRetryMs, why: `${name} failed` };
      case StepState.running:
        return { at: millis(step.leaseAt) + CANCEL_LEASE_MS + 1_000, why: `${name} lease expired` };
      default:
        return null;
    }
  };
  let waitUntil: number | null = null;
  for (const [name, step] of Object.entries(entry.steps)) {
    const due = dueOf(name, step);
    if (due === null) continue;
    if (nowMs >= due.at) return { kind: 'redeliver', why: due.why };
    waitUntil = Math.min(waitUntil ?? due.at, due.at);
  }
  return waitUntil === null ? { kind: 'settled' } : { kind: 'wait', untilMs: waitUntil };
}

export interface HaltTriggerRedelivery {
  /** Deliveries made so far, by event id. */
  attempts(): Record<string, number>;
  stop(): Promise<void>;
}

export function startHaltTriggerRedelivery(opts: {
  db: Firestore;
  projectId: string;
  /** POSTs a CloudEvent to onKillSwitchWrite; resolves with the HTTP status (0: no answer). */
  deliver: (event: Record<string, unknown>) => Promise<number>;
  /** How long a step may stay `pending` before its event counts as lost (default 30 s). */
  pendingGraceMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How often the audit is read (default 2 s). */
  pollMs?: number;
  log: (line: string) => void;
  now?: () => number;
}): HaltTriggerRedelivery {
  const now = opts.now ?? Date.now;
  const pendingGraceMs = opts.pendingGraceMs ?? 30_000;
  const minBackoffMs = opts.minBackoffMs ?? 10_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 600_000;
  const databaseName = `projects/${opts.projectId}/databases/(default)`;
  const tried = new Map<string, { attempts: number; nextAtMs: number; busy: boolean; acked: boolean }>();
  let stopped = false;
  let sweeping = false;

  const eventOf = (id: string, data: FirebaseFirestore.DocumentData) => {
    const when = (data.when as Timestamp | undefined) ?? (data.recordedAt as Timestamp);
    const time = timestampJson(when);
    const doc = (fields: unknown) =>
      fields && typeof fields === 'object'
        ? { name: `${databaseName}/documents/${KILL_SWITCH_PATH}`, fields: fieldsJson(fields as Record<string, unknown>, databaseName), createTime: time, updateTime: time }
        : undefined;
    const value = doc(data.after);
    const oldValue = doc(data.before);
    return {
      specversion: '1.0',
      id,
      source: `//firestore.googleapis.com/${databaseName}`,
      type: 'google.cloud.firestore.document.v1.written',
      subject: `documents/${KILL_SWITCH_PATH}`,
      time,
      datacontenttype: 'application/json',
      dataschema: DATA_SCHEMA,
      project: opts.projectId,
      location: 'us-central1',
      database: '(default)',
      namespace: '(default)',
      document: KILL_SWITCH_PATH,
      data: { ...(value ? { value } : {}), ...(oldValue ? { oldValue } : {}) },
    };
  };

  const sweep = async () => {
    if (sweeping || stopped) return;
    sweeping = true;
    try {
      const audit = opts.db.collection(AUDIT_COLLECTION);
      const [a, b] = await Promise.all([audit.where('cancelAll.state', 'in', OPEN_STATES).get(), audit.where('publish.state', 'in', OPEN_STATES).get()]);
      const entries = new Map([...a.docs, ...b.docs].map((d) => [d.id, d.data()]));
      for (const [id, data] of entries) {
        if (stopped) return;
        const mine = tried.get(id) ?? { attempts: 0, nextAtMs: 0, busy: false, acked: false };
        tried.set(id, mine);
        if (mine.acked || mine.busy || now() < mine.nextAtMs) continue;
        const recordedAtMs = (data.recordedAt as Timestamp | undefined)?.toMillis() ?? 0;
        const decision = decideAuditRedelivery({ recordedAtMs, steps: { cancelAll: data.cancelAll, publish: data.publish } }, now(), { pendingGraceMs, failedRetryMs: minBackoffMs });
        if (decision.kind === 'settled') continue;
        if (decision.kind === 'wait') {
          mine.nextAtMs = decision.untilMs;
          continue;
        }
        mine.busy = true;
        mine.attempts += 1;
        opts.log(`redelivery: kill-switch change ${id} attempt ${mine.attempts}: ${decision.why}`);
        void opts
          .deliver(eventOf(id, data))
          .catch(() => 0)
          .then((status) => {
            mine.busy = false;
            // A 2xx is an ack, as for Eventarc: the function took the event as handled (a step
            // it found leased to another delivery is that delivery's to finish).
            if (status >= 200 && status < 300 && status !== 204) mine.acked = true;
            else mine.nextAtMs = now() + backoffMs(mine.attempts, minBackoffMs, maxBackoffMs);
          });
      }
    } catch (err) {
      if (!stopped) opts.log(`redelivery: reading ${AUDIT_COLLECTION} failed (${err instanceof Error ? err.message : String(err)}); trying again`);
    } finally {
      sweeping = false;
    }
  };
  const timer = setInterval(() => void sweep(), opts.pollMs ?? 2_000);

  return {
    attempts: () => Object.fromEntries([...tried].filter(([, t]) => t.attempts > 0).map(([id, t]) => [id, t.attempts])),
    async stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
