// A Pub/Sub emulator for the local stack and tests: the google.pubsub.v1 Publisher and
// Subscriber gRPC services (loaded from the protos shipped in @google-cloud/pubsub) on
// loopback, so the real client works against it with PUBSUB_EMULATOR_HOST; push
// subscriptions deliver CloudEvents the way Eventarc does for 2nd-gen Cloud Functions.
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_PUSH_OPTIONS, PubSubBroker, definedOnly, validatePushOptions } from './broker.js';
import type { DrainOptions, PubSubStats } from './broker.js';
import { publisherImplementation, subscriberImplementation, withUnimplemented } from './grpc-service.js';
import { qualify } from './names.js';
import { loadPubSubServices } from './protos.js';
import type { PushOptions } from './subscription.js';

export type { PushOptions, SubscriptionStats } from './subscription.js';
export type { PubSubStats, DrainOptions } from './broker.js';
export type { CloudEventMode, PubSubCloudEvent, MessagePublishedData, PushedPubsubMessage } from './push-delivery.js';
export { buildPubSubCloudEvent, PUBSUB_CLOUDEVENT_TYPE } from './push-delivery.js';

export interface PubSubEmulatorOptions {
  /** 0 (default): a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Project for short names in the programmatic API; RPCs accept any project. Default `demo-haltgate`. */
  projectId?: string;
  /** Seed of the PRNG deciding duplicate deliveries. Default 1. */
  seed?: number;
  /**
   * Push delivery defaults for every push subscription (API-created ones too). Defaults:
   * backoff 10 s → 600 s, ack deadline 60 s, no duplicates, 100 in flight, structured mode.
   */
  defaultPush?: Partial<PushOptions>;
  /** How long a unary Pull with nothing to deliver waits before answering empty. Default 1000 ms. */
  pullWaitMs?: number;
}

export interface AddPushSubscriptionOptions extends Partial<PushOptions> {
  /** Topic id or full name; created if missing. */
  topic: string;
  /** Subscription id or full name. */
  name: string;
  /** URL receiving the CloudEvent POSTs. */
  endpoint: string;
}

export interface PublishInput {
  data?: Buffer | Uint8Array | string;
  attributes?: Record<string, string>;
  orderingKey?: string;
}

export interface PubSubEmulator {
  /** Host the gRPC server listens on, e.g. `127.0.0.1`. */
  readonly host: string;
  readonly port: number;
  /** `host:port`: the value for PUBSUB_EMULATOR_HOST. */
  readonly emulatorHost: string;
  readonly projectId: string;
  /** Creates the topic if missing; returns its full name. */
  createTopic(topic: string): string;
  /** Creates a push subscription (and its topic if missing); returns its full name. */
  addPushSubscription(opts: AddPushSubscriptionOptions): string;
  /** Publishes without a client (topic must exist); returns the message id. */
  publish(topic: string, message: PublishInput): string;
  stats(): PubSubStats;
  /**
   * Resolves when every message routed to a subscription (or to the selected ones) is
   * acked and nothing is in flight; rejects after `timeoutMs` (default 10 s) naming the backlog.
   */
  drain(timeoutMs?: number, opts?: DrainOptions): Promise<void>;
  /** `drain` without a time limit (rejects only if the emulator stops). */
  idle(opts?: DrainOptions): Promise<void>;
  /** Duplicate-delivery fault injection, for one subscription or all (and future) push subscriptions. */
  setDuplicateRate(rate: number, opts?: { subscription?: string; count?: number }): void;
  /** Closes the server, cancels redelivery timers and in-flight pushes. Idempotent. */
  stop(): Promise<void>;
}

export async function startPubSubEmulator(opts: PubSubEmulatorOptions = {}): Promise<PubSubEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const projectId = opts.projectId ?? 'demo-haltgate';
  const defaultPush: PushOptions = { ...DEFAULT_PUSH_OPTIONS, ...definedOnly(opts.defaultPush ?? {}) };
  validatePushOptions(defaultPush);
  const broker = new PubSubBroker({ projectId, seed: opts.seed ?? 1, defaultPush });

  const services = loadPubSubServices();
  const server = new grpc.Server({
    // Pub/Sub accepts 10 MB messages; publish batches can be bigger than gRPC's 4 MB default.
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  server.addService(
    services.publisher,
    withUnimplemented('google.pubsub.v1.Publisher', services.publisher, publisherImplementation(broker)),
  );
  server.addService(
    services.subscriber,
    withUnimplemented(
      'google.pubsub.v1.Subscriber',
      services.subscriber,
      subscriberImplementation(broker, { pullWaitMs: opts.pullWaitMs ?? 1000 }),
    ),
  );
  const address = host.includes(':') ? `[${host}]:${opts.port ?? 0}` : `${host}:${opts.port ?? 0}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });

  let stopping: Promise<void> | undefined;
  const emulatorHost = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

  const createTopic = (topic: string): string => {
    const name = qualify('topics', topic, projectId);
    if (!broker.hasTopic(name)) broker.createTopic({ name });
    return name;
  };

  return {
    host,
    port,
    emulatorHost,
    projectId,
    createTopic,
    addPushSubscription(o) {
      const { topic, name, endpoint, ...tuning } = o;
      const topicName = createTopic(topic);
      const subName = qualify('subscriptions', name, projectId);
      broker.createSubscription({ name: subName, topic: topicName, pushConfig: { pushEndpoint: endpoint } }, tuning);
      return subName;
    },
    publish(topic, message) {
      const data =
        typeof message.data === 'string' ? Buffer.from(message.data) : message.data ? Buffer.from(message.data) : undefined;
      const [id] = broker.publish(qualify('topics', topic, projectId), [
        { data: data ?? null, attributes: message.attributes ?? {}, orderingKey: message.orderingKey ?? '' },
      ]);
      if (id === undefined) throw new Error('publish returned no message id');
      return id;
    },
    stats: () => broker.stats(),
    drain: (timeoutMs = 10_000, drainOpts) => broker.drain(timeoutMs, drainOpts),
    idle: (drainOpts) => broker.drain(Number.POSITIVE_INFINITY, drainOpts),
    setDuplicateRate: (rate, o) => broker.setDuplicateRate(rate, o),
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        broker.stop();
        // forceShutdown cancels open calls (streaming pulls, waiting pulls) at once;
        // tryShutdown would wait for clients to hang up.
        server.forceShutdown();
        resolve();
      });
      return stopping;
    },
  };
}
