// The local stack's demo strategy on the runner kit: in process (what it publishes, how it
// stops on a halt) and as the script the stack starts (SIGTERM → exit 0), against the official
// Firestore and Pub/Sub emulators in a project of this file's own. What the topic received is
// read from a pull subscription of the test's own.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PubSub } from '@google-cloud/pubsub';
import { deleteApp, type App } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runDemoStrategy } from '../../../dev/demo-strategy.js';
import { mulberry32 } from '../../../dev/seeded-random.js';
import { validateIntent } from '../../../functions/src/domain/intent.js';
import { ORDER_INTENTS_TOPIC } from '../../../functions/src/topics.js';
import { adminFirestore } from '../../support/backends.js';
import { clearFirestore, EMULATORS, uniqueProjectId } from '../../support/emulators.js';
import { emulatorPubSub, ensureTopic, recordTopic, type TopicRecorder } from '../../support/pubsub.js';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const PROJECT = uniqueProjectId();
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../../dev/demo-strategy.ts', import.meta.url));

let app: App;
let db: Firestore;
let pubsub: PubSub;
const recorders: TopicRecorder[] = [];

beforeAll(async () => {
  ({ app, db } = adminFirestore(PROJECT));
  pubsub = emulatorPubSub(PROJECT);
  await ensureTopic(pubsub, ORDER_INTENTS_TOPIC);
});

afterAll(async () => {
  for (const r of recorders.splice(0)) await r.close();
  await pubsub.close();
  await deleteApp(app);
});

beforeEach(async () => {
  await clearFirestore(PROJECT);
});

/** A pull subscription of the test's own: everything order-intents receives from now on. */
async function collect(): Promise<TopicRecorder> {
  const rec = await recordTopic(PROJECT, ORDER_INTENTS_TOPIC, { pubsub });
  recorders.push(rec);
  return rec;
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('demo strategy', () => {
  it('publishes valid intents for several strategies, symbols and order types until the kill switch halts', async () => {
    await db.doc('ops/killSwitch').set({ halted: false });
    const sink = await collect();
    const lines: string[] = [];
    const run = runDemoStrategy({
      db,
      pubsub,
      intervalMs: 20,
      runnerId: 'demo-in-process',
      random: mulberry32(7),
      heartbeatIntervalMs: 100,
      log: (l) => lines.push(l),
    });
    await sink.waitFor(30);
    await db.doc('ops/killSwitch').set({ halted: true, reason: 'end of demo' });
    const result = await run;

    expect(result).toMatchObject({ runnerId: 'demo-in-process', stopReason: 'halted', failed: 0 });
    expect(result.stopDetail).toContain('end of demo');
    expect(result.published).toBe(result.iterations);
    // The topic received exactly what the demo says it published.
    const messages = await sink.pullAll();
    expect(messages).toHaveLength(result.published);
    const intents = messages.map((m) => {
      const parsed = validateIntent(m.json);
      if (!parsed.ok) throw new Error(`invalid intent published: ${JSON.stringify(parsed.issues)}`);
      return parsed.intent;
    });
    expect(new Set(intents.map((i) => i.strategyId))).toEqual(
      new Set(['demo-momentum', 'demo-mean-reversion', 'demo-breakout']),
    );
    expect(new Set(intents.map((i) => i.type))).toEqual(new Set(['market', 'limit']));
    expect(new Set(intents.map((i) => i.symbol)).size).toBeGreaterThan(2);
    expect(new Set(intents.map((i) => i.intentId)).size).toBe(intents.length);
    for (const i of intents) {
      expect(i.marketData?.bars).toHaveLength(20);
      const times = i.marketData?.bars.map((b) => Date.parse(b.t)) ?? [];
      expect(new Set(times).size).toBe(times.length);
    }
    const runner = (await db.doc('runners/demo-in-process').get()).data();
    expect(runner).toMatchObject({ state: 'stopped', stopReason: 'halted' });
    expect(lines.at(-1)).toMatch(/^demo strategy demo-in-process stopped \(halted\)/);
  });

  it('its caller can stop it with an AbortSignal', async () => {
    await db.doc('ops/killSwitch').set({ halted: false });
    const sink = await collect();
    const controller = new AbortController();
    const run = runDemoStrategy({ db, pubsub, intervalMs: 50, runnerId: 'demo-caller', log: () => {}, signal: controller.signal });
    await sink.waitFor(1);
    controller.abort();
    const result = await run;
    expect(result.stopReason).toBe('stopped');
    expect(await sink.pullAll()).toHaveLength(result.published);
  });

  it('as a script: runs against the emulators and exits 0 on SIGTERM', async () => {
    await db.doc('ops/killSwitch').set({ halted: false });
    const sink = await collect();
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        FIRESTORE_EMULATOR_HOST: EMULATORS.firestore,
        PUBSUB_EMULATOR_HOST: EMULATORS.pubsub,
        GCLOUD_PROJECT: PROJECT,
        DEMO_INTERVAL_MS: '100',
        DEMO_RUNNER_ID: 'demo-script',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      await until(() => (out.match(/^published /gm)?.length ?? 0) >= 2, 15_000);
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}; stdout:\n${out}\nstderr:\n${err}`);
    }
    child.kill('SIGTERM');
    expect(await exited, `stdout:\n${out}\nstderr:\n${err}`).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/stopped \(signal:SIGTERM\)/);
    // Every intent it said it published reached the topic of its project, and nothing else.
    const said = [...out.matchAll(/^published (\S+) /gm)].map((m) => m[1]);
    expect((await sink.pullAll()).map((m) => (m.json as { intentId: string }).intentId).sort()).toEqual(said.sort());
    expect((await db.doc('runners/demo-script').get()).data()).toMatchObject({
      state: 'stopped',
      stopReason: 'signal:SIGTERM',
    });
  });

  it('as a script: refuses to run without the emulator variables', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['FIRESTORE_EMULATOR_HOST'];
    delete env['PUBSUB_EMULATOR_HOST'];
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(err).toContain('FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST must be set');
  });
});
