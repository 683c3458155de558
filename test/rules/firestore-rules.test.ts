/**
 * firestore.rules against the official Firestore emulator, with @firebase/rules-unit-testing.
 * The embedded Firestore does not evaluate security rules, so these run only where the
 * official emulator runs them: `npm run test:emulators` (firebase emulators:exec, Java 21)
 * with `@firebase/rules-unit-testing` installed (`npm i -D @firebase/rules-unit-testing`).
 * Elsewhere they are skipped with the reason printed.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const RULES_PATH = new URL('../../firestore.rules', import.meta.url);
const PACKAGE = '@firebase/rules-unit-testing';

// The official emulator suite sets FIREBASE_EMULATOR_HUB under `firebase emulators:exec`.
const officialEmulator = Boolean(process.env.FIREBASE_EMULATOR_HUB && process.env.FIRESTORE_EMULATOR_HOST);
let rut: any = null;
if (officialEmulator) {
  try {
    rut = await import(/* @vite-ignore */ PACKAGE);
  } catch {
    rut = null;
  }
}
const skipReason = !officialEmulator
  ? 'rules tests skipped: the official Firestore emulator is not running (use `npm run test:emulators` where Java 21 and firebase-tools emulators are available)'
  : !rut
    ? `rules tests skipped: ${PACKAGE} is not installed (npm i -D ${PACKAGE})`
    : null;
if (skipReason) console.warn(`\n*** ${skipReason} ***\n`);

describe.skipIf(skipReason !== null)(skipReason ?? 'firestore.rules', () => {
  let env: any;
  const [host, port] = (process.env.FIRESTORE_EMULATOR_HOST ?? '127.0.0.1:8080').split(':');

  beforeAll(async () => {
    env = await rut.initializeTestEnvironment({
      projectId: 'demo-haltgate',
      firestore: { rules: readFileSync(RULES_PATH, 'utf8'), host, port: Number(port) },
    });
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  beforeEach(async () => {
    await env.clearFirestore();
    await env.withSecurityRulesDisabled(async (ctx: any) => {
      const db = ctx.firestore();
      await db.doc('ops/killSwitch').set({ halted: false, reason: 'seed', updatedBy: 'seed', updatedAt: new Date() });
      await db.doc('strategies/s1').set({ breakers: {} });
      await db.doc('submissions/i1').set({ state: 'submitted' });
      await db.doc('ops/killSwitch/audit/a1').set({ who: 'x' });
      await db.doc('invalidIntents/e1').set({ failure: 'schema' });
    });
  });

  const viewer = () => env.authenticatedContext('vera', { haltgate: { role: 'viewer' } }).firestore();
  const operator = () => env.authenticatedContext('otto', { haltgate: { role: 'operator' } }).firestore();
  const nobody = () => env.authenticatedContext('nora', {}).firestore();
  const anon = () => env.unauthenticatedContext().firestore();
  const validHalt = async (db: any, uid: string, extra: Record<string, unknown> = {}) => {
    // ctx.firestore() is the compat API; its server timestamp is request.time in the rules.
    const firebase = (await import(/* @vite-ignore */ 'firebase/compat/app' as string)).default;
    await import(/* @vite-ignore */ 'firebase/compat/firestore' as string);
    return db.doc('ops/killSwitch').set({ halted: true, reason: 'incident', updatedBy: uid, updatedAt: firebase.firestore.FieldValue.serverTimestamp(), ...extra });
  };

  it('reads: viewer and operator may read killSwitch, strategies, submissions; others may not', async () => {
    for (const db of [viewer(), operator()]) {
      await rut.assertSucceeds(db.doc('ops/killSwitch').get());
      await rut.assertSucceeds(db.doc('strategies/s1').get());
      await rut.assertSucceeds(db.doc('submissions/i1').get());
    }
    for (const db of [nobody(), anon()]) {
      await rut.assertFails(db.doc('ops/killSwitch').get());
      await rut.assertFails(db.doc('strategies/s1').get());
      await rut.assertFails(db.doc('submissions/i1').get());
    }
  });

  it('everything else is denied, even to operators', async () => {
    const db = operator();
    await rut.assertFails(db.doc('ops/killSwitch/audit/a1').get());
    await rut.assertFails(db.doc('invalidIntents/e1').get());
    await rut.assertFails(db.doc('strategies/s1').set({ breakers: {} }));
    await rut.assertFails(db.doc('submissions/i1').delete());
    await rut.assertFails(db.doc('ops/killSwitch').delete());
  });

  it('only an operator may update ops/killSwitch, and only with a valid shape', async () => {
    await rut.assertSucceeds(validHalt(operator(), 'otto'));
    await rut.assertFails(validHalt(viewer(), 'vera'));
    await rut.assertFails(validHalt(nobody(), 'nora'));
    await rut.assertFails(validHalt(operator(), 'someone-else'));
    await rut.assertFails(validHalt(operator(), 'otto', { halted: 'yes' }));
    await rut.assertFails(validHalt(operator(), 'otto', { reason: '' }));
    await rut.assertFails(validHalt(operator(), 'otto', { reason: '   ' }));
    await rut.assertFails(validHalt(operator(), 'otto', { forced: true }));
    await rut.assertFails(validHalt(operator(), 'otto', { updatedAt: new Date(0) }));
  });

  it('is not vacuous', () => {
    expect(env).toBeTruthy();
  });
});
