import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mulberry32 } from '../seeded-random.js';

/**
 * An optional pass-through between the Pub/Sub emulator's push delivery and a function
 * process, for the chaos test and the benchmark (the stack pushes straight to the function
 * unless asked for one). It forwards each push request as it came (same path, headers and
 * body) and answers the emulator with the function's status, so acknowledgement and
 * redelivery stay the emulator's. On the way it
 *   - counts deliveries, answers by status, requests in flight, and which messages were
 *     acknowledged (answered 2xx), by Pub/Sub message id;
 *   - notes when each message was first forwarded (by the `intentId` attribute the runner kit
 *     puts on every intent), for the benchmark's arrival → broker-call time;
 *   - optionally limits how many requests are in flight at the function (what Cloud Run's
 *     per-instance concurrency does: further requests wait), and
 *   - optionally delivers a message twice at once (seeded dice), as Pub/Sub's at-least-once
 *     delivery may: both copies carry the same message id, hence the same event id. The
 *     emulator is answered 2xx if either copy was.
 * A function process that is down or dies mid-request is answered 502 (the emulator
 * redelivers).
 */
export interface PushRelayOptions {
  /** At most this many requests in flight at the function; others wait in order. Default unbounded. */
  maxConcurrent?: number;
  /** Probability that a delivery is sent to the function twice at once. Default 0. */
  duplicateRate?: number;
  seed?: number;
}

export interface PushRelayStats {
  /** Requests from the emulator. */
  deliveries: number;
  /** Extra copies sent to the function. */
  duplicates: number;
  /** Requests waiting for the function or for a concurrency slot. */
  inFlight: number;
  /** Answers to the emulator by HTTP status (502: the function was unreachable). */
  outcomes: Record<string, number>;
  /** Distinct message ids seen. */
  messages: number;
  /** Distinct message ids answered 2xx at least once. */
  acked: number;
  /** Requests that were not a Pub/Sub push body. */
  unparsed: number;
}

export interface PushRelay {
  /** Base URL (ends with `/`): the push endpoint is this plus the path the function expects. */
  url: string;
  stats(): PushRelayStats;
  /** Whether the message was answered 2xx. */
  isAcked(messageId: string): boolean;
  /** intentId → epoch ms when its first delivery was forwarded to the function. */
  arrivals: Map<string, number>;
  stop(): Promise<void>;
}

/** What the emulator takes as an acknowledgement (its HttpEndpointPusher: 102, 200, 201, 203, 204). */
export const PUSH_ACK_STATUSES: ReadonlySet<number> = new Set([102, 200, 201, 203, 204]);

export async function startPushRelay(target: string, opts: PushRelayOptions = {}): Promise<PushRelay> {
  const targetUrl = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const rand = mulberry32(opts.seed ?? 1);
  const duplicateRate = opts.duplicateRate ?? 0;
  const limit = opts.maxConcurrent ?? Number.POSITIVE_INFINITY;
  const arrivals = new Map<string, number>();
  const seen = new Set<string>();
  const acked = new Set<string>();
  const outcomes: Record<string, number> = {};
  let deliveries = 0;
  let duplicates = 0;
  let inFlight = 0;
  let unparsed = 0;
  let active = 0;
  const waiting: Array<() => void> = [];
  const acquire = async () => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
  };
  const release = () => {
    active -= 1;
    waiting.shift()?.();
  };

  /** One copy to the function: its status, or 502 when it could not be reached or died. */
  const forward = (req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve) => {
      const upstream = http.request(
        { host: targetUrl.hostname, port: targetUrl.port, path: req.url, method: req.method, headers: req.headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', () => resolve({ status: 502, headers: {}, body: Buffer.alloc(0) }));
        },
      );
      upstream.on('error', () => resolve({ status: 502, headers: {}, body: Buffer.alloc(0) }));
      upstream.end(body);
    });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        deliveries += 1;
        inFlight += 1;
        let messageId: string | null = null;
        let intentId: string | undefined;
        try {
          const parsed = JSON.parse(body.toString('utf8')) as { message?: { messageId?: string; attributes?: Record<string, string> } };
          messageId = parsed.message?.messageId ?? null;
          intentId = parsed.message?.attributes?.intentId;
        } catch {
          // not JSON: forwarded all the same
        }
        if (messageId === null) unparsed += 1;
        else seen.add(messageId);
        const twice = duplicateRate > 0 && rand() < duplicateRate;
        if (twice) duplicates += 1;
        const once = async () => {
          await acquire();
          try {
            if (intentId !== undefined && !arrivals.has(intentId)) arrivals.set(intentId, Date.now());
            return await forward(req, body);
          } finally {
            release();
          }
        };
        const answers = await Promise.all(twice ? [once(), once()] : [once()]);
        const answer = answers.find((a) => PUSH_ACK_STATUSES.has(a.status)) ?? answers[0]!;
        outcomes[answer.status] = (outcomes[answer.status] ?? 0) + 1;
        if (messageId !== null && PUSH_ACK_STATUSES.has(answer.status)) acked.add(messageId);
        inFlight -= 1;
        const headers = { ...answer.headers };
        delete headers['transfer-encoding'];
        delete headers.connection;
        delete headers['keep-alive'];
        res.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) });
        res.end(answer.body);
      })();
    });
  });
  // The emulator has no read timeout: never cut a request that waits for a slow function.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    arrivals,
    isAcked: (messageId) => acked.has(messageId),
    stats: () => ({ deliveries, duplicates, inFlight, outcomes: { ...outcomes }, messages: seen.size, acked: acked.size, unparsed }),
    async stop() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
