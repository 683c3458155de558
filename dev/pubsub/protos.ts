// Loads the google.pubsub.v1 service definitions from the .proto files shipped inside
// @google-cloud/pubsub, so the emulator speaks exactly the wire format the real client uses.
// Also declares the (hand-written, partial) shapes of the decoded messages the handlers see.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * Loader options. They decide how decoded requests look to the handlers (casing is a
 * loader concern: on the wire it is protobuf, field numbers only):
 * - keepCase false: camelCase fields (`ackIds`, `pushConfig`), like the Node client's objects;
 * - longs String: int64 (Timestamp/Duration seconds) never loses precision;
 * - enums String: `state: 'ACTIVE'`;
 * - defaults true: absent scalars/maps/repeated fields decode as ''/0/{}/[] so handlers need
 *   no undefined checks (absent message fields decode as null);
 * - oneofs true: a virtual field names which oneof member is set.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Directory holding `google/pubsub/v1/pubsub.proto`, and the one holding `google/api/*`. */
export function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  // The package's main entry is build/src/index.js; its protos sit in build/protos.
  const pubsubEntry = require.resolve('@google-cloud/pubsub');
  const pubsubProtos = path.resolve(path.dirname(pubsubEntry), '../protos');
  // pubsub.proto imports google/api/*.proto, which pubsub does not ship; google-gax (its
  // dependency) does, in build/protos. Resolve gax from pubsub's location, not ours, so we
  // get the copy pubsub itself was installed with. gax's exports map hides package.json,
  // so go through its main entry (build/src/index.js).
  const gaxEntry = createRequire(pubsubEntry).resolve('google-gax');
  const gaxProtos = path.resolve(path.dirname(gaxEntry), '../protos');
  return [pubsubProtos, gaxProtos];
}

export interface PubSubServices {
  publisher: grpc.ServiceDefinition;
  subscriber: grpc.ServiceDefinition;
}

let cached: PubSubServices | undefined;

/** The Publisher and Subscriber service definitions (loaded once per process). */
export function loadPubSubServices(): PubSubServices {
  if (cached) return cached;
  const definition = protoLoader.loadSync('google/pubsub/v1/pubsub.proto', {
    ...LOADER_OPTIONS,
    includeDirs: protoIncludeDirs(),
  });
  const publisher = definition['google.pubsub.v1.Publisher'];
  const subscriber = definition['google.pubsub.v1.Subscriber'];
  if (!isServiceDefinition(publisher) || !isServiceDefinition(subscriber)) {
    throw new Error('pubsub.proto did not define google.pubsub.v1.Publisher/Subscriber');
  }
  cached = { publisher, subscriber };
  return cached;
}

function isServiceDefinition(
  value: protoLoader.AnyDefinition | undefined,
): value is protoLoader.ServiceDefinition {
  // Message and enum definitions carry a `format` field; service definitions are plain
  // maps of method name → method definition.
  return value !== undefined && !('format' in value);
}

// ---------------------------------------------------------------------------------------
// Decoded message shapes (only the fields the emulator reads or writes). Optional because
// the same shapes are also built by hand (programmatic API), where fields may be absent.

export interface TimestampWire {
  seconds: string | number;
  nanos: number;
}

export interface DurationWire {
  seconds: string | number;
  nanos: number;
}

export interface PubsubMessageWire {
  data?: Buffer | Uint8Array | null;
  attributes?: Record<string, string> | null;
  messageId?: string;
  publishTime?: TimestampWire | null;
  orderingKey?: string;
}

export interface TopicWire {
  name: string;
  labels?: Record<string, string> | null;
  state?: string;
  [field: string]: unknown;
}

export interface PushConfigWire {
  pushEndpoint?: string;
  attributes?: Record<string, string> | null;
  oidcToken?: unknown;
  pubsubWrapper?: unknown;
  noWrapper?: { writeMetadata?: boolean } | null;
  [field: string]: unknown;
}

export interface RetryPolicyWire {
  minimumBackoff?: DurationWire | null;
  maximumBackoff?: DurationWire | null;
}

export interface SubscriptionWire {
  name: string;
  topic: string;
  pushConfig?: PushConfigWire | null;
  ackDeadlineSeconds?: number;
  filter?: string;
  deadLetterPolicy?: unknown;
  retryPolicy?: RetryPolicyWire | null;
  enableExactlyOnceDelivery?: boolean;
  enableMessageOrdering?: boolean;
  bigqueryConfig?: unknown;
  cloudStorageConfig?: unknown;
  bigtableConfig?: unknown;
  messageTransforms?: unknown[] | null;
  state?: string;
  [field: string]: unknown;
}

export interface ReceivedMessageWire {
  ackId: string;
  message: PubsubMessageWire;
  deliveryAttempt: number;
}

export interface PublishRequest {
  topic: string;
  messages: PubsubMessageWire[];
}

export interface PullRequest {
  subscription: string;
  returnImmediately: boolean;
  maxMessages: number;
}

export interface AcknowledgeRequest {
  subscription: string;
  ackIds: string[];
}

export interface ModifyAckDeadlineRequest {
  subscription: string;
  ackIds: string[];
  ackDeadlineSeconds: number;
}

export interface ModifyPushConfigRequest {
  subscription: string;
  pushConfig: PushConfigWire | null;
}

export interface StreamingPullRequest {
  subscription: string;
  ackIds: string[];
  modifyDeadlineSeconds: number[];
  modifyDeadlineAckIds: string[];
  streamAckDeadlineSeconds: number;
  clientId: string;
  maxOutstandingMessages: string | number;
  maxOutstandingBytes: string | number;
}

export interface StreamingPullResponse {
  receivedMessages: ReceivedMessageWire[];
  subscriptionProperties?: {
    exactlyOnceDeliveryEnabled: boolean;
    messageOrderingEnabled: boolean;
  };
}

export interface ListRequest {
  project?: string;
  topic?: string;
  pageSize: number;
  pageToken: string;
}
