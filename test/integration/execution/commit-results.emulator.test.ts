/**
 * The claim's commit results (functions/src/store/commit-results.ts), on the official
 * Firestore emulator: what firebase-admin's runTransaction does not return, read from the
 * transaction's own batch — the update time of each write, equal to what the server then
 * reports for the document.
 */
import { deleteApp } from 'firebase-admin/app';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { captureCommit, type CommitCapture } from '../../../functions/src/store/commit-results.js';
import { adminFirestore, TEST_PROJECT_ID } from '../../support/backends.js';
import { clearFirestore } from '../../support/emulators.js';

const { app, db } = adminFirestore(TEST_PROJECT_ID);
afterAll(() => deleteApp(app));
beforeEach(() => clearFirestore(TEST_PROJECT_ID));

describe('captureCommit', () => {
  it("gives each write's update time, as the server reports it afterwards", async () => {
    let capture: CommitCapture | null = null;
    await db.runTransaction(async (tx) => {
      capture = captureCommit(tx);
      await tx.get(db.doc('c/1'));
      tx.set(db.doc('c/1'), { x: 1 });
      tx.set(db.doc('c/2'), { y: 2 });
    });
    const c = capture as CommitCapture | null;
    expect(c).not.toBeNull();
    const [one, two] = await Promise.all([db.doc('c/1').get(), db.doc('c/2').get()]);
    expect(c?.updateTime(0)?.isEqual(one.updateTime!)).toBe(true);
    expect(c?.updateTime(1)?.isEqual(two.updateTime!)).toBe(true);
    expect(c?.updateTime(2)).toBeNull();
  });

  it('is null before the commit, and one capture serves every run of the callback', async () => {
    let inside: unknown = 'unset';
    let captures: Array<CommitCapture | null> = [];
    await db.runTransaction(async (tx) => {
      const c = captureCommit(tx);
      captures = [c, captureCommit(tx)];
      inside = c?.updateTime(0) ?? null;
      await tx.get(db.doc('c/3'));
      tx.set(db.doc('c/3'), { n: 1 });
    });
    expect(inside).toBeNull();
    expect(captures[0]).toBe(captures[1]);
    expect(captures[0]?.updateTime(0)?.isEqual((await db.doc('c/3').get()).updateTime!)).toBe(true);
  });
});
