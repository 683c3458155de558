import { describe, expect, it } from 'vitest';
import { decideAuditRedelivery } from '../../../../dev/emulators/halt-trigger-redelivery.js';
import { CANCEL_LEASE_MS } from '../../../../functions/src/ops/halt-trigger.js';

const T0 = Date.UTC(2026, 11, 2, 15, 0, 0);
const at = (ms: number) => ({ toMillis: () => ms });
const waits = { pendingGraceMs: 30_000, failedRetryMs: 10_000 };
const decide = (steps: Parameters<typeof decideAuditRedelivery>[0]['steps'], nowMs: number) => decideAuditRedelivery({ recordedAtMs: T0, steps }, nowMs, waits);

describe('decideAuditRedelivery', () => {
  it('settled when every step is done or skipped', () => {
    expect(decide({ cancelAll: { state: 'done' }, publish: { state: 'skipped' } }, T0 + 1)).toEqual({ kind: 'settled' });
    expect(decide({ cancelAll: undefined, publish: { state: 'done' } }, T0 + 1)).toEqual({ kind: 'settled' });
  });

  it('a failed step is first retried a backoff after its failure, not at once', () => {
    const failed = { cancelAll: { state: 'failed', leaseAt: at(T0 + 100), finishedAt: at(T0 + 2_000) }, publish: { state: 'done' } };
    expect(decide(failed, T0 + 2_001)).toEqual({ kind: 'wait', untilMs: T0 + 12_000 });
    expect(decide(failed, T0 + 11_999)).toEqual({ kind: 'wait', untilMs: T0 + 12_000 });
    expect(decide(failed, T0 + 12_000)).toEqual({ kind: 'redeliver', why: 'cancelAll failed' });
    // A failure recorded without finishedAt is timed from its lease.
    expect(decide({ publish: { state: 'failed', leaseAt: at(T0 + 100) } }, T0 + 10_100)).toEqual({ kind: 'redeliver', why: 'publish failed' });
  });

  it('a pending step counts as lost after the grace; a running one once its lease is dead', () => {
    expect(decide({ publish: { state: 'pending' } }, T0 + 29_999)).toEqual({ kind: 'wait', untilMs: T0 + 30_000 });
    expect(decide({ publish: { state: 'pending' } }, T0 + 30_000)).toEqual({ kind: 'redeliver', why: 'publish still pending' });
    const running = { cancelAll: { state: 'running', leaseAt: at(T0 + 500) } };
    const dead = T0 + 500 + CANCEL_LEASE_MS + 1_000;
    expect(decide(running, dead - 1)).toEqual({ kind: 'wait', untilMs: dead });
    expect(decide(running, dead)).toEqual({ kind: 'redeliver', why: 'cancelAll lease expired' });
  });

  it('waits for the earliest due step, and redelivers as soon as any one is due', () => {
    const steps = { cancelAll: { state: 'running', leaseAt: at(T0) }, publish: { state: 'pending' } };
    expect(decide(steps, T0 + 1)).toEqual({ kind: 'wait', untilMs: T0 + 30_000 });
    expect(decide(steps, T0 + 30_000)).toEqual({ kind: 'redeliver', why: 'publish still pending' });
  });
});
