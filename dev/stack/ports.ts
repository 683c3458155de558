import net from 'node:net';

/**
 * The local stack's ports: the defaults `npm start` uses, the environment variables that
 * override them, and free-port allocation for tests (port 0).
 */
export interface StackPorts {
  firestore: number;
  pubsub: number;
  sim: number;
  /** The local Auth emulator (dev/auth). */
  auth: number;
  /** First function port; function N gets `functions + N` (0: each gets a free port). */
  functions: number;
}

/** What `npm start` uses unless overridden: the official emulator suite's usual ports where one exists. */
export const DEFAULT_PORTS: StackPorts = { firestore: 8080, pubsub: 8085, sim: 8090, auth: 9099, functions: 5001 };

export const PORT_ENV_VARS: Record<keyof StackPorts, string> = {
  firestore: 'HALTGATE_FIRESTORE_PORT',
  pubsub: 'HALTGATE_PUBSUB_PORT',
  sim: 'HALTGATE_SIM_PORT',
  auth: 'HALTGATE_AUTH_PORT',
  functions: 'HALTGATE_FUNCTIONS_PORT',
};

/** The defaults, overridden by the HALTGATE_*_PORT variables that are set. Throws on a bad value. */
export function portsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): StackPorts {
  const ports = { ...DEFAULT_PORTS };
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
