/**
 * What a topic received, on the official Pub/Sub emulator (PUBSUB_EMULATOR_HOST, set by
 * `firebase emulators:exec`), with the real @google-cloud/pubsub client: a pull subscription
 * of the test's own on the topic, in the test's own project (the emulator accepts any project
 * id), created before the code under test publishes. Everything published to the topic from
 * then on is retained in the subscription, so "what did it receive" and "nothing else" are
 * answered by synchronous pulls, without timing windows.
 */
import { randomBytes } from 'node:crypto';
import { PubSub, v1 } from '@google-cloud/pubsub';
import { EMULATORS } from './emulators.js';

// The client otherwise probes the GCE metadata server (off loopback) for a universe domain.
process.env.METADATA_SERVER_DETECTION ??= 'none';

/** A client of the official Pub/Sub emulator for `projectId`. */
export function emulatorPubSub(projectId: string, host = EMULATORS.pubsub): PubSub {
  return new PubSub({ projectId, apiEndpoint: host, emulatorMode: true });
}

/** Creates the topic in `pubsub`'s project unless it exists; returns its short name. */
export async function ensureTopic(pubsub: PubSub, topic: string): Promise<string> {
  try {
    await pubsub.createTopic(topic);
  } catch (err) {
    if ((err as { code?: number }).code !== 6 /* ALREADY_EXISTS */) throw err;
  }
  return topic;
}

export interface ReceivedMessage {
  id: string;
  /** The message data as UTF-8. */
  text: string;
  /** The data parsed as JSON (undefined if it is not JSON). */
  json: unknown;
  attributes: Record<string, string>;
  publishTime: Date | null;
}

export interface TopicRecorder {
  /** The subscription's full name. */
  subscription: string;
  /** Every message received so far (each once; pulled messages are acknowledged). */
  readonly messages: ReceivedMessage[];
  /** Pulls until the subscription has nothing more to give; returns all messages so far. */
  pullAll(): Promise<ReceivedMessage[]>;
  /** Pulls until at least `n` messages arrived (rejects after `timeoutMs`, naming what came). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Deletes the subscription and closes the clients. */
  close(): Promise<void>;
}

/**
 * Records what `topic` of `projectId` receives from now on: creates the topic if missing and
 * a pull subscription of its own. `pubsub` is used for admin calls (the caller closes it);
 * without one a client of its own is made (and closed by `close`).
 */
export async function recordTopic(projectId: string, topic: string, opts: { pubsub?: PubSub } = {}): Promise<TopicRecorder> {
  const pubsub = opts.pubsub ?? emulatorPubSub(projectId);
  await ensureTopic(pubsub, topic);
  const id = `rec-${topic}-${randomBytes(4).toString('hex')}`;
  const [sub] = await pubsub.topic(topic).createSubscription(id, { ackDeadlineSeconds: 60 });
  const subscription = sub.name;
  // The emulator settings of the PubSub client (endpoint, insecure channel), for the raw client.
  const subscriber = new v1.SubscriberClient((await pubsub.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0]);
  const messages: ReceivedMessage[] = [];
  const seen = new Set<string>();

  /** One synchronous pull; returns how many messages it brought. */
  const pullOnce = async (): Promise<number> => {
    const [res] = await subscriber.pull({ subscription, maxMessages: 1000, returnImmediately: true });
    const received = res.receivedMessages ?? [];
    if (received.length === 0) return 0;
    await subscriber.acknowledge({ subscription, ackIds: received.map((m) => m.ackId!) });
    for (const r of received) {
      const m = r.message!;
      const id = m.messageId!;
      if (seen.has(id)) continue; // a redelivery of one already seen
      seen.add(id);
      const text = Buffer.from(m.data ?? new Uint8Array()).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const seconds = Number(m.publishTime?.seconds ?? 0);
      messages.push({
        id,
        text,
        json,
        attributes: { ...(m.attributes ?? {}) },
        publishTime: m.publishTime ? new Date(seconds * 1000 + Math.floor((m.publishTime.nanos ?? 0) / 1e6)) : null,
      });
    }
    return received.length;
  };

  const pullAll = async (): Promise<ReceivedMessage[]> => {
    // A pull may return part of the backlog: pull until one comes back empty.
    while ((await pullOnce()) > 0);
    return messages;
  };

  return {
    subscription,
    messages,
    pullAll,
    async waitFor(n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        await pullAll();
        if (messages.length >= n) return messages;
        if (Date.now() > end) {
          throw new Error(`${topic}: ${messages.length} of ${n} messages within ${timeoutMs} ms: ${JSON.stringify(messages.map((m) => m.text))}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      try {
        await sub.delete();
      } finally {
        await subscriber.close();
        if (!opts.pubsub) await pubsub.close();
      }
    },
  };
}
