/**
 * The compiled functions served by a real `functions-framework` process, as Cloud Functions
 * 2nd gen runs them: for tests that need a real process (signals, exits) or the real HTTP
 * binding of a trigger.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = process.cwd();
export const LIB_INDEX = join(ROOT, 'functions/lib/index.js');
const FRAMEWORK_MAIN = join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src/main.js');

export interface Framework {
  url: string;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  output(): string;
}

/**
 * Starts `functions-framework --target=<target>` on the compiled functions and waits until it
 * serves. The environment is exactly `env` plus PATH and HOME (nothing of the test process).
 */
export async function startFramework(opts: {
  target: string;
  signatureType: 'http' | 'cloudevent';
  env: Record<string, string>;
  /** Every process started is pushed here, so the test can kill what is left (by handle). */
  started: ChildProcess[];
}): Promise<Framework> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [FRAMEWORK_MAIN, `--target=${opts.target}`, `--signature-type=${opts.signatureType}`, `--source=${LIB_INDEX}`, `--port=${port}`],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', METADATA_SERVER_DETECTION: 'none', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  opts.started.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() }));
  });
  const startedMs = Date.now();
  // Under NODE_ENV=production (as Cloud Functions runs it) the framework prints nothing:
  // then the port accepting connections is the sign.
  while (!out.includes('Serving function') && !(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`functions framework exited early:\n${out}`);
    if (Date.now() - startedMs > 30_000) throw new Error(`functions framework did not start:\n${out}`);
    await sleep(50);
  }
  return { url: `http://127.0.0.1:${port}/`, pid: child.pid!, exited, output: () => out };
}

/**
 * POSTs a JSON body: by default a structured CloudEvent, as Eventarc does. A dropped
 * connection is an answer too (`status: null`).
 */
export async function post(
  url: string,
  body: object,
  headers: Record<string, string> = { 'content-type': 'application/cloudevents+json' },
): Promise<{ ok: boolean; status: number | null; body: string }> {
  try {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    return { ok: res.ok, status: res.status, body: await res.text() };
  } catch (err) {
    return { ok: false, status: null, body: String(err) };
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * `npm test` builds before vitest runs; a single file run needs the build too. Rebuilds only
 * when a source is newer than functions/lib/index.js.
 */
export function buildFunctionsIfStale(): void {
  const newestSource = newestMtime(join(ROOT, 'functions/src'));
  if (existsSync(LIB_INDEX) && statSync(LIB_INDEX).mtimeMs >= newestSource) return;
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'functions/tsconfig.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  // tsc emits even with type errors elsewhere in the tree; what matters here is the output.
  if (!existsSync(LIB_INDEX)) throw new Error(`building functions failed:\n${tsc.stdout}${tsc.stderr}`);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}
