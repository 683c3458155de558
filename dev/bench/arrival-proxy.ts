import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through HTTP proxy between Pub/Sub push and a function process that notes when each
 * message first arrived (by the `intentId` attribute the runner kit puts on every intent),
 * so the benchmark can measure message arrival → broker call start. It forwards bytes as they
 * are; its own cost (a loopback hop, well under a millisecond) is inside the measured overhead.
 */
export interface ArrivalProxy {
  url: string;
  /** intentId → epoch ms of the first delivery's arrival. */
  arrivals: Map<string, number>;
  stop(): Promise<void>;
}

export async function startArrivalProxy(target: string): Promise<ArrivalProxy> {
  const arrivals = new Map<string, number>();
  const targetUrl = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const server = http.createServer((req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const event = JSON.parse(body.toString('utf8')) as { data?: { message?: { attributes?: Record<string, string> } } };
        const intentId = event.data?.message?.attributes?.intentId;
        if (intentId !== undefined && !arrivals.has(intentId)) arrivals.set(intentId, at);
      } catch {
        // Not JSON (binary mode): forwarded all the same, just not timed.
      }
      const upstream = http.request(
        { host: targetUrl.hostname, port: targetUrl.port, path: req.url, method: req.method, headers: req.headers, agent },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    arrivals,
    async stop() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
