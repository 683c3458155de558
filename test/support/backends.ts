import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { startAlpacaSimulator, type AlpacaSimulator } from '../../dev/alpaca-sim/server.js';
import {
  useFirestoreEmulator,
  type EmbeddedFirestore,
  type ExternalFirestoreEmulator,
} from '../../dev/firestore/embedded-firestore.js';

export const TEST_PROJECT_ID = 'demo-haltgate';

/**
 * An official Firestore emulator already running (`firebase emulators:exec`) is used instead
 * of the embedded one. Read when the test file loads, before any suite sets the variable.
 */
export const OFFICIAL_FIRESTORE_EMULATOR = process.env.FIRESTORE_EMULATOR_HOST ?? null;
/** Why a test that needs the embedded server's hooks (commit log, latency) cannot run here. */
export const NEEDS_EMBEDDED_FIRESTORE = `needs the embedded Firestore's commit log / fault hooks; FIRESTORE_EMULATOR_HOST=${OFFICIAL_FIRESTORE_EMULATOR} points at an external emulator`;

/** Environment of the exported functions in tests: paper trading against the simulator. */
export function functionEnv(firestore: { host: string }, sim: AlpacaSimulator): Record<string, string> {
  return {
    FIRESTORE_EMULATOR_HOST: firestore.host,
    GCLOUD_PROJECT: TEST_PROJECT_ID,
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    EXECUTION_MODE: 'paper',
    EXECUTION_HALTED: 'false',
    ALPACA_BASE_URL: sim.url,
    ALPACA_KEY_ID: sim.keyId,
    ALPACA_SECRET_KEY: sim.secretKey,
    EXECUTE_TIMEOUT_SECONDS: '60',
    MIN_SUBMIT_BUDGET_MS: '5000',
    BROKER_TIMEOUT_MS: '2000',
    DEADLINE_MARGIN_MS: '1000',
    OWNER_GRACE_MS: '1000',
    MAX_INTENT_AGE_MS: '0',
  };
}

export interface TestBackends {
  /** The embedded server; tests that use its hooks are skipped against an official emulator. */
  firestore: EmbeddedFirestore;
  firestoreHost: string;
  sim: AlpacaSimulator;
  /** A firebase-admin client of the test's own (the functions have theirs). */
  db: Firestore;
  env: Record<string, string>;
  /** Sets the environment back to `env` (tests change single variables). */
  resetEnv(): void;
  /** Empties Firestore and the simulator, and writes `ops/killSwitch {halted:false}`. */
  reset(opts?: { killSwitch?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

let appCounter = 0;

export async function startTestBackends(): Promise<TestBackends> {
  const before = { ...process.env };
  const started: EmbeddedFirestore | ExternalFirestoreEmulator = await useFirestoreEmulator({ projectId: TEST_PROJECT_ID });
  const sim = await startAlpacaSimulator();
  const env = functionEnv(started, sim);
  const resetEnv = () => Object.assign(process.env, env);
  resetEnv();
  appCounter += 1;
  const app: App = initializeApp({ projectId: TEST_PROJECT_ID }, `test-${process.pid}-${appCounter}`);
  const db = getFirestore(app);
  return {
    // Only read by tests that are skipped when the emulator is external.
    firestore: started as EmbeddedFirestore,
    firestoreHost: started.host,
    sim,
    db,
    env,
    resetEnv,
    async reset(opts = {}) {
      resetEnv();
      await started.reset();
      sim.reset();
      if (opts.killSwitch !== false) await db.doc('ops/killSwitch').set({ halted: false, reason: 'test', updatedBy: 'test' });
    },
    async stop() {
      await deleteApp(app);
      await sim.stop();
      await started.stop();
      // A worker may run another test file next: leave the environment as it was.
      for (const key of Object.keys(env)) if (!(key in before)) delete process.env[key];
      Object.assign(process.env, before);
    },
  };
}

/** The error a delivery threw (the platform would answer 500 and redeliver), or null. */
export async function deliveryError(p: Promise<unknown>): Promise<Error | null> {
  try {
    await p;
    return null;
  } catch (err) {
    return err as Error;
  }
}
