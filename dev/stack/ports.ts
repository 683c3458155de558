import net from 'node:net';
import { portOffsetFromEnv } from '../emulators/suite.js';

/**
 * The local stack's own ports (the Alpaca simulator and the function processes; Firestore,
 * Pub/Sub and Auth are the official emulators, whose ports dev/emulators/suite.ts sets), the
 * defaults `npm start` uses, the environment variables that override them, and free-port
 * allocation for tests (port 0).
 */
export interface StackPorts {
  sim: number;
  /** First function port; function N gets `functions + N` (0: each gets a free port). */
  functions: number;
}

/** What `npm start` uses unless overridden (before HALTGATE_EMULATOR_PORT_OFFSET). */
export const DEFAULT_PORTS: StackPorts = { sim: 8090, functions: 5001 };

export const PORT_ENV_VARS: Record<keyof StackPorts, string> = {
  sim: 'HALTGATE_SIM_PORT',
  functions: 'HALTGATE_FUNCTIONS_PORT',
};

/**
 * The defaults shifted by HALTGATE_EMULATOR_PORT_OFFSET (the same offset that moves the
 * emulators, so two stacks on one machine don't collide), overridden by the HALTGATE_*_PORT
 * variables that are set (taken as they are). Throws on a bad value.
 */
export function portsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): StackPorts {
  const offset = portOffsetFromEnv(env);
  const ports: StackPorts = { sim: DEFAULT_PORTS.sim + offset, functions: DEFAULT_PORTS.functions + offset };
  for (const key of Object.keys(PORT_ENV_VARS) as Array<keyof StackPorts>) {
    const raw = env[PORT_ENV_VARS[key]];
    if (raw === undefined || raw.trim() === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${PORT_ENV_VARS[key]}=${raw} is not a port (0-65535)`);
    ports[key] = n;
  }
  return ports;
}

/**
 * A port free right now on 127.0.0.1. The functions framework can't report the port it got
 * for 0, so the stack picks one and passes it; the tiny race with other processes is fine
 * for a dev tool.
 */
export async function freePort(): Promise<number> {
  // Never hand out the same port twice in this process (two stacks starting side by side).
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await osFreePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found');
}

const handedOut = new Set<number>();

function osFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port; rejects after `timeoutMs` or when `abort` fires. */
export async function waitForPort(port: number, opts: { timeoutMs: number; abort?: AbortSignal }): Promise<void> {
  const until = Date.now() + opts.timeoutMs;
  for (;;) {
    if (opts.abort?.aborted) throw new Error(String(opts.abort.reason ?? 'aborted'));
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on port ${port} after ${opts.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
