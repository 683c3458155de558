/**
 * The ops API over HTTP (node:http + handleOpsRequest) against the official Firestore emulator, with
 * tokens from a local issuer the test controls (test/support/id-tokens.ts).
 * Every endpoint × {no token, wrong role, right role, bad body}.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Timestamp } from 'firebase-admin/firestore';
import { opsStatusSchema } from '../../../functions/src/ops/status.js';
import { startTestBackends, type TestBackends } from '../../support/backends.js';
import { createTestIssuer, OPERATOR, VIEWER, type TestIssuer } from '../../support/id-tokens.js';
import { startOpsServer, type OpsTestServer } from '../../support/ops-server.js';

let b: TestBackends;
let issuer: TestIssuer;
let ops: OpsTestServer;

beforeAll(async () => {
  b = await startTestBackends();
  issuer = createTestIssuer();
  ops = await startOpsServer(b.db, issuer.verifyIdToken);
});
afterAll(async () => {
  await ops?.stop();
  await b?.stop();
});
beforeEach(async () => {
  await b.reset();
});

async function call(method: string, path: string, opts: { token?: string; body?: unknown; rawBody?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined || opts.rawBody !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${ops.url}${path}`, {
    method,
    headers,
    body: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  // Never a stack trace, whatever the answer.
  expect(text).not.toMatch(/\n\s+at /);
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* html */
  }
  return { status: res.status, json, text, headers: res.headers };
}

const operator = () => issuer.mint('op-alice', OPERATOR);
const viewer = () => issuer.mint('viewer-bob', VIEWER);
const noRole = () => issuer.mint('nobody', {});

async function tripBreaker(strategyId = 's1') {
  await b.db.doc(`strategies/${strategyId}`).set({
    breakers: {
      notional: { tripped: true, breaker: 'notional', detail: 'notional 1200 > 1000', value: 1200, threshold: 1000, trippedAt: Date.now() - 1000, intentId: 'it-1' },
    },
  });
}

const ENDPOINTS = [
  { name: 'GET /status', method: 'GET', path: '/status', access: 'read', body: undefined },
  { name: 'POST /halt', method: 'POST', path: '/halt', access: 'change', body: { reason: 'test halt' } },
  { name: 'POST /resume', method: 'POST', path: '/resume', access: 'change', body: { reason: 'test resume' } },
  { name: 'POST /strategies/s1/breakers/notional/reset', method: 'POST', path: '/strategies/s1/breakers/notional/reset', access: 'change', body: { reason: 'checked the notional' } },
] as const;

describe.each(ENDPOINTS)('$name', (ep) => {
  beforeEach(async () => {
    await tripBreaker();
  });

  it('401 without a token', async () => {
    const r = await call(ep.method, ep.path, { body: ep.body });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'unauthenticated' });
  });

  it('401 with a token the issuer did not sign, or an expired one', async () => {
    expect((await call(ep.method, ep.path, { token: issuer.mintForeign('op', OPERATOR), body: ep.body })).status).toBe(401);
    expect((await call(ep.method, ep.path, { token: issuer.mint('op', OPERATOR, { expiresInS: -10 }), body: ep.body })).status).toBe(401);
    expect((await call(ep.method, ep.path, { token: issuer.mint('op', OPERATOR, { audience: 'other-project' }), body: ep.body })).status).toBe(401);
  });

  it('403 with the wrong role', async () => {
    const wrong = ep.access === 'read' ? noRole() : viewer();
    const r = await call(ep.method, ep.path, { token: wrong, body: ep.body });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: 'forbidden' });
    // A token without any role is refused for changes too.
    expect((await call(ep.method, ep.path, { token: noRole(), body: ep.body })).status).toBe(403);
  });

  it('succeeds with the right role', async () => {
    const token = ep.access === 'read' ? viewer() : operator();
    const r = await call(ep.method, ep.path, { token, body: ep.body });
    expect(r.status).toBe(200);
    if (ep.path === '/status') {
      expect(opsStatusSchema.parse(r.json).killSwitch.halted).toBe(false);
      // An operator may read too.
      expect((await call('GET', '/status', { token: operator() })).status).toBe(200);
    }
  });

  it('400 with zod issues for a bad body (or a rejected token format for GET)', async () => {
    const token = ep.access === 'read' ? viewer() : operator();
    if (ep.method === 'GET') {
      // GET has no body; a malformed Authorization header is its bad input.
      const r = await fetch(`${ops.url}${ep.path}`, { headers: { authorization: 'Basic abc' } });
      expect(r.status).toBe(401);
      return;
    }
    for (const bad of [{}, { reason: '' }, { reason: '   ' }, { reason: 42 }, { reason: 'ok', extra: true }, [1, 2]]) {
      const r = await call(ep.method, ep.path, { token, body: bad });
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.json.error).toBe('invalid_body');
      expect(r.json.issues.length).toBeGreaterThan(0);
      expect(r.json.issues[0]).toHaveProperty('message');
    }
    const notJson = await call(ep.method, ep.path, { token, rawBody: '{reason:' });
    expect(notJson.status).toBe(400);
  });
});

describe('what the endpoints do', () => {
  it('halt writes ops/killSwitch through the store with who and why; status reports it', async () => {
    const r = await call('POST', '/halt', { token: operator(), body: { reason: 'fat finger in momentum-1' } });
    expect(r.json).toMatchObject({ halted: true, changed: true, by: 'op-alice' });
    const doc = (await b.db.doc('ops/killSwitch').get()).data()!;
    expect(doc).toMatchObject({ halted: true, reason: 'fat finger in momentum-1', updatedBy: 'op-alice', via: 'api' });
    expect(doc.updatedAt).toBeInstanceOf(Timestamp);

    const s = opsStatusSchema.parse((await call('GET', '/status', { token: viewer() })).json);
    expect(s.killSwitch).toMatchObject({ halted: true, who: 'op-alice', documentReason: 'fat finger in momentum-1' });
    expect(s.killSwitch.since).not.toBeNull();
  });

  it('status lists breakers, counts by state, stuck records, reconciler, runners and this instance', async () => {
    await tripBreaker('s1');
    const now = Date.now();
    const sub = (id: string, state: string, ageMs: number) =>
      b.db.doc(`submissions/${id}`).set({
        intentId: id,
        state,
        reason: state === 'refused' ? 'halted' : null,
        strategyId: 's1',
        intent: { strategyId: 's1', symbol: 'AAPL', side: 'buy', qty: 1 },
        updatedAt: Timestamp.fromMillis(now - ageMs),
      });
    await Promise.all([sub('a', 'submitted', 1000), sub('b', 'refused', 2000), sub('c', 'unknown', 10 * 60_000), sub('old', 'submitted', 2 * 3_600_000)]);
    await b.db.doc('ops/reconciler').set({ lastRunAt: Timestamp.fromMillis(now - 5000), scanned: 3, submitted: 1, abandoned: 0, stillUnknown: 1, markedUnknown: 0, errors: 0, durationMs: 12, problems: [] });
    await b.db.doc('runners/r1').set({ state: 'running', intervalMs: 1000, lastSeenAt: Timestamp.fromMillis(now - 60_000) });

    const s = opsStatusSchema.parse((await call('GET', '/status', { token: viewer() })).json);
    const s1 = s.strategies.find((x) => x.strategyId === 's1')!;
    expect(s1.breakers.find((x) => x.name === 'notional')).toMatchObject({ tripped: true, value: 1200, threshold: 1000, reason: 'notional 1200 > 1000' });
    expect(s1.breakers.find((x) => x.name === 'dailyLoss')).toMatchObject({ tripped: false });
    expect(s.submissions.countsByState).toEqual({ submitted: 1, refused: 1, unknown: 1 });
    expect(s.submissions.stuck.map((x) => x.intentId)).toEqual(['c']);
    expect(s.submissions.recent[0]!.intentId).toBe('a');
    expect(s.reconciler).toMatchObject({ ok: true });
    expect(s.runners).toEqual([expect.objectContaining({ runnerId: 'r1', stale: true })]);
    expect(s.instance).toMatchObject({ instanceId: 'test-instance', shuttingDown: false, inflight: 0 });
    expect(s.execution).toMatchObject({ mode: 'paper', configValid: true });
  });

  it('resume refuses while a precondition is unmet, says which, and goes through with force (recorded)', async () => {
    await call('POST', '/halt', { token: operator(), body: { reason: 'incident' } });
    await b.db.doc('submissions/stuck-1').set({ intentId: 'stuck-1', state: 'unknown', updatedAt: Timestamp.fromMillis(Date.now() - 3_600_000) });
    await b.db.doc('ops/reconciler').set({ lastRunAt: Timestamp.now(), errors: 2, problems: ['lookup failed: 503'] });

    const refused = await call('POST', '/resume', { token: operator(), body: { reason: 'all clear' } });
    expect(refused.status).toBe(409);
    expect(refused.json.error).toBe('preconditions_unmet');
    expect(refused.json.unmet.map((u: { code: string }) => u.code).sort()).toEqual(['reconciler_failed', 'stuck_submissions']);
    expect((await b.db.doc('ops/killSwitch').get()).get('halted')).toBe(true);

    const forced = await call('POST', '/resume', { token: operator(), body: { reason: 'all clear, accepted risk', force: true } });
    expect(forced.status).toBe(200);
    expect(forced.json.overridden).toHaveLength(2);
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, forced: true, updatedBy: 'op-alice', reason: 'all clear, accepted risk' });
  });

  it('resume also names a deploy-time EXECUTION_HALTED it cannot lift', async () => {
    process.env.EXECUTION_HALTED = 'true';
    try {
      const r = await call('POST', '/resume', { token: operator(), body: { reason: 'go' } });
      expect(r.status).toBe(409);
      expect(r.json.unmet.map((u: { code: string }) => u.code)).toContain('param_halted');
    } finally {
      b.resetEnv();
    }
  });

  it('breaker reset clears the latch through the store and audits who and why; unknown or untripped say so', async () => {
    await tripBreaker('s1');
    const r = await call('POST', '/strategies/s1/breakers/notional/reset', { token: operator(), body: { reason: 'limit raised' } });
    expect(r.status).toBe(200);
    expect(r.json.outcome).toBe('reset');
    expect((await b.db.doc('strategies/s1').get()).get('breakers')).toEqual({});
    const audit = await b.db.collection('strategies/s1/audit').get();
    expect(audit.docs.map((d) => d.data())).toEqual([expect.objectContaining({ who: 'op-alice', why: 'limit raised', breaker: 'notional' })]);

    expect((await call('POST', '/strategies/s1/breakers/notional/reset', { token: operator(), body: { reason: 'again' } })).status).toBe(409);
    expect((await call('POST', '/strategies/s1/breakers/bogus/reset', { token: operator(), body: { reason: 'x' } })).status).toBe(404);
  });

  it('serves the dashboard without data and with a strict CSP; unknown paths 404, wrong methods 405', async () => {
    const page = await call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(page.text).toContain('HALT');
    expect((await call('GET', '/nope', { token: operator() })).status).toBe(404);
    expect((await call('GET', '/halt', { token: operator() })).status).toBe(405);
  });

  it('a store failure is a 503 without details, logged', async () => {
    const failing = await startOpsServer(b.db, issuer.verifyIdToken, {
      readStatus: () => Promise.reject(new Error('firestore down at /secret/path')),
    });
    try {
      const r = await fetch(`${failing.url}/status`, { headers: { authorization: `Bearer ${viewer()}` } });
      expect(r.status).toBe(503);
      const text = await r.text();
      expect(text).not.toContain('firestore down');
      expect(failing.log.events.some((e) => e.event === 'ops_request_failed')).toBe(true);
    } finally {
      await failing.stop();
    }
  });
});
