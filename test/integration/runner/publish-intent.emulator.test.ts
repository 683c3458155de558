// publishIntent against the official Pub/Sub emulator (a project of this file's own) with the
// real @google-cloud/pubsub client: invalid intents never reach the topic; a valid one arrives
// exactly as published. A pull subscription of the test's own on the topic, created before
// each test publishes, shows everything the topic received.
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { IntentRefusedError, ORDER_INTENTS_TOPIC, publishIntent } from '../../../runner/src/index.js';
import { uniqueProjectId } from '../../support/emulators.js';
import { makeIntent } from '../../support/intents.js';
import { emulatorPubSub, ensureTopic, recordTopic, type TopicRecorder } from '../../support/pubsub.js';

// The client otherwise probes the GCE metadata server (off loopback) for a universe domain.
process.env['METADATA_SERVER_DETECTION'] = 'none';

const PROJECT = uniqueProjectId();

let pubsub: PubSub;
let topic: Topic;
let received: TopicRecorder;
const recorders: TopicRecorder[] = [];

beforeAll(async () => {
  pubsub = emulatorPubSub(PROJECT);
  await ensureTopic(pubsub, ORDER_INTENTS_TOPIC);
  topic = pubsub.topic(ORDER_INTENTS_TOPIC);
});

afterAll(async () => {
  for (const r of recorders.splice(0)) await r.close();
  await pubsub.close();
});

beforeEach(async () => {
  received = await recordTopic(PROJECT, ORDER_INTENTS_TOPIC, { pubsub });
  recorders.push(received);
});

const INVALID: Array<[string, Record<string, unknown>, string]> = [
  ['a missing field', { symbol: undefined }, 'symbol'],
  ['a bad intentId', { intentId: 'has spaces and $' }, 'intentId'],
  ['a limit order without limitPrice', { type: 'limit' }, 'limitPrice'],
  ['an unknown field', { expires_at: '2030-01-01T00:00:00Z' }, '(message)'],
  ['a negative qty', { qty: -5 }, 'qty'],
  ['a NaN qty (null once in JSON)', { qty: Number.NaN }, 'qty'],
  ['expiresAt before createdAt', { createdAt: '2030-01-01T00:00:10Z', expiresAt: '2030-01-01T00:00:00Z' }, 'expiresAt'],
];

describe('publishIntent', () => {
  it.each(INVALID)('refuses %s before publishing, with the issues', async (_name, change, path) => {
    const intent = { ...makeIntent(), ...change } as unknown as OrderIntent;
    const err = await publishIntent(intent, { topic }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IntentRefusedError);
    const refused = err as IntentRefusedError;
    expect(refused.name).toBe('IntentRefusedError');
    expect(refused.failure).toBe('schema');
    expect(refused.cause).toBeUndefined();
    expect(refused.issues.map((i) => i.path)).toContain(path);
    expect(refused.message).toContain(`${path}: `);
    // Same through the topic-name form.
    await expect(publishIntent(intent, { topic: ORDER_INTENTS_TOPIC, pubsub })).rejects.toBeInstanceOf(IntentRefusedError);

    // Both calls have settled: anything they had published would be in the subscription.
    expect(await received.pullAll()).toHaveLength(0);
  });

  it('publishes a valid intent: the subscription receives exactly it, with the returned message id', async () => {
    const intent = makeIntent({
      type: 'limit',
      limitPrice: 187.25,
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
      marketData: {
        asOf: new Date().toISOString(),
        bars: [{ t: new Date(Date.now() - 60_000).toISOString(), o: 187, h: 188, l: 186.5, c: 187.2, v: 1200 }],
      },
    });
    const messageId = await publishIntent(intent, { topic: ORDER_INTENTS_TOPIC, pubsub });
    expect(messageId).toMatch(/\S/);

    const messages = await received.pullAll();
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message?.id).toBe(messageId);
    expect(JSON.parse(message?.text ?? 'null')).toEqual(intent);
    expect(message?.attributes).toEqual({ intentId: intent.intentId, strategyId: intent.strategyId });
  });
});
