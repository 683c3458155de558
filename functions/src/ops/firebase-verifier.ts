import type { Auth } from 'firebase-admin/auth';
import type { VerifyIdToken } from './auth.js';

/**
 * The production token verifier: firebase-admin's `verifyIdToken` (Google's signing keys,
 * audience and issuer of this project, expiry), with `checkRevoked` so a disabled operator
 * loses access at once.
 *
 * firebase-admin itself accepts unsigned tokens when FIREBASE_AUTH_EMULATOR_HOST is set (its
 * Auth-emulator mode). That variable must never reach a deployed function: on Cloud Run
 * (K_SERVICE set) outside a `demo-` project, every token is refused instead.
 */
export function emulatorVariableRefusal(env: Readonly<Record<string, string | undefined>>): string | null {
  if (!env.FIREBASE_AUTH_EMULATOR_HOST) return null;
  const project = env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT ?? '';
  if (env.K_SERVICE && !project.startsWith('demo-')) {
    return 'FIREBASE_AUTH_EMULATOR_HOST is set on a deployed function: token verification is refused (unset it)';
  }
  return null;
}

export function firebaseAdminVerifier(auth: () => Auth, env: Readonly<Record<string, string | undefined>> = process.env): VerifyIdToken {
  return async (idToken) => {
    const refusal = emulatorVariableRefusal(env);
    if (refusal) throw new Error(refusal);
    const decoded = await auth().verifyIdToken(idToken, true);
    return { uid: decoded.uid, claims: decoded as unknown as Record<string, unknown> };
  };
}
