/**
 * `haltgate` as operators run it: the bin script (`cli/haltgate.js`, which loads the compiled
 * CLI from functions/lib — `npm test` builds first) in a child process, against the embedded
 * Firestore and the Pub/Sub emulator through the standard emulator variables.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Timestamp } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPubSubEmulator, type PubSubEmulator } from '../../../dev/pubsub/emulator.js';
import { opsStatusSchema } from '../../../functions/src/ops/status.js';
import { ORDER_INTENTS_TOPIC } from '../../../functions/src/topics.js';
import { makeIntent } from '../../support/intents.js';
import { startTestBackends, TEST_PROJECT_ID, type TestBackends } from '../../support/backends.js';
import { startPushSink } from '../../support/push-sink.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'cli/haltgate.js');

let b: TestBackends;
let emu: PubSubEmulator;
let sink: Awaited<ReturnType<typeof startPushSink>> | undefined;
let dir: string;
const published: unknown[] = [];

function haltgate(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          FIRESTORE_EMULATOR_HOST: b.firestore.host,
          PUBSUB_EMULATOR_HOST: emu.emulatorHost,
          METADATA_SERVER_DETECTION: 'none',
          EXECUTION_MODE: 'paper',
          ...env,
        },
        timeout: 30_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'functions/lib/cli/main.js'))) {
    throw new Error('functions/lib/cli/main.js is missing: run `npm run build` first (npm test does)');
  }
  b = await startTestBackends();
  emu = await startPubSubEmulator({ projectId: TEST_PROJECT_ID });
  sink = await startPushSink((message) => published.push(message));
  emu.addPushSubscription({ topic: ORDER_INTENTS_TOPIC, name: 'cli-test', endpoint: sink.url });
  dir = await mkdtemp(join(tmpdir(), 'haltgate-cli-'));
});
afterAll(async () => {
  await emu?.stop();
  await sink?.close();
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  published.length = 0;
});

const P = ['--project', TEST_PROJECT_ID];

describe('haltgate CLI against the local stack', () => {
  it('--help and usage errors', async () => {
    const help = await haltgate(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('reset-breaker');
    expect((await haltgate(['frobnicate', ...P])).code).toBe(2);
    const noReason = await haltgate(['halt', ...P]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason');
  });

  it('status (human and --json)', async () => {
    const human = await haltgate(['status', ...P]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ACTIVE/);
    const json = await haltgate(['status', '--json', ...P]);
    expect(json.code).toBe(0);
    const s = opsStatusSchema.parse(JSON.parse(json.stdout));
    expect(s.killSwitch.halted).toBe(false);
    expect(s.execution.mode).toBe('paper');
  });

  it('halt and resume write ops/killSwitch with who and why', async () => {
    const halt = await haltgate(['halt', '--reason', 'cli drill', '--as', 'carol', '--json', ...P]);
    expect(halt.code).toBe(0);
    expect(JSON.parse(halt.stdout)).toMatchObject({ ok: true, halted: true, changed: true, by: 'carol' });
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: true, reason: 'cli drill', updatedBy: 'carol', via: 'cli' });

    const resume = await haltgate(['resume', '--reason', 'drill over', '--as', 'carol', ...P]);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toContain('RESUMED');
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, reason: 'drill over' });
  });

  it('resume is refused (exit 3) with a stuck record unless --force', async () => {
    await haltgate(['halt', '--reason', 'x', ...P]);
    await b.db.doc('submissions/stuck').set({ intentId: 'stuck', state: 'unknown', updatedAt: Timestamp.fromMillis(Date.now() - 3_600_000) });
    const refused = await haltgate(['resume', '--reason', 'go', '--json', ...P]);
    expect(refused.code).toBe(3);
    expect(JSON.parse(refused.stdout).unmet[0].code).toBe('stuck_submissions');
    expect((await b.db.doc('ops/killSwitch').get()).get('halted')).toBe(true);
    const forced = await haltgate(['resume', '--reason', 'go', '--force', ...P]);
    expect(forced.code).toBe(0);
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, forced: true });
  });

  it('reset-breaker resets a latched breaker (audited); refuses an untripped one with exit 3', async () => {
    await b.db.doc('strategies/s1').set({
      breakers: { dailyLoss: { tripped: true, breaker: 'dailyLoss', detail: 'loss 600 >= 500', value: -600, threshold: 500, trippedAt: Date.now(), intentId: 'i1' } },
    });
    const ok = await haltgate(['reset-breaker', 's1', 'dailyLoss', '--reason', 'new day', '--as', 'dave', '--json', ...P]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, outcome: 'reset' });
    expect((await b.db.doc('strategies/s1').get()).get('breakers')).toEqual({});
    const audit = await b.db.collection('strategies/s1/audit').get();
    expect(audit.docs[0]!.data()).toMatchObject({ who: 'dave', why: 'new day' });
    const again = await haltgate(['reset-breaker', 's1', 'dailyLoss', '--reason', 'again', ...P]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/not latched/);
  });

  it('publish-intent validates, then publishes to order-intents; an invalid file is exit 4 and publishes nothing', async () => {
    const intent = makeIntent();
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify(intent));
    const r = await haltgate(['publish-intent', good, '--json', ...P]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, intentId: intent.intentId });
    await emu.drain(5000);
    expect(published).toEqual([intent]);

    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...intent, intentId: 'x'.repeat(65), qty: -1 }));
    const refused = await haltgate(['publish-intent', bad, ...P]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/qty/);
    expect((await haltgate(['publish-intent', join(dir, 'missing.json'), ...P])).code).toBe(4);
    await emu.drain(2000);
    expect(published).toHaveLength(1);
  });

  it('an unreachable Firestore is exit 1 with a message, not a stack trace', async () => {
    const r = await haltgate(['halt', '--reason', 'x', '--timeout', '3', ...P], { FIRESTORE_EMULATOR_HOST: '127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^haltgate: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
