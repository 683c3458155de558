/**
 * Who may use the ops API. Callers send a Firebase Auth ID token (`Authorization: Bearer`);
 * the custom claim `haltgate: { role }` decides what they may do:
 *   viewer   → read (GET /status, the dashboard's data)
 *   operator → read and change (halt, resume, breaker reset)
 *
 * Why the verifier is a dependency: `index.ts` binds it to firebase-admin's
 * `verifyIdToken` (Google's keys, the project's audience and issuer); tests bind a real
 * RS256 verifier against a local key set they control (test/support/id-tokens.ts). The
 * production code path therefore has no test mode and no bypass flag that could be left on.
 */

export const OpsRole = { viewer: 'viewer', operator: 'operator' } as const;
export type OpsRole = (typeof OpsRole)[keyof typeof OpsRole];

/** What the handler needs from a verified token. */
export interface VerifiedToken {
  uid: string;
  claims: Record<string, unknown>;
}

/** Resolves with the verified token or rejects for any invalid one (signature, expiry, audience). */
export type VerifyIdToken = (idToken: string) => Promise<VerifiedToken>;

export const Access = { read: 'read', change: 'change' } as const;
export type Access = (typeof Access)[keyof typeof Access];

export interface Principal {
  uid: string;
  role: OpsRole;
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; status: 401 | 403; error: string };

/** The role of a claim set, or null. Only the nested form `{ haltgate: { role } }` counts. */
export function roleOf(claims: Record<string, unknown>): OpsRole | null {
  const ns = claims.haltgate;
  if (ns === null || typeof ns !== 'object') return null;
  const role = (ns as Record<string, unknown>).role;
  return role === OpsRole.viewer || role === OpsRole.operator ? role : null;
}

export function allows(role: OpsRole, access: Access): boolean {
  return access === Access.read ? true : role === OpsRole.operator;
}

const BEARER = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/;

export async function authenticate(verify: VerifyIdToken, authorization: string | undefined, access: Access): Promise<AuthResult> {
  const match = authorization ? BEARER.exec(authorization) : null;
  if (!match?.[1]) return { ok: false, status: 401, error: 'missing bearer token (Authorization: Bearer <Firebase ID token>)' };
  let token: VerifiedToken;
  try {
    token = await verify(match[1]);
  } catch {
    // The verifier's message may echo token contents; say only that it failed.
    return { ok: false, status: 401, error: 'invalid or expired ID token' };
  }
  const role = roleOf(token.claims);
  if (role === null) return { ok: false, status: 403, error: 'no haltgate role: the custom claim haltgate.role must be viewer or operator' };
  if (!allows(role, access)) return { ok: false, status: 403, error: `role ${role} may not ${access}; operator required` };
  return { ok: true, principal: { uid: token.uid, role } };
}
