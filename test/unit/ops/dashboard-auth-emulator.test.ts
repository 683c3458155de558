/**
 * The dashboard signs in against a local Auth emulator only when the function itself runs
 * with one (FIREBASE_AUTH_EMULATOR_HOST, and not refused as deployed), and only a plain
 * `host:port` ever reaches the page or its CSP.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../functions/src/domain/clock.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { authEmulatorHostOf, DASHBOARD_CSP, dashboardCsp, dashboardHtml } from '../../../functions/src/ops/dashboard.js';
import { firestoreOpsDeps } from '../../../functions/src/ops/firestore-ops-deps.js';
import { handleOpsRequest } from '../../../functions/src/ops/handler.js';
import { ShutdownGate } from '../../../functions/src/safety/shutdown-gate.js';

describe('dashboard with a local Auth emulator', () => {
  it('accepts only host:port', () => {
    expect(authEmulatorHostOf('127.0.0.1:9099')).toBe('127.0.0.1:9099');
    expect(authEmulatorHostOf(' localhost:9099 ')).toBe('localhost:9099');
    expect(authEmulatorHostOf('[::1]:9099')).toBe('[::1]:9099');
    for (const bad of ['', '127.0.0.1', 'http://127.0.0.1:9099', '127.0.0.1:9099/x', "a:1; script-src 'unsafe-inline'", 'a:1 https://evil.example', '"><x>:1', null, undefined]) {
      expect(authEmulatorHostOf(bad)).toBeNull();
    }
  });

  it('the page and its CSP name the emulator only when given one', () => {
    expect(DASHBOARD_CSP).not.toContain('http://');
    expect(dashboardCsp({ authEmulatorHost: '127.0.0.1:9099' })).toContain("connect-src 'self' https://identitytoolkit.googleapis.com https://securetoken.googleapis.com http://127.0.0.1:9099;");
    expect(dashboardCsp({ authEmulatorHost: 'x:1; script-src *' })).toBe(DASHBOARD_CSP);
    expect(dashboardHtml({ authEmulatorHost: '127.0.0.1:9099' })).toContain('name="haltgate-auth-emulator" content="127.0.0.1:9099"');
    expect(dashboardHtml()).toContain('name="haltgate-auth-emulator" content=""');
  });

  it('firestoreOpsDeps takes the emulator from FIREBASE_AUTH_EMULATOR_HOST, but never on a deployed non-demo project', async () => {
    const deps = (env: Record<string, string>) =>
      firestoreOpsDeps({
        db: {} as never,
        verifyIdToken: async () => ({ uid: 'x', claims: {} }),
        clock: systemClock,
        log: memoryEventLogger(),
        loadConfig: () => ({ ok: false, problems: [], partial: {} }) as never,
        env: () => env,
        gate: new ShutdownGate(),
        instanceId: 't',
      });
    expect(deps({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', GCLOUD_PROJECT: 'demo-haltgate', K_SERVICE: 'ops' }).authEmulatorHost).toBe('127.0.0.1:9099');
    expect(deps({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', GCLOUD_PROJECT: 'acme', K_SERVICE: 'ops' }).authEmulatorHost).toBeNull();
    expect(deps({}).authEmulatorHost).toBeNull();

    const page = await handleOpsRequest(deps({ FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099', GCLOUD_PROJECT: 'demo-haltgate' }), { method: 'GET', path: '/', authorization: undefined, body: undefined });
    expect(page.headers['content-security-policy']).toContain('http://127.0.0.1:9099');
    expect(page.body).toContain('content="127.0.0.1:9099"');
  });
});
