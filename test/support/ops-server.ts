import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Firestore } from 'firebase-admin/firestore';
import { loadRuntimeConfig } from '../../functions/src/config.js';
import { systemClock } from '../../functions/src/domain/clock.js';
import { memoryEventLogger } from '../../functions/src/logs.js';
import type { VerifyIdToken } from '../../functions/src/ops/auth.js';
import { firestoreOpsDeps } from '../../functions/src/ops/firestore-ops-deps.js';
import type { OpsDeps } from '../../functions/src/ops/handler.js';
import { opsRequestListener } from '../../functions/src/ops/http-adapters.js';
import { ShutdownGate } from '../../functions/src/safety/shutdown-gate.js';

/** The ops handler over node:http against a test Firestore, with the tests' own token verifier. */
export interface OpsTestServer {
  url: string;
  deps: OpsDeps;
  gate: ShutdownGate;
  log: ReturnType<typeof memoryEventLogger>;
  stop(): Promise<void>;
}

export async function startOpsServer(db: Firestore, verifyIdToken: VerifyIdToken, overrides: Partial<OpsDeps> = {}): Promise<OpsTestServer> {
  const gate = new ShutdownGate();
  const log = memoryEventLogger();
  const deps: OpsDeps = {
    ...firestoreOpsDeps({
      db,
      verifyIdToken,
      clock: systemClock,
      log,
      loadConfig: () => loadRuntimeConfig(process.env),
      env: () => process.env,
      gate,
      instanceId: 'test-instance',
    }),
    ...overrides,
  };
  const server: Server = createServer(opsRequestListener(deps));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    deps,
    gate,
    log,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
