// One subscription: its unacked messages, and their delivery either by push (HTTP POST of a
// CloudEvent, Eventarc-style) or to pull consumers (unary Pull / StreamingPull streams).
//
// Every message routed to the subscription is an Entry until it is acked. An entry is
// waiting in `ready` (deliverable now), waiting on a redelivery timer (after a nack, with
// backoff), or out: in flight (push) or leased under an ack id (pull). A nack puts it back.
import type http from 'node:http';
import type https from 'node:https';
import { setMaxListeners } from 'node:events';
import { status } from '@grpc/grpc-js';
import { RpcError } from './names.js';
import type { PubsubMessageWire, ReceivedMessageWire, SubscriptionWire } from './protos.js';
import { buildPubSubCloudEvent, postCloudEvent } from './push-delivery.js';
import type { CloudEventMode, PushResult, StoredMessage } from './push-delivery.js';

/** How a push subscription delivers. Every field has an emulator-wide default. */
export interface PushOptions {
  /** First redelivery delay after a nack; doubles per failed attempt. Pub/Sub: 10 s. */
  minBackoffMs: number;
  /** Cap of the redelivery delay. Pub/Sub: 600 s. */
  maxBackoffMs: number;
  /** No answer within this long is a nack (and the request is cancelled). */
  ackDeadlineMs: number;
  /** Probability (0..1, seeded PRNG) that a delivery attempt is duplicated. */
  duplicateRate: number;
  /** Extra copies sent when an attempt is duplicated. */
  duplicateCount: number;
  /** 0: copies go out concurrently with the original; > 0: that much later (maybe after the ack). */
  duplicateDelayMs: number;
  /** Cap on concurrent POSTs for this subscription. */
  maxInflight: number;
  /** CloudEvents HTTP binding. */
  mode: CloudEventMode;
}

export interface PushSettings extends PushOptions {
  endpoint: string;
}

/** Someone pulling: a StreamingPull stream or a waiting unary Pull. */
export interface PullConsumer {
  /** How many more messages it takes now. */
  capacity(): number;
  /** Lease length for messages given to it. */
  ackDeadlineSeconds(): number;
  deliver(messages: ReceivedMessageWire[]): void;
  /** The subscription went away while it was attached. */
  terminate(error: RpcError): void;
  /** Ack ids currently leased to it (flow control). */
  readonly outstanding: Set<string>;
}

export interface SubscriptionStats {
  name: string;
  topic: string;
  kind: 'push' | 'pull';
  endpoint?: string;
  /** Messages routed to this subscription. */
  enqueued: number;
  /** Delivery attempts: push POSTs (duplicates included) or pull leases. */
  deliveries: number;
  /** Push: 2xx answers (a duplicate's too). Pull: ack ids acknowledged. */
  acked: number;
  /** Push: non-2xx, timeouts, network errors. Pull: modifyAckDeadline 0 and lease expiries. */
  nacked: number;
  /** Push: attempts that got no answer within the ack deadline. Pull: expired leases. */
  timeouts: number;
  /** Push: attempts that failed at the network level (refused, reset). */
  errors: number;
  /** Push: extra copies sent on purpose (at-least-once fault injection). */
  duplicates: number;
  /** Distinct messages acked (each message counts once, however many acks it got). */
  ackedMessages: number;
  /** Messages routed here and not acked yet. */
  unacked: number;
  /** Push: POSTs awaiting an answer. Pull: leased ack ids. */
  inFlight: number;
  /** Delivery attempts per message id (push duplicates included). */
  attempts: Record<string, number>;
  /** Push: answers by HTTP status ("timeout" / "error" for the others). */
  outcomes: Record<string, number>;
  lastError?: string;
}

interface Entry {
  message: StoredMessage;
  acked: boolean;
  /** Sitting in `ready` as a non-duplicate job. */
  queued: boolean;
  redelivery: NodeJS.Timeout | undefined;
  /** Failed attempts so far: drives the backoff. */
  failures: number;
  /** Ack ids ever issued for it (pull), to clean up on ack. */
  ackIds: string[];
}

interface Job {
  entry: Entry;
  /** An injected extra copy: sent even if the message was acked meanwhile. */
  duplicate: boolean;
}

interface Lease {
  ackId: string;
  entry: Entry;
  consumer: PullConsumer;
  timer: NodeJS.Timeout;
}

export interface SubscriptionDeps {
  random: () => number;
  nextAckId: () => string;
  agents: { http: http.Agent; https: https.Agent };
  /** Called after anything that may change idleness (drain waiters re-check). */
  onChange: () => void;
}

const MAX_ACK_DEADLINE_SECONDS = 600;

export class SubscriptionState {
  readonly name: string;
  topic: string;
  resource: SubscriptionWire;
  push: PushSettings | undefined;
  /** Pull nack backoff from the subscription's retryPolicy; undefined: redeliver at once. */
  readonly pullRetry: { minMs: number; maxMs: number } | undefined;
  readonly ackDeadlineSeconds: number;

  private readonly entries = new Map<string, Entry>();
  private ready: Job[] = [];
  private readonly duplicateTimers = new Set<NodeJS.Timeout>();
  private readonly leases = new Map<string, Lease>();
  private readonly ackIndex = new Map<string, Entry>();
  private consumers: PullConsumer[] = [];
  private roundRobin = 0;
  private inFlightPushes = 0;
  /** Shared by every push in flight (up to maxInflight), so Node's listener warning is off for it. */
  private readonly abort = withoutListenerLimit(new AbortController());
  private disposed = false;
  private readonly deps: SubscriptionDeps;
  private readonly counters = {
    enqueued: 0,
    deliveries: 0,
    acked: 0,
    nacked: 0,
    timeouts: 0,
    errors: 0,
    duplicates: 0,
    ackedMessages: 0,
  };
  private readonly attempts = new Map<string, number>();
  private readonly outcomes = new Map<string, number>();
  private lastError: string | undefined;

  constructor(init: {
    resource: SubscriptionWire;
    push: PushSettings | undefined;
    pullRetry: { minMs: number; maxMs: number } | undefined;
    ackDeadlineSeconds: number;
    deps: SubscriptionDeps;
  }) {
    this.name = init.resource.name;
    this.topic = init.resource.topic;
    this.resource = init.resource;
    this.push = init.push;
    this.pullRetry = init.pullRetry;
    this.ackDeadlineSeconds = init.ackDeadlineSeconds;
    this.deps = init.deps;
  }

  /** A newly published message for this subscription. */
  enqueue(message: StoredMessage): void {
    const entry: Entry = {
      message,
      acked: false,
      queued: true,
      redelivery: undefined,
      failures: 0,
      ackIds: [],
    };
    this.entries.set(message.messageId, entry);
    this.counters.enqueued += 1;
    this.ready.push({ entry, duplicate: false });
    this.pump();
  }

  /** Nothing unacked, nothing in flight, no injected copy pending. */
  isIdle(): boolean {
    return this.entries.size === 0 && this.inFlightPushes === 0 && this.duplicateTimers.size === 0;
  }

  setPush(push: PushSettings | undefined): void {
    this.push = push;
    this.pump();
  }

  // ----------------------------------------------------------------------------- pull API

  addConsumer(consumer: PullConsumer): void {
    this.assertLive();
    this.consumers.push(consumer);
    this.pump();
  }

  removeConsumer(consumer: PullConsumer): void {
    // Its leases stay until acked or expired, as with Pub/Sub: a closed stream does not
    // return its messages early (the Node client nacks them itself when it closes).
    this.consumers = this.consumers.filter((c) => c !== consumer);
  }

  acknowledge(ackIds: readonly string[]): void {
    this.assertLive();
    for (const ackId of ackIds) {
      // Acks of expired leases still count while the message is unacked: Pub/Sub honours
      // late acks on a best-effort basis, and the message is then done.
      const entry = this.ackIndex.get(ackId);
      if (!entry) continue;
      this.counters.acked += 1;
      if (!entry.acked) this.complete(entry);
    }
    this.pump();
    this.deps.onChange();
  }

  modifyAckDeadline(ackIds: readonly string[], seconds: number): void {
    this.assertLive();
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_ACK_DEADLINE_SECONDS) {
      throw new RpcError(
        status.INVALID_ARGUMENT,
        `Invalid ack deadline given: ${seconds}. It must be between 0 and ${MAX_ACK_DEADLINE_SECONDS} seconds.`,
      );
    }
    for (const ackId of ackIds) {
      const lease = this.leases.get(ackId);
      if (!lease) continue;
      if (seconds === 0) {
        this.nackLease(lease);
      } else {
        clearTimeout(lease.timer);
        lease.timer = this.leaseTimer(ackId, seconds);
      }
    }
    this.pump();
    this.deps.onChange();
  }

  // ----------------------------------------------------------------------------- control

  setDuplicateRate(rate: number, count?: number): void {
    if (!this.push) return;
    this.push.duplicateRate = rate;
    if (count !== undefined) this.push.duplicateCount = count;
  }

  /** Deleted or emulator stopped: cancel timers and in-flight POSTs, detach consumers. */
  dispose(reason: RpcError | undefined): void {
    if (this.disposed) return;
    this.disposed = true;
    this.abort.abort();
    for (const entry of this.entries.values()) clearTimeout(entry.redelivery);
    for (const timer of this.duplicateTimers) clearTimeout(timer);
    this.duplicateTimers.clear();
    for (const lease of this.leases.values()) clearTimeout(lease.timer);
    this.leases.clear();
    this.entries.clear();
    this.ready = [];
    const consumers = this.consumers;
    this.consumers = [];
    if (reason) for (const consumer of consumers) consumer.terminate(reason);
  }

  stats(): SubscriptionStats {
    const stats: SubscriptionStats = {
      name: this.name,
      topic: this.topic,
      kind: this.push ? 'push' : 'pull',
      ...this.counters,
      unacked: this.entries.size,
      inFlight: this.push ? this.inFlightPushes : this.leases.size,
      attempts: Object.fromEntries(this.attempts),
      outcomes: Object.fromEntries(this.outcomes),
    };
    if (this.push) stats.endpoint = this.push.endpoint;
    if (this.lastError !== undefined) stats.lastError = this.lastError;
    return stats;
  }

  // ----------------------------------------------------------------------------- internals

  private assertLive(): void {
    if (this.disposed) {
      throw new RpcError(status.NOT_FOUND, `Resource not found (resource=${this.name}).`);
    }
  }

  private pump(): void {
    if (this.disposed) return;
    if (this.push) this.pumpPush(this.push);
    else this.pumpPull();
  }

  private pumpPush(push: PushSettings): void {
    while (this.inFlightPushes < push.maxInflight) {
      const job = this.ready.shift();
      if (!job) return;
      if (!job.duplicate) {
        job.entry.queued = false;
        if (job.entry.acked) continue;
      }
      this.startPush(job, push);
    }
  }

  private startPush(job: Job, push: PushSettings): void {
    const { entry } = job;
    const messageId = entry.message.messageId;
    this.counters.deliveries += 1;
    this.attempts.set(messageId, (this.attempts.get(messageId) ?? 0) + 1);
    this.inFlightPushes += 1;
    if (job.duplicate) {
      this.counters.duplicates += 1;
    } else if (push.duplicateRate > 0 && push.duplicateCount > 0 && this.deps.random() < push.duplicateRate) {
      this.scheduleDuplicates(entry, push);
    }
    const event = buildPubSubCloudEvent(entry.message, this.name);
    void postCloudEvent({
      endpoint: push.endpoint,
      event,
      mode: push.mode,
      timeoutMs: push.ackDeadlineMs,
      signal: this.abort.signal,
      agents: this.deps.agents,
    }).then((result) => this.onPushResult(entry, result, push));
  }

  private scheduleDuplicates(entry: Entry, push: PushSettings): void {
    for (let i = 0; i < push.duplicateCount; i += 1) {
      if (push.duplicateDelayMs <= 0) {
        // Front of the queue: the copy goes out in this same pump pass (capacity
        // permitting), i.e. concurrently with the original.
        this.ready.unshift({ entry, duplicate: true });
        continue;
      }
      const timer = setTimeout(() => {
        this.duplicateTimers.delete(timer);
        if (this.disposed) return;
        this.ready.unshift({ entry, duplicate: true });
        this.pump();
        this.deps.onChange();
      }, push.duplicateDelayMs);
      timer.unref();
      this.duplicateTimers.add(timer);
    }
  }

  private onPushResult(entry: Entry, result: PushResult, push: PushSettings): void {
    this.inFlightPushes -= 1;
    if (this.disposed || result.kind === 'aborted') return;
    const outcome =
      result.kind === 'ack' || result.kind === 'nack' ? String(result.status) : result.kind;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (result.kind === 'ack') {
      this.counters.acked += 1;
      if (!entry.acked) this.complete(entry);
    } else {
      this.counters.nacked += 1;
      if (result.kind === 'timeout') {
        this.counters.timeouts += 1;
        this.lastError = `no answer within ${push.ackDeadlineMs} ms`;
      } else if (result.kind === 'error') {
        this.counters.errors += 1;
        this.lastError = result.message;
      } else {
        this.lastError = `HTTP ${result.status}`;
      }
      if (!entry.acked) this.redeliverLater(entry, { minMs: push.minBackoffMs, maxMs: push.maxBackoffMs });
    }
    this.pump();
    this.deps.onChange();
  }

  /** Exponential backoff: min, 2·min, 4·min, … capped at max (Pub/Sub's retry policy). */
  private redeliverLater(entry: Entry, backoff: { minMs: number; maxMs: number } | undefined): void {
    entry.failures += 1;
    // Already on its way back (queued, or a timer running from a concurrent copy's nack).
    if (entry.queued || entry.redelivery) return;
    if (!backoff) {
      this.requeue(entry);
      return;
    }
    const delay = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(entry.failures - 1, 30));
    entry.redelivery = setTimeout(() => {
      entry.redelivery = undefined;
      if (this.disposed || entry.acked) return;
      this.requeue(entry);
      this.pump();
    }, delay);
    entry.redelivery.unref();
  }

  private requeue(entry: Entry): void {
    entry.queued = true;
    this.ready.push({ entry, duplicate: false });
  }

  private complete(entry: Entry): void {
    entry.acked = true;
    this.counters.ackedMessages += 1;
    this.entries.delete(entry.message.messageId);
    clearTimeout(entry.redelivery);
    entry.redelivery = undefined;
    for (const ackId of entry.ackIds) {
      const lease = this.leases.get(ackId);
      if (lease) {
        clearTimeout(lease.timer);
        lease.consumer.outstanding.delete(ackId);
        this.leases.delete(ackId);
      }
      this.ackIndex.delete(ackId);
    }
    // Acked while waiting in `ready`: the stale job is skipped when popped.
  }

  private pumpPull(): void {
    while (this.ready.length > 0) {
      const consumer = this.nextConsumer();
      if (!consumer) return;
      const capacity = consumer.capacity();
      const batch: ReceivedMessageWire[] = [];
      while (batch.length < capacity) {
        const job = this.ready.shift();
        if (!job) break;
        // Duplicate injection is a push fault; pull consumers see each message once per lease.
        if (job.duplicate) continue;
        job.entry.queued = false;
        if (job.entry.acked) continue;
        batch.push(this.lease(job.entry, consumer));
      }
      if (batch.length > 0) consumer.deliver(batch);
    }
  }

  private nextConsumer(): PullConsumer | undefined {
    for (let i = 0; i < this.consumers.length; i += 1) {
      const index = (this.roundRobin + i) % this.consumers.length;
      const consumer = this.consumers[index];
      if (consumer && consumer.capacity() > 0) {
        this.roundRobin = index + 1;
        return consumer;
      }
    }
    return undefined;
  }

  private lease(entry: Entry, consumer: PullConsumer): ReceivedMessageWire {
    const ackId = this.deps.nextAckId();
    const messageId = entry.message.messageId;
    this.counters.deliveries += 1;
    this.attempts.set(messageId, (this.attempts.get(messageId) ?? 0) + 1);
    const lease: Lease = {
      ackId,
      entry,
      consumer,
      timer: this.leaseTimer(ackId, consumer.ackDeadlineSeconds()),
    };
    this.leases.set(ackId, lease);
    this.ackIndex.set(ackId, entry);
    entry.ackIds.push(ackId);
    consumer.outstanding.add(ackId);
    return { ackId, message: toWireMessage(entry.message), deliveryAttempt: 0 };
  }

  private leaseTimer(ackId: string, seconds: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const lease = this.leases.get(ackId);
      if (!lease || this.disposed) return;
      this.counters.timeouts += 1;
      this.nackLease(lease);
      this.pump();
      this.deps.onChange();
    }, seconds * 1000);
    timer.unref();
    return timer;
  }

  private nackLease(lease: Lease): void {
    clearTimeout(lease.timer);
    this.leases.delete(lease.ackId);
    lease.consumer.outstanding.delete(lease.ackId);
    if (lease.entry.acked) return;
    this.counters.nacked += 1;
    this.redeliverLater(lease.entry, this.pullRetry);
  }
}

export function toWireMessage(message: StoredMessage): PubsubMessageWire {
  const ms = message.publishTime.getTime();
  return {
    data: message.data,
    attributes: message.attributes,
    messageId: message.messageId,
    publishTime: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 },
    orderingKey: message.orderingKey,
  };
}

function withoutListenerLimit(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}
