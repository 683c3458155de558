/**
 * firestore.rules against the official Firestore emulator, with @firebase/rules-unit-testing,
 * in a project of this file's own (the emulator keeps rules per project, so loading them here
 * touches no other suite). `npm test` runs it under `firebase emulators:exec`.
 */
import { readFileSync } from 'node:fs';
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
  type RulesTestEnvironment,
} from '@firebase/rules-unit-testing';
import { doc, serverTimestamp, setDoc, type Firestore } from 'firebase/firestore';
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import { EMULATORS, uniqueProjectId } from '../support/emulators.js';

type ClientDb = ReturnType<ReturnType<RulesTestEnvironment['authenticatedContext']>['firestore']>;

const RULES_PATH = new URL('../../firestore.rules', import.meta.url);
const PROJECT = uniqueProjectId();

describe('firestore.rules', () => {
  let env: RulesTestEnvironment;

  beforeAll(async () => {
    const at = EMULATORS.firestore.lastIndexOf(':');
    env = await initializeTestEnvironment({
      projectId: PROJECT,
      firestore: {
        rules: readFileSync(RULES_PATH, 'utf8'),
        host: EMULATORS.firestore.slice(0, at),
        port: Number(EMULATORS.firestore.slice(at + 1)),
      },
    });
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  beforeEach(async () => {
    await env.clearFirestore();
    await env.withSecurityRulesDisabled(async (ctx) => {
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
  // rules-unit-testing documents its compat `ctx.firestore()` as usable with the modular API;
  // the modular server timestamp is request.time in the rules.
  const validHalt = (db: ClientDb, uid: string, extra: Record<string, unknown> = {}) =>
    setDoc(doc(db as unknown as Firestore, 'ops/killSwitch'), {
      halted: true,
      reason: 'incident',
      updatedBy: uid,
      updatedAt: serverTimestamp(),
      ...extra,
    });

  it('reads: viewer and operator may read killSwitch, strategies, submissions; others may not', async () => {
    for (const db of [viewer(), operator()]) {
      await assertSucceeds(db.doc('ops/killSwitch').get());
      await assertSucceeds(db.doc('strategies/s1').get());
      await assertSucceeds(db.doc('submissions/i1').get());
    }
    for (const db of [nobody(), anon()]) {
      await assertFails(db.doc('ops/killSwitch').get());
      await assertFails(db.doc('strategies/s1').get());
      await assertFails(db.doc('submissions/i1').get());
    }
  });

  it('everything else is denied, even to operators', async () => {
    const db = operator();
    await assertFails(db.doc('ops/killSwitch/audit/a1').get());
    await assertFails(db.doc('invalidIntents/e1').get());
    await assertFails(db.doc('strategies/s1').set({ breakers: {} }));
    await assertFails(db.doc('submissions/i1').delete());
    await assertFails(db.doc('ops/killSwitch').delete());
  });

  it('only an operator may update ops/killSwitch, and only with a valid shape', async () => {
    await assertSucceeds(validHalt(operator(), 'otto'));
    await assertFails(validHalt(viewer(), 'vera'));
    await assertFails(validHalt(nobody(), 'nora'));
    await assertFails(validHalt(operator(), 'someone-else'));
    await assertFails(validHalt(operator(), 'otto', { halted: 'yes' }));
    await assertFails(validHalt(operator(), 'otto', { reason: '' }));
    await assertFails(validHalt(operator(), 'otto', { reason: '   ' }));
    await assertFails(validHalt(operator(), 'otto', { forced: true }));
    await assertFails(validHalt(operator(), 'otto', { updatedAt: new Date(0) }));
  });

  it('the reduce-only posture: reduceOnly is allowed as a boolean only', async () => {
    await assertSucceeds(validHalt(operator(), 'otto', { halted: false, reduceOnly: true }));
    await assertSucceeds(validHalt(operator(), 'otto', { halted: false, reduceOnly: false }));
    await assertFails(validHalt(operator(), 'otto', { halted: false, reduceOnly: 'yes' }));
    await assertFails(validHalt(operator(), 'otto', { halted: false, reduceOnly: null }));
    await assertFails(validHalt(viewer(), 'vera', { halted: false, reduceOnly: true }));
  });

  const validSymbolHalt = (db: ClientDb, uid: string, id = 'AAPL', extra: Record<string, unknown> = {}) =>
    setDoc(doc(db as unknown as Firestore, `symbolHalts/${id}`), { halted: true, symbol: 'AAPL', reason: 'news', updatedBy: uid, updatedAt: serverTimestamp(), ...extra });

  it('symbolHalts: viewers read; only an operator writes, the way ops/killSwitch is written; no deletes, no audit access', async () => {
    await assertSucceeds(validSymbolHalt(operator(), 'otto'));
    await assertSucceeds(validSymbolHalt(operator(), 'otto', 'AAPL', { halted: false }));
    await assertSucceeds(validSymbolHalt(operator(), 'otto', 'BTC_USD', { symbol: 'BTC/USD' }));
    await assertSucceeds(viewer().doc('symbolHalts/AAPL').get());
    await assertFails(nobody().doc('symbolHalts/AAPL').get());
    await assertFails(anon().doc('symbolHalts/AAPL').get());
    await assertFails(validSymbolHalt(viewer(), 'vera', 'MSFT'));
    await assertFails(validSymbolHalt(nobody(), 'nora', 'MSFT'));
    await assertFails(validSymbolHalt(operator(), 'someone-else', 'MSFT'));
    await assertFails(validSymbolHalt(operator(), 'otto', 'MSFT', { halted: 'true' }));
    await assertFails(validSymbolHalt(operator(), 'otto', 'MSFT', { reason: ' ' }));
    await assertFails(validSymbolHalt(operator(), 'otto', 'MSFT', { via: 'console' }));
    await assertFails(validSymbolHalt(operator(), 'otto', 'MSFT', { updatedAt: new Date(0) }));
    await assertFails(validSymbolHalt(operator(), 'otto', 'MSFT', { symbol: 5 }));
    await assertFails(operator().doc('symbolHalts/AAPL').delete());
    await assertFails(operator().doc('symbolHalts/AAPL/audit/a1').get());
    await assertFails(operator().doc('symbolHalts/AAPL/audit/a1').set({ who: 'otto' }));
    // Functions-only fields stay functions-only: strategies (breakers.manual, runnerWatch) are not client-writable.
    await assertFails(operator().doc('strategies/s1').set({ breakers: { manual: { tripped: true } } }, { merge: true }));
    await assertFails(operator().doc('runners/s1').get());
  });
});
