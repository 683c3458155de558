/**
 * The exported `ops` function as the functions framework serves it (express with JSON body
 * parsing), with the production verifier (firebase-admin). Without the Auth emulator no real
 * token can be minted here, so this covers the wiring: the dashboard, 401s, and the refusal
 * of FIREBASE_AUTH_EMULATOR_HOST on a deployed (K_SERVICE) non-demo project.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../../../functions/src/index.js';
import { startTestBackends, type TestBackends } from '../../support/backends.js';

let b: TestBackends;
let server: Server;
let url: string;

beforeAll(async () => {
  b = await startTestBackends();
  const app = express();
  app.use(express.json());
  app.use((req, res) => void (ops as unknown as (rq: unknown, rs: unknown) => Promise<void>)(req, res));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await b?.stop();
});

/** An unsigned token, as firebase-admin accepts it in Auth-emulator mode. */
function unsignedToken(claims: Record<string, unknown>): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: 'https://securetoken.google.com/acme', aud: 'acme', sub: 'mallory', iat: now, exp: now + 3600, auth_time: now, ...claims })}.`;
}

describe('exported ops function', () => {
  it('serves the dashboard and answers 401 without or with a malformed token, never a stack trace', async () => {
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>haltgate ops</title>');
    const none = await fetch(`${url}/status`);
    expect(none.status).toBe(401);
    const garbage = await fetch(`${url}/halt`, { method: 'POST', headers: { authorization: 'Bearer not.a.jwt', 'content-type': 'application/json' }, body: '{"reason":"x"}' });
    expect(garbage.status).toBe(401);
    expect(await garbage.text()).not.toMatch(/\n\s+at /);
  });

  it('refuses tokens while FIREBASE_AUTH_EMULATOR_HOST is set on a deployed non-demo project', async () => {
    Object.assign(process.env, { FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9', K_SERVICE: 'ops', GCLOUD_PROJECT: 'acme' });
    try {
      const r = await fetch(`${url}/halt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${unsignedToken({ haltgate: { role: 'operator' } })}`, 'content-type': 'application/json' },
        body: '{"reason":"forged"}',
      });
      expect(r.status).toBe(401);
      expect((await b.db.doc('ops/killSwitch').get()).get('reason')).not.toBe('forged');
    } finally {
      delete process.env.FIREBASE_AUTH_EMULATOR_HOST;
      delete process.env.K_SERVICE;
      b.resetEnv();
    }
  });

});
