import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The benchmark's stand-in for Cloud Run's load balancing over several instances of one
 * function: an HTTP pass-through that sends each request to the target with the fewest requests
 * in flight (ties: round robin) and answers with that target's status and body (502 if it could
 * not be reached). The push relay (dev/stack/push-relay.ts) sits in front of it and still bounds
 * the total in flight.
 */
export interface Balancer {
  url: string;
  /** Requests sent to each target so far. */
  sent(): number[];
  stop(): Promise<void>;
}

export async function startBalancer(targets: string[]): Promise<Balancer> {
  const urls = targets.map((t) => new URL(t));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const inFlight = urls.map(() => 0);
  const sent = urls.map(() => 0);
  let turn = 0;
  const pick = () => {
    let best = -1;
    for (let k = 0; k < urls.length; k += 1) {
      const i = (turn + k) % urls.length;
      if (best === -1 || inFlight[i]! < inFlight[best]!) best = i;
    }
    turn = (turn + 1) % urls.length;
    return best;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const i = pick();
      const target = urls[i]!;
      inFlight[i]! += 1;
      sent[i]! += 1;
      let done = false;
      const finish = (status: number, headers: http.IncomingHttpHeaders, body: Buffer) => {
        if (done) return;
        done = true;
        inFlight[i]! -= 1;
        const h = { ...headers };
        delete h['transfer-encoding'];
        delete h.connection;
        delete h['keep-alive'];
        res.writeHead(status, { ...h, 'content-length': String(body.length) });
        res.end(body);
      };
      const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers, agent }, (r) => {
        const out: Buffer[] = [];
        r.on('data', (c: Buffer) => out.push(c));
        r.on('end', () => finish(r.statusCode ?? 502, r.headers, Buffer.concat(out)));
        r.on('error', () => finish(502, {}, Buffer.alloc(0)));
      });
      upstream.on('error', () => finish(502, {}, Buffer.alloc(0)));
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    sent: () => [...sent],
    async stop() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
