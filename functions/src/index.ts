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
import { alpacaKeyId, alpacaSecretKey, FALLBACK_TIMEOUTS, loadRuntimeConfig, PARAM_SPECS, params, type RuntimeConfig } from './config.js';
import { systemClock } from './domain/clock.js';
import type { ExecutionMode } from './domain/execution-mode.js';
import { isRetryable } from './errors.js';
import { handleExecuteIntent, type ExecuteIntentDeps } from './execution/handle-execute-intent.js';
import { cloudEventLogger, LogEvent } from './logs.js';
import { processShutdownGate } from './safety/shutdown-gate.js';
import { installSigtermDrain } from './safety/sigterm-drain.js';
import { createFirestoreSubmissionStore } from './store/submission-store.js';
import { createClaimLane } from './store/claim-lane.js';
import { breakerGate } from './store/strategy-gate.js';
import { createFirestoreFillsStore } from './store/fills-store.js';
import { handleSyncFills } from './reconcile/sync-fills.js';
import { ORDER_INTENTS_TOPIC } from './topics.js';
import { onSchedule } from 'firebase-functions/v2/scheduler';
import { loadReconcileConfig } from './config.js';
import { handleReconcileSubmissions, RECONCILE_TIMEOUT_SECONDS } from './reconcile/handle-reconcile.js';
import { createFirestoreReconcileStore } from './store/reconcile-store.js';
import type { PubSub } from '@google-cloud/pubsub';
import { getAuth } from 'firebase-admin/auth';
import { onDocumentWritten } from 'firebase-functions/v2/firestore';
import { onRequest } from 'firebase-functions/v2/https';
import { emulatorVariableRefusal, firebaseAdminVerifier } from './ops/firebase-verifier.js';
import { firestoreOpsDeps } from './ops/firestore-ops-deps.js';
import { haltCancelsOpenOrders } from './ops/halt-config.js';
import { handleKillSwitchWrite } from './ops/halt-trigger.js';
import { serveOpsExpress } from './ops/http-adapters.js';
import { pubsubOpsEventPublisher } from './ops/ops-events.js';
import { KILL_SWITCH_PATH } from './store/paths.js';
import { writeInstanceReport } from './store/instance-report.js';
import { HALTGATE_VERSION } from './version.js';
import { loadOrderSyncConfig } from './config.js';
import { handleSyncOrders, SYNC_ORDERS_DEFAULTS, SYNC_ORDERS_TIMEOUT_SECONDS } from './reconcile/sync-orders.js';
import { handleSubmissionWrite, pubsubOrderUpdatePublisher } from './reconcile/order-updates.js';
import { createFirestoreOrderSyncStore } from './store/order-sync-store.js';
import { SUBMISSIONS } from './store/paths.js';
import { handleRunnerWatch } from './reconcile/runner-watch.js';
import { cancelHaltgateOpenOrders } from './reconcile/cancel-owned.js';
import { haltCancelScope } from './ops/halt-config.js';

/** One id per process: claims name their owner with it. */
const instanceId = `${process.env.K_REVISION ?? 'local'}-${randomUUID().slice(0, 8)}`;
const processStartedAtMs = systemClock.now();

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

/** MAX_OPEN_CLAIMS, or its default while the configuration is invalid (every claim is refused then anyway). */
function maxOpenClaims(): number {
  const loaded = loadRuntimeConfig(process.env);
  return loaded.ok ? loaded.config.maxOpenClaims : PARAM_SPECS.MAX_OPEN_CLAIMS.default;
}

let executeDeps: ExecuteIntentDeps | undefined;
/** Made on the first invocation (not at load: cold start) and kept: one store per instance. */
function executeIntentDeps(): ExecuteIntentDeps {
  executeDeps ??= {
    store: createFirestoreSubmissionStore(db(), { clock: systemClock, strategyGate: breakerGate, claimLane: createClaimLane(maxOpenClaims()) }),
    brokerFor,
    clock: systemClock,
    gate: processShutdownGate,
    loadConfig: () => loadRuntimeConfig(process.env),
    instanceId,
    log: cloudEventLogger,
  };
  return executeDeps;
}

const reports = new Map<string, Promise<void>>();
/** The functions whose instance report is written: nothing left to wait for. */
const reported = new Set<string>();
/** How long an invocation waits for its instance report; the report never fails it. */
const INSTANCE_REPORT_WAIT_MS = 2_000;

/**
 * Runs an invocation, then records — once per function and process — what the function runs
 * with (functionInstances, store/instance-report.ts), so operators see the deployed
 * configuration. After the work, not before: it never delays a claim or a broker call, and a
 * Firestore outage costs at most INSTANCE_REPORT_WAIT_MS once.
 */
async function withInstanceReport<T>(fn: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    let report = reports.get(fn);
    if (!report && !reported.has(fn)) {
      report = writeInstanceReport(
        db(),
        { function: fn, instanceId, version: HALTGATE_VERSION, revision: process.env.K_REVISION ?? null, startedAtMs: processStartedAtMs, config: loadRuntimeConfig(process.env) },
        systemClock.now(),
      ).then(
        () => {
          reported.add(fn);
          reports.delete(fn);
        },
        (err: unknown) => {
          reports.delete(fn); // try again on the next invocation
          cloudEventLogger.warn(LogEvent.instanceReportFailed, { function: fn, error: err instanceof Error ? err.message : String(err) });
        },
      );
      reports.set(fn, report);
    }
    if (report) await Promise.race([report, new Promise((r) => setTimeout(r, INSTANCE_REPORT_WAIT_MS).unref())]);
  }
}

/**
 * Runs one event's handler and sorts its failure: retryable errors are thrown, so the platform
 * answers 500 and the event is redelivered; terminal ones are logged and acknowledged, since a
 * redelivery cannot change the answer and would only loop.
 */
async function settleEvent(eventId: string, handle: () => Promise<unknown>): Promise<void> {
  try {
    await handle();
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    if (isRetryable(err)) {
      cloudEventLogger.warn(LogEvent.deliveryRetry, { eventId, error });
      throw err;
    }
    cloudEventLogger.error(LogEvent.deliveryFailed, { eventId, error });
  }
}

export const executeIntent = onMessagePublished(
  {
    topic: ORDER_INTENTS_TOPIC,
    // Redelivery is how refused-for-now deliveries (shutdown, deadline, unknown outcome) come back.
    retry: true,
    timeoutSeconds: params.executeTimeoutSeconds,
    secrets: [alpacaKeyId, alpacaSecretKey],
  },
  (event) => {
    const message = event.data.message;
    // The whole invocation counts for the SIGTERM drain, not only its broker call: one that
    // is mid-claim at SIGTERM must still release its claim before the process exits.
    return withInstanceReport('executeIntent', () =>
      settleEvent(event.id, () =>
        processShutdownGate.track(() =>
          handleExecuteIntent(executeIntentDeps(), {
            eventId: event.id,
            messageId: message.messageId ?? null,
            publishTime: message.publishTime ?? null,
            dataBase64: message.data,
            attributes: message.attributes ?? {},
          }),
        ),
      ),
    );
  },
);

/**
 * Settles submissions whose outcome at the broker is not known (owner gone, broker timeout):
 * lookups by client_order_id only, never a submit. Deployed as a Cloud Scheduler job that
 * POSTs to the function (under the functions framework: an http-signature function).
 */
export const reconcileSubmissions = onSchedule(
  {
    schedule: 'every 1 minutes',
    timeoutSeconds: RECONCILE_TIMEOUT_SECONDS,
    // One run at a time per instance is plenty, and runs overlapping across instances are
    // harmless: every write re-checks state and attempt.
    concurrency: 1,
    secrets: [alpacaKeyId, alpacaSecretKey],
  },
  () =>
    withInstanceReport('reconcileSubmissions', async () => {
      await handleReconcileSubmissions({
        store: createFirestoreReconcileStore(db(), { clock: systemClock }),
        brokerFor,
        clock: systemClock,
        loadConfig: () => loadReconcileConfig(process.env),
        log: cloudEventLogger,
      });
      await runnerWatchOnce();
    }),
);

/**
 * The runner dead-man switch's cancel side (reconcile/runner-watch.ts), in the reconciler's
 * run: a strategy whose runner fell silent past its `limits.maxRunnerSilenceMs` has its own
 * open orders cancelled once per silent spell. Never fails the reconciler run.
 */
async function runnerWatchOnce(): Promise<void> {
  const loaded = loadRuntimeConfig(process.env);
  const config = loaded.ok ? loaded.config : loaded.partial;
  const mode = config.executionMode ?? 'off';
  try {
    await handleRunnerWatch({
      db: db(),
      broker: mode === 'paper' || mode === 'live' ? brokerFor(config as RuntimeConfig, mode) : null,
      brokerTimeoutMs: config.brokerTimeoutMs ?? 10_000,
      clock: systemClock,
      log: cloudEventLogger,
    });
  } catch (err) {
    cloudEventLogger.error(LogEvent.runnerWatchFailed, { error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * The fills ledger (issue 4): folds the broker's fills of haltgate's orders into per-strategy
 * FIFO lots and realized P&L, which the loss breakers read. Idempotent per fill id, so
 * overlapping runs are harmless. Nothing to do unless orders go to Alpaca (paper/live).
 */
export const syncFills = onSchedule(
  {
    schedule: 'every 1 minutes',
    timeoutSeconds: 120,
    concurrency: 1,
    secrets: [alpacaKeyId, alpacaSecretKey],
  },
  () => withInstanceReport('syncFills', syncFillsOnce),
);

async function syncFillsOnce(): Promise<void> {
  const loaded = loadRuntimeConfig(process.env);
  if (!loaded.ok) {
    cloudEventLogger.error(LogEvent.fillsSyncFailed, { problems: loaded.problems });
    return;
  }
  const config = loaded.config;
  if (config.executionMode !== 'paper' && config.executionMode !== 'live') return;
  try {
    await handleSyncFills({
      store: createFirestoreFillsStore(db(), { clock: systemClock }),
      broker: brokerFor(config, config.executionMode),
      clock: systemClock,
      log: cloudEventLogger,
      timeZone: config.breakerDefaults.tradingTimeZone,
      brokerTimeoutMs: config.brokerTimeoutMs,
    });
  } catch (err) {
    cloudEventLogger.error(LogEvent.fillsSyncFailed, { error: err instanceof Error ? err.message : String(err) });
    // The next scheduled run repeats this one (the cursor did not move): no platform retry.
  }
}

/**
 * The order lifecycle (issue 10): follows every submitted order at the broker until it is
 * final, keeping `submissions/{intentId}.order` current. Lookups only (one paged sweep of
 * GET /v2/orders, GET /v2/orders/{id} for the rest and for `replaced_by`), paced by the
 * broker's rate-limit headers. Overlapping runs are harmless: every write is conditional on the
 * version read.
 */
export const syncOrders = onSchedule(
  {
    schedule: 'every 1 minutes',
    timeoutSeconds: SYNC_ORDERS_TIMEOUT_SECONDS,
    concurrency: 1,
    secrets: [alpacaKeyId, alpacaSecretKey],
  },
  () => withInstanceReport('syncOrders', syncOrdersOnce),
);

async function syncOrdersOnce(): Promise<void> {
  const loaded = loadOrderSyncConfig(process.env);
  if (!loaded.ok) {
    // Fail closed (G6): nothing is followed, and the logs say why.
    cloudEventLogger.error(LogEvent.orderSyncFailed, { problems: loaded.problems });
    return;
  }
  const config = loaded.config;
  try {
    await handleSyncOrders({
      store: createFirestoreOrderSyncStore(db()),
      // Each record is followed at the broker of the mode it was sent in, with this deploy's keys.
      brokerFor: (mode) => (mode === 'paper' || mode === 'live' ? brokerFor(config, mode) : null),
      clock: systemClock,
      log: cloudEventLogger,
      settings: {
        brokerTimeoutMs: config.brokerTimeoutMs,
        minRateRemaining: config.orderSyncMinRateRemaining,
        sweepWindowMs: config.orderSyncSweepWindowMs,
        timeBudgetMs: SYNC_ORDERS_DEFAULTS.timeBudgetMs,
      },
    });
  } catch (err) {
    cloudEventLogger.error(LogEvent.orderSyncFailed, { error: err instanceof Error ? err.message : String(err) });
    // The next scheduled run repeats the work: no platform retry.
  }
}

/**
 * Publishes each change of a submission's state or broker status on `order-updates`, with a
 * deterministic update id for consumers to drop repeats (reconcile/order-updates.ts).
 */
export const onSubmissionWrite = onDocumentWritten(
  { document: `${SUBMISSIONS}/{intentId}`, retry: true, timeoutSeconds: 60 },
  (event) =>
    withInstanceReport('onSubmissionWrite', () =>
      settleEvent(event.id, () =>
        handleSubmissionWrite(
          { publish: async (message, attributes) => pubsubOrderUpdatePublisher(await pubsubClient())(message, attributes), log: cloudEventLogger },
          {
            eventId: event.id,
            before: event.data?.before?.exists ? event.data.before.data() : undefined,
            after: event.data?.after?.exists ? event.data.after.data() : undefined,
          },
        ),
      ),
    ),
);

/**
 * The ops API and dashboard (issue 5). Public at the HTTP level on purpose: every request but
 * the (data-free) dashboard page is authorised by a Firebase ID token with the
 * `haltgate.role` claim, verified by firebase-admin.
 */
const authEmulatorRefusal = emulatorVariableRefusal(process.env);
if (authEmulatorRefusal) cloudEventLogger.error(LogEvent.opsRequestFailed, { error: authEmulatorRefusal });

export const ops = onRequest({ invoker: 'public', timeoutSeconds: 30 }, (req, res) =>
  withInstanceReport('ops', () =>
    serveOpsExpress(
      firestoreOpsDeps({
        db: db(),
        verifyIdToken: firebaseAdminVerifier(() => {
          db();
          return getAuth();
        }),
        clock: systemClock,
        log: cloudEventLogger,
        loadConfig: () => loadRuntimeConfig(process.env),
        env: () => process.env,
        gate: processShutdownGate,
        instanceId,
      }),
      req,
      res,
    ),
  ),
);

let pubsub: Promise<PubSub> | undefined;
/**
 * The Pub/Sub client, loaded on first use: @google-cloud/pubsub is the heaviest import of this
 * module and only the Firestore-triggered functions publish, so executeIntent's cold start (every
 * function loads this whole module) does not pay for it. A failed load is retried next time.
 */
function pubsubClient(): Promise<PubSub> {
  pubsub ??= import('@google-cloud/pubsub').then(
    ({ PubSub: Client }) => new Client(),
    (err: unknown) => {
      pubsub = undefined;
      throw err;
    },
  );
  return pubsub;
}

/** Audits every change of ops/killSwitch; on a halt cancels open orders and tells the runners. */
export const onKillSwitchWrite = onDocumentWritten(
  { document: KILL_SWITCH_PATH, retry: true, timeoutSeconds: 60, secrets: [alpacaKeyId, alpacaSecretKey] },
  async (event) => {
    const loaded = loadRuntimeConfig(process.env);
    // Cancel with the keys of the configured mode even when some unrelated parameter is invalid.
    const config = loaded.ok ? loaded.config : loaded.partial;
    const mode = config.executionMode ?? 'off';
    const brokerTimeoutMs = config.brokerTimeoutMs ?? 10_000;
    return withInstanceReport('onKillSwitchWrite', () =>
      settleEvent(event.id, () =>
        handleKillSwitchWrite(
          {
            db: db(),
            cancelAllOpenOrders: () =>
              mode === 'paper' || mode === 'live'
                ? brokerFor(config as RuntimeConfig, mode).cancelAllOpenOrders({ timeoutMs: brokerTimeoutMs })
                : Promise.resolve({ kind: 'done', results: [] }),
            cancelScope: haltCancelScope(process.env),
            cancelOwnOpenOrders: () =>
              mode === 'paper' || mode === 'live'
                ? cancelHaltgateOpenOrders({ db: db(), broker: brokerFor(config as RuntimeConfig, mode), timeoutMs: brokerTimeoutMs })
                : Promise.resolve({ kind: 'done', results: [] }),
            publishOpsEvent: async (e) => pubsubOpsEventPublisher(await pubsubClient())(e),
            cancelOpenOrdersOnHalt: haltCancelsOpenOrders(process.env),
            clock: systemClock,
            log: cloudEventLogger,
          },
          {
            eventId: event.id,
            before: event.data?.before?.exists ? event.data.before.data() : undefined,
            after: event.data?.after?.exists ? event.data.after.data() : undefined,
            eventTimeMs: Date.parse(event.time) || systemClock.now(),
          },
        ),
      ),
    );
  },
);
