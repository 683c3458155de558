/**
 * What `npm run emulators` hands firebase-tools: its ports (firebase.json shifted by
 * HALTGATE_EMULATOR_PORT_OFFSET), the functions' params (dev/emulators/emulator.env plus the
 * declared defaults) and the broker secrets (functions/.secret.local).
 *
 * Where firebase-tools looks (node_modules/firebase-tools/lib):
 * - The project folder is the folder of the `--config` file (detectProjectRoot.js), and every
 *   path in it must stay inside that folder (config.js: `path.relative(...).includes("..")`
 *   throws). So the generated config lives in the repository root, git-ignored:
 *   `firebase.local-<offset>.json`.
 * - Params: functions/env.js `loadUserEnvs` reads `.env`, `.env.<project>` and, in the
 *   emulator only, `.env.local` from the codebase's `configDir` (default: the functions
 *   source), and `writeResolvedParams` *appends* every param those files do not set to
 *   `<configDir>/.env.local`, creating it — that is how a plain `firebase emulators:start`
 *   leaves an untracked functions/.env.local behind. The generated config points `configDir`
 *   at a git-ignored cache folder holding a complete .env.local: firebase-tools reads and
 *   writes nothing in functions/.
 * - Secrets: `resolveSecretEnvs` (emulator/functionsEmulator.js) reads `.secret.local` from
 *   the functions source itself (functionsEmulatorShared.js `getSecretLocalPath`), not from
 *   configDir, and asks Secret Manager for any secret it lacks. So the broker keys live in
 *   functions/.secret.local (git-ignored), generated once and reused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadReconcileConfig, loadRuntimeConfig, PARAM_SPECS, SECRET_NAMES } from '../../functions/src/config.js';
import { EMULATOR_CACHE_DIR, REPO_ROOT, suitePorts, type SuitePorts } from './suite.js';

export const EMULATOR_PARAMS_FILE = join(REPO_ROOT, 'dev', 'emulators', 'emulator.env');
export const FUNCTIONS_DIR = join(REPO_ROOT, 'functions');
export const SECRET_LOCAL_FILE = join(FUNCTIONS_DIR, '.secret.local');
/**
 * The two emulators firebase-tools starts beside the functions emulator (Eventarc, Cloud
 * Tasks; haltgate uses neither). Not firebase-tools' defaults 9299 and 9499: with port offsets
 * in steps of 100, those would be auth's port (9099) two or four offsets up. Beside the
 * functions emulator they collide with nothing.
 */
const EVENTARC_BASE_PORT = 5011;
const TASKS_BASE_PORT = 5021;

export interface WorkflowPorts extends SuitePorts {
  eventarc: number;
  tasks: number;
  /** The Alpaca simulator: the port of ALPACA_BASE_URL in emulator.env, shifted. */
  simulator: number;
}

/** `KEY=VALUE` lines, `#` comments, blank lines; nothing else (a typo must not pass silently). */
export function parseEnvFile(text: string, source: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!m) throw new Error(`${source}:${i + 1}: not a KEY=VALUE line: ${JSON.stringify(line)}`);
    let value = m[2]!.trim();
    if (/^"(.*)"$/.test(value)) value = value.slice(1, -1);
    if (out.has(m[1]!)) throw new Error(`${source}:${i + 1}: ${m[1]} is set twice`);
    out.set(m[1]!, value);
  });
  return out;
}

function formatEnvValue(value: string): string {
  return /^[\w@%+=:,./-]*$/.test(value) ? value : JSON.stringify(value);
}

export function readEmulatorParams(file = EMULATOR_PARAMS_FILE): Map<string, string> {
  const params = parseEnvFile(readFileSync(file, 'utf8'), relative(REPO_ROOT, file));
  for (const name of params.keys()) {
    if (!(name in PARAM_SPECS)) {
      const secret = (SECRET_NAMES as readonly string[]).includes(name);
      throw new Error(
        `${relative(REPO_ROOT, file)}: ${name} is ${secret ? 'a secret: it belongs in functions/.secret.local' : 'not a param of functions/src/config.ts'}`,
      );
    }
  }
  return params;
}

/** The simulator's port at offset 0: the port of ALPACA_BASE_URL in the committed params. */
export function simulatorBasePort(params: Map<string, string>): number {
  const raw = params.get('ALPACA_BASE_URL');
  if (!raw) throw new Error(`${relative(REPO_ROOT, EMULATOR_PARAMS_FILE)} must set ALPACA_BASE_URL to the Alpaca simulator's URL (http://127.0.0.1:<port>)`);
  const url = new URL(raw);
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(url.hostname) || url.port === '') {
    throw new Error(`ALPACA_BASE_URL=${raw} in ${relative(REPO_ROOT, EMULATOR_PARAMS_FILE)} must be http://127.0.0.1:<port>: the local workflow only talks to its simulator`);
  }
  return Number(url.port);
}

export function workflowPorts(offset: number, params = readEmulatorParams()): WorkflowPorts {
  return {
    ...suitePorts(offset),
    eventarc: EVENTARC_BASE_PORT + offset,
    tasks: TASKS_BASE_PORT + offset,
    simulator: simulatorBasePort(params) + offset,
  };
}

export interface LocalSecrets {
  keyId: string;
  secretKey: string;
  /** Whether this call wrote functions/.secret.local (it did not exist). */
  created: boolean;
}

/**
 * The broker keys of the functions emulator: read from functions/.secret.local, or generated
 * into it (mode 0600) when it does not exist. The simulator is started with the same keys.
 */
export function ensureLocalSecrets(file = SECRET_LOCAL_FILE): LocalSecrets {
  if (existsSync(file)) {
    const values = parseEnvFile(readFileSync(file, 'utf8'), relative(REPO_ROOT, file));
    const keyId = values.get('ALPACA_KEY_ID');
    const secretKey = values.get('ALPACA_SECRET_KEY');
    if (!keyId || !secretKey) {
      throw new Error(`${relative(REPO_ROOT, file)} lacks ALPACA_KEY_ID or ALPACA_SECRET_KEY; delete it and it is generated again`);
    }
    return { keyId, secretKey, created: false };
  }
  const keyId = `local-${randomBytes(6).toString('hex')}`;
  const secretKey = randomBytes(24).toString('hex');
  const text = [
    '# Generated by `npm run emulators` (dev/emulators/workflow-config.ts); git-ignored.',
    "# Keys of the local Alpaca simulator only: firebase-tools' functions emulator reads them",
    '# in place of Secret Manager. Delete the file to get new ones.',
    `ALPACA_KEY_ID=${keyId}`,
    `ALPACA_SECRET_KEY=${secretKey}`,
    '',
  ].join('\n');
  // `wx`: a concurrent start that got there first wins; read what it wrote.
  try {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return ensureLocalSecrets(file);
    throw err;
  }
  return { keyId, secretKey, created: true };
}

/**
 * Every param of functions/src/config.ts: the committed value, else the declared default;
 * ALPACA_BASE_URL pointed at the simulator's shifted port. Validated the way the functions
 * validate them, so a bad committed value stops the start instead of refusing every intent.
 */
export function emulatorParamValues(ports: WorkflowPorts, secrets: Pick<LocalSecrets, 'keyId' | 'secretKey'>, params = readEmulatorParams()): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, spec] of Object.entries(PARAM_SPECS)) values[name] = params.get(name) ?? String(spec.default);
  values.ALPACA_BASE_URL = `http://127.0.0.1:${ports.simulator}`;
  const check = { ...values, ALPACA_KEY_ID: secrets.keyId, ALPACA_SECRET_KEY: secrets.secretKey };
  const runtime = loadRuntimeConfig(check);
  const reconcile = loadReconcileConfig(check);
  const problems = [...(runtime.ok ? [] : runtime.problems), ...(reconcile.ok ? [] : reconcile.problems)];
  if (problems.length > 0) throw new Error(`${relative(REPO_ROOT, EMULATOR_PARAMS_FILE)} is invalid:\n  - ${[...new Set(problems)].join('\n  - ')}`);
  if (values.EXECUTION_MODE === 'live') throw new Error(`EXECUTION_MODE=live is refused by the local workflow: it only ever talks to the Alpaca simulator`);
  return values;
}

export interface GeneratedConfig {
  /** Absolute path of the generated firebase config (repository root). */
  configPath: string;
  /** The folder firebase-tools runs in (its *-debug.log files land here), and configDir's parent. */
  workDir: string;
  /** `<configDir>/.env.local`. */
  envFile: string;
}

type FirebaseJson = {
  functions?: Array<Record<string, unknown>> | Record<string, unknown>;
  firestore?: Record<string, unknown>;
  emulators?: Record<string, unknown>;
};

export function generatedConfigPath(offset: number): string {
  return join(REPO_ROOT, `firebase.local-${offset}.json`);
}

/**
 * Writes the firebase config of the workflow (the users' firebase.json with every port shifted
 * and `configDir` set) and the functions' .env.local; returns where they are.
 */
export function writeWorkflowConfig(offset: number, ports: WorkflowPorts, paramValues: Record<string, string>): GeneratedConfig {
  const workDir = join(EMULATOR_CACHE_DIR, `workflow-${offset}`);
  const envDir = join(workDir, 'env');
  mkdirSync(envDir, { recursive: true });
  const envFile = join(envDir, '.env.local');
  const lines = ['# Generated by `npm run emulators` from dev/emulators/emulator.env and the declared defaults.'];
  for (const [name, value] of Object.entries(paramValues)) lines.push(`${name}=${formatEnvValue(value)}`);
  writeFileSync(envFile, `${lines.join('\n')}\n`);

  const users = JSON.parse(readFileSync(join(REPO_ROOT, 'firebase.json'), 'utf8')) as FirebaseJson;
  const functions = (Array.isArray(users.functions) ? users.functions : users.functions ? [users.functions] : [{ source: 'functions' }]).map((f) => {
    const { predeploy: _predeploy, ...rest } = f;
    return { ...rest, configDir: relative(REPO_ROOT, envDir) };
  });
  if (functions.length !== 1) throw new Error('firebase.json: the local workflow expects exactly one functions codebase');
  const emulators = users.emulators ?? {};
  const at = (host: unknown, port: number) => ({ host: typeof host === 'string' ? host : '127.0.0.1', port });
  const hostOf = (name: string) => (emulators[name] as { host?: unknown } | undefined)?.host;
  const config = {
    functions,
    ...(users.firestore ? { firestore: users.firestore } : {}),
    emulators: {
      firestore: { ...at(hostOf('firestore'), ports.firestore), websocketPort: ports.firestoreWebsocket },
      pubsub: at(hostOf('pubsub'), ports.pubsub),
      functions: at(hostOf('functions'), ports.functions),
      auth: at(hostOf('auth'), ports.auth),
      hub: at(hostOf('hub'), ports.hub),
      logging: at(hostOf('logging'), ports.logging),
      eventarc: at(hostOf('eventarc'), ports.eventarc),
      tasks: at(hostOf('tasks'), ports.tasks),
      ui: { enabled: false },
      singleProjectMode: emulators.singleProjectMode ?? true,
    },
  };
  const configPath = generatedConfigPath(offset);
  // firebase-tools reads its config as CJSON (loadCJSON.js): comments are allowed.
  writeFileSync(
    configPath,
    `// Generated by \`npm run emulators\` (dev/emulators/workflow.ts) from firebase.json, port offset ${offset}; git-ignored.\n${JSON.stringify(config, null, 2)}\n`,
  );
  return { configPath, workDir, envFile };
}
