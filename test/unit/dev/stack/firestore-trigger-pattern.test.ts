import { describe, expect, it } from 'vitest';
import { matchDocumentPath, parseDocumentPattern } from '../../../../dev/stack/firestore-triggers.js';

describe('the local stack\'s Firestore trigger patterns', () => {
  it('takes fixed documents and {name} wildcards in document-id segments', () => {
    expect(parseDocumentPattern('ops/killSwitch')).toEqual({ ok: true, segments: ['ops', 'killSwitch'], wildcards: [] });
    expect(parseDocumentPattern('submissions/{intentId}')).toEqual({ ok: true, segments: ['submissions', '{intentId}'], wildcards: ['intentId'] });
    expect(parseDocumentPattern('a/{x}/b/{y}')).toMatchObject({ ok: true, wildcards: ['x', 'y'] });
  });

  it('refuses what it cannot watch, saying why', () => {
    for (const p of ['submissions', '{c}/doc', 'a/{path=**}', 'a/*', 'a//b', 'a/b/c']) {
      expect(parseDocumentPattern(p), p).toMatchObject({ ok: false });
    }
  });

  it('matches paths and extracts the params firebase-functions would', () => {
    const { segments } = parseDocumentPattern('submissions/{intentId}') as { segments: string[] };
    expect(matchDocumentPath(segments, 'submissions/i-1')).toEqual({ intentId: 'i-1' });
    expect(matchDocumentPath(segments, 'invalidIntents/i-1')).toBeNull();
    expect(matchDocumentPath(segments, 'submissions/i-1/x/y')).toBeNull();
    const nested = (parseDocumentPattern('a/{x}/b/{y}') as { segments: string[] }).segments;
    expect(matchDocumentPath(nested, 'a/1/b/2')).toEqual({ x: '1', y: '2' });
    expect(matchDocumentPath(nested, 'a/1/c/2')).toBeNull();
  });
});
