/**
 * Finds, offline, what firebase-tools needs to start the official Firestore and Pub/Sub
 * emulators: a Java 21 or newer, and the emulator binaries. Nothing is downloaded and nothing
 * is replaced: where a piece is missing, `locateEmulatorPieces` throws one
 * `EmulatorSetupError` that names every missing piece and how to get it.
 *
 * Search order (first hit wins):
 *   Java 21+:  JAVA_HOME, then the JVMs under /usr/lib/jvm (newest first), then `java` on PATH.
 *   Firestore: FIRESTORE_EMULATOR_BINARY_PATH, then firebase-tools' cache
 *              (~/.cache/firebase/emulators/cloud-firestore-emulator-v*.jar), then the Google
 *              Cloud CLI component (<sdk root>/platform/cloud-firestore-emulator/).
 *   Pub/Sub:   PUBSUB_EMULATOR_BINARY_PATH, then firebase-tools' cache
 *              (~/.cache/firebase/emulators/pubsub-emulator-*), then the Google Cloud CLI
 *              component (<sdk root>/platform/pubsub-emulator/).
 * The SDK root is `gcloud info --format='value(installation.sdk_root)'`, else CLOUDSDK_ROOT_DIR,
 * else /usr/lib/google-cloud-sdk.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const MIN_JAVA_MAJOR = 21;

export class EmulatorSetupError extends Error {
  override readonly name = 'EmulatorSetupError';
  constructor(readonly missing: string[]) {
    super(
      [
        'The official Firebase Emulator Suite cannot start on this machine; missing:',
        ...missing.map((m) => `  - ${m}`),
        'haltgate runs its tests and local stack only on the official emulators (no fallback).',
      ].join('\n'),
    );
  }
}

/** How the Firestore emulator is given: a runnable jar, or the CLI component's jar (no Main-Class). */
export type FirestoreBinary = { kind: 'runnable-jar'; path: string; from: string } | { kind: 'component-jar'; path: string; from: string };

export interface EmulatorPieces {
  javaHome: string;
  javaMajor: number;
  firestore: FirestoreBinary;
  /** An executable that starts the Pub/Sub emulator (takes --host= --port=). */
  pubsub: { path: string; from: string };
}

type Env = Readonly<Record<string, string | undefined>>;

/** The major version `java -version` reports (it prints on stderr), or null when it does not run. */
export function javaMajorVersion(javaBin: string): number | null {
  const r = spawnSync(javaBin, ['-version'], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) return null;
  return parseJavaVersion(`${r.stderr}${r.stdout}`);
}

export function parseJavaVersion(text: string): number | null {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return null;
  const first = Number(m[1]);
  // Java 8 and older say "1.8.0_…".
  return first === 1 && m[2] !== undefined ? Number(m[2]) : first;
}

export const DEFAULT_JVM_DIR = '/usr/lib/jvm';

export function findJava(env: Env = process.env, jvmDir = DEFAULT_JVM_DIR): { home: string; major: number } | { problem: string } {
  const seen: string[] = [];
  const candidates: string[] = [];
  if (env.JAVA_HOME) candidates.push(env.JAVA_HOME);
  if (existsSync(jvmDir)) {
    for (const name of readdirSync(jvmDir).sort().reverse()) candidates.push(join(jvmDir, name));
  }
  let best: { home: string; major: number } | null = null;
  for (const home of candidates) {
    const bin = join(home, 'bin', 'java');
    if (!existsSync(bin)) continue;
    const major = javaMajorVersion(bin);
    seen.push(`${home} (${major ?? 'unreadable version'})`);
    if (major === null || major < MIN_JAVA_MAJOR) continue;
    // JAVA_HOME wins when it qualifies; otherwise the newest installed JVM.
    if (home === env.JAVA_HOME) return { home, major };
    if (!best || major > best.major) best = { home, major };
  }
  if (best) return best;
  // `java` on PATH (e.g. a JDK unpacked elsewhere).
  try {
    const onPath = execFileSync('sh', ['-c', 'command -v java'], { encoding: 'utf8', env: { PATH: env.PATH ?? '' } }).trim();
    if (onPath) {
      const major = javaMajorVersion(onPath);
      seen.push(`${onPath} on PATH (${major ?? 'unreadable version'})`);
      if (major !== null && major >= MIN_JAVA_MAJOR) {
        const home = dirname(dirname(realpathSync(onPath)));
        return { home, major };
      }
    }
  } catch {
    // no java on PATH
  }
  return {
    problem:
      `Java ${MIN_JAVA_MAJOR} or newer (the Firestore emulator needs it). Looked at: ${seen.length ? seen.join(', ') : `JAVA_HOME unset, nothing in ${jvmDir}, no java on PATH`}. ` +
      `Install a JDK ${MIN_JAVA_MAJOR}+ (e.g. Debian's openjdk-21-jdk-headless, or Temurin) and set JAVA_HOME to it.`,
  };
}

export const DEFAULT_SDK_ROOT = '/usr/lib/google-cloud-sdk';

export function googleCloudSdkRoot(env: Env = process.env): string | null {
  try {
    const root = execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30_000,
      env: { ...env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
    }).trim();
    if (root && existsSync(root)) return root;
  } catch {
    // no gcloud on PATH
  }
  for (const root of [env.CLOUDSDK_ROOT_DIR, DEFAULT_SDK_ROOT]) if (root && existsSync(root)) return root;
  return null;
}

function firebaseCacheDir(env: Env): string {
  return join(env.HOME ?? homedir(), '.cache', 'firebase', 'emulators');
}

function newestMatching(dir: string, test: (name: string) => boolean): string | null {
  if (!existsSync(dir)) return null;
  const names = readdirSync(dir).filter(test).sort();
  return names.length ? join(dir, names[names.length - 1]!) : null;
}

export function findFirestoreEmulator(env: Env, sdkRoot: string | null): FirestoreBinary | { problem: string } {
  const override = env.FIRESTORE_EMULATOR_BINARY_PATH;
  if (override) {
    if (existsSync(override)) return { kind: 'runnable-jar', path: override, from: 'FIRESTORE_EMULATOR_BINARY_PATH' };
    return { problem: `the Firestore emulator: FIRESTORE_EMULATOR_BINARY_PATH=${override} does not exist` };
  }
  const cached = newestMatching(firebaseCacheDir(env), (n) => /^cloud-firestore-emulator-v[\d.]+\.jar$/.test(n));
  if (cached) return { kind: 'runnable-jar', path: cached, from: "firebase-tools' cache" };
  const componentJar = sdkRoot ? join(sdkRoot, 'platform', 'cloud-firestore-emulator', 'cloud-firestore-emulator.jar') : null;
  if (componentJar && existsSync(componentJar)) return { kind: 'component-jar', path: componentJar, from: 'Google Cloud CLI component cloud-firestore-emulator' };
  return {
    problem:
      `the Firestore emulator: not in FIRESTORE_EMULATOR_BINARY_PATH, not in ${firebaseCacheDir(env)}, ` +
      `not under ${sdkRoot ? join(sdkRoot, 'platform', 'cloud-firestore-emulator') : 'a Google Cloud CLI (gcloud not found)'}. ` +
      `Get it with \`npx firebase setup:emulators:firestore\` (needs network access) or \`apt-get install google-cloud-cli-firestore-emulator\`.`,
  };
}

export function findPubSubEmulator(env: Env, sdkRoot: string | null): { path: string; from: string } | { problem: string } {
  const override = env.PUBSUB_EMULATOR_BINARY_PATH;
  if (override) {
    if (existsSync(override)) return { path: override, from: 'PUBSUB_EMULATOR_BINARY_PATH' };
    return { problem: `the Pub/Sub emulator: PUBSUB_EMULATOR_BINARY_PATH=${override} does not exist` };
  }
  const cachedDir = newestMatching(firebaseCacheDir(env), (n) => /^pubsub-emulator-[\d.]+$/.test(n));
  const cached = cachedDir ? join(cachedDir, 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator') : null;
  if (cached && existsSync(cached)) return { path: cached, from: "firebase-tools' cache" };
  const component = sdkRoot ? join(sdkRoot, 'platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator') : null;
  if (component && existsSync(component)) return { path: component, from: 'Google Cloud CLI component pubsub-emulator' };
  return {
    problem:
      `the Pub/Sub emulator: not in PUBSUB_EMULATOR_BINARY_PATH, not in ${firebaseCacheDir(env)}, ` +
      `not under ${sdkRoot ? join(sdkRoot, 'platform', 'pubsub-emulator') : 'a Google Cloud CLI (gcloud not found)'}. ` +
      `Get it with \`npx firebase setup:emulators:pubsub\` (needs network access) or \`apt-get install google-cloud-cli-pubsub-emulator\`.`,
  };
}

/** Everything or an `EmulatorSetupError` naming each missing piece. */
export function locateEmulatorPieces(env: Env = process.env, where: { jvmDir?: string; sdkRoot?: string | null } = {}): EmulatorPieces {
  const java = findJava(env, where.jvmDir);
  const sdkRoot = where.sdkRoot === undefined ? googleCloudSdkRoot(env) : where.sdkRoot;
  const firestore = findFirestoreEmulator(env, sdkRoot);
  const pubsub = findPubSubEmulator(env, sdkRoot);
  const missing = [java, firestore, pubsub].flatMap((p) => ('problem' in p ? [p.problem] : []));
  if ('problem' in java || 'problem' in firestore || 'problem' in pubsub) throw new EmulatorSetupError(missing);
  return { javaHome: java.home, javaMajor: java.major, firestore, pubsub };
}
