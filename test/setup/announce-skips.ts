/**
 * vitest global setup: say, where a person reads it, which suites cannot run on this machine.
 * The suites skip themselves; the reporter alone would only print "3 skipped".
 */
import { existsSync } from 'node:fs';
import { CHROMIUM_PATH } from './ensure-chromium.js';

export const RULES_TESTS_NEED =
  'the official Firestore emulator (Java 21, started by `firebase emulators:exec`): run `npm run test:emulators` where it is available';

export default function announceSkips(): void {
  const officialEmulator = Boolean(process.env.FIREBASE_EMULATOR_HUB && process.env.FIRESTORE_EMULATOR_HOST);
  if (!officialEmulator) console.warn(`\n*** SKIPPED: security-rules tests (test/rules) need ${RULES_TESTS_NEED}. ***\n`);
  // Runs after ensure-chromium; in CI the browser test fails instead of skipping.
  if (!existsSync(CHROMIUM_PATH)) {
    console.warn(`\n*** ${process.env.CI === 'true' ? 'FAILING' : 'SKIPPED'}: the dashboard browser test needs Debian's chromium at ${CHROMIUM_PATH} (apt-get install -y chromium, or set CHROMIUM_PATH). ***\n`);
  }
}
