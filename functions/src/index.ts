/**
 * The deployed Cloud Functions. Wiring only: options, secrets, and the real dependencies
 * (Firestore, Alpaca, the process clock and shutdown gate). All behaviour lives in plain
 * handlers that tests drive with their own dependencies.
 */
import { randomUUID } from 'node:crypto';
import { getApps, initializeApp } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { onMessagePublished } from 'firebase-functions/v2/pubsub';
import { ALPACA_BASE_URLS, createAlpacaBroker } from './broker/alpaca.js';
import type { Broker } from './broker/broker.js';
import { createDryRunBroker } from './broker/dry-run.js';
import { alpacaKeyId, alpacaSecretKey, FALLBACK_TIMEOUTS, loadRuntimeConfig, params, type RuntimeConfig } from './config.js';
import { systemClock } from './domain/clock.js';
import type { ExecutionMode } from './domain/execution-mode.js';
import { isRetryable } from './errors.js';
import { handleExecuteIntent, type ExecuteIntentDeps } from './execution/handle-execute-intent.js';
import { cloudEventLogger, LogEvent } from './logs.js';
import { processShutdownGate } from './safety/shutdown-gate.js';
import { installSigtermDrain } from './safety/sigterm-drain.js';
import { createFirestoreSubmissionStore } from './store/submission-store.js';
import { ORDER_INTENTS_TOPIC } from './topics.js';

/** One id per process: claims name their owner with it. */
const instanceId = `${process.env.K_REVISION ?? 'local'}-${randomUUID().slice(0, 8)}`;

const startupConfig = loadRuntimeConfig(process.env);
installSigtermDrain({
  gate: processShutdownGate,
  drainTimeoutMs: startupConfig.ok ? startupConfig.config.shutdownDrainTimeoutMs : FALLBACK_TIMEOUTS.shutdownDrainTimeoutMs,
  log: cloudEventLogger,
});

let firestore: Firestore | undefined;
function db(): Firestore {
  if (!firestore) {
    if (!getApps().some((app) => app.name === '[DEFAULT]')) initializeApp();
    firestore = getFirestore();
  }
  return firestore;
}

const dryRunBroker = createDryRunBroker({ clock: systemClock });
const brokers = new Map<string, Broker>();

/** The broker of a mode. Keys come from Secret Manager through the environment, never from Firestore. */
function brokerFor(config: RuntimeConfig, mode: ExecutionMode): Broker {
  if (mode !== 'paper' && mode !== 'live') return dryRunBroker;
  const baseUrl = config.alpacaBaseUrl ?? ALPACA_BASE_URLS[mode];
  const keyId = config.alpacaKeyId ?? '';
  const cacheKey = `${mode}|${baseUrl}|${keyId}`;
  let broker = brokers.get(cacheKey);
  if (!broker) {
    broker = createAlpacaBroker({ baseUrl, keyId, secretKey: config.alpacaSecretKey ?? '', name: `alpaca-${mode}` });
    brokers.set(cacheKey, broker);
  }
  return broker;
}

function executeIntentDeps(): ExecuteIntentDeps {
  return {
    store: createFirestoreSubmissionStore(db(), { clock: systemClock }),
    brokerFor,
    clock: systemClock,
    gate: processShutdownGate,
    loadConfig: () => loadRuntimeConfig(process.env),
    instanceId,
    log: cloudEventLogger,
  };
}

export const executeIntent = onMessagePublished(
  {
    topic: ORDER_INTENTS_TOPIC,
    // Redelivery is how refused-for-now deliveries (shutdown, deadline, unknown outcome) come back.
    retry: true,
    timeoutSeconds: params.executeTimeoutSeconds,
    secrets: [alpacaKeyId, alpacaSecretKey],
  },
  async (event) => {
    const message = event.data.message;
    try {
      await handleExecuteIntent(executeIntentDeps(), {
        eventId: event.id,
        messageId: message.messageId ?? null,
        publishTime: message.publishTime ?? null,
        dataBase64: message.data,
        attributes: message.attributes ?? {},
      });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      // Retryable: throw, so the platform answers 500 and Pub/Sub redelivers later.
      if (isRetryable(err)) {
        cloudEventLogger.warn(LogEvent.deliveryRetry, { eventId: event.id, error });
        throw err;
      }
      // Terminal: redelivery cannot change the answer; acknowledge instead of looping.
      cloudEventLogger.error(LogEvent.deliveryFailed, { eventId: event.id, error });
    }
  },
);
