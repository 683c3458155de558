import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deadManVerdict } from '../../../functions/src/domain/dead-man-switch.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const beat = (agoMs: number, over: Record<string, unknown> = {}) => ({ runnerId: 's1', state: 'running', lastSeenAt: new Date(NOW - agoMs), ...over });

describe('dead-man switch', () => {
  it('is off without limits.maxRunnerSilenceMs (0): no heartbeat needed', () => {
    expect(deadManVerdict('s1', undefined, NOW, 0)).toEqual({ ok: true });
  });

  it('passes while the last heartbeat is at most the limit old', () => {
    expect(deadManVerdict('s1', beat(30_000), NOW, 30_000)).toEqual({ ok: true });
    expect(deadManVerdict('s1', beat(-5_000), NOW, 30_000)).toEqual({ ok: true }); // a clock a little ahead
    expect(deadManVerdict('s1', beat(30_001), NOW, 30_000)).toMatchObject({ ok: false, detail: expect.stringContaining('silent for 30001 ms') });
  });

  it('fails closed: no document, not a document, no readable time, a stopped runner', () => {
    expect(deadManVerdict('s1', undefined, NOW, 1_000)).toMatchObject({ ok: false, detail: expect.stringMatching(/^runners\/s1: no runner heartbeat/) });
    for (const bad of [null, 'x', [], 5]) expect(deadManVerdict('s1', bad, NOW, 1_000).ok).toBe(false);
    expect(deadManVerdict('s1', beat(0, { lastSeenAt: '2026-12-01T12:00:00Z' }), NOW, 1_000)).toMatchObject({ ok: false, detail: expect.stringContaining('no readable lastSeenAt') });
    expect(deadManVerdict('s1', beat(0, { state: 'stopped', stopReason: 'signal:SIGTERM' }), NOW, 1_000)).toMatchObject({ ok: false, detail: expect.stringContaining('signal:SIGTERM') });
  });

  it('is stale exactly when older than the limit (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 1, max: 10 ** 9 }), (ago, max) => {
        expect(deadManVerdict('s1', beat(ago), NOW, max).ok).toBe(ago <= max);
      }),
    );
  });
});
