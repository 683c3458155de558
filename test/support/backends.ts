import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { firestoreAt } from '../../dev/emulators/firestore-at.js';
import { startAlpacaSimulator, type AlpacaSimulator } from '../../dev/alpaca-sim/server.js';
import { startFirestoreInterposer, type FirestoreInterposer } from '../../dev/firestore-interposer/interposer.js';
import { clearFirestore, EMULATORS, settleSetupWrite, uniqueProjectId } from './emulators.js';

/** This test file's project on the official emulators (a fresh one per file: isolation). */
export const TEST_PROJECT_ID = uniqueProjectId();

/** The environment firebase-admin needs to talk to `projectId` on the emulators at `firestoreHost`. */
export function projectEnv(projectId: string, firestoreHost: string): Record<string, string> {
  return {
    FIRESTORE_EMULATOR_HOST: firestoreHost,
    GCLOUD_PROJECT: projectId,
    GOOGLE_CLOUD_PROJECT: projectId,
    // firebase-admin's initializeApp() takes the project from here first (emulators:exec sets it too).
    FIREBASE_CONFIG: JSON.stringify({ projectId }),
  };
}

/** Environment of the exported functions in tests: paper trading against the simulator. */
export function functionEnv(firestore: { host: string }, sim: AlpacaSimulator, projectId = TEST_PROJECT_ID): Record<string, string> {
  return {
    ...projectEnv(projectId, firestore.host),
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

/** A firebase-admin client of the test's own, by default straight to the emulator (not through the interposer). */
export function adminFirestore(projectId: string, host = EMULATORS.firestore): { app: App; db: Firestore } {
  appCounter += 1;
  const app = initializeApp({ projectId }, `test-${process.pid}-${appCounter}`);
  return { app, db: firestoreAt(app, host) };
}

export interface TestBackends {
  projectId: string;
  /** The official Firestore emulator (host:port). */
  emulatorHost: string;
  /**
   * The gRPC interposer in front of the emulator: the functions (FIRESTORE_EMULATOR_HOST in
   * `env`) go through it, so tests count their RPCs and inject latency and failures there.
   */
  interposer: FirestoreInterposer;
  /** What the functions use: the interposer's host. */
  firestoreHost: string;
  sim: AlpacaSimulator;
  /** A firebase-admin client of the test's own, straight to the emulator. */
  db: Firestore;
  env: Record<string, string>;
  /** Sets the environment back to `env` (tests change single variables). */
  resetEnv(): void;
  /** Empties the project's Firestore and the simulator, clears faults, writes `ops/killSwitch {halted:false}`. */
  reset(opts?: { killSwitch?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

let appCounter = 0;

export async function startTestBackends(opts: { projectId?: string } = {}): Promise<TestBackends> {
  const before = { ...process.env };
  const projectId = opts.projectId ?? TEST_PROJECT_ID;
  const emulatorHost = EMULATORS.firestore;
  const interposer = await startFirestoreInterposer({ upstream: emulatorHost });
  const sim = await startAlpacaSimulator();
  const env = functionEnv(interposer, sim, projectId);
  const resetEnv = () => Object.assign(process.env, env);
  resetEnv();
  const { app, db } = adminFirestore(projectId, emulatorHost);
  return {
    projectId,
    emulatorHost,
    interposer,
    firestoreHost: interposer.host,
    sim,
    db,
    env,
    resetEnv,
    async reset(o = {}) {
      resetEnv();
      interposer.faults.clear();
      await clearFirestore(projectId, emulatorHost);
      sim.reset();
      if (o.killSwitch !== false) await settleSetupWrite(() => db.doc('ops/killSwitch').set({ halted: false, reason: 'test', updatedBy: 'test' }));
    },
    async stop() {
      await deleteApp(app);
      await sim.stop();
      await interposer.stop();
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
