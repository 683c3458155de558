/**
 * The demo strategy of the local stack: a strategy loop built on the runner kit, publishing a
 * random valid order intent every `intervalMs` (several strategies and symbols, market and
 * limit orders, each with a minute-bar history for the breakers), heartbeating in
 * `runners/{runnerId}`, and stopping on SIGTERM/SIGINT or a kill-switch halt.
 *
 * As a script (the local stack starts it as a child process):
 *
 *   FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 PUBSUB_EMULATOR_HOST=127.0.0.1:8085 npx tsx dev/demo-strategy.ts
 *
 * Environment: GCLOUD_PROJECT (default demo-haltgate), DEMO_INTERVAL_MS (default 2000),
 * DEMO_STRATEGIES (comma-separated strategy ids), DEMO_RUNNER_ID (default demo-strategy-<pid>).
 * It refuses to run unless both emulator variables are set: it sends random orders, which
 * must never reach a real project by accident. Prints one line per event; exits 0 on a stop.
 */
import { pathToFileURL } from 'node:url';
import { PubSub } from '@google-cloud/pubsub';
import { deleteApp, initializeApp } from 'firebase-admin/app';
import type { Firestore } from 'firebase-admin/firestore';
import { getFirestore } from 'firebase-admin/firestore';
import type { Bar, OrderIntent } from '../functions/src/domain/intent.js';
import {
  DEFAULT_STOP_SIGNALS,
  ORDER_INTENTS_TOPIC,
  createStopSignal,
  every,
  heartbeat,
  isIntentRefusedError,
  publishIntent,
  stopReasonOf,
} from '../runner/src/index.js';
import type { StopReason } from '../runner/src/index.js';

export const DEMO_STRATEGIES: readonly string[] = ['demo-momentum', 'demo-mean-reversion', 'demo-breakout'];

interface SymbolSpec {
  symbol: string;
  startPrice: number;
  crypto: boolean;
}

const SYMBOLS: readonly SymbolSpec[] = [
  { symbol: 'AAPL', startPrice: 190, crypto: false },
  { symbol: 'MSFT', startPrice: 420, crypto: false },
  { symbol: 'SPY', startPrice: 520, crypto: false },
  { symbol: 'BTC/USD', startPrice: 65_000, crypto: true },
];

const BAR_COUNT = 20;
const MINUTE_MS = 60_000;
/** Per-minute move of the random walk: small, so the demo does not trip volatility breakers by itself. */
const STEP = 0.001;

export interface DemoStrategyOptions {
  db: Firestore;
  pubsub: PubSub;
  /** Time between intents. */
  intervalMs: number;
  /** Strategy ids to publish for. Default DEMO_STRATEGIES. */
  strategies?: readonly string[];
  /** Default `order-intents`. */
  topic?: string;
  /** Default `demo-strategy-<pid>`. */
  runnerId?: string;
  /** Also stops the demo when it aborts (reason `stopped`). */
  signal?: AbortSignal;
  /**
   * Process signals that stop it. Default none, so that running it inside another process
   * (tests, the stack) never takes over that process's SIGTERM; the script passes SIGTERM/SIGINT.
   */
  processSignals?: readonly NodeJS.Signals[];
  /** Heartbeat interval. Default 5 000 ms. */
  heartbeatIntervalMs?: number;
  /** Kill-switch watch tuning, see createStopSignal. */
  listenerErrorGraceMs?: number;
  probeIntervalMs?: number;
  /** Random source in [0, 1). Default Math.random. */
  random?: () => number;
  /** Where event lines go. Default stdout. */
  log?: (line: string) => void;
}

export interface DemoStrategyResult {
  runnerId: string;
  iterations: number;
  published: number;
  /** Publishes that failed at the client (logged; the loop went on). */
  failed: number;
  stopReason: StopReason;
  stopDetail: string;
}

/** Runs until stopped; resolves once the loop returned and the `stopped` heartbeat was written. */
export async function runDemoStrategy(opts: DemoStrategyOptions): Promise<DemoStrategyResult> {
  const strategies = opts.strategies ?? DEMO_STRATEGIES;
  if (strategies.length === 0) throw new RangeError('strategies must not be empty');
  const random = opts.random ?? Math.random;
  const log = opts.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const runnerId = opts.runnerId ?? `demo-strategy-${process.pid}`;
  const topic = opts.topic ?? ORDER_INTENTS_TOPIC;

  const stop = createStopSignal({
    db: opts.db,
    signals: opts.processSignals ?? [],
    ...(opts.listenerErrorGraceMs !== undefined ? { listenerErrorGraceMs: opts.listenerErrorGraceMs } : {}),
    ...(opts.probeIntervalMs !== undefined ? { probeIntervalMs: opts.probeIntervalMs } : {}),
    onError: (err) => log(`kill-switch watch error: ${err.message}`),
  });
  const onOuterAbort = (): void => stop.stop('the demo strategy was stopped by its caller');
  if (opts.signal?.aborted) onOuterAbort();
  else opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const hb = heartbeat(opts.db, runnerId, stop.signal, {
    intervalMs: opts.heartbeatIntervalMs ?? 5_000,
    onError: (err) => log(`heartbeat error: ${err.message}`),
  });
  const market = new RandomMarket(random);
  let published = 0;
  let failed = 0;
  let iterations = 0;
  let loopError: unknown;
  log(`demo strategy ${runnerId} waiting for the kill switch`);
  try {
    if (await stop.ready) {
      log(`demo strategy ${runnerId} running: ${strategies.join(', ')} every ${opts.intervalMs} ms`);
      iterations = await every(opts.intervalMs, stop.signal, async () => {
        const intent = market.nextIntent(strategies);
        try {
          const messageId = await publishIntent(intent, { topic, pubsub: opts.pubsub });
          published += 1;
          log(
            `published ${intent.intentId} ${intent.strategyId} ${intent.side} ${intent.qty} ${intent.symbol} ${intent.type}` +
              `${intent.limitPrice !== undefined ? ` @ ${intent.limitPrice}` : ''} message ${messageId}`,
          );
        } catch (err) {
          // A refusal is a bug in this file: let it end the loop. A transport error is not
          // the strategy's fault: report it and try again next iteration.
          if (isIntentRefusedError(err)) throw err;
          failed += 1;
          log(`publish failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
    }
  } catch (err) {
    loopError = err;
    throw err;
  } finally {
    await hb.stop(loopError);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    stop.dispose();
  }
  const why = stopReasonOf(stop.signal);
  const result: DemoStrategyResult = {
    runnerId,
    iterations,
    published,
    failed,
    stopReason: why?.reason ?? 'stopped',
    stopDetail: why?.detail ?? '',
  };
  log(`demo strategy ${runnerId} stopped (${result.stopReason}): ${result.stopDetail}; published ${published}`);
  return result;
}

/** Random-walk prices per symbol and the intents built on them. */
class RandomMarket {
  readonly #random: () => number;
  readonly #prices = new Map<string, number>();
  #seq = 0;
  readonly #runTag: string;

  constructor(random: () => number) {
    this.#random = random;
    this.#runTag = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  }

  #pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.#random() * items.length)];
    if (item === undefined) throw new RangeError('nothing to pick from');
    return item;
  }

  /** Twenty one-minute bars ending at the current minute, continuing the symbol's walk. */
  #bars(spec: SymbolSpec, nowMs: number): Bar[] {
    let price = this.#prices.get(spec.symbol) ?? spec.startPrice;
    const lastMinute = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    const bars: Bar[] = [];
    for (let i = BAR_COUNT - 1; i >= 0; i--) {
      const o = price;
      const c = round2(o * (1 + (this.#random() - 0.5) * 2 * STEP));
      const h = round2(Math.max(o, c) * (1 + this.#random() * STEP * 0.5));
      const l = round2(Math.min(o, c) * (1 - this.#random() * STEP * 0.5));
      bars.push({ t: new Date(lastMinute - i * MINUTE_MS).toISOString(), o, h, l, c, v: Math.floor(100 + this.#random() * 5_000) });
      price = c;
    }
    this.#prices.set(spec.symbol, price);
    return bars;
  }

  nextIntent(strategies: readonly string[]): OrderIntent {
    const nowMs = Date.now();
    const spec = this.#pick(SYMBOLS);
    const bars = this.#bars(spec, nowMs);
    const last = bars[bars.length - 1]?.c ?? spec.startPrice;
    const side = this.#random() < 0.5 ? 'buy' : 'sell';
    const limit = this.#random() < 0.5;
    const offset = 1 + (side === 'buy' ? -1 : 1) * (0.001 + this.#random() * 0.004);
    this.#seq += 1;
    const intent: OrderIntent = {
      intentId: `demo-${this.#runTag}-${this.#seq}`,
      strategyId: this.#pick(strategies),
      symbol: spec.symbol,
      side,
      qty: spec.crypto ? Math.round((0.001 + this.#random() * 0.009) * 10_000) / 10_000 : 1 + Math.floor(this.#random() * 10),
      type: limit ? 'limit' : 'market',
      // Alpaca takes crypto orders as gtc/ioc only.
      timeInForce: spec.crypto ? 'gtc' : 'day',
      createdAt: new Date(nowMs).toISOString(),
      expiresAt: new Date(nowMs + 5 * MINUTE_MS).toISOString(),
      marketData: { asOf: new Date(nowMs).toISOString(), bars },
    };
    if (limit) intent.limitPrice = round2(last * offset);
    return intent;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

async function main(): Promise<void> {
  const missing = ['FIRESTORE_EMULATOR_HOST', 'PUBSUB_EMULATOR_HOST'].filter((v) => !process.env[v]);
  if (missing.length > 0) {
    console.error(`demo strategy: ${missing.join(' and ')} must be set; it publishes random orders and only runs against emulators`);
    process.exit(2);
  }
  const projectId = process.env['GCLOUD_PROJECT'] ?? process.env['GOOGLE_CLOUD_PROJECT'] ?? 'demo-haltgate';
  const intervalMs = Number(process.env['DEMO_INTERVAL_MS'] ?? '2000');
  if (!(intervalMs > 0)) {
    console.error(`demo strategy: DEMO_INTERVAL_MS must be a positive number, got ${process.env['DEMO_INTERVAL_MS']}`);
    process.exit(2);
  }
  const strategies = process.env['DEMO_STRATEGIES']?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  // The client otherwise probes the GCE metadata server for a universe domain.
  process.env['METADATA_SERVER_DETECTION'] ??= 'none';

  const app = initializeApp({ projectId }, 'demo-strategy');
  const db = getFirestore(app);
  const pubsub = new PubSub({ projectId });
  try {
    await ensureTopic(pubsub, ORDER_INTENTS_TOPIC);
    await runDemoStrategy({
      db,
      pubsub,
      intervalMs,
      processSignals: DEFAULT_STOP_SIGNALS,
      ...(strategies !== undefined && strategies.length > 0 ? { strategies } : {}),
      ...(process.env['DEMO_RUNNER_ID'] ? { runnerId: process.env['DEMO_RUNNER_ID'] } : {}),
    });
  } finally {
    // Bounded: under the local stack, Ctrl-C reaches the emulators too, and closing clients
    // whose calls go to an emulator that is gone can wait for good.
    await Promise.race([Promise.allSettled([pubsub.close(), deleteApp(app)]), new Promise((r) => setTimeout(r, CLOSE_TIMEOUT_MS).unref())]);
  }
}

/** How long closing the Pub/Sub and Firestore clients may take at exit. */
const CLOSE_TIMEOUT_MS = 2_000;

/** The stack normally creates the topic; a demo started on its own creates it (emulator only). */
async function ensureTopic(pubsub: PubSub, name: string): Promise<void> {
  const [exists] = await pubsub.topic(name).exists();
  if (exists) return;
  try {
    await pubsub.createTopic(name);
  } catch (err) {
    // Created meanwhile by someone else: fine.
    if ((err as { code?: number }).code !== 6) throw err;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
  // Exit explicitly, as the CLI does: a client still retrying against a stopped emulator
  // would otherwise keep the process alive after the demo has stopped.
  process.exit(0);
}
