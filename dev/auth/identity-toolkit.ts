import { randomBytes, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ID_TOKEN_LIFETIME_S, mintEmulatorIdToken } from './emulator-tokens.js';

/**
 * A minimal Firebase Auth emulator for the local stack (the official one needs Java): just
 * the Identity Toolkit / Secure Token REST calls that firebase-admin and the ops dashboard
 * make, on loopback, in memory.
 *
 * firebase-admin (FIREBASE_AUTH_EMULATOR_HOST=host:port; bearer token `owner`):
 *   POST /identitytoolkit.googleapis.com/v1/projects/P/accounts          createUser
 *   POST /identitytoolkit.googleapis.com/v1/projects/P/accounts:lookup   getUser*, and verifyIdToken(…, checkRevoked)
 *   POST /identitytoolkit.googleapis.com/v1/projects/P/accounts:update   updateUser, setCustomUserClaims, revokeRefreshTokens
 *   POST /identitytoolkit.googleapis.com/v1/projects/P/accounts:delete   deleteUser
 * The browser (the dashboard's sign-in, `?key=` required; only these two answer CORS):
 *   POST /identitytoolkit.googleapis.com/v1/accounts:signInWithPassword
 *   POST /securetoken.googleapis.com/v1/token   (grant_type=refresh_token)
 *
 * Tokens are the emulator's unsigned JWTs (./emulator-tokens.ts). Errors use Google's shape
 * `{ error: { code, message } }` with the codes the SDKs map (USER_NOT_FOUND, …).
 */

export interface AuthUser {
  uid: string;
  email: string | null;
  displayName: string | null;
  disabled: boolean;
  customClaims: Record<string, unknown>;
  /** Tokens whose auth_time is before this (seconds) count as revoked. */
  validSinceS: number | null;
  createdAtMs: number;
  lastLoginAtMs: number | null;
  password: { salt: Buffer; hash: Buffer } | null;
}

export interface NewAuthUser {
  uid?: string;
  email: string;
  password: string;
  displayName?: string;
  customClaims?: Record<string, unknown>;
}

export interface AuthEmulator {
  /** FIREBASE_AUTH_EMULATOR_HOST value (`127.0.0.1:port`). */
  host: string;
  url: string;
  projectId: string;
  createUser(user: NewAuthUser): AuthUser;
  getUser(uid: string): AuthUser | undefined;
  /** Every request served, for tests: method, path (no query), status. */
  requestLog(): Array<{ method: string; path: string; status: number }>;
  stop(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
const SIGN_IN_PATH = '/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword';
const REFRESH_PATH = '/securetoken.googleapis.com/v1/token';
const BROWSER_PATHS = new Set([SIGN_IN_PATH, REFRESH_PATH]);
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'content-type, authorization, x-client-version, x-firebase-gmpid, x-firebase-client',
  'access-control-max-age': '600',
};

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function hashPassword(password: string, salt: Buffer = randomBytes(16)): { salt: Buffer; hash: Buffer } {
  return { salt, hash: scryptSync(password, salt, 32) };
}

function passwordMatches(user: AuthUser, password: string): boolean {
  if (!user.password) return false;
  const { hash } = hashPassword(password, user.password.salt);
  return timingSafeEqual(hash, user.password.hash);
}

/** The user as Identity Toolkit's `accounts:lookup` returns it (what firebase-admin's UserRecord reads). */
function userInfo(u: AuthUser): Record<string, unknown> {
  return {
    localId: u.uid,
    ...(u.email ? { email: u.email, emailVerified: false } : {}),
    ...(u.displayName ? { displayName: u.displayName } : {}),
    disabled: u.disabled,
    ...(Object.keys(u.customClaims).length > 0 ? { customAttributes: JSON.stringify(u.customClaims) } : {}),
    ...(u.validSinceS !== null ? { validSince: String(u.validSinceS) } : {}),
    createdAt: String(u.createdAtMs),
    ...(u.lastLoginAtMs !== null ? { lastLoginAt: String(u.lastLoginAtMs) } : {}),
    providerUserInfo: u.email ? [{ providerId: 'password', email: u.email, federatedId: u.email, rawId: u.email }] : [],
  };
}

export async function startAuthEmulator(opts: { projectId: string; port?: number }): Promise<AuthEmulator> {
  const { projectId } = opts;
  const users = new Map<string, AuthUser>();
  /** Opaque refresh token → uid and the sign-in time its ID tokens keep. */
  const refreshTokens = new Map<string, { uid: string; authTimeS: number }>();
  const log: Array<{ method: string; path: string; status: number }> = [];

  const byEmail = (email: string) => [...users.values()].find((u) => u.email === email.toLowerCase());

  function createUser(input: NewAuthUser): AuthUser {
    const email = input.email.trim().toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new ApiError(400, 'INVALID_EMAIL');
    if (byEmail(email)) throw new ApiError(400, 'EMAIL_EXISTS');
    if (input.password.length < 6) throw new ApiError(400, 'WEAK_PASSWORD : Password should be at least 6 characters');
    const uid = input.uid ?? randomUUID().replace(/-/g, '').slice(0, 28);
    if (users.has(uid)) throw new ApiError(400, 'DUPLICATE_LOCAL_ID');
    const user: AuthUser = {
      uid,
      email,
      displayName: input.displayName ?? null,
      disabled: false,
      customClaims: { ...input.customClaims },
      validSinceS: null,
      createdAtMs: Date.now(),
      lastLoginAtMs: null,
      password: hashPassword(input.password),
    };
    users.set(uid, user);
    return user;
  }

  function tokensFor(user: AuthUser, authTimeS: number, refreshToken?: string) {
    const rt = refreshToken ?? randomBytes(32).toString('base64url');
    refreshTokens.set(rt, { uid: user.uid, authTimeS });
    return { idToken: mintEmulatorIdToken({ projectId, uid: user.uid, email: user.email, authTimeS, customClaims: user.customClaims }), refreshToken: rt };
  }

  function admin(req: IncomingMessage, action: string, body: Record<string, unknown>): unknown {
    // What firebase-admin sends the emulator; keeps a stray browser page from administering users.
    if (req.headers.authorization !== 'Bearer owner') throw new ApiError(401, 'UNAUTHORIZED: admin calls need the emulator owner credential');
    switch (action) {
      case '': {
        const user = createUser({
          email: String(body.email ?? ''),
          password: String(body.password ?? ''),
          ...(typeof body.localId === 'string' ? { uid: body.localId } : {}),
          ...(typeof body.displayName === 'string' ? { displayName: body.displayName } : {}),
        });
        if (body.disabled === true) user.disabled = true;
        return { kind: 'identitytoolkit#SignupNewUserResponse', localId: user.uid, email: user.email };
      }
      case ':lookup': {
        const ids = Array.isArray(body.localId) ? body.localId : [];
        const emails = Array.isArray(body.email) ? body.email : [];
        const found = [...ids.map((id) => users.get(String(id))), ...emails.map((e) => byEmail(String(e)))].filter((u): u is AuthUser => u !== undefined);
        // No `users` at all when nothing matched: firebase-admin turns that into USER_NOT_FOUND.
        return found.length ? { kind: 'identitytoolkit#GetAccountInfoResponse', users: found.map(userInfo) } : { kind: 'identitytoolkit#GetAccountInfoResponse' };
      }
      case ':update': {
        const user = users.get(String(body.localId ?? ''));
        if (!user) throw new ApiError(400, 'USER_NOT_FOUND');
        if (typeof body.customAttributes === 'string') user.customClaims = JSON.parse(body.customAttributes || '{}') as Record<string, unknown>;
        if (typeof body.disableUser === 'boolean') user.disabled = body.disableUser;
        if (body.validSince !== undefined) user.validSinceS = Number(body.validSince);
        if (typeof body.email === 'string') user.email = body.email.toLowerCase();
        if (typeof body.displayName === 'string') user.displayName = body.displayName;
        if (typeof body.password === 'string') user.password = hashPassword(body.password);
        return { kind: 'identitytoolkit#SetAccountInfoResponse', localId: user.uid, ...(user.email ? { email: user.email } : {}) };
      }
      case ':delete': {
        if (!users.delete(String(body.localId ?? ''))) throw new ApiError(400, 'USER_NOT_FOUND');
        return { kind: 'identitytoolkit#DeleteAccountResponse' };
      }
      default:
        throw new ApiError(404, `NOT_FOUND: accounts${action} is not emulated`);
    }
  }

  function signIn(body: Record<string, unknown>): unknown {
    const user = byEmail(String(body.email ?? ''));
    // One answer for unknown user and wrong password, as Firebase gives with enumeration protection.
    if (!user || !passwordMatches(user, String(body.password ?? ''))) throw new ApiError(400, 'INVALID_LOGIN_CREDENTIALS');
    if (user.disabled) throw new ApiError(400, 'USER_DISABLED');
    user.lastLoginAtMs = Date.now();
    const { idToken, refreshToken } = tokensFor(user, Math.floor(Date.now() / 1000));
    return {
      kind: 'identitytoolkit#VerifyPasswordResponse',
      localId: user.uid,
      email: user.email,
      displayName: user.displayName ?? '',
      registered: true,
      idToken,
      refreshToken,
      expiresIn: String(ID_TOKEN_LIFETIME_S),
    };
  }

  function refresh(form: URLSearchParams): unknown {
    if (form.get('grant_type') !== 'refresh_token') throw new ApiError(400, 'INVALID_GRANT_TYPE');
    const rt = form.get('refresh_token') ?? '';
    const entry = refreshTokens.get(rt);
    if (!entry) throw new ApiError(400, 'INVALID_REFRESH_TOKEN');
    const user = users.get(entry.uid);
    if (!user) throw new ApiError(400, 'USER_NOT_FOUND');
    if (user.disabled) throw new ApiError(400, 'USER_DISABLED');
    if (user.validSinceS !== null && entry.authTimeS < user.validSinceS) throw new ApiError(400, 'TOKEN_EXPIRED');
    const { idToken } = tokensFor(user, entry.authTimeS, rt);
    return { access_token: idToken, expires_in: String(ID_TOKEN_LIFETIME_S), token_type: 'Bearer', refresh_token: rt, id_token: idToken, user_id: user.uid, project_id: projectId };
  }

  async function route(req: IncomingMessage, path: string, query: URLSearchParams, text: string): Promise<unknown> {
    if (req.method !== 'POST') throw new ApiError(405, 'METHOD_NOT_ALLOWED');
    const adminPrefix = `/identitytoolkit.googleapis.com/v1/projects/${projectId}/accounts`;
    if (path === adminPrefix || path.startsWith(`${adminPrefix}:`)) return admin(req, path.slice(adminPrefix.length), parseJson(text));
    // Client calls carry the project's web API key; the emulator takes any, like Firebase's.
    if (path === SIGN_IN_PATH) {
      if (!query.get('key')) throw new ApiError(400, 'API key not valid. Please pass a valid API key.');
      return signIn(parseJson(text));
    }
    if (path === REFRESH_PATH) {
      if (!query.get('key')) throw new ApiError(400, 'API key not valid. Please pass a valid API key.');
      const type = req.headers['content-type'] ?? '';
      return refresh(type.includes('json') ? new URLSearchParams(parseJson(text) as Record<string, string>) : new URLSearchParams(text));
    }
    throw new ApiError(404, `NOT_FOUND: ${path} is not emulated`);
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://local');
    // Browsers may call the sign-in endpoints from any page (as with Google's); the admin API
    // gets no CORS headers, so no web page the developer visits can administer local users.
    const cors = BROWSER_PATHS.has(url.pathname) ? CORS : {};
    const finish = (status: number, body: unknown) => {
      log.push({ method: req.method ?? '', path: url.pathname, status });
      res.writeHead(status, { ...cors, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      const status = BROWSER_PATHS.has(url.pathname) ? 204 : 403;
      log.push({ method: 'OPTIONS', path: url.pathname, status });
      res.writeHead(status, cors).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return finish(413, { error: { code: 413, message: 'PAYLOAD_TOO_LARGE' } });
      route(req, url.pathname, url.searchParams, Buffer.concat(chunks).toString('utf8'))
        .then((body) => finish(200, body))
        .catch((err: unknown) => {
          const status = err instanceof ApiError ? err.status : 500;
          const message = err instanceof Error ? err.message : String(err);
          finish(status, { error: { code: status, message, errors: [{ message, domain: 'global', reason: 'invalid' }] } });
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;

  return {
    host,
    url: `http://${host}`,
    projectId,
    createUser,
    getUser: (uid) => users.get(uid),
    requestLog: () => [...log],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseJson(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'INVALID_JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ApiError(400, 'INVALID_JSON');
  return parsed as Record<string, unknown>;
}
