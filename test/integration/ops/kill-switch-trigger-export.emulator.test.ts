/**
 * The exported `onKillSwitchWrite`, invoked with the whole Firestore CloudEvent (JSON data,
 * as Eventarc can deliver it), wired to the official Firestore emulator, the Alpaca simulator
 * (EXECUTION_MODE=paper) and the official Pub/Sub emulator through PUBSUB_EMULATOR_HOST; a
 * pull subscription of the test's own shows what ops-events received.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { onKillSwitchWrite } from '../../../functions/src/index.js';
import { OPS_EVENTS_TOPIC } from '../../../functions/src/topics.js';
import { startTestBackends, TEST_PROJECT_ID, type TestBackends } from '../../support/backends.js';
import { EMULATORS } from '../../support/emulators.js';
import { recordTopic, type TopicRecorder } from '../../support/pubsub.js';

let b: TestBackends;
let opsEvents: TopicRecorder;

beforeAll(async () => {
  b = await startTestBackends();
  opsEvents = await recordTopic(TEST_PROJECT_ID, OPS_EVENTS_TOPIC);
  b.env.PUBSUB_EMULATOR_HOST = EMULATORS.pubsub;
  b.env.METADATA_SERVER_DETECTION = 'none';
  b.resetEnv();
});
afterAll(async () => {
  await opsEvents?.close();
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
    // Published once (the second delivery is a duplicate), and it is the message the audit names.
    const messages = await opsEvents.pullAll();
    expect(messages.map((m) => m.json)).toEqual([expect.objectContaining({ type: 'halt', halted: true, changeId: 'evt-export-1' })]);
    expect(messages[0]!.id).toBe(audit.publish.messageId);
  });
});
