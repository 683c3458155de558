import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { FUNCTIONS_SOURCE, REPO_ROOT, type DiscoveredFunction } from './discover.js';
import { waitForPort } from './ports.js';

/**
 * One Cloud Function served by `@google-cloud/functions-framework` in its own process, the
 * way Cloud Functions 2nd gen (Cloud Run) runs it: `--target`, `--signature-type`, `--source`
 * (the deployable directory, whose package.json `main` is lib/index.js), `--port`.
 * Can be SIGKILLed and restarted on the same port (chaos), and stopped with SIGTERM first,
 * as Cloud Run does, so the function's own drain runs.
 */

export const FUNCTIONS_FRAMEWORK_MAIN = path.join(REPO_ROOT, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');

export type LogSink = (functionName: string, line: string, stream: 'stdout' | 'stderr') => void;

export interface FunctionProcessOptions {
  fn: DiscoveredFunction;
  port: number;
  env: Record<string, string>;
  log: LogSink;
  /** How long SIGTERM may take before SIGKILL. */
  stopGraceMs: number;
  readyTimeoutMs?: number;
}

export class FunctionProcess {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private generation = 0;
  /** Every PID this function ever ran as (tests check none is left). */
  readonly pids: number[] = [];

  constructor(private readonly opts: FunctionProcessOptions) {
    this.name = opts.fn.name;
    this.port = opts.port;
    this.url = `http://127.0.0.1:${opts.port}/`;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the process and resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    this.generation += 1;
    const { fn, port, env } = this.opts;
    const child = spawn(
      process.execPath,
      [FUNCTIONS_FRAMEWORK_MAIN, `--target=${fn.name}`, `--signature-type=${fn.signatureType}`, `--source=${FUNCTIONS_SOURCE}`, `--port=${port}`],
      {
        cwd: REPO_ROOT,
        env: {
          ...env,
          // What Cloud Run sets for a 2nd-gen function; K_REVISION makes claim owners readable.
          K_SERVICE: fn.name.toLowerCase(),
          K_REVISION: `${fn.name.toLowerCase()}-local-${this.generation}`,
          FUNCTION_TARGET: fn.name,
          FUNCTION_SIGNATURE_TYPE: fn.signatureType,
          PORT: String(port),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    if (child.pid !== undefined) this.pids.push(child.pid);
    // Ready when OUR child says it listens (the framework prints its URL after listen() unless
    // NODE_ENV=production): a TCP probe alone could be answered by another process that got
    // the same port, e.g. a second stack in the same test run.
    let announced: () => void = () => {};
    const listening = new Promise<void>((resolve) => (announced = resolve));
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (source) {
        createInterface({ input: source }).on('line', (line) => {
          if (stream === 'stdout' && line.startsWith('URL: http://localhost:')) announced();
          this.opts.log(fn.name, line, stream);
        });
      }
    }
    const abort = new AbortController();
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = null;
        abort.abort(`${fn.name} exited (${signal ?? code}) before it listened`);
        resolve();
      });
    });
    const timeoutMs = this.opts.readyTimeoutMs ?? 60_000;
    if (env.NODE_ENV === 'production') {
      await waitForPort(port, { timeoutMs, abort: abort.signal });
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${fn.name} did not listen on ${port} within ${timeoutMs} ms`)), timeoutMs);
      abort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error(String(abort.signal.reason)));
      });
      void listening.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Sends a signal and waits for the exit (SIGKILL: at once; SIGTERM: the function's drain, then SIGKILL). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.stopGraceMs);
      await this.exited;
      clearTimeout(timer);
    } else {
      await this.exited;
    }
  }

  async restart(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.kill(signal);
    await this.start();
  }

  /** SIGTERM, like Cloud Run scaling in: in-flight calls get the function's bounded drain. */
  stop(): Promise<void> {
    return this.kill('SIGTERM');
  }
}
