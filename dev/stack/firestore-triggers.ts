import { randomUUID } from 'node:crypto';
import type { DocumentSnapshot, Firestore } from 'firebase-admin/firestore';
import type { DiscoveredFunction } from './discover.js';
import { documentJson, timestampJson, type JsonDocument } from './firestore-event-json.js';

/**
 * Eventarc for Firestore-triggered functions in the local stack (`onKillSwitchWrite` on
 * `ops/killSwitch`, `onSubmissionWrite` on `submissions/{intentId}`): a firebase-admin
 * `onSnapshot` listener against the Firestore emulator turns every change it reports into a
 * `google.cloud.firestore.document.v1.*` CloudEvent POSTed to the function's process
 * (firebase-tools' own Firestore triggers need its functions emulator, which the stack does not
 * use: functions run as functions-framework processes).
 *
 * What is watched: a fixed document path (`ops/killSwitch`) with a document listener; a
 * pattern with `{name}` wildcards in document-id segments (`submissions/{intentId}`,
 * `a/{x}/b/{y}`) with a listener on the collection (only the last segment a wildcard) or on
 * the collection group of its last collection id, keeping the documents whose path matches.
 * Each docChange is one event — added: `created` (value only), modified: `updated` (value,
 * oldValue, updateMask), removed: `deleted` (oldValue only) — its "before" being the version
 * the listener last reported for that document. The `document` attribute and the subject name
 * the changed document (`submissions/i-1`), from which firebase-functions reads `event.params`
 * (`{ intentId: 'i-1' }`), as with Eventarc. Multi-segment wildcards (`{path=**}`) are not
 * supported and are said so at start.
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
 * Limits, said out loud:
 *   - A listener reports the latest state, not every write: two writes of one document landing
 *     within one snapshot round trip arrive as ONE change (from the first "before" to the
 *     second "after"); Eventarc would deliver both. For onSubmissionWrite this means the local
 *     stack can publish one `order-updates` message where production publishes two (e.g.
 *     `submitting` → `submitted` seen as `(none)` → `submitted`); since `updateId` is
 *     deterministic per state, what a follower ends up with is the same, only the intermediate
 *     state may be missing.
 *   - Writes before the listener is attached are not delivered (the first snapshot is the
 *     starting point, not a change), nor are writes while the listener is broken (it says so).
 *   - A wildcard listener holds the watched collection (group) in memory: fine for a local
 *     stack, not a design for large data.
 *   - A listener resync that re-reports a version it already reported is not an event.
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
  /** The changed document's path (e.g. `submissions/i-1`). */
  document: string;
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

/** A document path pattern: fixed collection ids, document ids fixed or `{name}` wildcards. */
export type DocumentPattern =
  | { ok: true; segments: string[]; wildcards: string[] }
  | { ok: false; problem: string };

export function parseDocumentPattern(document: string): DocumentPattern {
  const segments = document.replace(/^\/+|\/+$/g, '').split('/');
  if (segments.length === 0 || segments.length % 2 !== 0 || segments.some((x) => x === '')) {
    return { ok: false, problem: 'not a document path (collection/doc pairs)' };
  }
  const wildcards: string[] = [];
  for (const [i, seg] of segments.entries()) {
    const w = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(seg);
    if (w && i % 2 === 1) {
      wildcards.push(w[1]!);
      continue;
    }
    if (/[{}*]/.test(seg)) {
      return { ok: false, problem: i % 2 === 0 ? `wildcard collection id "${seg}"` : `unsupported wildcard "${seg}" (only {name} for one document id)` };
    }
  }
  return { ok: true, segments, wildcards };
}

/** The wildcard values of `path` under `segments`, or null when it does not match. */
export function matchDocumentPath(segments: readonly string[], path: string): Record<string, string> | null {
  const parts = path.split('/');
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (const [i, seg] of segments.entries()) {
    const w = /^\{(.+)\}$/.exec(seg);
    if (w) params[w[1]!] = parts[i]!;
    else if (seg !== parts[i]) return null;
  }
  return params;
}

export async function connectFirestoreTrigger(fn: DiscoveredFunction, url: string, ctx: FirestoreTriggerContext): Promise<FirestoreTriggerConnection> {
  const t = fn.trigger;
  const pattern = t.kind === 'firestore' ? t.document : null;
  const parsed = pattern ? parseDocumentPattern(pattern) : ({ ok: false, problem: 'no document pattern' } as const);
  if (t.kind !== 'firestore' || !pattern || !parsed.ok) {
    ctx.warn(`${fn.name}: Firestore trigger on ${pattern ?? '?'} is not delivered locally (${parsed.ok ? 'not a Firestore trigger' : parsed.problem})`);
    return { wired: false, deliveries: () => [], stop: async () => {} };
  }
  const eventType = t.eventType;
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

  /** One change of the document at `document` (a path, no wildcards): one event, if the function wants it. */
  function onChange(document: string, oldValue: JsonDocument | undefined, value: JsonDocument | undefined, readTime: string): void {
    if (oldValue === undefined && value === undefined) return;
    // A listener resync re-reports the same version: not a write.
    if (oldValue?.updateTime === value?.updateTime) return;
    const kind = kindOf(oldValue, value);
    if (!matches(eventType, kind)) return;
    const eventId = randomUUID();
    const data: Record<string, unknown> = {};
    if (value) data.value = value;
    if (oldValue) data.oldValue = oldValue;
    if (value && oldValue) data.updateMask = { fieldPaths: changedFields(oldValue, value) };
    const event = {
      specversion: '1.0',
      id: eventId,
      source: `//firestore.googleapis.com/${databaseName}`,
      type: eventType,
      subject: `documents/${document}`,
      time: value?.updateTime ?? readTime,
      datacontenttype: 'application/json',
      dataschema: DATA_SCHEMA,
      project: ctx.projectId,
      location: 'local',
      database,
      namespace: '(default)',
      // The changed document: firebase-functions reads event.params from it and the pattern.
      document,
      data,
    };
    const record: TriggerDelivery = { eventId, document, kind, attempts: 0, lastStatus: 0, state: 'pending' };
    deliveries.push(record);
    const p = deliver(record, event).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  const failed = (err: Error) => ctx.warn(`${fn.name}: the listener on ${pattern} failed (${err.message}); Firestore events are no longer delivered`);
  let unsubscribe: () => void = () => {};
  const segments = parsed.segments;
  if (parsed.wildcards.length === 0) {
    // A fixed document. The first snapshot is the state at attach time (not a change): it becomes "before".
    const document = segments.join('/');
    let previous: DocumentSnapshot | null = null;
    await new Promise<void>((resolve, reject) => {
      let first = true;
      unsubscribe = ctx.db.doc(document).onSnapshot(
        (snap) => {
          if (previous !== null) {
            onChange(document, documentJson(previous, databaseName), documentJson(snap, databaseName), timestampJson(snap.readTime));
          }
          previous = snap;
          if (first) {
            first = false;
            resolve();
          }
        },
        (err) => (first ? reject(err) : failed(err)),
      );
    });
  } else {
    // A pattern: the collection when only the document id varies, else the collection group of
    // the last collection id, filtered by the pattern. The first snapshot (every document there
    // is, as `added`) is the starting point; each later docChange is one change.
    const onlyLast = parsed.wildcards.length === 1 && /^\{.+\}$/.test(segments[segments.length - 1]!);
    const query = onlyLast ? ctx.db.collection(segments.slice(0, -1).join('/')) : ctx.db.collectionGroup(segments[segments.length - 2]!);
    const known = new Map<string, JsonDocument>();
    await new Promise<void>((resolve, reject) => {
      let first = true;
      unsubscribe = query.onSnapshot(
        (qs) => {
          const readTime = timestampJson(qs.readTime);
          for (const change of qs.docChanges()) {
            const path = change.doc.ref.path;
            if (matchDocumentPath(segments, path) === null) continue;
            const before = known.get(path);
            const after = change.type === 'removed' ? undefined : documentJson(change.doc, databaseName);
            if (after) known.set(path, after);
            else known.delete(path);
            if (!first) onChange(path, before, after, readTime);
          }
          if (first) {
            first = false;
            resolve();
          }
        },
        (err) => (first ? reject(err) : failed(err)),
      );
    });
  }

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
