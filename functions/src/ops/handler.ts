import { z } from 'zod';
import type { Clock } from '../domain/clock.js';
import { isHaltgateError, StoreUnavailableError } from '../errors.js';
import { settledWithin } from '../safety/settled-within.js';
import { LogEvent, type EventLogger } from '../logs.js';
import type { KillSwitchWrite, KillSwitchWriteResult } from '../store/kill-switch-admin.js';
import { Access, authenticate, type Principal, type VerifyIdToken } from './auth.js';
import { BreakerResetOutcome, StrategyHaltOutcome, type HaltStrategyFn, type ResetBreakerFn } from './breaker-reset.js';
import type { SymbolHaltWrite, SymbolHaltWriteResult } from '../store/symbol-halt-admin.js';
import { isHaltableSymbol } from '../domain/symbol-halt.js';
import { dashboardAsset } from './dashboard-assets.js';
import { dashboardCsp, dashboardHtml } from './dashboard.js';
import { unmetResumePreconditions } from './resume-preconditions.js';
import type { OpsStatus } from './status.js';
import { auditQuerySchema, timelineQuerySchema, type OpsKillSwitchAudit, type OpsPnl, type OpsTimeline } from './timeline.js';

/**
 * The `ops` HTTPS function as a plain handler: a request in, a response out. `index.ts`
 * binds real dependencies and adapts express; tests and the local stack adapt node:http.
 * Errors never leave as stack traces: every failure is a JSON `{ error, ... }`.
 */

/** How long one ops request waits for Firestore before answering 503 (the function's timeout is 30 s). */
export const OPS_STORE_TIMEOUT_MS = 10_000;

export interface OpsDeps {
  verifyIdToken: VerifyIdToken;
  /** Overrides OPS_STORE_TIMEOUT_MS. */
  storeTimeoutMs?: number;
  readStatus: () => Promise<OpsStatus>;
  /** The dashboard's timeline: intents per minute by outcome over the last `hours`, halts, trips. */
  readTimeline: (q: { hours: number }) => Promise<OpsTimeline>;
  /** Realized P&L per strategy for today's trading day. */
  readPnl: () => Promise<OpsPnl>;
  /** The kill switch's audit trail, newest first. */
  readKillSwitchAudit: (q: { limit: number }) => Promise<OpsKillSwitchAudit>;
  writeKillSwitch: (write: KillSwitchWrite) => Promise<KillSwitchWriteResult>;
  resetBreaker: ResetBreakerFn;
  /** The per-strategy halt: latches `strategies/{id}.breakers.manual` (reset like any breaker). */
  haltStrategy: HaltStrategyFn;
  /** Halts or resumes one symbol for every strategy (`symbolHalts/{symbol}`), audited. */
  writeSymbolHalt: (write: SymbolHaltWrite) => Promise<SymbolHaltWriteResult>;
  clock: Clock;
  log: EventLogger;
  /** The project's web API key (public), for the dashboard's email/password sign-in; null hides it. */
  webApiKey?: string | null;
  /** A local Auth emulator (`host:port`) the dashboard signs in with instead of Firebase Auth: only from FIREBASE_AUTH_EMULATOR_HOST where firebase-verifier.ts does not refuse it. */
  authEmulatorHost?: string | null;
}

export interface OpsRequest {
  method: string;
  /** Path inside the function, e.g. `/status` (the function name is not part of it). */
  path: string;
  authorization: string | undefined;
  /** Parsed JSON body, or undefined. */
  body: unknown;
  /** Query parameters (first value of each); absent for callers that have none. */
  query?: Readonly<Record<string, string>>;
}

export interface OpsResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const reason = z.string().trim().min(1, 'reason must not be empty').max(1000);
export const haltBodySchema = z.strictObject({ reason });
export const resumeBodySchema = z.strictObject({ reason, force: z.boolean().optional() });
export const resetBodySchema = z.strictObject({ reason });
export const reduceOnlyBodySchema = z.strictObject({ reason, force: z.boolean().optional() });
export const strategyHaltBodySchema = z.strictObject({ reason });
export const symbolHaltBodySchema = z.strictObject({ reason });

const json = (status: number, body: unknown): OpsResponse => ({
  status,
  // nosniff: with script-src 'self', no answer of this origin may ever run as a script.
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
  body: JSON.stringify(body),
});

const RESET_PATH = /^\/strategies\/([^/]+)\/breakers\/([^/]+)\/reset$/;
const STRATEGY_HALT_PATH = /^\/strategies\/([^/]+)\/halt$/;
const SYMBOL_PATH = /^\/symbols\/([^/]+)\/(halt|resume)$/;

type Route =
  | { kind: 'dashboard' }
  | { kind: 'asset'; name: string }
  | { kind: 'status' }
  | { kind: 'timeline' }
  | { kind: 'pnl' }
  | { kind: 'audit' }
  | { kind: 'halt' }
  | { kind: 'resume' }
  | { kind: 'reset'; strategyId: string; breaker: string }
  | { kind: 'reduce_only' }
  | { kind: 'strategy_halt'; strategyId: string }
  | { kind: 'symbol'; symbol: string; halted: boolean }
  | { kind: 'wrong_method'; allow: string }
  | { kind: 'not_found' };

function route(method: string, rawPath: string, query: Readonly<Record<string, string>>): Route {
  const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, '') : rawPath;
  const m = method.toUpperCase();
  const only = (allowed: string, r: Route): Route => (m === allowed || (allowed === 'GET' && m === 'HEAD') ? r : { kind: 'wrong_method', allow: allowed });
  // Assets hang off the page's own URL as `?asset=<name>`: a query-only reference resolves to the
  // page's path whether it was opened as …/ops, …/ops/ or a run.app root (a path like
  // `assets/x.js` would miss the function under …/ops without the slash).
  if ((path === '/' || path === '') && query.asset !== undefined) return only('GET', { kind: 'asset', name: query.asset });
  if (path === '/' || path === '') return only('GET', { kind: 'dashboard' });
  if (path === '/status') return only('GET', { kind: 'status' });
  if (path === '/timeline') return only('GET', { kind: 'timeline' });
  if (path === '/pnl') return only('GET', { kind: 'pnl' });
  if (path === '/kill-switch/audit') return only('GET', { kind: 'audit' });
  if (path === '/halt') return only('POST', { kind: 'halt' });
  if (path === '/resume') return only('POST', { kind: 'resume' });
  if (path === '/reduce-only') return only('POST', { kind: 'reduce_only' });
  const strategyHalt = STRATEGY_HALT_PATH.exec(path);
  if (strategyHalt) {
    const strategyId = decoded(strategyHalt[1]!);
    return strategyId === null ? { kind: 'not_found' } : only('POST', { kind: 'strategy_halt', strategyId });
  }
  const symbol = SYMBOL_PATH.exec(path);
  if (symbol) {
    const name = decoded(symbol[1]!);
    return name === null ? { kind: 'not_found' } : only('POST', { kind: 'symbol', symbol: name, halted: symbol[2] === 'halt' });
  }
  const reset = RESET_PATH.exec(path);
  if (reset) {
    let strategyId: string;
    let breaker: string;
    try {
      strategyId = decodeURIComponent(reset[1]!);
      breaker = decodeURIComponent(reset[2]!);
    } catch {
      return { kind: 'not_found' };
    }
    return only('POST', { kind: 'reset', strategyId, breaker });
  }
  return { kind: 'not_found' };
}

function decoded(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

function badBody(error: z.ZodError): OpsResponse {
  return json(400, {
    error: 'invalid_body',
    issues: error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message, code: i.code })),
  });
}

const READS: ReadonlySet<Route['kind']> = new Set(['status', 'timeline', 'pnl', 'audit']);

function badQuery(error: z.ZodError): OpsResponse {
  return json(400, {
    error: 'invalid_query',
    issues: error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message, code: i.code })),
  });
}

export async function handleOpsRequest(deps: OpsDeps, req: OpsRequest): Promise<OpsResponse> {
  const query = req.query ?? {};
  const r = route(req.method, req.path, query);
  if (r.kind === 'not_found') return json(404, { error: 'not_found' });
  if (r.kind === 'wrong_method') {
    const out = json(405, { error: 'method_not_allowed', allow: r.allow });
    return { ...out, headers: { ...out.headers, allow: r.allow } };
  }
  if (r.kind === 'asset') {
    // The page's code and styles: public like the page itself (they carry no data), cached for
    // good because each name carries its content hash.
    const asset = dashboardAsset(r.name);
    if (asset === null) return json(404, { error: 'not_found' });
    return {
      status: 200,
      headers: {
        'content-type': asset.contentType,
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
        'cross-origin-resource-policy': 'same-origin',
        etag: `"${asset.hash}"`,
      },
      body: asset.body,
    };
  }
  if (r.kind === 'dashboard') {
    // The page carries no data: it asks /status with the operator's own token.
    return {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': dashboardCsp({ authEmulatorHost: deps.authEmulatorHost ?? null }),
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      },
      body: dashboardHtml({ webApiKey: deps.webApiKey ?? null, authEmulatorHost: deps.authEmulatorHost ?? null }),
    };
  }

  const auth = await authenticate(deps.verifyIdToken, req.authorization, READS.has(r.kind) ? Access.read : Access.change);
  if (!auth.ok) {
    deps.log.warn(LogEvent.opsRequestDenied, { route: r.kind, status: auth.status });
    return json(auth.status, { error: auth.status === 401 ? 'unauthenticated' : 'forbidden', message: auth.error });
  }

  try {
    // Bounded: firebase-admin retries for minutes when Firestore is unreachable, and the
    // operator needs an answer (a 503 naming the store) well before the function's timeout.
    const timeoutMs = deps.storeTimeoutMs ?? OPS_STORE_TIMEOUT_MS;
    const answer = await settledWithin(dispatch(deps, r, req.body, query, auth.principal), timeoutMs);
    if (!answer.settled) throw new StoreUnavailableError(`ops ${r.kind}`, new Error(`no answer within ${timeoutMs} ms`));
    return answer.value;
  } catch (err) {
    // Details go to the log (no secrets there: store errors name the operation), not to the caller.
    deps.log.error(LogEvent.opsRequestFailed, { route: r.kind, error: err instanceof Error ? err.message : String(err) });
    const reason = unavailableReason(err);
    return json(503, {
      error: 'unavailable',
      reason,
      message:
        reason === 'store_unavailable'
          ? 'Firestore could not be reached or did not answer; nothing is known to have changed unless status says so'
          : 'the request could not be completed; nothing is known to have changed unless status says so',
    });
  }
}

/**
 * Why a request failed, for the caller: `store_unavailable` when Firestore did not answer
 * (a haltgate store error, or a gRPC status from firebase-admin's direct reads), else
 * `internal`. The details stay in the log.
 */
function unavailableReason(err: unknown): string {
  if (isHaltgateError(err)) return err.reason;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? 'store_unavailable' : 'internal';
}

async function dispatch(
  deps: OpsDeps,
  r: Exclude<Route, { kind: 'dashboard' | 'asset' | 'not_found' | 'wrong_method' }>,
  body: unknown,
  query: Readonly<Record<string, string>>,
  who: Principal,
): Promise<OpsResponse> {
  switch (r.kind) {
    case 'status':
      return json(200, await deps.readStatus());

    case 'timeline': {
      const parsed = timelineQuerySchema.safeParse(query);
      if (!parsed.success) return badQuery(parsed.error);
      return json(200, await deps.readTimeline({ hours: parsed.data.hours }));
    }

    case 'pnl':
      return json(200, await deps.readPnl());

    case 'audit': {
      const parsed = auditQuerySchema.safeParse(query);
      if (!parsed.success) return badQuery(parsed.error);
      return json(200, await deps.readKillSwitchAudit({ limit: parsed.data.limit }));
    }

    case 'halt': {
      const parsed = haltBodySchema.safeParse(body ?? {});
      if (!parsed.success) return badBody(parsed.error);
      const result = await deps.writeKillSwitch({ halted: true, reason: parsed.data.reason, updatedBy: who.uid, via: 'api', nowMs: deps.clock.now() });
      deps.log.warn(LogEvent.opsHalt, { who: who.uid, reason: parsed.data.reason, changed: result.changed });
      return json(200, { halted: true, changed: result.changed, reason: parsed.data.reason, by: who.uid });
    }

    case 'resume': {
      const parsed = resumeBodySchema.safeParse(body ?? {});
      if (!parsed.success) return badBody(parsed.error);
      const unmet = unmetResumePreconditions(await deps.readStatus());
      const force = parsed.data.force === true;
      if (unmet.length > 0 && !force) {
        return json(409, {
          error: 'preconditions_unmet',
          message: 'not resumed: resolve these first, or resume with force: true to override',
          unmet,
        });
      }
      const result = await deps.writeKillSwitch({
        halted: false,
        reason: parsed.data.reason,
        updatedBy: who.uid,
        via: 'api',
        forced: force && unmet.length > 0,
        nowMs: deps.clock.now(),
      });
      deps.log.warn(LogEvent.opsResume, { who: who.uid, reason: parsed.data.reason, forced: force && unmet.length > 0, changed: result.changed });
      return json(200, { halted: false, changed: result.changed, reason: parsed.data.reason, by: who.uid, overridden: force ? unmet : [] });
    }

    case 'reduce_only': {
      // Reduce-only lets orders through (those that shrink a position): from halted it is a
      // resume, so the resume preconditions apply (force overrides); from trading it only
      // tightens, and nothing is checked.
      const parsed = reduceOnlyBodySchema.safeParse(body ?? {});
      if (!parsed.success) return badBody(parsed.error);
      const status = await deps.readStatus();
      const unmet = status.killSwitch.halted ? unmetResumePreconditions(status) : [];
      const force = parsed.data.force === true;
      if (unmet.length > 0 && !force) {
        return json(409, {
          error: 'preconditions_unmet',
          message: 'not switched to reduce-only (trading is halted, and this would let reducing orders through): resolve these first, or send force: true',
          unmet,
        });
      }
      const forced = force && unmet.length > 0;
      const result = await deps.writeKillSwitch({ halted: false, reduceOnly: true, reason: parsed.data.reason, updatedBy: who.uid, via: 'api', forced, nowMs: deps.clock.now() });
      deps.log.warn(LogEvent.opsResume, { who: who.uid, reason: parsed.data.reason, forced, changed: result.changed, posture: 'reduce_only' });
      return json(200, { halted: false, reduceOnly: true, posture: 'reduce_only', changed: result.changed, reason: parsed.data.reason, by: who.uid, overridden: forced ? unmet : [] });
    }

    case 'strategy_halt': {
      const parsed = strategyHaltBodySchema.safeParse(body ?? {});
      if (!parsed.success) return badBody(parsed.error);
      const result = await deps.haltStrategy({ strategyId: r.strategyId, reason: parsed.data.reason, who: who.uid });
      deps.log.warn(LogEvent.opsHalt, { who: who.uid, strategyId: r.strategyId, reason: parsed.data.reason, outcome: result.outcome });
      const status =
        result.outcome === StrategyHaltOutcome.halted || result.outcome === StrategyHaltOutcome.alreadyHalted ? 200
        : result.outcome === StrategyHaltOutcome.malformed ? 409
        : 400;
      return json(status, {
        outcome: result.outcome,
        detail: result.detail,
        strategyId: r.strategyId,
        breaker: 'manual',
        changed: result.outcome === StrategyHaltOutcome.halted,
        ...(result.by ? { by: result.by, since: result.since, reason: result.reason } : {}),
        ...(result.auditId ? { auditId: result.auditId } : {}),
      });
    }

    case 'symbol': {
      const parsed = symbolHaltBodySchema.safeParse(body ?? {});
      if (!parsed.success) return badBody(parsed.error);
      if (!isHaltableSymbol(r.symbol)) {
        return json(400, { error: 'invalid_symbol', message: `"${r.symbol}" is not a symbol (upper-case ticker such as AAPL, BRK.B or BTC/USD; encode / as %2F)` });
      }
      const result = await deps.writeSymbolHalt({ symbol: r.symbol, halted: r.halted, reason: parsed.data.reason, updatedBy: who.uid, via: 'api' });
      deps.log.warn(r.halted ? LogEvent.opsHalt : LogEvent.opsResume, { who: who.uid, symbol: r.symbol, reason: parsed.data.reason, changed: result.changed });
      return json(200, { symbol: r.symbol, halted: r.halted, changed: result.changed, reason: parsed.data.reason, by: who.uid, auditId: result.auditId });
    }

    case 'reset': {
      const parsed = resetBodySchema.safeParse(body ?? {});
      if (!parsed.success) return badBody(parsed.error);
      const result = await deps.resetBreaker({ strategyId: r.strategyId, breaker: r.breaker, reason: parsed.data.reason, who: who.uid });
      deps.log.warn(LogEvent.opsBreakerReset, { who: who.uid, strategyId: r.strategyId, breaker: r.breaker, outcome: result.outcome });
      const status =
        result.outcome === BreakerResetOutcome.reset ? 200
        : result.outcome === BreakerResetOutcome.notTripped || result.outcome === BreakerResetOutcome.malformed ? 409
        : result.outcome === BreakerResetOutcome.badRequest ? 400
        : 404;
      return json(status, { outcome: result.outcome, detail: result.detail, strategyId: r.strategyId, breaker: r.breaker, ...(result.auditId ? { auditId: result.auditId } : {}) });
    }
  }
}
