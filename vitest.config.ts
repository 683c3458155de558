import { defineConfig } from 'vitest/config';
import { LongFilesFirst } from './test/setup/long-files-first.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/setup/ensure-chromium.ts'],
    // Structured logs of passing tests are noise; a failing test shows its own.
    silent: 'passed-only',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites share the official emulators (a project each) and start their own
    // simulator and interposer on free ports; two cores.
    pool: 'forks',
    maxWorkers: 2,
    sequence: { sequencer: LongFilesFirst },
  },
});
