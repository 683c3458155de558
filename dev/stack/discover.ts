import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Which Cloud Functions the compiled source exports, and how each is triggered: read from the
 * `__endpoint` manifest firebase-functions attaches to every exported function (what
 * `firebase deploy` reads too), so a function added to index.ts shows up in the stack
 * without touching it.
 *
 * Read in a child process: importing index.ts has side effects (it installs a SIGTERM handler
 * for the drain) that must not land in the stack's own process.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The deployable source directory: `main` of its package.json is lib/index.js. */
export const FUNCTIONS_SOURCE = path.join(REPO_ROOT, 'functions');
export const FUNCTIONS_ENTRY = path.join(FUNCTIONS_SOURCE, 'lib', 'index.js');

export type FunctionTrigger =
  | { kind: 'pubsub'; topic: string; retry: boolean }
  | { kind: 'firestore'; eventType: string; document: string | null; retry: boolean }
  | { kind: 'schedule'; schedule: string; timeZone: string | null }
  | { kind: 'http' }
  | { kind: 'other'; eventType: string };

export interface DiscoveredFunction {
  name: string;
  /** What the functions framework must be told (`--signature-type`). */
  signatureType: 'cloudevent' | 'http';
  trigger: FunctionTrigger;
}

interface RawEndpoint {
  eventTrigger?: { eventType?: string; eventFilters?: Record<string, string>; eventFilterPathPatterns?: Record<string, string>; retry?: boolean };
  scheduleTrigger?: { schedule?: string; timeZone?: string | null };
  httpsTrigger?: unknown;
  callableTrigger?: unknown;
}

const PRINT_ENDPOINTS = `
const m = await import(process.env.HALTGATE_FUNCTIONS_ENTRY_URL);
const out = {};
for (const [name, value] of Object.entries(m)) {
  if (typeof value === 'function' && value.__endpoint) out[name] = value.__endpoint;
}
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

export async function discoverFunctions(env: Record<string, string>): Promise<DiscoveredFunction[]> {
  if (!existsSync(FUNCTIONS_ENTRY)) {
    throw new Error(`${path.relative(process.cwd(), FUNCTIONS_ENTRY)} is missing: run \`npm run build\` first (npm start does)`);
  }
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', PRINT_ENDPOINTS],
      {
        cwd: FUNCTIONS_SOURCE,
        env: { ...process.env, ...env, HALTGATE_FUNCTIONS_ENTRY_URL: new URL(`file://${FUNCTIONS_ENTRY}`).href },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 60_000,
      },
      (err, out, errOut) => {
        if (err) reject(new Error(`reading the functions of ${FUNCTIONS_ENTRY} failed: ${err.message}\n${errOut}`));
        else resolve(out);
      },
    );
  });
  const raw = JSON.parse(stdout) as Record<string, RawEndpoint>;
  return Object.entries(raw).map(([name, endpoint]) => describe(name, endpoint));
}

function describe(name: string, endpoint: RawEndpoint): DiscoveredFunction {
  if (endpoint.scheduleTrigger) {
    // onSchedule functions are HTTP functions that Cloud Scheduler POSTs to.
    return {
      name,
      signatureType: 'http',
      trigger: { kind: 'schedule', schedule: endpoint.scheduleTrigger.schedule ?? '', timeZone: endpoint.scheduleTrigger.timeZone ?? null },
    };
  }
  const event = endpoint.eventTrigger;
  if (event) {
    const eventType = event.eventType ?? '';
    if (eventType === 'google.cloud.pubsub.topic.v1.messagePublished') {
      return { name, signatureType: 'cloudevent', trigger: { kind: 'pubsub', topic: event.eventFilters?.topic ?? '', retry: event.retry === true } };
    }
    if (eventType.startsWith('google.cloud.firestore.document.v1.')) {
      const document = event.eventFilterPathPatterns?.document ?? event.eventFilters?.document ?? null;
      return { name, signatureType: 'cloudevent', trigger: { kind: 'firestore', eventType, document, retry: event.retry === true } };
    }
    return { name, signatureType: 'cloudevent', trigger: { kind: 'other', eventType } };
  }
  return { name, signatureType: 'http', trigger: { kind: 'http' } };
}
