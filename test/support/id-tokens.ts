import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import type { VerifiedToken, VerifyIdToken } from '../../functions/src/ops/auth.js';

/**
 * A local ID-token issuer the tests control, standing in for Firebase Auth (whose emulator
 * is not available here). It mints RS256 JWTs shaped like Firebase ID tokens (iss, aud,
 * sub, iat, exp, custom claims) and verifies them with the public key, checking signature,
 * algorithm, issuer, audience and expiry — so the ops handler runs against a real verifier,
 * and production code (`firebaseAdminVerifier`) has no test path at all.
 */
export interface TestIssuer {
  projectId: string;
  mint(uid: string, claims?: Record<string, unknown>, opts?: { expiresInS?: number; audience?: string }): string;
  /** A token signed by a different key: must be refused. */
  mintForeign(uid: string, claims?: Record<string, unknown>): string;
  verifyIdToken: VerifyIdToken;
  publicKey: KeyObject;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

function signJwt(privateKey: KeyObject, kid: string, payload: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(payload));
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), privateKey);
  return `${head}.${body}.${b64url(sig)}`;
}

export function createTestIssuer(projectId = 'demo-haltgate'): TestIssuer {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const iss = `https://securetoken.google.com/${projectId}`;
  const payloadFor = (uid: string, claims: Record<string, unknown>, expiresInS: number, aud: string) => {
    const now = Math.floor(Date.now() / 1000);
    return { ...claims, iss, aud, sub: uid, user_id: uid, iat: now, auth_time: now, exp: now + expiresInS };
  };
  return {
    projectId,
    publicKey: createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })),
    mint: (uid, claims = {}, opts = {}) => signJwt(privateKey, kid, payloadFor(uid, claims, opts.expiresInS ?? 3600, opts.audience ?? projectId)),
    mintForeign: (uid, claims = {}) => signJwt(foreign.privateKey, kid, payloadFor(uid, claims, 3600, projectId)),
    async verifyIdToken(token): Promise<VerifiedToken> {
      const parts = token.split('.');
      if (parts.length !== 3) throw new Error('not a JWT');
      const [h, p, s] = parts as [string, string, string];
      const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (header.alg !== 'RS256' || header.kid !== kid) throw new Error('unexpected algorithm or key');
      if (!verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))) throw new Error('bad signature');
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
      const now = Date.now() / 1000;
      if (payload.iss !== iss || payload.aud !== projectId) throw new Error('wrong issuer or audience');
      if (typeof payload.exp !== 'number' || payload.exp < now) throw new Error('expired');
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('no subject');
      return { uid: payload.sub, claims: payload };
    },
  };
}

export const VIEWER = { haltgate: { role: 'viewer' } } as const;
export const OPERATOR = { haltgate: { role: 'operator' } } as const;
