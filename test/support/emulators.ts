/**
 * The official emulators a test run uses, as `firebase emulators:exec` (dev/emulators/exec.ts,
 * run by `npm test`) announces them, and per-test-file isolation on them: every test file
 * gets a project id of its own (module state is per file under vitest), so files run in
 * parallel without seeing each other's data, and its data is cleared through the emulators'
 * REST endpoints.
 */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: the tests run on the official Firebase Emulator Suite. Run them with \`npm test\` ` +
        '(or `tsx dev/emulators/exec.ts -- vitest run <files>`), which starts the emulators and sets it.',
    );
  }
  return value;
}

/** The emulator hosts, read once when the file loads (before any suite changes the environment). */
export const EMULATORS = {
  get firestore() {
    return (FIRESTORE_HOST ??= required('FIRESTORE_EMULATOR_HOST'));
  },
  get pubsub() {
    return (PUBSUB_HOST ??= required('PUBSUB_EMULATOR_HOST'));
  },
  get auth() {
    return (AUTH_HOST ??= required('FIREBASE_AUTH_EMULATOR_HOST'));
  },
};
let FIRESTORE_HOST = process.env.FIRESTORE_EMULATOR_HOST;
let PUBSUB_HOST = process.env.PUBSUB_EMULATOR_HOST;
let AUTH_HOST = process.env.FIREBASE_AUTH_EMULATOR_HOST;

/** A fresh `demo-` project id (demo projects never reach production services); 6–30 chars. */
export function uniqueProjectId(): string {
  return `demo-t${randomBytes(6).toString('hex')}`;
}

/**
 * The Firestore emulator answers its reset with a 500, or after its lock timeout with a 409
 * ABORTED ("Transaction lock timeout."), while a transaction still holds locks in the project
 * (one the client of a previous test is still retrying): try again, bounded.
 */
async function emulatorDelete(url: string, attempts = 20): Promise<void> {
  for (let i = 1; ; i++) {
    const res = await fetch(url, { method: 'DELETE', headers: { Authorization: 'Bearer owner' } });
    if (res.ok) return;
    const text = await res.text();
    if ((res.status !== 500 && res.status !== 409) || i >= attempts) throw new Error(`DELETE ${url} answered ${res.status} (attempt ${i}): ${text}`);
    await new Promise((r) => setTimeout(r, 250 * i));
  }
}

/**
 * Runs a test's own setup write, again (bounded) while the Firestore emulator answers it with
 * UNKNOWN or ABORTED. CI saw UNKNOWN right after a reset, while a previous test's client was
 * still retrying transactions that test had given up on. Setup only: nothing a test asserts
 * goes through this retry.
 */
export async function settleSetupWrite<T>(write: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await write();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== status.UNKNOWN && code !== status.ABORTED) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 100 * i));
    }
  }
}

/** Deletes every document of the project's default database (the Firestore emulator's REST endpoint). */
export function clearFirestore(projectId: string, host = EMULATORS.firestore): Promise<void> {
  return emulatorDelete(`http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`);
}

/** Deletes every user of the project (the Auth emulator's REST endpoint). */
export function clearAuth(projectId: string, host = EMULATORS.auth): Promise<void> {
  return emulatorDelete(`http://${host}/emulator/v1/projects/${projectId}/accounts`);
}
