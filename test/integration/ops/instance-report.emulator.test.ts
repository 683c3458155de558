/**
 * What the functions actually run with: each function instance records its effective
 * configuration in `functionInstances` on its first invocation (secrets never), and the ops
 * status — the dashboard's and the CLI's source — reports executeIntent's, not a local file's.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeIntent } from '../../../functions/src/index.js';
import { readOpsStatus } from '../../../functions/src/ops/status-reader.js';
import { HALTGATE_VERSION } from '../../../functions/src/version.js';
import { startTestBackends, type TestBackends } from '../../support/backends.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';

let b: TestBackends;
beforeAll(async () => {
  b = await startTestBackends();
});
afterAll(async () => {
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
});

const deliver = (event: unknown) => (executeIntent as unknown as (e: unknown) => Promise<unknown>)(event);
const cliView = (db = b.db) =>
  readOpsStatus({ db, nowMs: Date.now(), config: null, haltedParam: undefined, instance: { instanceId: 'cli', shuttingDown: false, shutdownReason: null, inflight: 0 } });

describe('functionInstances', () => {
  it('an executeIntent instance reports its mode, parameters and version, with the broker keys omitted', async () => {
    process.env.CB_MAX_NOTIONAL = '25000';
    await deliver(pubsubCloudEvent(makeIntent()));
    const docs = (await b.db.collection('functionInstances').where('function', '==', 'executeIntent').get()).docs;
    expect(docs).toHaveLength(1);
    const report = docs[0]!.data();
    expect(report).toMatchObject({ function: 'executeIntent', version: HALTGATE_VERSION, mode: 'paper', configValid: true, problems: [] });
    expect(report.config).toMatchObject({ executionMode: 'paper', executionHalted: 'false', alpacaKeyId: '<omitted>', alpacaSecretKey: '<omitted>', alpacaBaseUrl: b.sim.url });
    expect(report.config.breakerDefaults).toMatchObject({ maxNotional: 25000 });
    expect(report.reportedAt.toMillis()).toBeGreaterThan(0);
    const text = JSON.stringify(report);
    expect(text).not.toContain(b.sim.secretKey);
    expect(text).not.toContain(b.sim.keyId);
  });

  it('is written once per function and process, not per invocation', async () => {
    // This file's module instance already reported in the test above (its data was cleared since):
    // further invocations write nothing.
    await deliver(pubsubCloudEvent(makeIntent()));
    await deliver(pubsubCloudEvent(makeIntent()));
    expect((await b.db.collection('functionInstances').get()).size).toBe(0);
  });
});

describe('the ops status reads the reports', () => {
  it('says the configuration is unknown until executeIntent has reported, and never invents one', async () => {
    const s = await cliView();
    expect(s.execution).toMatchObject({ mode: null, configValid: null });
    expect(s.execution.source).toMatch(/no executeIntent instance has reported/);
  });

  it("shows executeIntent's mode and an invalid configuration from its report, and the halt parameter it runs with", async () => {
    await b.db.doc('functionInstances/executeIntent-rev1-abc').set({
      function: 'executeIntent',
      instanceId: 'rev1-abc',
      version: HALTGATE_VERSION,
      revision: 'rev1',
      reportedAt: new Date(),
      mode: 'live',
      configValid: false,
      problems: ['BROKER_TIMEOUT_MS="x" is not an integer'],
      config: { executionMode: 'live', executionHalted: 'true', alpacaKeyId: '<omitted>' },
    });
    const s = await cliView();
    expect(s.execution).toMatchObject({ mode: 'live', configValid: false, problems: ['BROKER_TIMEOUT_MS="x" is not an integer'] });
    expect(s.execution.source).toMatch(/executeIntent instance rev1-abc .*revision rev1/);
    // EXECUTION_HALTED=true in the deployed function halts, whatever the document says.
    expect(s.killSwitch).toMatchObject({ halted: true });
    expect(s.killSwitch.sources).toContain('param');
    expect(s.functions.map((f) => f.instanceId)).toEqual(['rev1-abc']);
  });
});

describe('version', () => {
  it('is the deployable package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../functions/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(HALTGATE_VERSION).toBe(pkg.version);
  });
});
