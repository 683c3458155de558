// The runner kit as a strategy repository gets it: `npm pack` of the @haltgate/runner
// workspace, the tarball installed into an empty project outside this checkout, and the
// copy-paste strategy of runner/README.md (extracted from its code block, so the README is
// what is tested) run there with plain `node` against the official emulators, in a project of
// this file's own. It must publish valid intents to order-intents, keep its heartbeat, stop
// with exit code 0 starting no iteration after `kill -TERM`, and stop by itself when
// ops/killSwitch is halted. The checkout is left as it was: the tarball and the project live
// in os.tmpdir() and are removed afterwards.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PubSub, v1, type Subscription } from '@google-cloud/pubsub';
import { deleteApp, type App } from 'firebase-admin/app';
import { Timestamp, type Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIntentText } from '../../../functions/src/domain/intent.js';
import { adminFirestore } from '../../support/backends.js';
import { clearFirestore, EMULATORS, uniqueProjectId } from '../../support/emulators.js';

const run = promisify(execFile);
const REPO_ROOT = realpathSync(fileURLToPath(new URL('../../../', import.meta.url)));
const RUNNER_DIR = join(REPO_ROOT, 'runner');
const README = join(RUNNER_DIR, 'README.md');
const PROJECT = uniqueProjectId();
const RUNNER_ID = 'sma-cross-aapl'; // the README strategy's
const INSTALL_TIMEOUT_MS = 180_000;

/**
 * The environment of the npm and node processes: this one's without what npm, npx, vitest
 * and tsx put there (npm_* settings, a loader in NODE_OPTIONS, NODE_PATH), so they behave as
 * in a strategy author's shell, and without the project settings of `emulators:exec`.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || ['INIT_CWD', 'NODE_OPTIONS', 'NODE_PATH', 'VITEST', 'VITEST_MODE', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'TEST', 'NODE_ENV'].includes(key)) continue;
    if (['FIREBASE_CONFIG', 'GCLOUD_PROJECT', 'GOOGLE_CLOUD_PROJECT', 'METADATA_SERVER_DETECTION', 'FIRESTORE_EMULATOR_HOST', 'PUBSUB_EMULATOR_HOST'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

async function npm(args: string[], cwd: string, timeout = INSTALL_TIMEOUT_MS): Promise<{ stdout: string; ms: number }> {
  const started = Date.now();
  try {
    const { stdout } = await run('npm', args, { cwd, env: cleanEnv(), timeout, maxBuffer: 16 * 1024 * 1024 });
    return { stdout, ms: Date.now() - started };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} (in ${cwd}) failed: ${e.message}\nstdout:\n${e.stdout}\nstderr:\n${e.stderr}`);
  }
}

/** The fenced code blocks of a markdown file: info string and body. */
function codeBlocks(markdown: string): Array<{ info: string; body: string }> {
  return [...markdown.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ info: (m[1] ?? '').trim(), body: m[2] ?? '' }));
}

/** git's view of what this test could leave in the checkout: runner/ (its lib/ is ignored) and any tarball. */
async function gitState(): Promise<string> {
  const { stdout } = await run('git', ['status', '--porcelain', '--untracked-files=all', '--', 'runner', '*.tgz'], { cwd: REPO_ROOT });
  return stdout;
}

let tmp: string;
let projectDir: string;
let tarballFiles: string[] = [];
/** The README command line's environment variables, pointed at this test's emulators and project. */
let runEnv: Record<string, string> = {};
let timings: Record<string, number> = {};
let gitBefore: string;
let app: App;
let db: Firestore;
let pubsub: PubSub;
let subscriber: v1.SubscriberClient;
let subscription: Subscription;
const children: ChildProcess[] = [];

beforeAll(async () => {
  gitBefore = await gitState();
  tmp = realpathSync(mkdtempSync(join(tmpdir(), 'haltgate-runner-package-')));
  expect(tmp.startsWith(REPO_ROOT + sep)).toBe(false);

  // 1. Pack (prepack builds the package first).
  const packDir = join(tmp, 'pack');
  mkdirSync(packDir);
  const packed = await npm(['pack', '--pack-destination', packDir, '--json'], RUNNER_DIR);
  timings['npm pack (with build)'] = packed.ms;
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string }>;
  const tarball = join(packDir, info!.filename);
  const { stdout: listing } = await run('tar', ['-tzf', tarball]);
  tarballFiles = listing
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''))
    .sort();

  // 2. An empty project, set up as the README says, with the README's install line.
  projectDir = join(tmp, 'my-strategy');
  mkdirSync(projectDir);
  await npm(['init', '-y'], projectDir);
  const readme = readFileSync(README, 'utf8');
  const installLines = readme.split('\n').filter((l) => /^npm install \S+\.tgz\b/.test(l));
  expect(installLines, 'runner/README.md has one `npm install <tarball> ...` line').toHaveLength(1);
  const [, ...deps] = installLines[0]!.replace(/^npm install /, '').trim().split(/\s+/);
  const installed = await npm(['install', tarball, ...deps, '--prefer-offline', '--no-audit', '--no-fund'], projectDir);
  timings['npm install (tarball + README deps)'] = installed.ms;

  // 3. The README's strategy, exactly as printed.
  const strategies = codeBlocks(readme).filter((b) => b.body.startsWith('// strategy.mjs'));
  expect(strategies, 'runner/README.md has one code block starting with `// strategy.mjs`').toHaveLength(1);
  writeFileSync(join(projectDir, 'strategy.mjs'), strategies[0]!.body);
  // ... and its emulator command line, with this test's emulators and project.
  const runLines = readme.split('\n').filter((l) => /^(?:[A-Z_]+=\S+ )+node strategy\.mjs$/.test(l) && l.includes('FIRESTORE_EMULATOR_HOST='));
  expect(runLines, 'runner/README.md has one `FIRESTORE_EMULATOR_HOST=... node strategy.mjs` line').toHaveLength(1);
  runEnv = Object.fromEntries(runLines[0]!.split(' ').slice(0, -2).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  expect(Object.keys(runEnv)).toEqual(expect.arrayContaining(['FIRESTORE_EMULATOR_HOST', 'PUBSUB_EMULATOR_HOST', 'GCLOUD_PROJECT']));
  Object.assign(runEnv, { FIRESTORE_EMULATOR_HOST: EMULATORS.firestore, PUBSUB_EMULATOR_HOST: EMULATORS.pubsub, GCLOUD_PROJECT: PROJECT });

  // 4. The emulators: a pull subscription on order-intents before anything publishes.
  pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: EMULATORS.pubsub, emulatorMode: true });
  const [topic] = await pubsub.createTopic('order-intents');
  [subscription] = await topic.createSubscription(`package-test-${process.pid}`, { ackDeadlineSeconds: 60 });
  subscriber = new v1.SubscriberClient((await pubsub.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0]);
  ({ app, db } = adminFirestore(PROJECT));
  console.log(`timings: ${JSON.stringify(timings)}`);
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await subscription?.delete().catch(() => undefined);
  await subscriber?.close();
  await pubsub?.close();
  if (app !== undefined) await deleteApp(app);
  await clearFirestore(PROJECT).catch(() => undefined);
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  // Nothing of this test in the checkout: no tarball, no change under runner/ (runner/lib is ignored).
  expect(await gitState()).toBe(gitBefore);
  expect(readdirSync(REPO_ROOT).filter((f) => f.endsWith('.tgz'))).toEqual([]);
  expect(readdirSync(RUNNER_DIR).filter((f) => f.endsWith('.tgz'))).toEqual([]);
});

/**
 * Pulls what order-intents delivered to the test's subscription (acknowledging it) until at
 * least `n` messages came, or 10 s passed; then whatever else is there.
 */
async function pullIntents(n: number): Promise<Array<{ text: string; attributes: Record<string, string> }>> {
  const out: Array<{ text: string; attributes: Record<string, string> }> = [];
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [res] = await subscriber.pull({ subscription: subscription.name, maxMessages: 1000, returnImmediately: true });
    const received = res.receivedMessages ?? [];
    if (received.length === 0) {
      if (out.length >= n || Date.now() > deadline) return out;
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    await subscriber.acknowledge({ subscription: subscription.name, ackIds: received.map((m) => m.ackId!) });
    for (const r of received) {
      out.push({ text: Buffer.from(r.message?.data ?? new Uint8Array()).toString('utf8'), attributes: { ...(r.message?.attributes ?? {}) } });
    }
  }
}

/** runners/{RUNNER_ID} once `ready(data)` holds (the heartbeat's writes are asynchronous), or the last seen after 10 s. */
async function runnerDoc(ready: (data: Record<string, unknown> | undefined) => boolean): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const data = (await db.doc(`runners/${RUNNER_ID}`).get()).data();
    if (ready(data) || Date.now() > deadline) return data;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Line {
  atMs: number;
  text: string;
}

interface Strategy {
  child: ChildProcess;
  lines: Line[];
  output(): string;
  stderr(): string;
  waitForLine(re: RegExp, timeoutMs?: number): Promise<Line>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node strategy.mjs` in the installed project, with the README's environment variables. */
function startStrategy(): Strategy {
  const child = spawn(process.execPath, ['strategy.mjs'], {
    cwd: projectDir,
    env: cleanEnv(runEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Line[] = [];
  let stderr = '';
  let partial = '';
  let waiters: Array<() => void> = [];
  let done = false;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      // Every line of the README strategy is `<ISO time> <message>`.
      const m = /^(\S+Z) (.*)$/.exec(p);
      lines.push(m ? { atMs: Date.parse(m[1]!), text: m[2]! } : { atMs: NaN, text: p });
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const output = (): string => `stdout:\n${lines.map((l) => `${new Date(l.atMs).toISOString()} ${l.text}`).join('\n')}\nstderr:\n${stderr}`;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      for (const w of waiters) w();
      resolve({ code, signal });
    });
  });
  return {
    child,
    lines,
    output,
    stderr: () => stderr,
    exited,
    waitForLine(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms\n${output()}`));
        }, timeoutMs);
        const check = (): void => {
          const line = lines.find((l) => re.test(l.text));
          if (line !== undefined || done) {
            clearTimeout(timer);
            waiters = waiters.filter((w) => w !== check);
            if (line !== undefined) resolve(line);
            else reject(new Error(`exited without a line matching ${re}\n${output()}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
  };
}

/**
 * What every run must show: exit code 0 (by itself, no signal death), one `stopping:` line
 * with `reason`, no iteration started after it, every intent decided before it, and what it
 * published exactly what order-intents received, each a valid intent.
 */
async function expectCleanStop(s: Strategy, reason: string): Promise<{ stopping: Line; iterations: number }> {
  const exit = await s.exited;
  const context = s.output();
  console.log(context); // shown for a failing test, or with --silent=false
  expect(exit, context).toEqual({ code: 0, signal: null });
  expect(s.stderr(), context).toBe('');
  expect(s.lines.every((l) => Number.isFinite(l.atMs)), context).toBe(true);

  const stoppingAt = s.lines.findIndex((l) => l.text.startsWith('stopping: '));
  expect(stoppingAt, context).toBeGreaterThan(-1);
  const stopping = s.lines[stoppingAt]!;
  expect(stopping.text, context).toContain(`(${reason})`);
  const iterationLines = s.lines.filter((l) => /^iteration \d+$/.test(l.text));
  expect(iterationLines.length, context).toBeGreaterThan(0);
  expect(s.lines.slice(stoppingAt).some((l) => /^iteration \d+$/.test(l.text)), context).toBe(false);
  expect(s.lines.at(-1)?.text, context).toMatch(new RegExp(`^stopped after ${iterationLines.length} iterations: runner stopped \\(${reason.replace(/[()]/g, '\\$&')}\\)`));

  const publishedIds = s.lines.flatMap((l) => /^published (\S+) /.exec(l.text)?.[1] ?? []);
  expect(publishedIds.length, context).toBeGreaterThan(0);
  const messages = await pullIntents(publishedIds.length);
  expect(messages.map((m) => m.attributes['intentId']).sort(), context).toEqual([...publishedIds].sort());
  for (const m of messages) {
    const parsed = parseIntentText(m.text);
    expect(parsed, m.text).toMatchObject({ ok: true });
    if (!parsed.ok) continue;
    expect(m.attributes).toEqual({ intentId: parsed.intent.intentId, strategyId: 'sma-cross' });
    expect(parsed.intent).toMatchObject({ strategyId: 'sma-cross', symbol: 'AAPL', qty: 1, type: 'limit' });
    // Decided before the stop (the strategy checks the signal right before deciding).
    expect(Date.parse(parsed.intent.createdAt), context).toBeLessThanOrEqual(stopping.atMs);
  }
  return { stopping, iterations: iterationLines.length };
}

describe('@haltgate/runner installed from its tarball into an empty project', () => {
  it('ships the compiled kit and the shared domain files it imports, with types, and nothing else', async ({ annotate }) => {
    await annotate(Object.entries(timings).map(([k, ms]) => `${k}: ${(ms / 1000).toFixed(1)} s`).join('; '));
    const unexpected = tarballFiles.filter((f) => !['package.json', 'README.md'].includes(f) && !/^lib\/.+\.(js|d\.ts)$/.test(f));
    expect(unexpected, tarballFiles.join('\n')).toEqual([]);
    for (const f of ['index', 'publish-intent', 'stop-signal', 'sleep', 'heartbeat']) {
      expect(tarballFiles).toContain(`lib/runner/src/${f}.js`);
      expect(tarballFiles).toContain(`lib/runner/src/${f}.d.ts`);
    }
    for (const f of ['domain/intent', 'domain/kill-switch', 'domain/clock', 'domain/runner-heartbeat', 'store/paths', 'store/firestore-values', 'topics']) {
      expect(tarballFiles).toContain(`lib/functions/src/${f}.js`);
      expect(tarballFiles).toContain(`lib/functions/src/${f}.d.ts`);
    }
    expect(tarballFiles.filter((f) => /test|spec|fixture|\.env|secret|\.map$/i.test(f))).toEqual([]);

    // Installed as a dependency, outside the checkout, with one firebase-admin (see the README's notes).
    expect(relative(REPO_ROOT, projectDir).startsWith('..')).toBe(true);
    const pkg = JSON.parse(readFileSync(join(projectDir, 'node_modules/@haltgate/runner/package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({ name: '@haltgate/runner', version: '0.1.0', type: 'module' });
    const own = JSON.parse(readFileSync(join(projectDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(own.dependencies).sort()).toEqual(['@google-cloud/pubsub', '@haltgate/runner', 'firebase-admin']);
    expect(existsSync(join(projectDir, 'node_modules/@haltgate/runner/node_modules/firebase-admin'))).toBe(false);
    // Every relative import of the compiled kit stays inside the package.
    const installedLib = join(projectDir, 'node_modules/@haltgate/runner/lib');
    for (const f of tarballFiles.filter((x) => x.endsWith('.js'))) {
      const source = readFileSync(join(projectDir, 'node_modules/@haltgate/runner', f), 'utf8');
      for (const [, spec] of source.matchAll(/from '([^']+)'/g)) {
        if (!spec!.startsWith('.')) {
          expect(['zod', 'firebase-admin/firestore', 'node:os']).toContain(spec);
          continue;
        }
        const target = join(projectDir, 'node_modules/@haltgate/runner', f, '..', spec!);
        expect(target.startsWith(installedLib + sep), `${f}: ${spec}`).toBe(true);
        expect(existsSync(target), `${f}: ${spec}`).toBe(true);
      }
    }
  });

  it('runs the README strategy: valid intents on order-intents, a heartbeat, and kill -TERM stops it with exit code 0', async () => {
    await db.doc('ops/killSwitch').set({ halted: false, reason: 'package test', updatedBy: 'package-test' });
    const s = startStrategy();
    await s.waitForLine(/^ready: /);
    await s.waitForLine(/^published /);
    const running = await runnerDoc((d) => d?.['pid'] === s.child.pid);
    expect(running, s.output()).toMatchObject({ runnerId: RUNNER_ID, pid: s.child.pid, state: 'running' });
    // Server time (a Timestamp), not the runner's clock.
    expect(running?.['lastSeenAt'], s.output()).toBeInstanceOf(Timestamp);

    // Right after the second iteration began: it is awaited, and no third one starts.
    await s.waitForLine(/^iteration 2$/);
    s.child.kill('SIGTERM');
    const { iterations } = await expectCleanStop(s, 'signal:SIGTERM');
    expect(iterations).toBe(2);

    const stopped = (await db.doc(`runners/${RUNNER_ID}`).get()).data();
    expect(stopped, s.output()).toMatchObject({ runnerId: RUNNER_ID, pid: s.child.pid, state: 'stopped', stopReason: 'signal:SIGTERM' });
  }, 60_000);

  it('a second run stops by itself when ops/killSwitch is halted', async () => {
    await db.doc('ops/killSwitch').set({ halted: false, reason: 'package test', updatedBy: 'package-test' });
    const s = startStrategy();
    await s.waitForLine(/^published /);
    const haltedAt = Date.now();
    await db.doc('ops/killSwitch').set({ halted: true, reason: 'risk review', updatedBy: 'ops@package-test' });
    const { stopping } = await expectCleanStop(s, 'halted');
    expect(stopping.text).toContain('risk review');
    expect(stopping.atMs - haltedAt, s.output()).toBeLessThan(5_000);

    const stopped = (await db.doc(`runners/${RUNNER_ID}`).get()).data();
    expect(stopped, s.output()).toMatchObject({ pid: s.child.pid, state: 'stopped', stopReason: 'halted', stopDetail: expect.stringContaining('risk review') });
  }, 60_000);
});
