import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './discover.js';

/**
 * The demo strategy, as a child process publishing intents through @google-cloud/pubsub like
 * a real strategy host would: `dev/demo-strategy.ts` (the runner-kit demo) when present,
 * otherwise the minimal `dev/stack/fallback-feed.ts`. Run with tsx (`node --import tsx`, one
 * process, so its PID is the one to signal).
 */
export const DEMO_STRATEGY_SCRIPT = path.join(REPO_ROOT, 'dev', 'demo-strategy.ts');
export const FALLBACK_FEED_SCRIPT = path.join(REPO_ROOT, 'dev', 'stack', 'fallback-feed.ts');

export interface DemoFeed {
  script: string;
  pid: number | null;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function startDemoFeed(opts: {
  env: Record<string, string>;
  log: (line: string, stream: 'stdout' | 'stderr') => void;
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}): DemoFeed {
  const script = existsSync(DEMO_STRATEGY_SCRIPT) ? DEMO_STRATEGY_SCRIPT : FALLBACK_FEED_SCRIPT;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      opts.onExit?.(code, signal);
      resolve();
    });
  });
  for (const stream of ['stdout', 'stderr'] as const) {
    const source = child[stream];
    if (source) createInterface({ input: source }).on('line', (line) => opts.log(line, stream));
  }
  return {
    script,
    pid: child.pid ?? null,
    // Longer than the runner kit's bound on its last heartbeat write (finalWriteTimeoutMs,
    // 5 s): Ctrl-C stops the emulators at the same time, and a demo whose `stopped` write cannot
    // land then gives up on it and exits by itself instead of being killed mid-write.
    async stop(graceMs = 8_000) {
      if (!running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
