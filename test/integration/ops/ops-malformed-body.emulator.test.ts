/**
 * A POST with a malformed JSON body to the `ops` function, served by a real functions-framework
 * process as Cloud Functions 2nd gen serves it (NODE_ENV=production, which the platform sets).
 *
 * The framework parses JSON bodies with body-parser before any user code runs and hands a parse
 * error to express's final handler; no supported hook lets the function answer it
 * (GoogleCloudPlatform/functions-framework-nodejs#686, open). What holds, and is pinned here:
 * the answer is a 400, carries no stack trace and no file path, and changes nothing.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBackends, type TestBackends } from '../../support/backends.js';
import { buildFunctionsIfStale, startFramework, type Framework } from '../../support/functions-framework.js';

let b: TestBackends;
let fw: Framework;
const started: ChildProcess[] = [];

beforeAll(async () => {
  buildFunctionsIfStale();
  b = await startTestBackends();
  fw = await startFramework({ target: 'ops', signatureType: 'http', env: { ...b.env, NODE_ENV: 'production' }, started });
}, 60_000);
afterAll(async () => {
  for (const child of started) child.kill('SIGKILL');
  await b?.stop();
});

describe('malformed JSON to the ops API', () => {
  it.each(['{"reason": ', '{reason: "x"}', '\u0000', '[1,]'])('%j answers 400 with no stack trace or path, and halts nothing', async (body) => {
    await b.reset();
    const res = await fetch(`${fw.url}halt`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text).not.toMatch(/\n\s+at /);
    expect(text).not.toMatch(/node_modules|\/work\/|\.js:\d+/);
    expect(text).not.toMatch(/SyntaxError/);
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false });
  });

  it("a well-formed body reaches haltgate, whose answers are JSON (here 401: no token, judged before the body)", async () => {
    const res = await fetch(`${fw.url}halt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason": 42}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
  });
});
