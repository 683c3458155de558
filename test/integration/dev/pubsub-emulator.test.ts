// The embedded Pub/Sub emulator, driven by the real @google-cloud/pubsub client and, for
// push, by real HTTP receivers including an in-process @google-cloud/functions-framework.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { PubSub, v1 } from '@google-cloud/pubsub';
import type { Message } from '@google-cloud/pubsub';
import * as functions from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { startPubSubEmulator } from '../../../dev/pubsub/emulator.js';
import type { PubSubCloudEvent, PubSubEmulator, PubSubEmulatorOptions } from '../../../dev/pubsub/emulator.js';

// The client otherwise probes the GCE metadata server (off loopback) for a universe domain.
process.env['METADATA_SERVER_DETECTION'] = 'none';

const PROJECT = 'demo-haltgate';
const FAST_PUSH = { minBackoffMs: 50, maxBackoffMs: 500, ackDeadlineMs: 2_000 };

interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/** A push endpoint that records every request and answers with `respond`'s status. */
interface Receiver {
  url: string;
  requests: Received[];
  respond: (req: Received, index: number) => number | Promise<number>;
  /** Requests whose connection the sender closed before the answer. */
  abandoned: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    requests: [],
    respond: () => 204,
    abandoned: 0,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableEnded) receiver.abandoned += 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const entry: Received = { at: performance.now(), headers: req.headers, body: JSON.parse(text) };
      const index = receiver.requests.push(entry) - 1;
      void Promise.resolve(receiver.respond(entry, index)).then((status) => {
        if (!res.destroyed) res.writeHead(status).end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

// Per-test resources, torn down after each test.
let emulators: PubSubEmulator[] = [];
let receivers: Receiver[] = [];
let clients: PubSub[] = [];

async function emulator(opts: PubSubEmulatorOptions = {}): Promise<PubSubEmulator> {
  const emu = await startPubSubEmulator({ projectId: PROJECT, ...opts });
  emulators.push(emu);
  return emu;
}
async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}
function client(emu: PubSubEmulator): PubSub {
  const c = new PubSub({ projectId: PROJECT, apiEndpoint: emu.emulatorHost, emulatorMode: true });
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(emulators.map((e) => e.stop()));
  await Promise.all(receivers.map((r) => r.close()));
  clients = [];
  emulators = [];
  receivers = [];
});

describe('Pub/Sub emulator: gRPC API with the real client', () => {
  it('manages topics and subscriptions and answers NOT_FOUND / ALREADY_EXISTS / UNIMPLEMENTED', async () => {
    const emu = await emulator();
    // PUBSUB_EMULATOR_HOST is how the project selects the emulator: check that path too.
    const saved = process.env['PUBSUB_EMULATOR_HOST'];
    process.env['PUBSUB_EMULATOR_HOST'] = emu.emulatorHost;
    const pubsub = new PubSub({ projectId: PROJECT });
    clients.push(pubsub);
    if (saved === undefined) delete process.env['PUBSUB_EMULATOR_HOST'];
    else process.env['PUBSUB_EMULATOR_HOST'] = saved;

    const [topic] = await pubsub.createTopic('orders');
    expect(topic.name).toBe(`projects/${PROJECT}/topics/orders`);
    await expect(pubsub.createTopic('orders')).rejects.toMatchObject({ code: 6 });
    const [auto] = await pubsub.topic('ops-events').get({ autoCreate: true });
    expect(auto.name).toBe(`projects/${PROJECT}/topics/ops-events`);
    const [exists] = await pubsub.topic('missing-topic').exists();
    expect(exists).toBe(false);
    const [topics] = await pubsub.getTopics();
    expect(topics.map((t) => t.name).sort()).toEqual([
      `projects/${PROJECT}/topics/ops-events`,
      `projects/${PROJECT}/topics/orders`,
    ]);

    const [sub] = await topic.createSubscription('orders-pull', { ackDeadlineSeconds: 20 });
    const [meta] = await sub.getMetadata();
    expect(meta.topic).toBe(topic.name);
    expect(meta.ackDeadlineSeconds).toBe(20);
    await expect(pubsub.topic('nope-topic').createSubscription('nope-sub')).rejects.toMatchObject({ code: 5 });
    await expect(topic.createSubscription('filtered', { filter: 'attributes.x = "y"' })).rejects.toMatchObject({
      code: 12,
    });
    const [subs] = await topic.getSubscriptions();
    expect(subs.map((s) => s.name)).toEqual([`projects/${PROJECT}/subscriptions/orders-pull`]);

    // An RPC the emulator does not implement says so.
    await expect(topic.setMetadata({ labels: { a: 'b' } })).rejects.toMatchObject({
      code: 12,
      details: expect.stringContaining('google.pubsub.v1.Publisher/UpdateTopic'),
    });
    await expect(topic.publishMessage({ data: Buffer.from('x') })).resolves.toMatch(/^\d+$/);
    await expect(pubsub.topic('missing-topic').publishMessage({ data: Buffer.from('x') })).rejects.toMatchObject({
      code: 5,
    });

    await sub.delete();
    await expect(sub.getMetadata()).rejects.toMatchObject({ code: 5 });
    await topic.delete();
    await expect(topic.getMetadata()).rejects.toMatchObject({ code: 5 });
  });

  it('delivers published messages with attributes over StreamingPull (subscription.on("message"))', async () => {
    const emu = await emulator();
    const pubsub = client(emu);
    const [topic] = await pubsub.createTopic('ops-events');
    const [sub] = await topic.createSubscription('runner-1');
    const received: Message[] = [];
    sub.on('message', (m: Message) => {
      received.push(m);
      m.ack();
    });
    const ids = await Promise.all([
      topic.publishMessage({ data: Buffer.from('{"halted":true}'), attributes: { kind: 'halt' } }),
      topic.publishMessage({ json: { halted: false }, attributes: { kind: 'resume' } }),
    ]);
    await waitFor(() => received.length === 2);
    await emu.drain(5_000);
    await sub.close();

    const byId = new Map(received.map((m) => [m.id, m]));
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    const halt = byId.get(ids[0] ?? '');
    expect(halt?.data.toString()).toBe('{"halted":true}');
    expect(halt?.attributes).toEqual({ kind: 'halt' });
    expect(Math.abs((halt?.publishTime.getTime() ?? 0) - Date.now())).toBeLessThan(10_000);
    expect(JSON.parse(byId.get(ids[1] ?? '')?.data.toString() ?? '')).toEqual({ halted: false });
    const stats = emu.stats();
    expect(stats.published).toBe(2);
    expect(stats.subscriptions[sub.name]).toMatchObject({ kind: 'pull', ackedMessages: 2, unacked: 0 });
  });

  it('StreamingPull: a nack redelivers the same message; server-side flow control holds', async () => {
    const emu = await emulator();
    const pubsub = client(emu);
    const [topic] = await pubsub.createTopic('ops-events');
    await topic.createSubscription('runner-2');
    // One stream: Pub/Sub applies maxOutstandingMessages per stream (the client opens 5 by default).
    const sub = pubsub.subscription('runner-2', {
      flowControl: { maxMessages: 2, allowExcessMessages: false },
      streamingOptions: { maxStreams: 1 },
    });
    const held: Message[] = [];
    const seenIds: string[] = [];
    let holding = true;
    // One listener throughout: removing the last 'message' listener closes the subscriber.
    sub.on('message', (m: Message) => {
      seenIds.push(m.id);
      if (holding) held.push(m);
      else m.ack();
    });
    const ids = await Promise.all([1, 2, 3, 4].map((n) => topic.publishMessage({ data: Buffer.from(String(n)) })));
    await waitFor(() => held.length === 2);
    await sleep(100);
    // maxOutstandingMessages = 2 reached the server: only two are leased.
    expect(emu.stats().subscriptions[sub.name]).toMatchObject({ inFlight: 2, unacked: 4 });
    expect(held).toHaveLength(2);
    // From now on ack whatever arrives; nack one of the held two, ack the other.
    holding = false;
    const [first, second] = held;
    first?.nack();
    second?.ack();
    await emu.drain(5_000);
    await sub.close();
    expect(seenIds.filter((id) => id === first?.id)).toHaveLength(2);
    expect(new Set(seenIds)).toEqual(new Set(ids));
    expect(emu.stats().subscriptions[sub.name]).toMatchObject({ nacked: 1, ackedMessages: 4, deliveries: 5 });
  });

  it('unary Pull, ModifyAckDeadline (0 = nack → redelivered) and Acknowledge', async () => {
    const emu = await emulator({ pullWaitMs: 100 });
    const pubsub = client(emu);
    const [topic] = await pubsub.createTopic('pull-topic');
    const [sub] = await topic.createSubscription('pull-sub');
    const id = await topic.publishMessage({ data: Buffer.from('one'), attributes: { a: '1' } });

    // The generated (GAPIC) client, configured the way the PubSub object configures its own.
    const config = await pubsub.getClientConfig();
    const subscriber = new v1.SubscriberClient({ ...config, port: Number(config.port) });
    try {
      const [first] = await subscriber.pull({ subscription: sub.name, maxMessages: 10 });
      expect(first.receivedMessages).toHaveLength(1);
      const got = first.receivedMessages?.[0];
      expect(got?.message?.messageId).toBe(id);
      expect(Buffer.from(got?.message?.data ?? '').toString()).toBe('one');
      expect(got?.message?.attributes).toEqual({ a: '1' });
      // Leased: nothing else to pull.
      const [empty] = await subscriber.pull({ subscription: sub.name, maxMessages: 10 });
      expect(empty.receivedMessages ?? []).toHaveLength(0);
      // Nack: comes back with the same message id and a new ack id.
      await subscriber.modifyAckDeadline({ subscription: sub.name, ackIds: [got?.ackId ?? ''], ackDeadlineSeconds: 0 });
      const [again] = await subscriber.pull({ subscription: sub.name, maxMessages: 10 });
      const redelivered = again.receivedMessages?.[0];
      expect(redelivered?.message?.messageId).toBe(id);
      expect(redelivered?.ackId).not.toBe(got?.ackId);
      expect(emu.stats().subscriptions[sub.name]?.unacked).toBe(1);
      await subscriber.acknowledge({ subscription: sub.name, ackIds: [redelivered?.ackId ?? ''] });
      await emu.drain(1_000);
      expect(emu.stats().subscriptions[sub.name]).toMatchObject({ deliveries: 2, nacked: 1, ackedMessages: 1 });
      expect(emu.stats().subscriptions[sub.name]?.attempts).toEqual({ [id]: 2 });
    } finally {
      await subscriber.close();
    }
  });
});

describe('Pub/Sub emulator: push delivery like Eventarc', () => {
  it('POSTs a structured messagePublished CloudEvent with every field', async () => {
    const emu = await emulator({ defaultPush: FAST_PUSH });
    const r = await receiver();
    const subName = emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: r.url });
    const pubsub = client(emu);
    const payload = { intentId: 'i-1', qty: 3 };
    const id = await pubsub.topic('order-intents').publishMessage({ json: payload, attributes: { strategy: 's1' } });
    await emu.drain(5_000);

    expect(r.requests).toHaveLength(1);
    const req = r.requests[0];
    expect(req?.headers['content-type']).toMatch(/^application\/cloudevents\+json/);
    const event = req?.body as PubSubCloudEvent;
    expect(Object.keys(event).sort()).toEqual(
      ['data', 'datacontenttype', 'id', 'source', 'specversion', 'time', 'type'].sort(),
    );
    expect(event.specversion).toBe('1.0');
    expect(event.id).toBe(id);
    expect(event.source).toBe(`//pubsub.googleapis.com/projects/${PROJECT}/topics/order-intents`);
    expect(event.type).toBe('google.cloud.pubsub.topic.v1.messagePublished');
    expect(event.datacontenttype).toBe('application/json');
    expect(new Date(event.time).toISOString()).toBe(event.time);
    expect(event.data.subscription).toBe(subName);
    expect(subName).toBe(`projects/${PROJECT}/subscriptions/execute-intent`);
    const m = event.data.message;
    expect(JSON.parse(Buffer.from(m.data ?? '', 'base64').toString())).toEqual(payload);
    expect(m.messageId).toBe(id);
    expect(m.message_id).toBe(id);
    expect(m.publishTime).toBe(event.time);
    expect(m.publish_time).toBe(event.time);
    expect(m.attributes).toEqual({ strategy: 's1' });
    expect(emu.stats().subscriptions[subName]).toMatchObject({
      kind: 'push',
      deliveries: 1,
      acked: 1,
      nacked: 0,
      ackedMessages: 1,
      outcomes: { '204': 1 },
    });
  });

  it('binary mode: CloudEvent attributes as ce-* headers, data as the JSON body (what Eventarc sends)', async () => {
    const emu = await emulator({ defaultPush: { ...FAST_PUSH, mode: 'binary' } });
    const r = await receiver();
    const subName = emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: r.url });
    const id = emu.publish('order-intents', { data: '{"a":1}' });
    await emu.drain(5_000);
    const req = r.requests[0];
    expect(req?.headers['content-type']).toMatch(/^application\/json/);
    expect(req?.headers['ce-specversion']).toBe('1.0');
    expect(req?.headers['ce-id']).toBe(id);
    expect(req?.headers['ce-type']).toBe('google.cloud.pubsub.topic.v1.messagePublished');
    expect(req?.headers['ce-source']).toBe(`//pubsub.googleapis.com/projects/${PROJECT}/topics/order-intents`);
    const time = String(req?.headers['ce-time']);
    expect(new Date(time).toISOString()).toBe(time);
    // No attributes published: the field is omitted, as in Pub/Sub's JSON.
    expect(req?.body).toEqual({
      message: { data: Buffer.from('{"a":1}').toString('base64'), messageId: id, message_id: id, publishTime: time, publish_time: time },
      subscription: subName,
    });
  });

  it('redelivers after a 500 with the same id and exponential backoff; acks on 2xx', async () => {
    const emu = await emulator({ defaultPush: { ...FAST_PUSH, minBackoffMs: 100, maxBackoffMs: 1_000 } });
    const r = await receiver();
    r.respond = (_req, index) => (index < 3 ? 500 : 200);
    const subName = emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: r.url });
    const id = emu.publish('order-intents', { data: 'x' });
    await emu.drain(5_000);

    expect(r.requests).toHaveLength(4);
    expect(r.requests.map((q) => (q.body as PubSubCloudEvent).id)).toEqual([id, id, id, id]);
    const gaps = r.requests.slice(1).map((q, i) => q.at - (r.requests[i]?.at ?? 0));
    // 100, 200, 400 ms (timers may fire a little late, never early).
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(195);
    expect(gaps[2]).toBeGreaterThanOrEqual(395);
    expect(gaps[2]).toBeLessThan(1_000);
    expect(emu.stats().subscriptions[subName]).toMatchObject({
      deliveries: 4,
      acked: 1,
      nacked: 3,
      ackedMessages: 1,
      unacked: 0,
      attempts: { [id]: 4 },
      outcomes: { '500': 3, '200': 1 },
    });
  });

  it('caps the backoff at maxBackoffMs', async () => {
    const emu = await emulator({ defaultPush: { ...FAST_PUSH, minBackoffMs: 20, maxBackoffMs: 60 } });
    const r = await receiver();
    r.respond = (_req, index) => (index < 5 ? 503 : 200);
    emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: r.url });
    emu.publish('order-intents', { data: 'x' });
    await emu.drain(5_000);
    const gaps = r.requests.slice(1).map((q, i) => q.at - (r.requests[i]?.at ?? 0));
    // 20, 40, 60, 60, 60
    expect(gaps).toHaveLength(5);
    expect(gaps[3]).toBeGreaterThanOrEqual(55);
    expect(gaps[4]).toBeLessThan(200);
  });

  it('treats no answer within the ack deadline as a nack', async () => {
    const emu = await emulator();
    const r = await receiver();
    // First attempt hangs well past the deadline; the second answers at once.
    r.respond = (_req, index) => (index === 0 ? sleep(1_000).then(() => 200) : 200);
    const subName = emu.addPushSubscription({
      topic: 'order-intents',
      name: 'execute-intent',
      endpoint: r.url,
      ackDeadlineMs: 150,
      minBackoffMs: 50,
      maxBackoffMs: 500,
    });
    const id = emu.publish('order-intents', { data: 'slow' });
    await emu.drain(5_000);
    expect(r.requests).toHaveLength(2);
    expect((r.requests[1]?.body as PubSubCloudEvent).id).toBe(id);
    expect(emu.stats().subscriptions[subName]).toMatchObject({
      deliveries: 2,
      timeouts: 1,
      nacked: 1,
      acked: 1,
      ackedMessages: 1,
      outcomes: { timeout: 1, '200': 1 },
    });
  });

  it('a refused connection is a nack too', async () => {
    const emu = await emulator({ defaultPush: FAST_PUSH });
    const r = await receiver();
    const url = r.url;
    await r.close();
    const subName = emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: url });
    emu.publish('order-intents', { data: 'x' });
    await waitFor(() => (emu.stats().subscriptions[subName]?.errors ?? 0) >= 2);
    await expect(emu.drain(100)).rejects.toThrow(/execute-intent: 1 unacked/);
  });

  it('duplicates deliveries when told: concurrent copies with the same id, counted in stats', async () => {
    const emu = await emulator({ defaultPush: { ...FAST_PUSH, duplicateRate: 1, duplicateCount: 2 } });
    const r = await receiver();
    let concurrent = 0;
    let maxConcurrent = 0;
    r.respond = async () => {
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      // Long enough that all three copies overlap even on a loaded machine.
      await sleep(200);
      concurrent -= 1;
      return 200;
    };
    const subName = emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: r.url });
    const id = emu.publish('order-intents', { data: 'dup' });
    await emu.drain(5_000);
    expect(r.requests.map((q) => (q.body as PubSubCloudEvent).id)).toEqual([id, id, id]);
    expect(maxConcurrent).toBe(3);
    expect(emu.stats().subscriptions[subName]).toMatchObject({
      deliveries: 3,
      duplicates: 2,
      acked: 3,
      ackedMessages: 1,
      attempts: { [id]: 3 },
    });
  });

  it('delayed duplicates arrive after the ack; drain waits for them', async () => {
    const emu = await emulator({ defaultPush: FAST_PUSH });
    const r = await receiver();
    const subName = emu.addPushSubscription({
      topic: 'order-intents',
      name: 'execute-intent',
      endpoint: r.url,
      duplicateRate: 1,
      duplicateDelayMs: 150,
    });
    emu.publish('order-intents', { data: 'late' });
    await emu.drain(5_000);
    expect(r.requests).toHaveLength(2);
    expect((r.requests[1]?.at ?? 0) - (r.requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(140);
    expect(emu.stats().subscriptions[subName]).toMatchObject({ duplicates: 1, ackedMessages: 1 });
  });

  it('duplicate injection follows the seed', async () => {
    const pattern = async (seed: number): Promise<number[]> => {
      const emu = await emulator({ seed, defaultPush: FAST_PUSH });
      const r = await receiver();
      emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: r.url, maxInflight: 1 });
      emu.setDuplicateRate(0.5);
      for (let i = 0; i < 20; i += 1) emu.publish('order-intents', { data: String(i) });
      await emu.drain(5_000);
      const counts = new Map<string, number>();
      for (const q of r.requests) {
        const id = (q.body as PubSubCloudEvent).id;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return [...counts.values()];
    };
    const a = await pattern(42);
    const b = await pattern(42);
    expect(a).toEqual(b);
    const duplicated = a.filter((n) => n === 2).length;
    expect(duplicated).toBeGreaterThan(0);
    expect(duplicated).toBeLessThan(20);
  });

  it('limits concurrent pushes per subscription to maxInflight', async () => {
    const emu = await emulator({ defaultPush: FAST_PUSH });
    const r = await receiver();
    let concurrent = 0;
    let maxConcurrent = 0;
    r.respond = async () => {
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await sleep(100);
      concurrent -= 1;
      return 200;
    };
    emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: r.url, maxInflight: 3 });
    for (let i = 0; i < 12; i += 1) emu.publish('order-intents', { data: String(i) });
    expect(emu.stats().inFlight).toBe(3);
    await emu.idle();
    expect(r.requests).toHaveLength(12);
    expect(maxConcurrent).toBe(3);
  });

  it('push subscriptions created through the API push too; drain can select subscriptions', async () => {
    const emu = await emulator({ defaultPush: FAST_PUSH });
    const r = await receiver();
    const pubsub = client(emu);
    const [topic] = await pubsub.createTopic('ops-events');
    const [pushSub] = await topic.createSubscription('ops-push', {
      pushConfig: { pushEndpoint: r.url },
      retryPolicy: { minimumBackoff: { seconds: 0, nanos: 50_000_000 }, maximumBackoff: { seconds: 1 } },
    });
    await topic.createSubscription('ops-pull-idle');
    r.respond = (_req, index) => (index === 0 ? 500 : 200);
    const id = await topic.publishMessage({ data: Buffer.from('resume') });
    // The pull subscription keeps its message: waiting on everything would time out.
    await emu.drain(5_000, { subscriptions: ['ops-push'] });
    await expect(emu.drain(100)).rejects.toThrow(/ops-pull-idle: 1 unacked/);
    expect(r.requests.map((q) => (q.body as PubSubCloudEvent).id)).toEqual([id, id]);
    expect((r.requests[0]?.body as PubSubCloudEvent).data.subscription).toBe(pushSub.name);
    expect(emu.stats().subscriptions[pushSub.name]).toMatchObject({ kind: 'push', endpoint: r.url, nacked: 1 });
  });

  it('stop() cancels pending redeliveries and in-flight pushes', async () => {
    const emu = await emulator({ defaultPush: { ...FAST_PUSH, minBackoffMs: 100 } });
    const r = await receiver();
    const h = await receiver();
    h.respond = () => sleep(5_000).then(() => 200);
    r.respond = () => 500;
    emu.addPushSubscription({ topic: 'order-intents', name: 'nacking', endpoint: r.url });
    emu.addPushSubscription({ topic: 'order-intents', name: 'hanging', endpoint: h.url });
    emu.publish('order-intents', { data: 'x' });
    await waitFor(() => r.requests.length === 1 && h.requests.length === 1);
    const draining = emu.drain(10_000);
    const started = Date.now();
    await emu.stop();
    await expect(draining).rejects.toThrow(/stopped/);
    await sleep(300);
    // No redelivery after stop, and the hanging push was cancelled, not left to run.
    expect(r.requests).toHaveLength(1);
    expect(h.abandoned).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('Pub/Sub emulator → @google-cloud/functions-framework (cloudevent signature)', () => {
  interface Seen {
    id: string;
    type: string;
    source: string;
    subscription: string;
    decoded: unknown;
    attributes: Record<string, string> | undefined;
  }
  const seen: Seen[] = [];
  let failNext = 0;
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    interface PushData {
      message: { data?: string; attributes?: Record<string, string> };
      subscription: string;
    }
    functions.cloudEvent<PushData>(
      'pubsubEmulatorProbe',
      // Typed explicitly: the framework's handler type is a union (with/without callback).
      async (event: CloudEvent<PushData>) => {
        if (failNext > 0) {
          failNext -= 1;
          throw new Error('transient failure');
        }
        const data = event.data;
        seen.push({
          id: event.id,
          type: event.type,
          source: event.source,
          subscription: data?.subscription ?? '',
          decoded: JSON.parse(Buffer.from(data?.message.data ?? '', 'base64').toString('utf8')),
          attributes: data?.message.attributes,
        });
      },
    );
    server = getTestServer('pubsubEmulatorProbe');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each(['structured', 'binary'] as const)('the framework accepts the %s-mode CloudEvent', async (mode) => {
    seen.length = 0;
    const emu = await emulator({ defaultPush: { ...FAST_PUSH, mode } });
    const subName = emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: url });
    const pubsub = client(emu);
    const id = await pubsub
      .topic('order-intents')
      .publishMessage({ json: { intentId: 'abc', side: 'buy' }, attributes: { origin: 'test' } });
    await emu.drain(5_000);
    expect(seen).toEqual([
      {
        id,
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        source: `//pubsub.googleapis.com/projects/${PROJECT}/topics/order-intents`,
        subscription: subName,
        decoded: { intentId: 'abc', side: 'buy' },
        attributes: { origin: 'test' },
      },
    ]);
  });

  it('a throwing handler (framework answers 500) is redelivered with the same event id', async () => {
    seen.length = 0;
    failNext = 2;
    // The framework logs the handler's error; expected here, so keep the output clean.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    onTestFinished(() => quiet.mockRestore());
    const emu = await emulator({ defaultPush: FAST_PUSH });
    const subName = emu.addPushSubscription({ topic: 'order-intents', name: 'execute-intent', endpoint: url });
    const id = emu.publish('order-intents', { data: JSON.stringify({ n: 1 }) });
    await emu.drain(5_000);
    expect(seen.map((s) => s.id)).toEqual([id]);
    expect(emu.stats().subscriptions[subName]).toMatchObject({ deliveries: 3, nacked: 2, acked: 1 });
    expect(emu.stats().subscriptions[subName]?.outcomes['500']).toBe(2);
  });
});
