import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that take minutes, started before all others. Without a results cache (a fresh clone,
 * CI) vitest orders files by size, which left the chaos run (a small file driving two whole
 * stacks for 2–3 minutes) to start last and run alone on one worker while the other idled.
 */
const START_FIRST = ['test/chaos/chaos.test.ts'];

export class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = START_FIRST.findIndex((path) => f.moduleId.endsWith(path));
      return i === -1 ? START_FIRST.length : i;
    };
    // Stable: the others keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
