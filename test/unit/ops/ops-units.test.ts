import { describe, expect, it } from 'vitest';
import { allows, authenticate, roleOf } from '../../../functions/src/ops/auth.js';
import { emulatorVariableRefusal, firebaseAdminVerifier } from '../../../functions/src/ops/firebase-verifier.js';
import { haltCancelsOpenOrders } from '../../../functions/src/ops/halt-config.js';
import { unmetResumePreconditions } from '../../../functions/src/ops/resume-preconditions.js';
import type { OpsStatus } from '../../../functions/src/ops/status.js';

describe('roles', () => {
  it('only the nested claim haltgate.role with viewer|operator counts', () => {
    expect(roleOf({ haltgate: { role: 'viewer' } })).toBe('viewer');
    expect(roleOf({ haltgate: { role: 'operator' } })).toBe('operator');
    expect(roleOf({ haltgate: { role: 'admin' } })).toBeNull();
    expect(roleOf({ 'haltgate.role': 'operator' })).toBeNull();
    expect(roleOf({ role: 'operator' })).toBeNull();
    expect(roleOf({ haltgate: 'operator' })).toBeNull();
    expect(allows('viewer', 'read')).toBe(true);
    expect(allows('viewer', 'change')).toBe(false);
    expect(allows('operator', 'change')).toBe(true);
  });

  it('a verifier failure is a 401 that does not echo the verifier message', async () => {
    const r = await authenticate(() => Promise.reject(new Error('token abc.def.ghi has bad sig')), 'Bearer abc.def.ghi', 'read');
    expect(r).toEqual({ ok: false, status: 401, error: 'invalid or expired ID token' });
  });
});

describe('FIREBASE_AUTH_EMULATOR_HOST is refused on a deployed function', () => {
  it('refuses on Cloud Run outside demo- projects; allows locally and in demo projects', () => {
    expect(emulatorVariableRefusal({})).toBeNull();
    expect(emulatorVariableRefusal({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' })).toBeNull();
    expect(emulatorVariableRefusal({ FIREBASE_AUTH_EMULATOR_HOST: 'x', K_SERVICE: 'ops', GCLOUD_PROJECT: 'demo-haltgate' })).toBeNull();
    expect(emulatorVariableRefusal({ FIREBASE_AUTH_EMULATOR_HOST: 'x', K_SERVICE: 'ops', GCLOUD_PROJECT: 'acme-trading' })).toMatch(/refused/);
  });

  it('the firebase-admin verifier never calls verifyIdToken then, and checks revocation otherwise', async () => {
    const calls: Array<[string, boolean | undefined]> = [];
    const auth = { verifyIdToken: async (t: string, checkRevoked?: boolean) => (calls.push([t, checkRevoked]), { uid: 'u1', haltgate: { role: 'viewer' } }) };
    const deployed = firebaseAdminVerifier(() => auth as never, { FIREBASE_AUTH_EMULATOR_HOST: 'x', K_SERVICE: 'ops', GCLOUD_PROJECT: 'acme' });
    await expect(deployed('tok')).rejects.toThrow(/refused/);
    expect(calls).toEqual([]);
    const normal = firebaseAdminVerifier(() => auth as never, { K_SERVICE: 'ops', GCLOUD_PROJECT: 'acme' });
    expect(await normal('tok')).toMatchObject({ uid: 'u1', claims: { haltgate: { role: 'viewer' } } });
    expect(calls).toEqual([['tok', true]]);
  });
});

describe('HALT_CANCEL_OPEN_ORDERS', () => {
  it('defaults to true; only explicit false words turn it off', () => {
    expect(haltCancelsOpenOrders({})).toBe(true);
    expect(haltCancelsOpenOrders({ HALT_CANCEL_OPEN_ORDERS: '' })).toBe(true);
    expect(haltCancelsOpenOrders({ HALT_CANCEL_OPEN_ORDERS: 'true' })).toBe(true);
    expect(haltCancelsOpenOrders({ HALT_CANCEL_OPEN_ORDERS: 'flase' })).toBe(true);
    for (const v of ['false', 'FALSE', ' no ', '0', 'off']) expect(haltCancelsOpenOrders({ HALT_CANCEL_OPEN_ORDERS: v })).toBe(false);
  });
});

function status(overrides: Partial<OpsStatus> = {}): OpsStatus {
  return {
    generatedAt: new Date().toISOString(),
    killSwitch: { halted: true, reason: 'x', sources: ['document'], documentReason: 'x', who: 'a', since: null },
    execution: { mode: 'paper', configValid: true, problems: [], source: 'test' },
    strategies: [],
    submissions: { windowMs: 3_600_000, countsByState: {}, stuckAfterMs: 300_000, stuck: [], recent: [] },
    reconciler: null,
    functions: [],
    runners: [],
    instance: { instanceId: 'i', shuttingDown: false, shutdownReason: null, inflight: 0 },
    ...overrides,
  };
}

describe('resume preconditions', () => {
  it('none when all is well (a missing reconciler report is not a failure)', () => {
    expect(unmetResumePreconditions(status())).toEqual([]);
  });
  it('a configuration no executeIntent instance has reported yet does not block a resume', () => {
    // executeIntent refuses on its own when its configuration is bad (G6); "unknown" is not "invalid".
    expect(unmetResumePreconditions(status({ execution: { mode: null, configValid: null, problems: [], source: 'unknown' } }))).toEqual([]);
  });
  it('names each unmet one', () => {
    const unmet = unmetResumePreconditions(
      status({
        execution: { mode: null, configValid: false, problems: ['EXECUTION_MODE="pape" is not one of …'], source: 'test' },
        killSwitch: { halted: true, reason: 'x', sources: ['document', 'param'], documentReason: null, who: null, since: null },
        submissions: { windowMs: 1, countsByState: {}, stuckAfterMs: 1, stuck: [{ intentId: 'i1', strategyId: null, symbol: null, side: null, qty: null, state: 'unknown', reason: null, updatedAt: null }], recent: [] },
        reconciler: { lastRunAt: null, ok: false, result: 'errors 2' },
      }),
    );
    expect(unmet.map((u) => u.code)).toEqual(['config_invalid', 'param_halted', 'stuck_submissions', 'reconciler_failed']);
    expect(unmet[2]!.message).toContain('i1 (unknown)');
  });
});

describe('dashboard page', () => {
  it('escapes the web API key into its meta tag and allows only its own origin\'s scripts, no inline code', async () => {
    const { dashboardHtml, DASHBOARD_CSP } = await import('../../../functions/src/ops/dashboard.js');
    const html = dashboardHtml({ webApiKey: '"><script>alert(1)</script>' });
    expect(html).not.toContain('"><script>alert(1)');
    expect(html).toContain('&quot;&gt;&lt;script&gt;');
    expect(dashboardHtml()).toContain('name="haltgate-web-api-key" content=""');
    // The page's code moved to same-origin assets (dashboard-assets.ts): no inline script or style at all.
    expect(DASHBOARD_CSP).toContain("script-src 'self';");
    expect(DASHBOARD_CSP).toContain("style-src 'self';");
    expect(DASHBOARD_CSP).not.toContain('unsafe-eval');
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
    expect(dashboardHtml()).not.toMatch(/<script>|<style>| style=/);
  });
});
