/**
 * Starting the official Firebase Emulator Suite (firebase-tools) offline: the environment it
 * needs (a Java 21+ first on PATH, the emulator binaries in the `*_EMULATOR_BINARY_PATH`
 * variables) and, for the tests and the local stack, a suite config of its own.
 *
 * Tests and `npm start` run Firestore, Pub/Sub and Auth only (functions run as
 * functions-framework processes), from a firebase.json written into a git-ignored cache
 * folder next to a copy of firestore.rules: firebase-tools takes the folder of its config as
 * the project folder and writes its logs into the working directory, and neither should be
 * the work tree. `HALTGATE_EMULATOR_PORT_OFFSET` shifts every port, so two suites (say, two
 * checkouts) can run side by side.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLauncherJar } from './launcher-jar.js';
import { locateEmulatorPieces, type EmulatorPieces } from './locate.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const EMULATOR_CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'haltgate-emulators');
export const FIREBASE_CLI = join(REPO_ROOT, 'node_modules', 'firebase-tools', 'lib', 'bin', 'firebase.js');
/** The project the suite is started for; tests use projects of their own beside it. */
export const SUITE_PROJECT_ID = 'demo-haltgate';

/** The emulators tests and the local stack use (functions run as functions-framework processes). */
export const STACK_EMULATORS = ['firestore', 'pubsub', 'auth'] as const;

export interface SuitePorts {
  firestore: number;
  firestoreWebsocket: number;
  pubsub: number;
  auth: number;
  functions: number;
  hub: number;
  logging: number;
}

/** The ports in the repository's firebase.json (the users' workflow), shifted by `offset`. */
export function suitePorts(offset = portOffsetFromEnv()): SuitePorts {
  const config = JSON.parse(readFileSync(join(REPO_ROOT, 'firebase.json'), 'utf8')) as { emulators: Record<string, { port?: number; websocketPort?: number }> };
  const e = config.emulators;
  const port = (name: string, fallback: number) => (e[name]?.port ?? fallback) + offset;
  return {
    firestore: port('firestore', 8080),
    firestoreWebsocket: (e.firestore?.websocketPort ?? 9150) + offset,
    pubsub: port('pubsub', 8085),
    auth: port('auth', 9099),
    functions: port('functions', 5001),
    // firebase-tools' own defaults are 4400 and 4500: with offsets in steps of 100 one suite's
    // hub would take the next one's logging port, so logging sits beside the hub.
    hub: port('hub', 4400),
    logging: port('logging', 4410),
  };
}

export function portOffsetFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env.HALTGATE_EMULATOR_PORT_OFFSET;
  if (raw === undefined || raw.trim() === '') return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 50_000) throw new Error(`HALTGATE_EMULATOR_PORT_OFFSET=${raw} is not a whole number from 0 to 50000`);
  return n;
}

/**
 * The environment firebase-tools needs to start the official emulators offline. Throws
 * `EmulatorSetupError` (naming what is missing and how to get it) when a piece is missing.
 */
export function emulatorToolEnv(env: NodeJS.ProcessEnv = process.env): { env: NodeJS.ProcessEnv; pieces: EmulatorPieces } {
  const pieces = locateEmulatorPieces(env);
  mkdirSync(EMULATOR_CACHE_DIR, { recursive: true });
  const firestoreBinary =
    pieces.firestore.kind === 'runnable-jar' ? pieces.firestore.path : writeLauncherJar(join(EMULATOR_CACHE_DIR, 'firestore-launcher.jar'), pieces.firestore.path);
  // firebase-tools chmods the binary it is given; give it a wrapper of ours rather than a
  // file of the system's package.
  const pubsubWrapper = join(EMULATOR_CACHE_DIR, 'cloud-pubsub-emulator');
  // Under a suite (npm test), PUBSUB_EMULATOR_BINARY_PATH already names this wrapper: a wrapper
  // that execs itself would spin forever, for every suite on the machine. Keep it as it is.
  if (resolve(pieces.pubsub.path) !== pubsubWrapper) {
    // Written aside and renamed into place: suites start concurrently, and a shell reading the
    // wrapper while another start truncates it would run an empty script.
    const wrapperTmp = `${pubsubWrapper}.${process.pid}.tmp`;
    writeFileSync(wrapperTmp, `#!/bin/sh\nexec "${pieces.pubsub.path}" "$@"\n`, { mode: 0o755 });
    renameSync(wrapperTmp, pubsubWrapper);
  }
  return {
    pieces,
    env: {
      ...env,
      JAVA_HOME: pieces.javaHome,
      PATH: `${join(pieces.javaHome, 'bin')}:${env.PATH ?? ''}`,
      FIRESTORE_EMULATOR_BINARY_PATH: firestoreBinary,
      PUBSUB_EMULATOR_BINARY_PATH: pubsubWrapper,
      // No network here: firebase-tools' update check would only wait, and the Google auth
      // libraries in the commands run under the suite must not probe for a GCE metadata server.
      NO_UPDATE_NOTIFIER: '1',
      METADATA_SERVER_DETECTION: 'none',
      FIREBASE_CLI_EXPERIMENTS: env.FIREBASE_CLI_EXPERIMENTS ?? '',
    },
  };
}

/** Writes the suite's firebase.json (and a copy of the rules) into the cache folder; returns its path. */
export function writeSuiteConfig(ports: SuitePorts): string {
  const dir = join(EMULATOR_CACHE_DIR, `suite-${ports.firestore}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(REPO_ROOT, 'firestore.rules'), join(dir, 'firestore.rules'));
  const config = {
    firestore: { rules: 'firestore.rules' },
    emulators: {
      firestore: { host: '127.0.0.1', port: ports.firestore, websocketPort: ports.firestoreWebsocket },
      pubsub: { host: '127.0.0.1', port: ports.pubsub },
      auth: { host: '127.0.0.1', port: ports.auth },
      hub: { host: '127.0.0.1', port: ports.hub },
      logging: { host: '127.0.0.1', port: ports.logging },
      ui: { enabled: false },
      // Tests give every file a project of its own (isolation): no warning for each.
      singleProjectMode: false,
    },
  };
  const path = join(dir, 'firebase.json');
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

/** POSIX shell quoting of one word. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `command` under `firebase emulators:exec` with the stack's emulators: it sees
 * FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, FIREBASE_AUTH_EMULATOR_HOST and
 * FIREBASE_EMULATOR_HUB. Resolves with the command's exit code.
 */
export async function execUnderEmulators(command: string[], opts: { only?: readonly string[]; cwd?: string } = {}): Promise<number> {
  const { env } = emulatorToolEnv();
  const config = writeSuiteConfig(suitePorts());
  const script = [`cd ${shellQuote(opts.cwd ?? process.cwd())}`, command.map(shellQuote).join(' ')].join(' && ');
  const child = spawn(
    process.execPath,
    [FIREBASE_CLI, 'emulators:exec', '--config', config, '--project', SUITE_PROJECT_ID, '--only', (opts.only ?? STACK_EMULATORS).join(','), script],
    { cwd: dirname(config), env, stdio: 'inherit' },
  );
  // Ctrl-C reaches the whole process group; a SIGTERM sent to this process alone is passed on.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', () => {});
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}
