import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createClaimLane } from '../../../functions/src/store/claim-lane.js';
import { deferred, flush } from '../../support/deferred.js';


describe('createClaimLane', () => {
  it('keeps at most `limit` claims open; the rest start in arrival order as turns free up', async () => {
    const lane = createClaimLane(2);
    const gates = [deferred<number>(), deferred<number>(), deferred<number>(), deferred<number>()];
    const started: number[] = [];
    const results = gates.map((g, i) => lane.run(() => (started.push(i), g.promise)));
    await flush();
    expect(started).toEqual([0, 1]);
    expect(lane.stats()).toEqual({ open: 2, waiting: 2 });
    gates[1]!.resolve(1);
    await flush();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve(0);
    await flush();
    expect(started).toEqual([0, 1, 2, 3]);
    gates[2]!.resolve(2);
    gates[3]!.resolve(3);
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
    expect(lane.stats()).toEqual({ open: 0, waiting: 0 });
  });

  it('a claim that fails gives its turn back and its caller the error', async () => {
    const lane = createClaimLane(1);
    const first = deferred<string>();
    const a = lane.run(() => first.promise);
    const b = lane.run(async () => 'second');
    first.reject(new Error('ABORTED'));
    await expect(a).rejects.toThrow('ABORTED');
    expect(await b).toBe('second');
    expect(lane.stats()).toEqual({ open: 0, waiting: 0 });
  });

  it('a claim that throws synchronously gives its turn back too', async () => {
    const lane = createClaimLane(1);
    await expect(
      lane.run(() => {
        throw new Error('bad request');
      }),
    ).rejects.toThrow('bad request');
    expect(await lane.run(async () => 1)).toBe(1);
  });

  it('refuses a limit that is not a whole number of at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => createClaimLane(bad)).toThrow(RangeError);
  });

  it('property: whatever the order claims finish in, never more than `limit` are open, every claim runs once, and all turns come back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(fc.nat(), { minLength: 1, maxLength: 25 }), async (limit, finishOrder) => {
        const lane = createClaimLane(limit);
        const n = finishOrder.length;
        const gates = Array.from({ length: n }, () => deferred<void>());
        let open = 0;
        let maxOpen = 0;
        const runs = new Array<number>(n).fill(0);
        const all = gates.map((g, i) =>
          lane.run(async () => {
            runs[i]! += 1;
            open += 1;
            maxOpen = Math.max(maxOpen, open);
            try {
              await g.promise;
            } finally {
              open -= 1;
            }
          }),
        );
        // Finish open claims in the order the generator picks, until all are done.
        const pending = new Set(gates.keys());
        let k = 0;
        while (pending.size > 0) {
          await flush();
          const startedNotDone = [...pending].filter((i) => runs[i] === 1);
          const pick = startedNotDone[finishOrder[k++ % n]! % startedNotDone.length]!;
          pending.delete(pick);
          gates[pick]!.resolve();
        }
        await Promise.all(all);
        expect(maxOpen).toBeLessThanOrEqual(limit);
        expect(runs.every((r) => r === 1)).toBe(true);
        expect(lane.stats()).toEqual({ open: 0, waiting: 0 });
      }),
    );
  });
});
