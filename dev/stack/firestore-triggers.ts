import { randomUUID } from 'node:crypto';
import type { DocumentSnapshot, Firestore } from 'firebase-admin/firestore';
import type { DiscoveredFunction } from './discover.js';
import { documentJson, type JsonDocument } from './firestore-event-json.js';

/**
 * Eventarc for Firestore-triggered functions in the local stack (e.g. `onKillSwitchWrite` on
 * `ops/killSwitch`): a firebase-admin `onSnapshot` listener on the document, against the
 * Firestore emulator, turns every change into a `google.cloud.firestore.document.v1.*`
 * CloudEvent POSTed to the function's process (firebase-tools' own Firestore triggers need its
 * functions emulator, which the stack does not use: functions run as functions-framework
 * processes).
 *
 * Encoding: structured-mode CloudEvent with `datacontenttype: application/json` and
 * `DocumentEventData` in proto3 JSON (`value`, `oldValue`, `updateMask`) — the form the
 * Firebase emulator suite sends and firebase-functions decodes next to production's protobuf
 * (see ./firestore-event-json.ts). Attributes as Eventarc sets them: source, subject,
 * project, database, namespace, document, location.
 *
 * Delivery: one event id per change, kept across attempts; a non-2xx answer, a network
 * error or a timeout is retried with backoff (1 s → 10 s, until the stack stops) when the
 * function was declared with `retry: true`, else dropped with a warning — as the platform
 * does. Events are delivered independently, in no guaranteed order.
 *
 * Limits, said out loud: only documents without wildcards are watched; a listener reports
 * the latest state, so two writes landing within one snapshot round trip arrive as one change
 * (Eventarc would deliver both); writes before the listener is attached are not delivered.
 */
export interface FirestoreTriggerConnection {
  /** Whether events are actually delivered (false: the pattern is not supported locally). */
  readonly wired: boolean;
  /** Deliveries so far, for tests and the status line. */
  deliveries(): TriggerDelivery[];
  stop(): Promise<void>;
}

export interface TriggerDelivery {
  eventId: string;
  kind: 'created' | 'updated' | 'deleted';
  attempts: number;
  /** HTTP status of the last attempt (0: no answer). */
  lastStatus: number;
  state: 'pending' | 'delivered' | 'dropped';
}

export interface FirestoreTriggerContext {
  /** A firebase-admin client on the stack's Firestore. */
  db: Firestore;
  projectId: string;
  warn: (message: string) => void;
  /** Per-attempt timeout; default 70 s (the function's 60 s plus a margin). */
  attemptTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const DATA_SCHEMA = 'https://github.com/googleapis/google-cloudevents/blob/main/proto/google/events/cloud/firestore/v1/data.proto';

function kindOf(before: JsonDocument | undefined, after: JsonDocument | undefined): TriggerDelivery['kind'] {
  return before === undefined ? 'created' : after === undefined ? 'deleted' : 'updated';
}

/** Which event types want this change (`written` wants every one). */
function matches(eventType: string, kind: TriggerDelivery['kind']): boolean {
  const base = eventType.replace(/\.withAuthContext$/, '');
  return base.endsWith('.written') || base.endsWith(`.${kind}`);
}

/** Top-level fields whose value differs (Eventarc's updateMask for an update). */
function changedFields(before: JsonDocument, after: JsonDocument): string[] {
  const names = new Set([...Object.keys(before.fields), ...Object.keys(after.fields)]);
  return [...names].filter((n) => JSON.stringify(before.fields[n]) !== JSON.stringify(after.fields[n])).sort();
}

export async function connectFirestoreTrigger(fn: DiscoveredFunction, url: string, ctx: FirestoreTriggerContext): Promise<FirestoreTriggerConnection> {
  const t = fn.trigger;
  const document = t.kind === 'firestore' ? t.document : null;
  if (t.kind !== 'firestore' || !document || /[{}*]/.test(document)) {
    ctx.warn(`${fn.name}: Firestore trigger on ${document ?? '?'} is not delivered locally (only fixed document paths are)`);
    return { wired: false, deliveries: () => [], stop: async () => {} };
  }
  const retry = t.retry;
  const database = '(default)';
  const databaseName = `projects/${ctx.projectId}/databases/${database}`;
  const attemptTimeoutMs = ctx.attemptTimeoutMs ?? 70_000;
  const minBackoffMs = ctx.minBackoffMs ?? 1_000;
  const maxBackoffMs = ctx.maxBackoffMs ?? 10_000;
  /** Aborted by stop(): no new attempt, no more backoff sleeps. */
  const closing = new AbortController();
  /** Aborted once stop()'s grace is over: cancels attempts still waiting for an answer. */
  const hardStop = new AbortController();
  const deliveries: TriggerDelivery[] = [];
  const inFlight = new Set<Promise<void>>();

  async function deliver(record: TriggerDelivery, event: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify(event);
    let backoff = minBackoffMs;
    while (!closing.signal.aborted) {
      record.attempts += 1;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
          body,
          signal: AbortSignal.any([hardStop.signal, AbortSignal.timeout(attemptTimeoutMs)]),
        });
        record.lastStatus = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          record.state = 'delivered';
          return;
        }
      } catch {
        record.lastStatus = 0;
      }
      if (closing.signal.aborted) break;
      if (!retry) {
        record.state = 'dropped';
        ctx.warn(`${fn.name}: event ${record.eventId} failed (HTTP ${record.lastStatus || 'no answer'}); not retried (the function has retry: false)`);
        return;
      }
      if (record.attempts === 1 || record.attempts % 10 === 0) {
        ctx.warn(`${fn.name}: event ${record.eventId} attempt ${record.attempts} failed (HTTP ${record.lastStatus || 'no answer'}); retrying`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        closing.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      backoff = Math.min(backoff * 2, maxBackoffMs);
    }
  }

  function onChange(previous: DocumentSnapshot, current: DocumentSnapshot): void {
    const oldValue = documentJson(previous, databaseName);
    const value = documentJson(current, databaseName);
    if (oldValue === undefined && value === undefined) return;
    // A listener resync re-reports the same version: not a write.
    if (oldValue?.updateTime === value?.updateTime) return;
    const kind = kindOf(oldValue, value);
    if (!matches(t.kind === 'firestore' ? t.eventType : '', kind)) return;
    const eventId = randomUUID();
    const data: Record<string, unknown> = {};
    if (value) data.value = value;
    if (oldValue) data.oldValue = oldValue;
    if (value && oldValue) data.updateMask = { fieldPaths: changedFields(oldValue, value) };
    const event = {
      specversion: '1.0',
      id: eventId,
      source: `//firestore.googleapis.com/${databaseName}`,
      type: t.kind === 'firestore' ? t.eventType : '',
      subject: `documents/${document}`,
      time: value?.updateTime ?? new Date().toISOString(),
      datacontenttype: 'application/json',
      dataschema: DATA_SCHEMA,
      project: ctx.projectId,
      location: 'local',
      database,
      namespace: '(default)',
      document,
      data,
    };
    const record: TriggerDelivery = { eventId, kind, attempts: 0, lastStatus: 0, state: 'pending' };
    deliveries.push(record);
    const p = deliver(record, event).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  // The first snapshot is the state at attach time (not a change): it becomes "before".
  let previous: DocumentSnapshot | null = null;
  let unsubscribe: () => void = () => {};
  await new Promise<void>((resolve, reject) => {
    let first = true;
    unsubscribe = ctx.db.doc(document).onSnapshot(
      (snap) => {
        if (previous !== null) onChange(previous, snap);
        previous = snap;
        if (first) {
          first = false;
          resolve();
        }
      },
      (err) => {
        if (first) reject(err);
        else ctx.warn(`${fn.name}: the listener on ${document} failed (${err.message}); Firestore events are no longer delivered`);
      },
    );
  });

  return {
    wired: true,
    deliveries: () => deliveries.map((d) => ({ ...d })),
    async stop() {
      unsubscribe();
      // Scheduled retries are cancelled; attempts already sent get a moment to answer.
      closing.abort();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (timer = setTimeout(r, 5_000)));
      await Promise.race([Promise.allSettled([...inFlight]), grace]);
      clearTimeout(timer);
      hardStop.abort();
      await Promise.allSettled([...inFlight]);
    },
  };
}
