/**
 * vitest global setup: the dashboard's browser test drives Debian's `chromium` (never a
 * downloaded browser). On a fresh machine it is not installed yet; as root, install it with
 * apt-get so that `npm ci && npm test` is all the set-up there is. Without root or apt-get the
 * browser test reports the missing binary itself (and fails in CI).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default function ensureChromium(): void {
  if (existsSync(CHROMIUM_PATH)) return;
  const root = process.getuid?.() === 0;
  if (!root || !existsSync('/usr/bin/apt-get')) {
    console.warn(`chromium not found at ${CHROMIUM_PATH} and it cannot be installed here (needs root and apt-get)`);
    return;
  }
  console.log('installing Debian chromium for the browser test (apt-get) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  } catch (err) {
    console.warn(`installing chromium failed: ${(err as Error).message}`);
  }
}
