/**
 * ID tokens in the Firebase Auth emulator's form: unsigned JWTs (`alg: none`, empty
 * signature). firebase-admin accepts exactly these, and only while FIREBASE_AUTH_EMULATOR_HOST
 * is set (it then checks issuer, audience, subject and expiry but no signature), so a token
 * from here is worthless against a deployed function.
 */

export const ID_TOKEN_LIFETIME_S = 3600;

export interface EmulatorTokenInput {
  projectId: string;
  uid: string;
  email: string | null;
  /** Seconds since the epoch of the sign-in this token descends from (kept across refreshes). */
  authTimeS: number;
  customClaims: Record<string, unknown>;
  nowS?: number;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Claims a custom claim set may not override (Firebase refuses them in setCustomUserClaims too). */
const RESERVED = new Set(['acr', 'amr', 'at_hash', 'aud', 'auth_time', 'azp', 'cnf', 'c_hash', 'exp', 'firebase', 'iat', 'iss', 'jti', 'nbf', 'nonce', 'sub', 'user_id']);

export function mintEmulatorIdToken(input: EmulatorTokenInput): string {
  const now = input.nowS ?? Math.floor(Date.now() / 1000);
  const custom = Object.fromEntries(Object.entries(input.customClaims).filter(([k]) => !RESERVED.has(k)));
  const payload = {
    ...custom,
    iss: `https://securetoken.google.com/${input.projectId}`,
    aud: input.projectId,
    auth_time: input.authTimeS,
    user_id: input.uid,
    sub: input.uid,
    iat: now,
    exp: now + ID_TOKEN_LIFETIME_S,
    ...(input.email ? { email: input.email, email_verified: false } : {}),
    firebase: { identities: input.email ? { email: [input.email] } : {}, sign_in_provider: 'password' },
  };
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}
