// gRPC handlers for google.pubsub.v1.Publisher and google.pubsub.v1.Subscriber on top of
// the broker. RPCs not implemented here answer UNIMPLEMENTED, naming the method.
import * as grpc from '@grpc/grpc-js';
import { RpcError } from './names.js';
import type { PubSubBroker } from './broker.js';
import type {
  AcknowledgeRequest,
  ListRequest,
  ModifyAckDeadlineRequest,
  ModifyPushConfigRequest,
  PublishRequest,
  PullRequest,
  ReceivedMessageWire,
  StreamingPullRequest,
  StreamingPullResponse,
  SubscriptionWire,
  TopicWire,
} from './protos.js';
import type { PullConsumer, SubscriptionState } from './subscription.js';

type Empty = Record<string, never>;
const EMPTY: Empty = {};

/** Most messages one StreamingPull response carries when the client set no flow control. */
const MAX_BATCH = 1000;

export function toServiceError(err: unknown): grpc.ServerErrorResponse {
  if (err instanceof RpcError) return Object.assign(new Error(err.message), { code: err.code, details: err.message });
  // Bad option values (RangeError from validation) are the caller's fault.
  if (err instanceof RangeError) {
    return Object.assign(new Error(err.message), { code: grpc.status.INVALID_ARGUMENT, details: err.message });
  }
  const message = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(message), { code: grpc.status.INTERNAL, details: message });
}

function unary<Req, Res>(fn: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let response: Res;
    try {
      response = fn(call.request);
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    callback(null, response);
  };
}

/** Offset-based page tokens: enough for an emulator whose lists change rarely. */
function page<T>(items: T[], pageSize: number, pageToken: string): { items: T[]; nextPageToken: string } {
  const start = pageToken === '' ? 0 : Number(pageToken);
  if (!Number.isInteger(start) || start < 0) {
    throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid page token: ${pageToken}`);
  }
  const size = pageSize > 0 ? pageSize : items.length;
  const end = start + size;
  return { items: items.slice(start, end), nextPageToken: end < items.length ? String(end) : '' };
}

export function publisherImplementation(broker: PubSubBroker): grpc.UntypedServiceImplementation {
  return {
    CreateTopic: unary<TopicWire, TopicWire>((req) => broker.createTopic(req)),
    GetTopic: unary<{ topic: string }, TopicWire>((req) => broker.getTopic(req.topic)),
    DeleteTopic: unary<{ topic: string }, Empty>((req) => {
      broker.deleteTopic(req.topic);
      return EMPTY;
    }),
    ListTopics: unary<ListRequest, { topics: TopicWire[]; nextPageToken: string }>((req) => {
      const { items, nextPageToken } = page(broker.listTopics(req.project ?? ''), req.pageSize, req.pageToken);
      return { topics: items, nextPageToken };
    }),
    ListTopicSubscriptions: unary<ListRequest, { subscriptions: string[]; nextPageToken: string }>((req) => {
      const all = broker.listTopicSubscriptions(req.topic ?? '');
      const { items, nextPageToken } = page(all, req.pageSize, req.pageToken);
      return { subscriptions: items, nextPageToken };
    }),
    Publish: unary<PublishRequest, { messageIds: string[] }>((req) => ({
      messageIds: broker.publish(req.topic, req.messages),
    })),
  };
}

export function subscriberImplementation(
  broker: PubSubBroker,
  opts: { pullWaitMs: number },
): grpc.UntypedServiceImplementation {
  return {
    CreateSubscription: unary<SubscriptionWire, SubscriptionWire>((req) => broker.createSubscription(req)),
    GetSubscription: unary<{ subscription: string }, SubscriptionWire>((req) =>
      broker.getSubscription(req.subscription),
    ),
    DeleteSubscription: unary<{ subscription: string }, Empty>((req) => {
      broker.deleteSubscription(req.subscription);
      return EMPTY;
    }),
    ListSubscriptions: unary<ListRequest, { subscriptions: SubscriptionWire[]; nextPageToken: string }>((req) => {
      const { items, nextPageToken } = page(broker.listSubscriptions(req.project ?? ''), req.pageSize, req.pageToken);
      return { subscriptions: items, nextPageToken };
    }),
    ModifyPushConfig: unary<ModifyPushConfigRequest, Empty>((req) => {
      broker.modifyPushConfig(req.subscription, req.pushConfig);
      return EMPTY;
    }),
    Acknowledge: unary<AcknowledgeRequest, Empty>((req) => {
      broker.subscription(req.subscription).acknowledge(req.ackIds);
      return EMPTY;
    }),
    ModifyAckDeadline: unary<ModifyAckDeadlineRequest, Empty>((req) => {
      broker.subscription(req.subscription).modifyAckDeadline(req.ackIds, req.ackDeadlineSeconds);
      return EMPTY;
    }),
    Pull: pullHandler(broker, opts.pullWaitMs),
    StreamingPull: streamingPullHandler(broker),
  };
}

/**
 * Unary Pull: answers at once with what is there; if nothing is, waits up to `pullWaitMs`
 * for a message (Pub/Sub also holds a pull open for a while) unless `returnImmediately`.
 */
function pullHandler(
  broker: PubSubBroker,
  pullWaitMs: number,
): grpc.handleUnaryCall<PullRequest, { receivedMessages: ReceivedMessageWire[] }> {
  return (call, callback) => {
    const req = call.request;
    let sub: SubscriptionState;
    try {
      sub = broker.subscription(req.subscription);
      if (!(req.maxMessages > 0)) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, 'max_messages must be greater than 0');
      }
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      sub.removeConsumer(consumer);
      return true;
    };
    const consumer: PullConsumer = {
      outstanding: new Set<string>(),
      capacity: () => (done ? 0 : req.maxMessages),
      ackDeadlineSeconds: () => sub.ackDeadlineSeconds,
      deliver: (receivedMessages) => {
        if (finish()) callback(null, { receivedMessages });
      },
      terminate: (err) => {
        if (finish()) callback(toServiceError(err));
      },
    };
    // May deliver synchronously when messages are waiting.
    sub.addConsumer(consumer);
    if (done) return;
    if (req.returnImmediately) {
      if (finish()) callback(null, { receivedMessages: [] });
      return;
    }
    timer = setTimeout(() => {
      if (finish()) callback(null, { receivedMessages: [] });
    }, pullWaitMs);
    timer.unref();
    call.on('cancelled', () => finish());
  };
}

/**
 * StreamingPull: the first request names the subscription and sets the stream's ack
 * deadline and flow control; every request may carry acks and deadline changes (the Node
 * client sends those as unary calls instead, and `{}` keep-alives on the stream).
 */
function streamingPullHandler(
  broker: PubSubBroker,
): grpc.handleBidiStreamingCall<StreamingPullRequest, StreamingPullResponse> {
  return (call) => {
    let sub: SubscriptionState | undefined;
    let consumer: PullConsumer | undefined;
    let ackDeadlineSeconds = 10;
    let maxOutstanding = 0;
    let closed = false;

    const close = (): void => {
      if (closed) return;
      closed = true;
      if (sub && consumer) sub.removeConsumer(consumer);
    };
    const fail = (err: unknown): void => {
      if (closed) return;
      close();
      call.emit('error', toServiceError(err));
    };

    call.on('data', (req: StreamingPullRequest) => {
      if (closed) return;
      try {
        const first = sub === undefined;
        if (sub === undefined) {
          if (!req.subscription) {
            throw new RpcError(
              grpc.status.INVALID_ARGUMENT,
              'The first StreamingPullRequest must name the subscription.',
            );
          }
          sub = broker.subscription(req.subscription);
          ackDeadlineSeconds = sub.ackDeadlineSeconds;
          maxOutstanding = Number(req.maxOutstandingMessages) || 0;
          consumer = streamConsumer(call, {
            capacity: () => {
              if (closed) return 0;
              if (maxOutstanding <= 0) return MAX_BATCH;
              return Math.max(0, Math.min(MAX_BATCH, maxOutstanding - (consumer?.outstanding.size ?? 0)));
            },
            ackDeadlineSeconds: () => ackDeadlineSeconds,
            terminate: fail,
          });
        } else if (req.subscription && req.subscription !== sub.name) {
          throw new RpcError(
            grpc.status.INVALID_ARGUMENT,
            'Subsequent StreamingPullRequests must not change the subscription.',
          );
        }
        if (req.streamAckDeadlineSeconds) {
          // Pub/Sub requires 10..600; below 10 is accepted here on purpose, so tests can
          // exercise lease expiry without waiting 10 s.
          if (req.streamAckDeadlineSeconds < 0 || req.streamAckDeadlineSeconds > 600) {
            throw new RpcError(
              grpc.status.INVALID_ARGUMENT,
              `Invalid stream ack deadline: ${req.streamAckDeadlineSeconds}. It must be at most 600 seconds.`,
            );
          }
          ackDeadlineSeconds = req.streamAckDeadlineSeconds;
        }
        if (req.ackIds.length > 0) sub.acknowledge(req.ackIds);
        if (req.modifyDeadlineAckIds.length !== req.modifyDeadlineSeconds.length) {
          throw new RpcError(
            grpc.status.INVALID_ARGUMENT,
            'modify_deadline_seconds and modify_deadline_ack_ids must have the same length.',
          );
        }
        req.modifyDeadlineAckIds.forEach((ackId, i) => {
          sub?.modifyAckDeadline([ackId], req.modifyDeadlineSeconds[i] ?? 0);
        });
        if (first && consumer) sub.addConsumer(consumer);
      } catch (err) {
        fail(err);
      }
    });
    // The client half-closed: finish with OK.
    call.on('end', () => {
      if (closed) return;
      close();
      call.end();
    });
    call.on('cancelled', close);
  };
}

function streamConsumer(
  call: grpc.ServerDuplexStream<StreamingPullRequest, StreamingPullResponse>,
  parts: Pick<PullConsumer, 'capacity' | 'ackDeadlineSeconds' | 'terminate'>,
): PullConsumer {
  return {
    ...parts,
    outstanding: new Set<string>(),
    deliver: (receivedMessages) => {
      call.write({
        receivedMessages,
        subscriptionProperties: { exactlyOnceDeliveryEnabled: false, messageOrderingEnabled: false },
      });
    },
  };
}

/** Adds an UNIMPLEMENTED handler, naming the method, for every RPC `impl` lacks. */
export function withUnimplemented(
  serviceName: string,
  service: grpc.ServiceDefinition,
  impl: grpc.UntypedServiceImplementation,
): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = { ...impl };
  for (const [method, def] of Object.entries(service)) {
    if (out[method] !== undefined) continue;
    const details = `haltgate Pub/Sub emulator does not implement ${serviceName}/${method}`;
    const error = (): grpc.ServerErrorResponse =>
      Object.assign(new Error(details), { code: grpc.status.UNIMPLEMENTED, details });
    if (!def.responseStream) {
      // Unary and client-streaming handlers both answer through a callback.
      const handler: grpc.handleUnaryCall<unknown, unknown> = (_call, callback) => callback(error());
      out[method] = handler;
    } else {
      const handler: grpc.handleBidiStreamingCall<unknown, unknown> = (call) => {
        call.emit('error', error());
      };
      out[method] = handler;
    }
  }
  return out;
}
