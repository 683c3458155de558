// Push delivery the way Eventarc delivers Pub/Sub messages to a 2nd-gen Cloud Function:
// one HTTP POST per delivery attempt carrying a `google.cloud.pubsub.topic.v1.messagePublished`
// CloudEvent. A 2xx answer is an ack; anything else, a network error or no answer within
// the ack deadline is a nack.
import http from 'node:http';
import https from 'node:https';

export type CloudEventMode = 'structured' | 'binary';

export const PUBSUB_CLOUDEVENT_TYPE = 'google.cloud.pubsub.topic.v1.messagePublished';

/** A published message as the emulator keeps it. */
export interface StoredMessage {
  messageId: string;
  /** Full topic name, `projects/P/topics/T`. */
  topic: string;
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey: string;
  publishTime: Date;
}

/** `data.message` of the CloudEvent: Pub/Sub's push JSON, both casings as Pub/Sub sends. */
export interface PushedPubsubMessage {
  data?: string;
  attributes?: Record<string, string>;
  messageId: string;
  message_id: string;
  publishTime: string;
  publish_time: string;
  orderingKey?: string;
}

export interface MessagePublishedData {
  message: PushedPubsubMessage;
  subscription: string;
}

export interface PubSubCloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: typeof PUBSUB_CLOUDEVENT_TYPE;
  time: string;
  datacontenttype: 'application/json';
  data: MessagePublishedData;
}

/**
 * The CloudEvent for one message on one subscription. `id` is the message id, so every
 * redelivery (and every duplicate) of a message carries the same event id, as with Eventarc.
 * Empty `data`/`attributes`/`orderingKey` are omitted, as Pub/Sub's JSON mapping omits them.
 */
export function buildPubSubCloudEvent(message: StoredMessage, subscription: string): PubSubCloudEvent {
  const publishTime = message.publishTime.toISOString();
  const pushed: PushedPubsubMessage = {
    messageId: message.messageId,
    message_id: message.messageId,
    publishTime,
    publish_time: publishTime,
  };
  if (message.data.length > 0) pushed.data = message.data.toString('base64');
  if (Object.keys(message.attributes).length > 0) pushed.attributes = { ...message.attributes };
  if (message.orderingKey !== '') pushed.orderingKey = message.orderingKey;
  return {
    specversion: '1.0',
    id: message.messageId,
    source: `//pubsub.googleapis.com/${message.topic}`,
    type: PUBSUB_CLOUDEVENT_TYPE,
    time: publishTime,
    datacontenttype: 'application/json',
    data: { message: pushed, subscription },
  };
}

/**
 * HTTP encoding of the event. Structured mode: the whole event as
 * `application/cloudevents+json`. Binary mode (what Eventarc itself sends): attributes as
 * `ce-*` headers, `data` as the JSON body. The functions framework accepts both.
 */
export function encodeCloudEvent(
  event: PubSubCloudEvent,
  mode: CloudEventMode,
): { headers: Record<string, string>; body: string } {
  if (mode === 'structured') {
    return {
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      body: JSON.stringify(event),
    };
  }
  return {
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'ce-specversion': event.specversion,
      'ce-id': event.id,
      'ce-source': event.source,
      'ce-type': event.type,
      'ce-time': event.time,
    },
    body: JSON.stringify(event.data),
  };
}

export type PushResult =
  | { kind: 'ack'; status: number }
  | { kind: 'nack'; status: number }
  | { kind: 'timeout' }
  | { kind: 'error'; message: string }
  /** Cancelled by the emulator itself (subscription deleted, emulator stopped). */
  | { kind: 'aborted' };

export interface PostOptions {
  endpoint: string;
  event: PubSubCloudEvent;
  mode: CloudEventMode;
  /** No answer (status line) within this many ms is a nack; the request is then destroyed. */
  timeoutMs: number;
  signal: AbortSignal;
  agents: { http: http.Agent; https: https.Agent };
}

/** POSTs one delivery attempt. Never rejects: every outcome is a PushResult. */
export function postCloudEvent(opts: PostOptions): Promise<PushResult> {
  return new Promise<PushResult>((resolve) => {
    if (opts.signal.aborted) {
      resolve({ kind: 'aborted' });
      return;
    }
    let settled = false;
    const settle = (result: PushResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const url = new URL(opts.endpoint);
    const secure = url.protocol === 'https:';
    const { headers, body } = encodeCloudEvent(opts.event, opts.mode);
    const req = (secure ? https : http).request(url, {
      method: 'POST',
      agent: secure ? opts.agents.https : opts.agents.http,
      headers: {
        ...headers,
        'content-length': String(Buffer.byteLength(body)),
        // What Pub/Sub push requests identify as.
        'user-agent': 'APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)',
      },
    });
    const onAbort = (): void => {
      settle({ kind: 'aborted' });
      req.destroy();
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    // The ack deadline covers the whole handler run: the platform gives up waiting, the
    // handler (if still running) is not told, exactly like a Cloud Functions timeout.
    const timer = setTimeout(() => {
      settle({ kind: 'timeout' });
      req.destroy();
    }, opts.timeoutMs);
    timer.unref();
    req.on('response', (res) => {
      const code = res.statusCode ?? 0;
      // Drain the body so the keep-alive socket can be reused; the status is the verdict.
      res.resume();
      settle(code >= 200 && code < 300 ? { kind: 'ack', status: code } : { kind: 'nack', status: code });
    });
    req.on('error', (err) => settle({ kind: 'error', message: err.message }));
    req.end(body);
  });
}
