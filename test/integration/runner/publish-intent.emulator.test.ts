// publishIntent against the embedded Pub/Sub emulator with the real @google-cloud/pubsub
// client: invalid intents never reach the topic; a valid one arrives exactly as published.
import { PubSub } from '@google-cloud/pubsub';
import type { Message, Subscription, Topic } from '@google-cloud/pubsub';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPubSubEmulator, type PubSubEmulator } from '../../../dev/pubsub/emulator.js';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { IntentRefusedError, ORDER_INTENTS_TOPIC, publishIntent } from '../../../runner/src/index.js';
import { makeIntent } from '../../support/intents.js';

// The client otherwise probes the GCE metadata server (off loopback) for a universe domain.
process.env['METADATA_SERVER_DETECTION'] = 'none';

const PROJECT = 'demo-haltgate';

let emu: PubSubEmulator;
let pubsub: PubSub;
let topic: Topic;
let subscription: Subscription;
let subCounter = 0;

beforeAll(async () => {
  emu = await startPubSubEmulator({ projectId: PROJECT, pullWaitMs: 100 });
  pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: emu.emulatorHost, emulatorMode: true });
  emu.createTopic(ORDER_INTENTS_TOPIC);
  topic = pubsub.topic(ORDER_INTENTS_TOPIC);
});

afterAll(async () => {
  await pubsub.close();
  await emu.stop();
});

beforeEach(async () => {
  subCounter += 1;
  [subscription] = await topic.createSubscription(`intents-pull-${subCounter}`);
});

/** Everything the test's pull subscription delivers (StreamingPull) within `ms`, acked. */
async function receiveFor(ms: number): Promise<Message[]> {
  const received: Message[] = [];
  const onMessage = (m: Message): void => {
    received.push(m);
    m.ack();
  };
  subscription.on('message', onMessage);
  await new Promise((resolve) => setTimeout(resolve, ms));
  subscription.removeListener('message', onMessage);
  await subscription.close();
  return received;
}

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

    expect(emu.stats().published).toBe(0);
    expect(await receiveFor(300)).toHaveLength(0);
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

    const received = await receiveFor(500);
    expect(received).toHaveLength(1);
    const [message] = received;
    expect(message?.id).toBe(messageId);
    expect(JSON.parse(message?.data.toString('utf8') ?? 'null')).toEqual(intent);
    expect(message?.attributes).toEqual({ intentId: intent.intentId, strategyId: intent.strategyId });
    expect(emu.stats().published).toBe(1);
  });
});
