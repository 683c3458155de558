// The emulator's state: topics, subscriptions, message routing, statistics and `drain()`.
// Transport-free: the gRPC handlers (grpc-service.ts) and the programmatic API
// (emulator.ts) both call into it.
import http from 'node:http';
import https from 'node:https';
import { status } from '@grpc/grpc-js';
import { RpcError, parseName, parseProject } from './names.js';
import type {
  DurationWire,
  PubsubMessageWire,
  PushConfigWire,
  SubscriptionWire,
  TopicWire,
} from './protos.js';
import type { StoredMessage } from './push-delivery.js';
import { SubscriptionState } from './subscription.js';
import type { PushOptions, PushSettings, SubscriptionStats } from './subscription.js';
import { mulberry32 } from '../seeded-random.js';

export const DEFAULT_PUSH_OPTIONS: PushOptions = {
  minBackoffMs: 10_000,
  maxBackoffMs: 600_000,
  ackDeadlineMs: 60_000,
  duplicateRate: 0,
  duplicateCount: 1,
  duplicateDelayMs: 0,
  maxInflight: 100,
  mode: 'structured',
};

const DEFAULT_ACK_DEADLINE_SECONDS = 10;
/** Pub/Sub's cap on one message (data + attributes + ordering key). */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export interface PubSubStats {
  /** Messages accepted by Publish (whether or not any subscription got them). */
  published: number;
  topics: number;
  /** Totals over the subscriptions below. */
  deliveries: number;
  acked: number;
  nacked: number;
  inFlight: number;
  unacked: number;
  subscriptions: Record<string, SubscriptionStats>;
}

export interface DrainOptions {
  /** Only wait for these subscriptions (full names or ids); default all. */
  subscriptions?: string[];
}

interface DrainWaiter {
  names: string[] | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}


export class PubSubBroker {
  readonly projectId: string;
  private readonly topics = new Map<string, TopicWire>();
  private readonly subscriptions = new Map<string, SubscriptionState>();
  private readonly defaultPush: PushOptions;
  private readonly random: () => number;
  // Keep-alive agents shared by all push subscriptions; destroyed on stop so no socket
  // outlives the emulator.
  private readonly agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  private published = 0;
  private nextMessageId = 1;
  private nextAckId = 1;
  private waiters: DrainWaiter[] = [];
  private stopped = false;

  constructor(opts: { projectId: string; seed: number; defaultPush: PushOptions }) {
    this.projectId = opts.projectId;
    this.random = mulberry32(opts.seed);
    this.defaultPush = { ...opts.defaultPush };
  }

  // -------------------------------------------------------------------------------- topics

  createTopic(request: TopicWire): TopicWire {
    this.assertRunning();
    parseName('topics', request.name);
    if (this.topics.has(request.name)) {
      throw new RpcError(status.ALREADY_EXISTS, 'Topic already exists');
    }
    const topic: TopicWire = { ...request, state: 'ACTIVE' };
    this.topics.set(request.name, topic);
    return topic;
  }

  getTopic(name: string): TopicWire {
    parseName('topics', name);
    const topic = this.topics.get(name);
    if (!topic) throw new RpcError(status.NOT_FOUND, 'Topic not found');
    return topic;
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  deleteTopic(name: string): void {
    this.getTopic(name);
    this.topics.delete(name);
    // As in Pub/Sub, the subscriptions stay, detached from any topic.
    for (const sub of this.subscriptions.values()) {
      if (sub.topic === name) {
        sub.topic = '_deleted-topic_';
        sub.resource = { ...sub.resource, topic: '_deleted-topic_' };
      }
    }
  }

  listTopics(project: string): TopicWire[] {
    const id = parseProject(project);
    return [...this.topics.values()].filter((t) => parseName('topics', t.name).project === id);
  }

  listTopicSubscriptions(topic: string): string[] {
    this.getTopic(topic);
    return [...this.subscriptions.values()].filter((s) => s.topic === topic).map((s) => s.name);
  }

  publish(topicName: string, messages: readonly PubsubMessageWire[]): string[] {
    this.assertRunning();
    this.getTopic(topicName);
    if (messages.length === 0) {
      throw new RpcError(status.INVALID_ARGUMENT, 'The request contains no messages.');
    }
    // Validate the whole batch first: Publish is all-or-nothing.
    const stored = messages.map((m) => this.toStored(topicName, m));
    const targets = [...this.subscriptions.values()].filter((s) => s.topic === topicName);
    for (const message of stored) {
      this.published += 1;
      for (const sub of targets) sub.enqueue(message);
    }
    this.notify();
    return stored.map((m) => m.messageId);
  }

  private toStored(topic: string, m: PubsubMessageWire): StoredMessage {
    const data = m.data ? Buffer.from(m.data) : Buffer.alloc(0);
    const attributes = { ...(m.attributes ?? {}) };
    const orderingKey = m.orderingKey ?? '';
    if (data.length === 0 && Object.keys(attributes).length === 0) {
      throw new RpcError(
        status.INVALID_ARGUMENT,
        'Some messages are empty: a message needs data or at least one attribute.',
      );
    }
    const size =
      data.length +
      Buffer.byteLength(orderingKey) +
      Object.entries(attributes).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    if (size > MAX_MESSAGE_BYTES) {
      throw new RpcError(status.INVALID_ARGUMENT, `Message too large: ${size} bytes.`);
    }
    const messageId = String(this.nextMessageId);
    this.nextMessageId += 1;
    return { messageId, topic, data, attributes, orderingKey, publishTime: new Date() };
  }

  // ------------------------------------------------------------------------- subscriptions

  /**
   * Creates a subscription. `pushOverrides` (programmatic API only) tune push delivery
   * beyond what the Subscription resource can say.
   */
  createSubscription(request: SubscriptionWire, pushOverrides?: Partial<PushOptions>): SubscriptionWire {
    this.assertRunning();
    parseName('subscriptions', request.name);
    parseName('topics', request.topic);
    if (this.subscriptions.has(request.name)) {
      throw new RpcError(status.ALREADY_EXISTS, 'Subscription already exists');
    }
    if (!this.topics.has(request.topic)) {
      throw new RpcError(status.NOT_FOUND, 'Topic not found');
    }
    rejectUnsupported(request);
    const ackDeadlineSeconds = request.ackDeadlineSeconds || DEFAULT_ACK_DEADLINE_SECONDS;
    if (!Number.isInteger(ackDeadlineSeconds) || ackDeadlineSeconds < 10 || ackDeadlineSeconds > 600) {
      throw new RpcError(
        status.INVALID_ARGUMENT,
        `Invalid ack deadline given: ${ackDeadlineSeconds}. It must be between 10 and 600 seconds.`,
      );
    }
    const retry = retryPolicyMs(request);
    const resource: SubscriptionWire = {
      ...request,
      ackDeadlineSeconds,
      state: 'ACTIVE',
    };
    const push = this.pushSettings(request.pushConfig, {
      ...(retry ? { minBackoffMs: retry.minMs, maxBackoffMs: retry.maxMs } : {}),
      // An explicit ack deadline on the resource is the push deadline too; otherwise the
      // emulator default (Eventarc uses the function's timeout, not Pub/Sub's 10 s).
      ...(request.ackDeadlineSeconds ? { ackDeadlineMs: ackDeadlineSeconds * 1000 } : {}),
      ...pushOverrides,
    });
    const sub = new SubscriptionState({
      resource,
      push,
      pullRetry: retry,
      ackDeadlineSeconds,
      deps: {
        random: this.random,
        nextAckId: () => {
          const id = `ack-${this.nextAckId}`;
          this.nextAckId += 1;
          return id;
        },
        agents: this.agents,
        onChange: () => this.notify(),
      },
    });
    this.subscriptions.set(request.name, sub);
    return resource;
  }

  getSubscription(name: string): SubscriptionWire {
    return this.subscription(name).resource;
  }

  /** The live subscription, or NOT_FOUND. */
  subscription(name: string): SubscriptionState {
    parseName('subscriptions', name);
    const sub = this.subscriptions.get(name);
    if (!sub) throw new RpcError(status.NOT_FOUND, `Resource not found (resource=${parseName('subscriptions', name).id}).`);
    return sub;
  }

  deleteSubscription(name: string): void {
    const sub = this.subscription(name);
    this.subscriptions.delete(name);
    sub.dispose(new RpcError(status.NOT_FOUND, `Subscription ${name} was deleted.`));
    this.notify();
  }

  listSubscriptions(project: string): SubscriptionWire[] {
    const id = parseProject(project);
    return [...this.subscriptions.values()]
      .filter((s) => parseName('subscriptions', s.name).project === id)
      .map((s) => s.resource);
  }

  modifyPushConfig(name: string, pushConfig: PushConfigWire | null): void {
    const sub = this.subscription(name);
    if (pushConfig?.noWrapper) {
      throw new RpcError(status.UNIMPLEMENTED, 'haltgate Pub/Sub emulator: push without wrapper (noWrapper) is not implemented; pushes are CloudEvents.');
    }
    // Push → push keeps the tuning; pull → push starts from the defaults and the
    // subscription's retry policy.
    const retry = retryPolicyMs(sub.resource);
    const keep: Partial<PushOptions> = sub.push
      ? { ...sub.push }
      : retry
        ? { minBackoffMs: retry.minMs, maxBackoffMs: retry.maxMs }
        : {};
    sub.resource = { ...sub.resource, pushConfig };
    sub.setPush(this.pushSettings(pushConfig, keep));
  }

  private pushSettings(pushConfig: PushConfigWire | null | undefined, overrides: Partial<PushOptions>): PushSettings | undefined {
    const endpoint = pushConfig?.pushEndpoint ?? '';
    if (endpoint === '') return undefined;
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new RpcError(status.INVALID_ARGUMENT, `Invalid push endpoint given (endpoint=${endpoint}).`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new RpcError(status.INVALID_ARGUMENT, `Invalid push endpoint given (endpoint=${endpoint}).`);
    }
    const settings: PushSettings = { ...this.defaultPush, ...definedOnly(overrides), endpoint };
    validatePushOptions(settings);
    return settings;
  }

  // ---------------------------------------------------------------------- fault injection

  setDuplicateRate(rate: number, opts: { subscription?: string; count?: number } = {}): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`duplicateRate must be in [0, 1], got ${rate}`);
    if (opts.count !== undefined && !(Number.isInteger(opts.count) && opts.count >= 0)) {
      throw new RangeError(`duplicateCount must be a non-negative integer, got ${opts.count}`);
    }
    if (opts.subscription !== undefined) {
      this.subscription(opts.subscription).setDuplicateRate(rate, opts.count);
      return;
    }
    // Emulator-wide: the default for new push subscriptions and every existing one.
    this.defaultPush.duplicateRate = rate;
    if (opts.count !== undefined) this.defaultPush.duplicateCount = opts.count;
    for (const sub of this.subscriptions.values()) sub.setDuplicateRate(rate, opts.count);
  }

  // -------------------------------------------------------------------------- stats, drain

  stats(): PubSubStats {
    const subscriptions: Record<string, SubscriptionStats> = {};
    const totals = { deliveries: 0, acked: 0, nacked: 0, inFlight: 0, unacked: 0 };
    for (const sub of this.subscriptions.values()) {
      const s = sub.stats();
      subscriptions[sub.name] = s;
      totals.deliveries += s.deliveries;
      totals.acked += s.acked;
      totals.nacked += s.nacked;
      totals.inFlight += s.inFlight;
      totals.unacked += s.unacked;
    }
    return { published: this.published, topics: this.topics.size, ...totals, subscriptions };
  }

  /**
   * Resolves once every message routed to the (selected) subscriptions has been acked and
   * nothing is in flight or pending (injected copies included); rejects after `timeoutMs`
   * (none if not finite) with what is still outstanding, or when the emulator stops.
   */
  drain(timeoutMs: number, opts: DrainOptions = {}): Promise<void> {
    const names = opts.subscriptions?.map((n) =>
      n.startsWith('projects/') ? n : `projects/${this.projectId}/subscriptions/${n}`,
    );
    if (this.isIdle(names)) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error('Pub/Sub emulator stopped'));
    return new Promise<void>((resolve, reject) => {
      const waiter: DrainWaiter = { names, resolve, reject, timer: undefined };
      // setTimeout(Infinity) would fire at once (it overflows to 1 ms): no timer instead.
      if (Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`Pub/Sub emulator drain timed out after ${timeoutMs} ms: ${this.describeBacklog(names)}`));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  private isIdle(names: string[] | undefined): boolean {
    for (const sub of this.subscriptions.values()) {
      if (names && !names.includes(sub.name)) continue;
      if (!sub.isIdle()) return false;
    }
    return true;
  }

  private describeBacklog(names: string[] | undefined): string {
    const busy = [...this.subscriptions.values()]
      .filter((s) => (!names || names.includes(s.name)) && !s.isIdle())
      .map((s) => {
        const st = s.stats();
        const last = st.lastError ? `, last error: ${st.lastError}` : '';
        return `${s.name}: ${st.unacked} unacked, ${st.inFlight} in flight${last}`;
      });
    return busy.join('; ') || 'nothing outstanding';
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const still: DrainWaiter[] = [];
    for (const waiter of this.waiters) {
      if (this.isIdle(waiter.names)) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      } else {
        still.push(waiter);
      }
    }
    this.waiters = still;
  }

  // -------------------------------------------------------------------------------- stop

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const sub of this.subscriptions.values()) sub.dispose(undefined);
    this.agents.http.destroy();
    this.agents.https.destroy();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('Pub/Sub emulator stopped'));
    }
    this.waiters = [];
  }

  private assertRunning(): void {
    if (this.stopped) throw new RpcError(status.UNAVAILABLE, 'Pub/Sub emulator stopped');
  }
}

/**
 * Subscription features the emulator does not implement are refused rather than silently
 * ignored: a test relying on a filter or a dead-letter topic must not pass by accident.
 */
function rejectUnsupported(request: SubscriptionWire): void {
  const unsupported: string[] = [];
  if (request.filter) unsupported.push('filter');
  if (request.deadLetterPolicy) unsupported.push('deadLetterPolicy');
  if (request.enableExactlyOnceDelivery) unsupported.push('enableExactlyOnceDelivery');
  if (request.enableMessageOrdering) unsupported.push('enableMessageOrdering');
  if (request.bigqueryConfig) unsupported.push('bigqueryConfig');
  if (request.cloudStorageConfig) unsupported.push('cloudStorageConfig');
  if (request.bigtableConfig) unsupported.push('bigtableConfig');
  if (request.messageTransforms && request.messageTransforms.length > 0) unsupported.push('messageTransforms');
  if (request.pushConfig?.noWrapper) unsupported.push('pushConfig.noWrapper (pushes are CloudEvents)');
  if (unsupported.length > 0) {
    throw new RpcError(
      status.UNIMPLEMENTED,
      `haltgate Pub/Sub emulator does not implement subscription ${unsupported.join(', ')}`,
    );
  }
}

function durationMs(d: DurationWire | null | undefined): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1_000_000);
}

/** The subscription's retryPolicy as ms, Pub/Sub's defaults (10 s / 600 s) filling gaps. */
function retryPolicyMs(request: SubscriptionWire): { minMs: number; maxMs: number } | undefined {
  if (!request.retryPolicy) return undefined;
  return {
    minMs: durationMs(request.retryPolicy.minimumBackoff) ?? 10_000,
    maxMs: durationMs(request.retryPolicy.maximumBackoff) ?? 600_000,
  };
}

/** Drops keys whose value is undefined, so spreading the rest keeps defaults for them. */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function validatePushOptions(o: PushOptions): void {
  const positive = (name: string, v: number): void => {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  };
  positive('minBackoffMs', o.minBackoffMs);
  positive('maxBackoffMs', o.maxBackoffMs);
  positive('ackDeadlineMs', o.ackDeadlineMs);
  if (o.maxBackoffMs < o.minBackoffMs) throw new RangeError('maxBackoffMs must be >= minBackoffMs');
  if (!(o.duplicateRate >= 0 && o.duplicateRate <= 1)) {
    throw new RangeError(`duplicateRate must be in [0, 1], got ${o.duplicateRate}`);
  }
  if (!(Number.isInteger(o.duplicateCount) && o.duplicateCount >= 0)) {
    throw new RangeError(`duplicateCount must be a non-negative integer, got ${o.duplicateCount}`);
  }
  if (!(o.duplicateDelayMs >= 0)) throw new RangeError(`duplicateDelayMs must be >= 0, got ${o.duplicateDelayMs}`);
  if (!(Number.isInteger(o.maxInflight) && o.maxInflight > 0)) {
    throw new RangeError(`maxInflight must be a positive integer, got ${o.maxInflight}`);
  }
  if (o.mode !== 'structured' && o.mode !== 'binary') throw new RangeError(`mode must be structured|binary, got ${String(o.mode)}`);
}
