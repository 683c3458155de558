import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callsBroker, ExecutionMode, parseExecutionMode } from '../../../functions/src/domain/execution-mode.js';

const MODES = ['off', 'dry_run', 'paper', 'live'] as const;

describe('parseExecutionMode', () => {
  it.each(MODES)('parses %s', (mode) => {
    expect(parseExecutionMode(mode)).toEqual({ ok: true, mode });
  });

  it('tolerates surrounding whitespace (as .env files leave it)', () => {
    expect(parseExecutionMode(' paper\n')).toEqual({ ok: true, mode: 'paper' });
  });

  it.each([undefined, '', ' ', 'Paper', 'PAPER', 'Paper ', 'livee', 'LIVE', 'dry-run', 'dryrun', 'Dry_Run', 'on', 'true', 'paper,live', 'pap er'])(
    'refuses %j with a problem listing the modes',
    (raw) => {
      const r = parseExecutionMode(raw);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problem).toBe(`EXECUTION_MODE=${JSON.stringify(raw ?? '')} is not one of off, dry_run, paper, live`);
    },
  );

  it('property: no string other than the four modes (after trimming) parses', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.constantFrom(...MODES).chain((m) => fc.tuple(fc.constant(m), fc.string({ maxLength: 2 }), fc.string({ maxLength: 2 })).map(([a, b, c]) => b + a + c)),
          fc.constantFrom(...MODES).map((m) => m.toUpperCase()),
        ),
        (raw) => {
          const r = parseExecutionMode(raw);
          const expected = (MODES as readonly string[]).includes(raw.trim());
          expect(r.ok).toBe(expected);
          if (r.ok) expect(r.mode).toBe(raw.trim());
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('callsBroker', () => {
  it('only paper and live call the broker', () => {
    expect(callsBroker(ExecutionMode.paper)).toBe(true);
    expect(callsBroker(ExecutionMode.live)).toBe(true);
    expect(callsBroker(ExecutionMode.dry_run)).toBe(false);
    expect(callsBroker(ExecutionMode.off)).toBe(false);
  });

  it('property: no parsed mode other than paper/live calls the broker', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom(...MODES)), (raw) => {
        const r = parseExecutionMode(raw);
        if (r.ok) expect(callsBroker(r.mode)).toBe(r.mode === 'paper' || r.mode === 'live');
      }),
    );
  });

  it('ExecutionMode lists exactly the four modes', () => {
    expect(Object.values(ExecutionMode).sort()).toEqual([...MODES].sort());
  });
});
