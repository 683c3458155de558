/**
 * A minimal demo feed for the local stack, used only while `dev/demo-strategy.ts` (the runner
 * kit demo) is absent: publishes valid intents from two strategies on `order-intents` through
 * @google-cloud/pubsub until SIGINT/SIGTERM.
 *
 *   PUBSUB_EMULATOR_HOST=127.0.0.1:8085 GCLOUD_PROJECT=demo-haltgate tsx dev/stack/fallback-feed.ts
 *
 * HALTGATE_DEMO_RATE: intents per second (default 2). HALTGATE_DEMO_SEED: seed (default 1).
 */
import { PubSub } from '@google-cloud/pubsub';
import { publishIntent } from '../../runner/src/index.js';
import type { OrderIntent } from '../../runner/src/index.js';
import { mulberry32 } from '../alpaca-sim/faults.js';

const projectId = process.env.GCLOUD_PROJECT ?? 'demo-haltgate';
const rate = Math.max(0.1, Number(process.env.HALTGATE_DEMO_RATE ?? '2'));
const seed = Number(process.env.HALTGATE_DEMO_SEED ?? '1');
const rand = mulberry32(seed);
const pubsub = new PubSub({ projectId });
const strategies = ['demo-momentum', 'demo-meanrev'];
const symbols = ['AAPL', 'MSFT', 'SPY', 'NVDA'];

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopping = true;
  });
}

let n = 0;
const runId = `${Date.now().toString(36)}-${process.pid}`;
while (!stopping) {
  n += 1;
  const intent: OrderIntent = {
    intentId: `demo-${runId}-${n}`,
    strategyId: strategies[n % strategies.length] ?? 'demo-momentum',
    symbol: symbols[Math.floor(rand() * symbols.length)] ?? 'AAPL',
    side: rand() < 0.5 ? 'buy' : 'sell',
    qty: 1 + Math.floor(rand() * 5),
    type: 'market',
    timeInForce: 'day',
    createdAt: new Date().toISOString(),
  };
  try {
    await publishIntent(intent, { topic: 'order-intents', pubsub });
  } catch (err) {
    console.error(`publish failed: ${(err as Error).message}`);
  }
  await new Promise((r) => setTimeout(r, 1000 / rate));
}
await pubsub.close();
process.exit(0);
