/**
 * What `firebase deploy` will find: firebase-tools runs the firebase-functions binary against
 * the compiled source (`functions/lib`, via functions/package.json "main") and reads the
 * manifest it serves. This runs that binary and checks the manifest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunctionsIfStale, freePort } from '../../support/functions-framework.js';

interface Endpoint {
  platform: string;
  entryPoint: string;
  timeoutSeconds?: unknown;
  eventTrigger?: { eventType: string; eventFilters: Record<string, string>; retry: boolean };
  scheduleTrigger?: { schedule: string };
  httpsTrigger?: object;
  secretEnvironmentVariables?: Array<{ key: string }>;
}
interface Manifest {
  endpoints: Record<string, Endpoint>;
  params: Array<{ name: string; type: string; default?: unknown }>;
}

let child: ChildProcess | undefined;
let manifest: Manifest;

beforeAll(async () => {
  buildFunctionsIfStale();
  const port = await freePort();
  child = spawn(process.execPath, ['node_modules/firebase-functions/lib/bin/firebase-functions.js', '.'], {
    cwd: 'functions',
    env: { ...process.env, PORT: String(port), FUNCTIONS_CONTROL_API: 'true', GCLOUD_PROJECT: 'demo-haltgate' },
    stdio: 'ignore',
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/__/functions.yaml`);
      if (res.ok) {
        manifest = (await res.json()) as Manifest;
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the firebase-functions manifest server did not answer');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);
afterAll(() => {
  child?.kill('SIGKILL');
});

describe('the deploy manifest', () => {
  it('has exactly the seven functions, all 2nd gen', () => {
    expect(Object.keys(manifest.endpoints).sort()).toEqual(['executeIntent', 'onKillSwitchWrite', 'onSubmissionWrite', 'ops', 'reconcileSubmissions', 'syncFills', 'syncOrders']);
    for (const e of Object.values(manifest.endpoints)) expect(e.platform).toBe('gcfv2');
  });

  it('executeIntent: order-intents, retry on, timeout from the param, broker keys as secrets', () => {
    const e = manifest.endpoints.executeIntent!;
    expect(e.eventTrigger).toMatchObject({
      eventType: 'google.cloud.pubsub.topic.v1.messagePublished',
      eventFilters: { topic: 'order-intents' },
      retry: true,
    });
    expect(e.timeoutSeconds).toBe('{{ params.EXECUTE_TIMEOUT_SECONDS }}');
    expect(e.secretEnvironmentVariables?.map((s) => s.key).sort()).toEqual(['ALPACA_KEY_ID', 'ALPACA_SECRET_KEY']);
  });

  it('the kill-switch trigger retries, the reconciler and fills sync are scheduled, ops is HTTPS', () => {
    expect(manifest.endpoints.onKillSwitchWrite!.eventTrigger).toMatchObject({
      eventType: 'google.cloud.firestore.document.v1.written',
      eventFilters: { document: 'ops/killSwitch' },
      retry: true,
    });
    expect(manifest.endpoints.reconcileSubmissions!.scheduleTrigger).toBeDefined();
    expect(manifest.endpoints.syncFills!.scheduleTrigger).toBeDefined();
    expect(manifest.endpoints.syncOrders!.scheduleTrigger).toBeDefined();
    expect(manifest.endpoints.onSubmissionWrite!.eventTrigger).toMatchObject({ eventType: 'google.cloud.firestore.document.v1.written', retry: true });
    expect(manifest.endpoints.ops!.httpsTrigger).toBeDefined();
  });

  it('declares every parameter with its default; the broker keys are secrets, not params', () => {
    const byName = new Map(manifest.params.map((p) => [p.name, p]));
    expect(byName.get('EXECUTION_MODE')).toMatchObject({ default: 'dry_run' });
    expect(byName.get('EXECUTION_HALTED')).toMatchObject({ default: 'false' });
    expect(byName.get('EXECUTE_TIMEOUT_SECONDS')).toMatchObject({ type: 'int', default: 60 });
    expect(byName.get('ALPACA_SECRET_KEY')).toMatchObject({ type: 'secret' });
    expect(byName.get('ALPACA_SECRET_KEY')).not.toHaveProperty('default');
  });
});
