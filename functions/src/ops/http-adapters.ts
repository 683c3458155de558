import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { LogEvent } from '../logs.js';
import { handleOpsRequest, type OpsDeps, type OpsResponse } from './handler.js';

/**
 * Two ways into `handleOpsRequest`: express (what `onRequest` hands us, body already parsed)
 * and plain node:http (tests, the local stack). Neither ever writes a stack trace.
 */

const MAX_BODY_BYTES = 64 * 1024;

function send(res: ServerResponse, out: OpsResponse, head: boolean): void {
  res.writeHead(out.status, out.headers);
  res.end(head ? undefined : out.body);
}

function headerOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Express-like request as firebase-functions' `onRequest` delivers it. */
export interface ExpressLikeRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  /** express' parsed query string (values may be arrays or objects with its `qs` parser). */
  query?: unknown;
}

/** Query parameters as plain strings: the first string value of each, nothing nested. */
export function plainQuery(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (query === null || typeof query !== 'object') return out;
  for (const [k, v] of Object.entries(query as Record<string, unknown>)) {
    const first = Array.isArray(v) ? v.find((x) => typeof x === 'string') : v;
    if (typeof first === 'string') out[k] = first;
  }
  return out;
}

export async function serveOpsExpress(deps: OpsDeps, req: ExpressLikeRequest, res: ServerResponse): Promise<void> {
  const out = await safely(deps, () =>
    handleOpsRequest(deps, {
      method: req.method,
      path: req.path,
      authorization: headerOf(req.headers.authorization),
      query: plainQuery(req.query),
      // express leaves `{}` or a Buffer when the body was not JSON: only plain JSON values count.
      body: Buffer.isBuffer(req.body) ? undefined : req.body,
    }),
  );
  send(res, out, req.method === 'HEAD');
}

/** node:http listener; `prefix` is stripped from paths (the local stack mounts it at `/ops`). */
export function opsRequestListener(deps: OpsDeps, opts: { prefix?: string } = {}): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://local');
      } catch {
        // node:http accepts request targets URL cannot parse (`//[`): answer, never crash.
        return send(res, jsonError(400, 'invalid_request_target'), false);
      }
      let path = url.pathname;
      if (opts.prefix && path.startsWith(opts.prefix)) path = path.slice(opts.prefix.length) || '/';
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) return send(res, jsonError(413, 'payload_too_large'), false);
        chunks.push(chunk as Buffer);
      }
      let body: unknown;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          return send(res, { ...jsonError(400, 'invalid_json'), body: JSON.stringify({ error: 'invalid_body', issues: [{ path: '', message: 'body is not valid JSON', code: 'invalid_json' }] }) }, false);
        }
      }
      const out = await safely(deps, () =>
        handleOpsRequest(deps, {
          method: req.method ?? 'GET',
          path,
          authorization: headerOf(req.headers.authorization),
          body,
          query: Object.fromEntries([...url.searchParams.keys()].map((k) => [k, url.searchParams.get(k) ?? ''])),
        }),
      );
      send(res, out, req.method === 'HEAD');
    })();
  };
}

function jsonError(status: number, error: string): OpsResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ error }) };
}

async function safely(deps: OpsDeps, run: () => Promise<OpsResponse>): Promise<OpsResponse> {
  try {
    return await run();
  } catch (err) {
    // handleOpsRequest catches its own failures; this is the last line (a bug in routing or auth).
    deps.log.error(LogEvent.opsRequestFailed, { error: err instanceof Error ? err.message : String(err) });
    return jsonError(500, 'internal');
  }
}
