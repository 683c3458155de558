// A real child process running a strategy loop on the runner kit (fixtures/loop.ts) against
// the official Firestore emulator (a project of this file's own): SIGTERM and the kill switch
// must stop it within one iteration, with exit code 0 and no iteration started after the stop.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deleteApp, type App } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adminFirestore } from '../../support/backends.js';
import { clearFirestore, EMULATORS, uniqueProjectId } from '../../support/emulators.js';

const PROJECT = uniqueProjectId();
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/loop.ts', import.meta.url));
const WORK_MS = 500;
const INTERVAL_MS = 1_000;
/** One iteration: its work plus the wait before the next one. */
const ITERATION_MS = WORK_MS + INTERVAL_MS;

let app: App;
let db: Firestore;
let runnerCounter = 0;

beforeAll(() => {
  ({ app, db } = adminFirestore(PROJECT));
});

afterAll(async () => {
  await deleteApp(app);
});

beforeEach(async () => {
  await clearFirestore(PROJECT);
});

interface LoopChild {
  runnerId: string;
  lines: string[];
  stderr: () => string;
  /** Resolves with the first line matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  kill(signal: NodeJS.Signals): void;
}

function startLoop(): LoopChild {
  runnerCounter += 1;
  const runnerId = `loop-test-${process.pid}-${runnerCounter}`;
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      FIRESTORE_EMULATOR_HOST: EMULATORS.firestore,
      GCLOUD_PROJECT: PROJECT,
      METADATA_SERVER_DETECTION: 'none',
      RUNNER_ID: runnerId,
      LOOP_WORK_MS: String(WORK_MS),
      LOOP_INTERVAL_MS: String(INTERVAL_MS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  let waiters: Array<() => void> = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    child.on('exit', (code, signal) => {
      const atMs = Date.now();
      for (const w of waiters) w();
      resolve({ code, signal, atMs });
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    runnerId,
    lines,
    stderr: () => stderr,
    waitForLine(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          const line = lines.find((l) => re.test(l));
          if (line !== undefined) {
            clearTimeout(timer);
            waiters = waiters.filter((w) => w !== check);
            resolve(line);
          } else if (done) {
            clearTimeout(timer);
            reject(new Error(`exited without a line matching ${re}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
    exited,
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

function field(line: string, key: string): string {
  const match = new RegExp(`${key}=(\\S+)`).exec(line);
  if (match?.[1] === undefined) throw new Error(`no ${key}= in "${line}"`);
  return match[1];
}

/**
 * The checks every stop shares: exit code 0 within one iteration of the trigger, the running
 * iteration finished, and no iteration started after the abort (neither in output order nor
 * by timestamp).
 */
async function expectStoppedWithinOneIteration(loop: LoopChild, triggeredAtMs: number, reason: string): Promise<string> {
  const exit = await loop.exited;
  const context = `stdout:\n${loop.lines.join('\n')}\nstderr:\n${loop.stderr()}`;
  expect(exit, context).toMatchObject({ code: 0, signal: null });
  expect(exit.atMs - triggeredAtMs, context).toBeLessThan(ITERATION_MS);

  const abortIndex = loop.lines.findIndex((l) => l.startsWith('abort '));
  expect(abortIndex, context).toBeGreaterThan(-1);
  const abortLine = loop.lines[abortIndex] ?? '';
  expect(field(abortLine, 'reason')).toBe(reason);
  const abortAtMs = Number(field(abortLine, 'at'));
  expect(abortAtMs).toBeGreaterThanOrEqual(triggeredAtMs - 50);

  const starts = loop.lines.filter((l) => /^iteration \d+ start/.test(l));
  expect(loop.lines.slice(abortIndex).some((l) => /^iteration \d+ start/.test(l)), context).toBe(false);
  // Millisecond clocks: a start in the same ms as the abort is possible (the test kills right
  // after reading the start line); the output order above is what proves it came first.
  for (const s of starts) expect(Number(field(s, 'at'))).toBeLessThanOrEqual(abortAtMs);
  // The iteration running at the abort was awaited, not abandoned.
  const lastStart = starts.at(-1);
  if (lastStart !== undefined) {
    const n = /^iteration (\d+)/.exec(lastStart)?.[1];
    expect(loop.lines.slice(abortIndex), context).toContainEqual(expect.stringMatching(new RegExp(`^iteration ${n} end`)));
  }
  expect(loop.lines.at(-1), context).toBe(`exit iterations=${starts.length} reason=${reason}`);
  return abortLine;
}

describe('runner kit in a real child process', () => {
  it('SIGTERM right after an iteration started: exits 0 within one iteration, starting nothing after it', async () => {
    await db.doc('ops/killSwitch').set({ halted: false, reason: 'test', updatedBy: 'test' });
    const loop = startLoop();
    await loop.waitForLine(/^iteration 2 start/);
    const killedAt = Date.now();
    loop.kill('SIGTERM');
    await expectStoppedWithinOneIteration(loop, killedAt, 'signal:SIGTERM');
    expect(loop.lines.filter((l) => l.startsWith('iteration ') && l.includes(' start'))).toHaveLength(2);

    const runner = (await db.doc(`runners/${loop.runnerId}`).get()).data();
    expect(runner).toMatchObject({ runnerId: loop.runnerId, state: 'stopped', stopReason: 'signal:SIGTERM' });
  });

  it('halting ops/killSwitch stops it the same way (reason halted)', async () => {
    await db.doc('ops/killSwitch').set({ halted: false, reason: 'test', updatedBy: 'test' });
    const loop = startLoop();
    await loop.waitForLine(/^iteration 1 start/);
    await db.doc('ops/killSwitch').set({ halted: true, reason: 'risk review', updatedBy: 'ops@test' });
    const haltedAt = Date.now();
    const abortLine = await expectStoppedWithinOneIteration(loop, haltedAt, 'halted');
    expect(abortLine).toContain('risk review');

    const runner = (await db.doc(`runners/${loop.runnerId}`).get()).data();
    expect(runner).toMatchObject({ state: 'stopped', stopReason: 'halted' });
  });

  it('a malformed kill-switch document ({halted: "no"}) stops it', async () => {
    await db.doc('ops/killSwitch').set({ halted: false, reason: 'test', updatedBy: 'test' });
    const loop = startLoop();
    await loop.waitForLine(/^iteration 1 start/);
    await db.doc('ops/killSwitch').set({ halted: 'no' });
    const changedAt = Date.now();
    const abortLine = await expectStoppedWithinOneIteration(loop, changedAt, 'halted');
    expect(abortLine).toContain('malformed');
  });

  it.each([
    ['missing', null, 'does not exist'],
    ['halted', { halted: true, reason: 'closed for the day' }, 'closed for the day'],
    ['malformed', { halted: 'false' }, 'malformed'],
  ] as const)('a %s kill switch at start never lets it begin iterating', async (_name, doc, detail) => {
    if (doc !== null) await db.doc('ops/killSwitch').set(doc);
    const startedAt = Date.now();
    const loop = startLoop();
    const exit = await loop.exited;
    const context = `stdout:\n${loop.lines.join('\n')}\nstderr:\n${loop.stderr()}`;
    expect(exit, context).toMatchObject({ code: 0, signal: null });
    expect(exit.atMs - startedAt, context).toBeLessThan(10_000);
    expect(loop.lines.some((l) => l === 'ready' || l.startsWith('iteration ')), context).toBe(false);
    const abortLine = loop.lines.find((l) => l.startsWith('abort ')) ?? '';
    expect(field(abortLine, 'reason'), context).toBe('halted');
    expect(abortLine).toContain(detail);
    expect(loop.lines.at(-1)).toBe('exit iterations=0 reason=halted');
  });
});
