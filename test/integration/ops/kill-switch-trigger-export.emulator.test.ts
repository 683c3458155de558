/**
 * The exported `onKillSwitchWrite`, invoked with the whole Firestore CloudEvent (JSON data,
 * as Eventarc can deliver it), wired to the embedded Firestore, the Alpaca simulator
 * (EXECUTION_MODE=paper) and the Pub/Sub emulator through PUBSUB_EMULATOR_HOST.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPubSubEmulator, type PubSubEmulator } from '../../../dev/pubsub/emulator.js';
import { onKillSwitchWrite } from '../../../functions/src/index.js';
import { OPS_EVENTS_TOPIC } from '../../../functions/src/topics.js';
import { startTestBackends, TEST_PROJECT_ID, type TestBackends } from '../../support/backends.js';

let b: TestBackends;
let emu: PubSubEmulator;

beforeAll(async () => {
  b = await startTestBackends();
  emu = await startPubSubEmulator({ projectId: TEST_PROJECT_ID });
  emu.createTopic(OPS_EVENTS_TOPIC);
  b.env.PUBSUB_EMULATOR_HOST = emu.emulatorHost;
  b.env.METADATA_SERVER_DETECTION = 'none';
  b.resetEnv();
});
afterAll(async () => {
  await emu?.stop();
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
});

const value = (fields: Record<string, unknown>) => ({
  name: `projects/${TEST_PROJECT_ID}/databases/(default)/documents/ops/killSwitch`,
  fields: Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, typeof v === 'boolean' ? { booleanValue: v } : { stringValue: String(v) }]),
  ),
  createTime: new Date(Date.now() - 60_000).toISOString(),
  updateTime: new Date().toISOString(),
});

function writtenEvent(id: string, before: Record<string, unknown>, after: Record<string, unknown>) {
  return {
    id,
    specversion: '1.0',
    source: `//firestore.googleapis.com/projects/${TEST_PROJECT_ID}/databases/(default)`,
    type: 'google.cloud.firestore.document.v1.written',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    project: TEST_PROJECT_ID,
    database: '(default)',
    namespace: '(default)',
    document: 'ops/killSwitch',
    data: { oldValue: value(before), value: value(after) },
  };
}

const invoke = (event: unknown) => (onKillSwitchWrite as unknown as (e: unknown) => Promise<unknown>)(event);

describe('exported onKillSwitchWrite', () => {
  it('audits the change, cancels open orders at the broker once, and publishes on ops-events — twice delivered', async () => {
    const event = writtenEvent('evt-export-1', { halted: false, reason: 'open', updatedBy: 'a' }, { halted: true, reason: 'console halt', updatedBy: 'b' });
    await invoke(event);
    await invoke(event);
    const audit = (await b.db.doc('ops/killSwitch/audit/evt-export-1').get()).data()!;
    expect(audit).toMatchObject({ who: 'b', reason: 'console halt', transition: 'halt', cancelAll: { state: 'done' }, publish: { state: 'done' } });
    expect(b.sim.requestLog.filter((r) => r.method === 'DELETE' && r.path === '/v2/orders')).toHaveLength(1);
    expect(emu.stats().published).toBe(1);
  });
});
