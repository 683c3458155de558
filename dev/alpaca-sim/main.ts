/**
 * Runs the Alpaca simulator as its own process (local stack, chaos tests, benchmark):
 *
 *   npx tsx dev/alpaca-sim/main.ts [--port 8787] [--host 127.0.0.1] [--fill-mode instant|none|partial] [--seed 1]
 *     [--accept-delay-ms 5] [--fill-delay-ms 10] [--rate-limit-per-minute 200] [--enforce-rate-limit]
 *
 * The delays and the rate limit are fault-configuration fields too (`POST /__sim/faults`).
 * Keys come from ALPACA_SIM_KEY_ID / ALPACA_SIM_SECRET_KEY (defaults: sim-key-id / sim-secret-key).
 * Prints one JSON line `{ "url": ..., "port": ... }` when listening; SIGINT/SIGTERM stop it.
 */
import { parseArgs } from 'node:util';
import { FillMode } from './faults.js';
import { startAlpacaSimulator } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'fill-mode': { type: 'string', default: 'instant' },
    seed: { type: 'string', default: '1' },
    'accept-delay-ms': { type: 'string' },
    'fill-delay-ms': { type: 'string' },
    'rate-limit-per-minute': { type: 'string' },
    'enforce-rate-limit': { type: 'boolean', default: false },
  },
});

const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) {
    console.error(`--${name} must be a whole number`);
    process.exit(2);
  }
  return Number(v);
};
const acceptDelayMs = int('accept-delay-ms', values['accept-delay-ms']);
const fillDelayMs = int('fill-delay-ms', values['fill-delay-ms']);
const rateLimitPerMinute = int('rate-limit-per-minute', values['rate-limit-per-minute']);

const fillMode = values['fill-mode'];
if (!Object.values(FillMode).includes(fillMode as FillMode)) {
  console.error(`--fill-mode must be one of ${Object.values(FillMode).join(', ')}`);
  process.exit(2);
}

const sim = await startAlpacaSimulator({
  port: Number(values.port),
  host: values.host,
  fillMode: fillMode as FillMode,
  seed: Number(values.seed),
  faults: {
    ...(acceptDelayMs !== undefined ? { acceptDelayMs } : {}),
    ...(fillDelayMs !== undefined ? { fillDelayMs } : {}),
    ...(rateLimitPerMinute !== undefined ? { rateLimitPerMinute } : {}),
    ...(values['enforce-rate-limit'] ? { enforceRateLimit: true } : {}),
  },
  ...(process.env.ALPACA_SIM_KEY_ID !== undefined ? { keyId: process.env.ALPACA_SIM_KEY_ID } : {}),
  ...(process.env.ALPACA_SIM_SECRET_KEY !== undefined ? { secretKey: process.env.ALPACA_SIM_SECRET_KEY } : {}),
});
console.log(JSON.stringify({ url: sim.url, port: sim.port }));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void sim.stop().then(() => process.exit(0));
  });
}
