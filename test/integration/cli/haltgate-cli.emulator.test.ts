/**
 * `haltgate` as operators run it: the bin script (`cli/haltgate.js`, which loads the compiled
 * CLI from functions/lib — `npm test` builds first) in a child process, against the official
 * Firestore and Pub/Sub emulators through the standard emulator variables, in this file's
 * own project.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteApp } from 'firebase-admin/app';
import { Timestamp } from 'firebase-admin/firestore';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { opsStatusSchema } from '../../../functions/src/ops/status.js';
import { ORDER_INTENTS_TOPIC } from '../../../functions/src/topics.js';
import { executeIntent } from '../../../functions/src/index.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { adminFirestore, startTestBackends, TEST_PROJECT_ID, type TestBackends } from '../../support/backends.js';
import { EMULATORS, uniqueProjectId } from '../../support/emulators.js';
import { recordTopic, type TopicRecorder } from '../../support/pubsub.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'cli/haltgate.js');

let b: TestBackends;
let intents: TopicRecorder;
let dir: string;

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
          // Straight to the emulators, as an operator's shell has them.
          FIRESTORE_EMULATOR_HOST: b.emulatorHost,
          PUBSUB_EMULATOR_HOST: EMULATORS.pubsub,
          METADATA_SERVER_DETECTION: 'none',
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
  // Everything order-intents receives from now on, in this file's project.
  intents = await recordTopic(TEST_PROJECT_ID, ORDER_INTENTS_TOPIC);
  dir = await mkdtemp(join(tmpdir(), 'haltgate-cli-'));
});
afterAll(async () => {
  await intents?.close();
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
  await intents.pullAll();
  intents.messages.length = 0;
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

  it('status (human and --json) shows what executeIntent reported it runs with, not the shell or a file', async () => {
    // The operator's shell says dry_run; nothing has reported yet: the mode is unknown.
    const before = opsStatusSchema.parse(JSON.parse((await haltgate(['status', '--json', ...P], { EXECUTION_MODE: 'dry_run' })).stdout));
    expect(before.execution).toMatchObject({ mode: null, configValid: null });

    // An executeIntent instance (this process, paper mode) handles one intent and reports.
    await (executeIntent as unknown as (e: unknown) => Promise<unknown>)(pubsubCloudEvent(makeIntent()));
    const human = await haltgate(['status', ...P], { EXECUTION_MODE: 'dry_run' });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ACTIVE/);
    expect(human.stdout).toMatch(/^mode {4}paper$/m);
    expect(human.stdout).toMatch(/from executeIntent instance /);
    const json = await haltgate(['status', '--json', ...P], { EXECUTION_MODE: 'dry_run' });
    expect(json.code).toBe(0);
    const s = opsStatusSchema.parse(JSON.parse(json.stdout));
    expect(s.killSwitch.halted).toBe(false);
    expect(s.execution).toMatchObject({ mode: 'paper', configValid: true });
    expect(s.functions.find((f) => f.function === 'executeIntent')?.config).toMatchObject({ alpacaSecretKey: '<omitted>' });
    expect(json.stdout).not.toContain(b.sim.secretKey);
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

  it('reset-breaker resets a latched breaker (audited)', async () => {
    await b.db.doc('strategies/s1').set({
      breakers: { dailyLoss: { tripped: true, breaker: 'dailyLoss', detail: 'loss 600 >= 500', value: -600, threshold: 500, trippedAt: Date.now(), intentId: 'i1' } },
    });
    const ok = await haltgate(['reset-breaker', 's1', 'dailyLoss', '--reason', 'new day', '--as', 'dave', '--json', ...P]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, outcome: 'reset' });
    expect((await b.db.doc('strategies/s1').get()).get('breakers')).toEqual({});
    const audit = await b.db.collection('strategies/s1/audit').get();
    expect(audit.docs[0]!.data()).toMatchObject({ who: 'dave', why: 'new day' });
  });

  it('strategy-halt latches breaker manual (who, why, audited); reset-breaker <s> manual undoes it; status shows it', async () => {
    const h = await haltgate(['strategy-halt', 's2', '--reason', 'runaway', '--as', 'erin', '--json', ...P]);
    expect(h.code).toBe(0);
    expect(JSON.parse(h.stdout)).toMatchObject({ ok: true, outcome: 'halted', changed: true, breaker: 'manual', by: 'erin', reason: 'runaway' });
    expect((await b.db.doc('strategies/s2').get()).get('breakers.manual')).toMatchObject({ breaker: 'manual', by: 'erin', reason: 'runaway' });
    const status = await haltgate(['status', ...P]);
    expect(status.stdout).toMatch(/strategy s2: manual TRIPPED/);
    const again = await haltgate(['strategy-halt', 's2', '--reason', 'other', ...P]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already halted by erin');
    expect((await haltgate(['strategy-halt', '--reason', 'x', ...P])).code).toBe(2);
    expect((await haltgate(['strategy-halt', 's2', ...P])).code).toBe(2);
    const reset = await haltgate(['reset-breaker', 's2', 'manual', '--reason', 'fixed', '--as', 'erin', ...P]);
    expect(reset.code).toBe(0);
    expect((await b.db.doc('strategies/s2').get()).get('breakers')).toEqual({});
  });

  it('symbol-halt / symbol-resume write symbolHalts/{symbol} (audited); status lists halted symbols', async () => {
    const h = await haltgate(['symbol-halt', 'BTC/USD', '--reason', 'exchange down', '--as', 'fay', '--json', ...P]);
    expect(h.code).toBe(0);
    expect(JSON.parse(h.stdout)).toMatchObject({ ok: true, symbol: 'BTC/USD', halted: true, changed: true });
    expect((await b.db.doc('symbolHalts/BTC_USD').get()).data()).toMatchObject({ halted: true, reason: 'exchange down', updatedBy: 'fay', via: 'cli' });
    expect((await b.db.collection('symbolHalts/BTC_USD/audit').get()).docs[0]!.data()).toMatchObject({ action: 'halt_symbol', who: 'fay' });
    const status = await haltgate(['status', '--json', ...P]);
    expect(opsStatusSchema.parse(JSON.parse(status.stdout)).symbolHalts).toEqual([expect.objectContaining({ symbol: 'BTC/USD', reason: 'exchange down' })]);
    expect((await haltgate(['status', ...P])).stdout).toContain('symbols halted BTC/USD (exchange down by fay)');
    const r = await haltgate(['symbol-resume', 'BTC/USD', '--reason', 'back', ...P]);
    expect(r.code).toBe(0);
    expect((await b.db.doc('symbolHalts/BTC_USD').get()).get('halted')).toBe(false);
    expect((await haltgate(['symbol-halt', 'btc', '--reason', 'x', ...P])).code).toBe(2);
  });

  it('reduce-only sets the posture (status REDUCE-ONLY); resume clears it; from halted it needs the preconditions or --force', async () => {
    await haltgate(['resume', '--reason', 'open', '--force', ...P]);
    const ro = await haltgate(['reduce-only', '--reason', 'wind down', '--as', 'gil', '--json', ...P]);
    expect(ro.code).toBe(0);
    expect(JSON.parse(ro.stdout)).toMatchObject({ ok: true, reduceOnly: true, changed: true });
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, reduceOnly: true, updatedBy: 'gil' });
    expect((await haltgate(['status', ...P])).stdout).toMatch(/^REDUCE-ONLY {2}wind down/);
    await haltgate(['resume', '--reason', 'normal', '--force', ...P]);
    expect((await b.db.doc('ops/killSwitch').get()).get('reduceOnly')).toBeUndefined();

    await haltgate(['halt', '--reason', 'x', ...P]);
    await b.db.doc('submissions/stuck2').set({ intentId: 'stuck2', state: 'unknown', updatedAt: Timestamp.fromMillis(Date.now() - 3_600_000) });
    const refused = await haltgate(['reduce-only', '--reason', 'partial', ...P]);
    expect(refused.code).toBe(3);
    expect((await b.db.doc('ops/killSwitch').get()).get('halted')).toBe(true);
    expect((await haltgate(['reduce-only', '--reason', 'partial', '--force', ...P])).code).toBe(0);
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, reduceOnly: true, forced: true });
  });

  it('reset-breaker refuses an untripped one with exit 3, and leaves no lock behind', async () => {
    // In a project of its own: a lock left on strategies/s1 would also block clearing the
    // file's project for the tests after this one.
    const project = uniqueProjectId();
    const { app, db } = adminFirestore(project, b.emulatorHost);
    try {
      await db.doc('strategies/s1').set({ breakers: {} });
      const again = await haltgate(['reset-breaker', 's1', 'dailyLoss', '--reason', 'again', '--project', project]);
      expect(again.code).toBe(3);
      expect(again.stderr).toMatch(/not latched/);
      expect(await db.doc('strategies/s1').get().then((d) => d.data())).toEqual({ breakers: {} });
      // The refusal ended its transaction: the strategy document takes a write at once (a
      // transaction the process abandons holds its locks until the server expires it, about a
      // minute on the emulator; in production writers — fill sync, trips — wait for it).
      const write = db.doc('strategies/s1').set({ note: 'after the refusal' }, { merge: true });
      expect(await settlesWithin(write, 5_000), 'strategies/s1 is still locked 5 s after the refused reset-breaker exited').toBe(true);
    } finally {
      await Promise.race([deleteApp(app), new Promise((r) => setTimeout(r, 1_000))]);
    }
  });

  it('publish-intent validates, then publishes to order-intents; an invalid file is exit 4 and publishes nothing', async () => {
    const intent = makeIntent();
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify(intent));
    const r = await haltgate(['publish-intent', good, '--json', ...P]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, intentId: intent.intentId });
    // The CLI exited after the emulator acknowledged the publish: it is in the subscription.
    expect((await intents.pullAll()).map((m) => m.json)).toEqual([intent]);
    expect(intents.messages[0]!.attributes).toMatchObject({ intentId: intent.intentId });

    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...intent, intentId: 'x'.repeat(65), qty: -1 }));
    const refused = await haltgate(['publish-intent', bad, ...P]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/qty/);
    expect((await haltgate(['publish-intent', join(dir, 'missing.json'), ...P])).code).toBe(4);
    expect(await intents.pullAll()).toHaveLength(1);
  });

  it('an unreachable Firestore is exit 1 with a message, not a stack trace', async () => {
    const r = await haltgate(['halt', '--reason', 'x', '--timeout', '3', ...P], { FIRESTORE_EMULATOR_HOST: '127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^haltgate: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});

/** Whether `p` settles (either way) within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}
