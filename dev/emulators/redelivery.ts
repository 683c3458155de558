/**
 * Pub/Sub redelivery for firebase-tools' functions emulator, which has none.
 *
 * In production a `retry: true` Pub/Sub function that fails (throws: HTTP 500) gets the same
 * message again, with the same event id, after 10-600 s of backoff. firebase-tools' emulator
 * (node_modules/firebase-tools/lib/emulator/pubsubEmulator.js `onMessage`) POSTs each message
 * once to the functions emulator, logs any failure at DEBUG and calls `message.ack()`
 * whatever happened, with a fresh `randomUUID()` as the event id of every delivery. A
 * refusal executeIntent leaves to redelivery — a claim held by a live owner, the deadline or
 * shutdown before or after the claim (`released`), an unknown broker outcome, Firestore
 * unavailable — is therefore simply dropped, and an intent refused before its claim leaves no
 * record at all.
 *
 * This puts redelivery back for one topic, as Pub/Sub would do it for the function: a
 * subscription of its own on the topic sees every message; a message counts as delivered
 * once Firestore shows the function settled it (the only evidence there is about the
 * emulator's own delivery, whose answer nobody sees) or once one of our deliveries is
 * answered 2xx (what Pub/Sub calls an ack). Until then it is delivered again, to the same
 * functions-emulator route firebase-tools uses, as the same CloudEvent firebase-tools builds
 * but with the message id as the (stable) event id, with exponential backoff. It never
 * writes to Firestore and never calls the broker: every decision stays the function's.
 */
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import type { DocumentSnapshot, Firestore } from 'firebase-admin/firestore';
import { parseIntentText, sameIntent, type OrderIntent } from '../../functions/src/domain/intent.js';
import { isTerminal, SubmissionState, type SubmissionRecord } from '../../functions/src/domain/submission.js';
import { INVALID_INTENTS, SUBMISSIONS } from '../../functions/src/store/paths.js';
import { recordFromDocument } from '../../functions/src/store/submission-document.js';

export type Settlement =
  | { kind: 'settled'; why: string }
  | { kind: 'wait'; untilMs: number; why: string }
  | { kind: 'redeliver'; why: string };

export type StoredRecord = { ok: true; record: SubmissionRecord } | { ok: false; problem: string } | null;

/**
 * Whether a message on the intents topic still needs a delivery, from what the function left
 * in Firestore. Mirrors executeIntent's own outcomes: it acknowledges a message only once the
 * intent's record is terminal, or the message is kept in invalidIntents (invalid, or a
 * conflicting payload under a known intentId).
 */
export function decideRedelivery(input: {
  intent: OrderIntent | null;
  record: StoredRecord;
  invalidKept: boolean;
  nowMs: number;
  ownerGraceMs: number;
}): Settlement {
  if (input.invalidKept) return { kind: 'settled', why: 'kept in invalidIntents' };
  if (input.intent === null) return { kind: 'redeliver', why: 'invalid message not kept in invalidIntents yet' };
  const stored = input.record;
  if (stored === null) return { kind: 'redeliver', why: 'no submission record' };
  if (!stored.ok) return { kind: 'redeliver', why: `submission record unreadable: ${stored.problem}` };
  const record = stored.record;
  if (!sameIntent(record.intent, input.intent)) return { kind: 'redeliver', why: 'conflicting payload not kept in invalidIntents yet' };
  if (isTerminal(record.state)) return { kind: 'settled', why: `record ${record.state}` };
  if (record.state === SubmissionState.submitting && record.owner !== null) {
    const goneAtMs = record.owner.deadlineAtMs + input.ownerGraceMs;
    // A delivery now would only be refused as held: the owner is still calling the broker.
    if (input.nowMs <= goneAtMs) return { kind: 'wait', untilMs: goneAtMs + 1_000, why: `claim held by ${record.owner.instanceId}` };
    return { kind: 'redeliver', why: 'claim owner gone' };
  }
  return { kind: 'redeliver', why: `record ${record.state}` };
}

/** Production's retry policy for event functions is 10 s doubling to 600 s. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
}

/** The CloudEvent firebase-tools' Pub/Sub emulator builds (createCloudEventRequestBody), with a stable id. */
export function pubsubCloudEvent(opts: { projectId: string; topic: string; subscription: string; message: PendingMessage }) {
  const m = opts.message;
  return {
    specversion: '1.0',
    id: m.messageId,
    time: m.publishTime,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/${opts.projectId}/topics/${opts.topic}`,
    data: {
      message: {
        messageId: m.messageId,
        publishTime: m.publishTime,
        attributes: m.attributes,
        ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
        data: m.dataBase64,
        message_id: m.messageId,
        publish_time: m.publishTime,
      },
      subscription: opts.subscription,
    },
  };
}

export interface PendingMessage {
  messageId: string;
  dataBase64: string;
  attributes: Record<string, string>;
  publishTime: string;
  orderingKey: string | undefined;
  intent: OrderIntent | null;
  receivedAtMs: number;
  /** Our own deliveries so far. */
  attempts: number;
  nextCheckAtMs: number;
  busy: boolean;
}

export interface RedeliveryStats {
  /** Messages seen on the topic. */
  seen: number;
  /** Settled (by Firestore's evidence or a 2xx to our delivery). */
  settled: number;
  /** Deliveries we made. */
  redelivered: number;
  /** Of those, answered with something other than 2xx (or not at all). */
  failedDeliveries: number;
  pending: number;
}

export interface RedeliveryOptions {
  pubsub: PubSub;
  db: Firestore;
  projectId: string;
  topic: string;
  /** Our subscription's id; created if missing. */
  subscriptionId: string;
  /** POSTs a CloudEvent to the function; resolves with the HTTP status (0: no answer). */
  deliver: (event: ReturnType<typeof pubsubCloudEvent>) => Promise<number>;
  ownerGraceMs: number;
  /** First look at a message this long after it was published (default 10 s). */
  firstCheckMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Deliveries of ours in flight at once (default 2): the emulator starts a process per concurrent request. */
  concurrency?: number;
  log: (line: string) => void;
  now?: () => number;
}

export interface Redelivery {
  stats(): RedeliveryStats;
  stop(): Promise<void>;
}

const IN_QUERY_LIMIT = 30;
/** How soon a message whose claim is held is looked at again. */
const RECHECK_MS = 2_000;

export async function startRedelivery(opts: RedeliveryOptions): Promise<Redelivery> {
  const now = opts.now ?? Date.now;
  const firstCheckMs = opts.firstCheckMs ?? 10_000;
  const minBackoffMs = opts.minBackoffMs ?? 10_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 600_000;
  const concurrency = opts.concurrency ?? 2;
  const topic = opts.pubsub.topic(opts.topic);
  let subscription: Subscription = topic.subscription(opts.subscriptionId);
  const [exists] = await subscription.exists();
  if (!exists) [subscription] = await topic.createSubscription(opts.subscriptionId, { ackDeadlineSeconds: 60 });
  const subscriptionName = `projects/${opts.projectId}/subscriptions/${opts.subscriptionId}`;

  const pending = new Map<string, PendingMessage>();
  const done = new Set<string>();
  const stats = { seen: 0, settled: 0, redelivered: 0, failedDeliveries: 0 };
  let inFlight = 0;
  let stopped = false;

  const onMessage = (message: Message) => {
    // Held here, not by Pub/Sub: no lease to keep extending, and nothing is redelivered to us.
    message.ack();
    if (done.has(message.id) || pending.has(message.id)) return;
    stats.seen += 1;
    const parsed = parseIntentText(message.data.toString('utf8'));
    pending.set(message.id, {
      messageId: message.id,
      dataBase64: message.data.toString('base64'),
      attributes: { ...(message.attributes ?? {}) },
      publishTime: message.publishTime.toISOString(),
      orderingKey: message.orderingKey || undefined,
      intent: parsed.ok ? parsed.intent : null,
      receivedAtMs: now(),
      attempts: 0,
      nextCheckAtMs: message.publishTime.getTime() + firstCheckMs,
      busy: false,
    });
  };
  const onError = (err: Error) => {
    if (!stopped) opts.log(`redelivery: subscription ${opts.subscriptionId} error: ${err.message}`);
  };
  subscription.on('message', onMessage);
  subscription.on('error', onError);

  const settle = (m: PendingMessage, why: string) => {
    pending.delete(m.messageId);
    done.add(m.messageId);
    stats.settled += 1;
    if (m.attempts > 0) opts.log(`redelivery: message ${m.messageId}${m.intent ? ` (intent ${m.intent.intentId})` : ''} settled after ${m.attempts} redelivery(ies): ${why}`);
  };

  const deliver = async (m: PendingMessage, why: string) => {
    m.attempts += 1;
    stats.redelivered += 1;
    inFlight += 1;
    opts.log(`redelivery: message ${m.messageId}${m.intent ? ` (intent ${m.intent.intentId})` : ''} attempt ${m.attempts}: ${why}`);
    let status = 0;
    try {
      status = await opts.deliver(pubsubCloudEvent({ projectId: opts.projectId, topic: opts.topic, subscription: subscriptionName, message: m }));
    } finally {
      inFlight -= 1;
      m.busy = false;
    }
    // 204 is the emulator's "background triggers are currently disabled": nothing ran.
    if (status >= 200 && status < 300 && status !== 204) {
      settle(m, `delivery answered ${status}`);
    } else {
      stats.failedDeliveries += 1;
      m.nextCheckAtMs = now() + backoffMs(m.attempts, minBackoffMs, maxBackoffMs);
    }
  };

  async function readEvidence(batch: PendingMessage[]): Promise<Map<string, { record: StoredRecord; invalidKept: boolean }>> {
    const withIntent = batch.filter((m) => m.intent !== null);
    const snaps: DocumentSnapshot[] = withIntent.length
      ? await opts.db.getAll(...withIntent.map((m) => opts.db.collection(SUBMISSIONS).doc(m.intent!.intentId)))
      : [];
    const records = new Map<string, StoredRecord>();
    for (const snap of snaps) records.set(snap.id, snap.exists ? recordFromDocument(snap.data() ?? {}) : null);
    const kept = new Set<string>();
    const ids = batch.map((m) => m.messageId);
    for (let i = 0; i < ids.length; i += IN_QUERY_LIMIT) {
      const q = await opts.db.collection(INVALID_INTENTS).where('messageId', 'in', ids.slice(i, i + IN_QUERY_LIMIT)).select('messageId').get();
      for (const d of q.docs) kept.add(String(d.get('messageId')));
    }
    return new Map(batch.map((m) => [m.messageId, { record: m.intent ? (records.get(m.intent.intentId) ?? null) : null, invalidKept: kept.has(m.messageId) }]));
  }

  let ticking = false;
  const tick = async () => {
    if (ticking || stopped) return;
    ticking = true;
    try {
      const t = now();
      const due = [...pending.values()].filter((m) => !m.busy && m.nextCheckAtMs <= t);
      if (due.length === 0) return;
      const evidence = await readEvidence(due);
      // One delivery per intent at a time: copies of an intent would only find its claim held.
      const delivering = new Set([...pending.values()].filter((m) => m.busy && m.intent).map((m) => m.intent!.intentId));
      for (const m of due) {
        if (stopped) return;
        const e = evidence.get(m.messageId)!;
        const decision = decideRedelivery({ intent: m.intent, record: e.record, invalidKept: e.invalidKept, nowMs: now(), ownerGraceMs: opts.ownerGraceMs });
        if (decision.kind === 'settled') settle(m, decision.why);
        // A live owner usually settles the record within a second or two: look again soon
        // (a read), deliver no earlier than the decision says.
        else if (decision.kind === 'wait') m.nextCheckAtMs = Math.min(decision.untilMs, now() + RECHECK_MS);
        else if (m.intent !== null && delivering.has(m.intent.intentId)) m.nextCheckAtMs = now() + RECHECK_MS;
        else if (inFlight < concurrency) {
          if (m.intent !== null) delivering.add(m.intent.intentId);
          m.busy = true;
          void deliver(m, decision.why).catch((err: unknown) => opts.log(`redelivery: ${String(err)}`));
        }
        // else: looked at again on the next tick, when a delivery slot is free.
      }
    } catch (err) {
      if (!stopped) opts.log(`redelivery: reading Firestore failed (${err instanceof Error ? err.message : String(err)}); trying again`);
    } finally {
      ticking = false;
    }
  };
  const timer = setInterval(() => void tick(), 1_000);

  return {
    stats: () => ({ ...stats, pending: pending.size }),
    async stop() {
      stopped = true;
      clearInterval(timer);
      subscription.removeListener('message', onMessage);
      await subscription.close().catch(() => {});
      subscription.removeListener('error', onError);
    },
  };
}
