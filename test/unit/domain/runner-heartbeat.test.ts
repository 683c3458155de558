import fc from 'fast-check';
import { Timestamp } from 'firebase-admin/firestore';
import { describe, expect, it } from 'vitest';
import { isRunnerStale, runnerSilence } from '../../../functions/src/domain/runner-heartbeat.js';

const NOW = 1_800_000_000_000;

describe('isRunnerStale (last seen in ms, as the ops status uses it)', () => {
  it('keeps its old meaning', () => {
    expect(isRunnerStale(NOW - 10, NOW, 5)).toBe(true);
    expect(isRunnerStale(NOW - 5, NOW, 5)).toBe(false);
    expect(isRunnerStale(Number.NaN, NOW, 5)).toBe(true);
    expect(isRunnerStale(NOW + 1000, NOW, 5)).toBe(false);
  });
});

describe('the dead-man switch: isRunnerStale(heartbeatDoc, nowMs, maxSilenceMs) / runnerSilence', () => {
  it('0, negative or not a number disables it, whatever the heartbeat', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(0), fc.integer({ max: 0 }), fc.constant(Number.NaN), fc.constant(Number.POSITIVE_INFINITY)), fc.anything().filter((d) => typeof d !== 'number'), (max, doc) => {
        expect(isRunnerStale(doc as object, NOW, max)).toBe(false);
      }),
    );
  });

  it('stale exactly when the last heartbeat is older than maxSilenceMs (Timestamp, Date or ms)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 86_400_000 }), fc.integer({ min: -60_000, max: 172_800_000 }), fc.constantFrom('ts', 'date', 'ms'), (max, age, kind) => {
        const at = NOW - age;
        const lastSeenAt = kind === 'ts' ? Timestamp.fromMillis(at) : kind === 'date' ? new Date(at) : at;
        const s = runnerSilence({ state: 'running', lastSeenAt }, NOW, max);
        expect(s.stale).toBe(age > max);
        expect(s.lastSeenMs).toBe(at);
        expect(s.episode).toBe(String(at));
        expect(isRunnerStale({ lastSeenAt }, NOW, max)).toBe(age > max);
      }),
    );
  });

  it('fails closed once enabled: no document, no readable lastSeenAt, not a map', () => {
    for (const doc of [undefined, null, 'x', 5, [], {}, { lastSeenAt: 'yesterday' }, { lastSeenAt: null }, { lastSeenAt: Number.NaN }, { lastSeenAt: new Date(Number.NaN) }]) {
      const s = runnerSilence(doc, NOW, 1000);
      expect(s.stale, JSON.stringify(doc)).toBe(true);
      expect(s.episode).toBe('never');
      expect(s.reason).toBeTruthy();
    }
  });

  it('a runner that says it stopped is silent at once (as the claim judges it); a heartbeat from the future is not silent', () => {
    expect(runnerSilence({ state: 'stopped', lastSeenAt: new Date(NOW - 5000) }, NOW, 1000).stale).toBe(true);
    expect(runnerSilence({ state: 'stopped', lastSeenAt: new Date(NOW) }, NOW, 1000)).toMatchObject({ stale: true, episode: String(NOW) });
    expect(runnerSilence({ state: 'stopped', lastSeenAt: new Date(NOW) }, NOW, 0).stale).toBe(false);
    expect(runnerSilence({ state: 'running', lastSeenAt: new Date(NOW + 60_000) }, NOW, 1000).stale).toBe(false);
  });

  it('a runner that came back starts a new episode', () => {
    const first = runnerSilence({ lastSeenAt: new Date(NOW - 10_000) }, NOW, 1000);
    const again = runnerSilence({ lastSeenAt: new Date(NOW + 5_000) }, NOW + 20_000, 1000);
    expect(first.stale && again.stale).toBe(true);
    expect(first.episode).not.toBe(again.episode);
  });
});
