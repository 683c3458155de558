/**
 * The local Auth emulator (dev/auth) against the real firebase-admin, the way the `ops`
 * function uses it: `verifyIdToken(token, true)` with FIREBASE_AUTH_EMULATOR_HOST set accepts
 * the emulator's unsigned tokens and checks the account through `accounts:lookup`, so a
 * disabled or revoked operator loses access at once — locally as in production. Also
 * createUser / setCustomUserClaims through firebase-admin, and the browser-side REST calls.
 */
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getAuth, type Auth } from 'firebase-admin/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthEmulator, type AuthEmulator } from '../../../dev/auth/identity-toolkit.js';
import { firebaseAdminVerifier } from '../../../functions/src/ops/firebase-verifier.js';

const PROJECT = 'demo-haltgate';
let emu: AuthEmulator;
let app: App;
let auth: Auth;
const saved = process.env.FIREBASE_AUTH_EMULATOR_HOST;

beforeAll(async () => {
  emu = await startAuthEmulator({ projectId: PROJECT });
  // firebase-admin reads the variable per call; this worker's other users of it are this file only.
  process.env.FIREBASE_AUTH_EMULATOR_HOST = emu.host;
  app = initializeApp({ projectId: PROJECT }, `auth-emulator-test-${process.pid}`);
  auth = getAuth(app);
});

afterAll(async () => {
  await deleteApp(app);
  await emu.stop();
  if (saved === undefined) delete process.env.FIREBASE_AUTH_EMULATOR_HOST;
  else process.env.FIREBASE_AUTH_EMULATOR_HOST = saved;
});

async function signIn(email: string, password: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${emu.url}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, returnSecureToken: true }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('local Auth emulator with firebase-admin', () => {
  it('createUser and setCustomUserClaims through firebase-admin; sign-in yields a token verifyIdToken(…, true) accepts', async () => {
    const created = await auth.createUser({ uid: 'op-1', email: 'Op@Haltgate.local', password: 'secret-pw-1', displayName: 'Op One' });
    expect(created).toMatchObject({ uid: 'op-1', email: 'op@haltgate.local', disabled: false });
    await auth.setCustomUserClaims('op-1', { haltgate: { role: 'operator' } });
    expect((await auth.getUser('op-1')).customClaims).toEqual({ haltgate: { role: 'operator' } });
    expect((await auth.getUserByEmail('op@haltgate.local')).uid).toBe('op-1');

    const { status, body } = await signIn('op@haltgate.local', 'secret-pw-1');
    expect(status).toBe(200);
    const idToken = body.idToken as string;
    const [header] = idToken.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({ alg: 'none', typ: 'JWT' });

    const decoded = await auth.verifyIdToken(idToken, true);
    expect(decoded).toMatchObject({ uid: 'op-1', aud: PROJECT, iss: `https://securetoken.google.com/${PROJECT}`, haltgate: { role: 'operator' } });
    expect(decoded.firebase.sign_in_provider).toBe('password');
    // The production verifier binding (with its emulator guard) accepts it too: not deployed, demo project.
    expect(await firebaseAdminVerifier(() => auth, { FIREBASE_AUTH_EMULATOR_HOST: emu.host, GCLOUD_PROJECT: PROJECT })(idToken)).toMatchObject({ uid: 'op-1' });
    expect(emu.requestLog().some((r) => r.path.endsWith('/accounts:lookup'))).toBe(true);

    // The refresh token gives a fresh ID token for the same sign-in.
    const res = await fetch(`${emu.url}/securetoken.googleapis.com/v1/token?key=any`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(body.refreshToken as string)}`,
    });
    const refreshed = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(200);
    expect((await auth.verifyIdToken(refreshed.id_token as string, true)).auth_time).toBe(decoded.auth_time);
  });

  it('wrong password, disabled and revoked users are refused', async () => {
    emu.createUser({ uid: 'op-2', email: 'op2@haltgate.local', password: 'secret-pw-2', customClaims: { haltgate: { role: 'operator' } } });
    expect(await signIn('op2@haltgate.local', 'wrong')).toMatchObject({ status: 400, body: { error: { message: 'INVALID_LOGIN_CREDENTIALS' } } });
    expect(await signIn('nobody@haltgate.local', 'wrong')).toMatchObject({ status: 400, body: { error: { message: 'INVALID_LOGIN_CREDENTIALS' } } });

    const token = (await signIn('op2@haltgate.local', 'secret-pw-2')).body.idToken as string;
    await auth.updateUser('op-2', { disabled: true });
    await expect(auth.verifyIdToken(token, true)).rejects.toMatchObject({ code: 'auth/user-disabled' });
    expect(await signIn('op2@haltgate.local', 'secret-pw-2')).toMatchObject({ status: 400, body: { error: { message: 'USER_DISABLED' } } });

    await auth.updateUser('op-2', { disabled: false });
    await new Promise((r) => setTimeout(r, 1100)); // revocation has one-second resolution
    await auth.revokeRefreshTokens('op-2');
    await expect(auth.verifyIdToken(token, true)).rejects.toMatchObject({ code: 'auth/id-token-revoked' });

    await auth.deleteUser('op-2');
    await expect(auth.getUser('op-2')).rejects.toMatchObject({ code: 'auth/user-not-found' });
  });

  it('admin calls need the owner credential and get no CORS; a foreign token is refused', async () => {
    const res = await fetch(`${emu.url}/identitytoolkit.googleapis.com/v1/projects/${PROJECT}/accounts:update`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ localId: 'op-1', customAttributes: '{"haltgate":{"role":"operator"}}' }),
    });
    expect(res.status).toBe(401);
    // No web page can reach the admin API (no CORS there); the sign-in endpoints answer CORS like Google's.
    const preflight = (path: string) => fetch(`${emu.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    const admin = await preflight(`/identitytoolkit.googleapis.com/v1/projects/${PROJECT}/accounts:update`);
    expect(admin.status).toBe(403);
    expect(admin.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight('/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=k')).headers.get('access-control-allow-origin')).toBe('*');
    // A token for another project is refused by firebase-admin's own checks.
    const payload = { iss: 'https://securetoken.google.com/other', aud: 'other', sub: 'op-1', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, auth_time: 1 };
    const foreign = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
    await expect(auth.verifyIdToken(foreign, true)).rejects.toMatchObject({ code: 'auth/argument-error' });
  });
});
