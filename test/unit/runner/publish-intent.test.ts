// publishIntent's validation and what it hands the client, with a recording Topic. The
// emulator round trip is in test/integration/runner/publish-intent.emulator.test.ts.
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { describe, expect, it, vi } from 'vitest';
import type { OrderIntent } from '../../../functions/src/domain/intent.js';
import { IntentRefusedError, publishIntent } from '../../../runner/src/publish-intent.js';
import { makeIntent } from '../../support/intents.js';

function recordingTopic() {
  const publishMessage = vi.fn(async (_m: { data: Buffer; attributes: Record<string, string> }) => 'msg-1');
  return { topic: { publishMessage } as unknown as Topic, publishMessage };
}

describe('publishIntent (no network)', () => {
  it('publishes the JSON of a valid intent with intentId/strategyId attributes', async () => {
    const { topic, publishMessage } = recordingTopic();
    const intent = makeIntent();
    expect(await publishIntent(intent, { topic })).toBe('msg-1');
    const sent = publishMessage.mock.calls[0]?.[0];
    expect(JSON.parse(sent?.data.toString('utf8') ?? '')).toEqual(intent);
    expect(sent?.attributes).toEqual({ intentId: intent.intentId, strategyId: intent.strategyId });
  });

  it('refuses with every issue listed in the message and never calls the client', async () => {
    const { topic, publishMessage } = recordingTopic();
    const bad = { ...makeIntent(), qty: 0, side: 'hold', limit_price: 5 } as unknown as OrderIntent;
    const err = (await publishIntent(bad, { topic }).catch((e: unknown) => e)) as IntentRefusedError;
    expect(err).toBeInstanceOf(IntentRefusedError);
    expect(err.issues.map((i) => i.path).sort()).toEqual(['(message)', 'qty', 'side']);
    expect(err.message).toMatch(/^intent refused, nothing was published \(schema\): /);
    for (const p of ['qty: ', 'side: ', '(message): ', 'limit_price']) expect(err.message).toContain(p);
    expect(publishMessage).not.toHaveBeenCalled();
  });

  it('refuses what is not an object at all', async () => {
    const { topic, publishMessage } = recordingTopic();
    for (const value of [undefined, null, 'AAPL', 42]) {
      await expect(publishIntent(value as unknown as OrderIntent, { topic })).rejects.toBeInstanceOf(IntentRefusedError);
    }
    expect(publishMessage).not.toHaveBeenCalled();
  });

  it('with a topic name, publishes through the given client, one Topic object per name', async () => {
    const { topic, publishMessage } = recordingTopic();
    const topicFn = vi.fn(() => topic);
    const pubsub = { topic: topicFn } as unknown as PubSub;
    await publishIntent(makeIntent(), { topic: 'order-intents', pubsub });
    await publishIntent(makeIntent(), { topic: 'order-intents', pubsub });
    expect(topicFn).toHaveBeenCalledTimes(1);
    expect(topicFn).toHaveBeenCalledWith('order-intents');
    expect(publishMessage).toHaveBeenCalledTimes(2);
  });
});
