/**
 * Cooperative schedulers for interleaving tests of real async code.
 *
 * Code under test is split into *actors* (one per invocation or event). An actor runs until it
 * reaches a *point* (`await point(op)`, placed before every operation on shared state: a store
 * transaction, a broker call) and waits there until the scheduler lets it take its next *step*:
 * the operation, then its own code up to the next point. Only one actor runs at a time, so a
 * step is atomic. An actor may also *crash* at a point: it never resumes. Between two points an
 * actor's code may read only its own state, the clock and its shutdown gate (as in a real
 * process, where a timer or a signal can only come in at an await).
 *
 * Two drivers:
 * - `exploreAll`: every schedule, exhaustively (stateless depth-first search with replay), with
 *   sleep sets (Godefroid) so that two schedules differing only in the order of independent
 *   steps — steps of different actors whose footprints do not conflict — are explored once.
 *   (A dynamic partial-order reduction written on top missed reachable outcomes in the
 *   self-check against plain enumeration and was dropped; sleep sets alone suffice here.)
 * - `FcRuntime`: fast-check's `fc.scheduler()` picks the order (sampling, for bigger spaces).
 */
import type fc from 'fast-check';
import type { OpInfo, Point } from './memory-store.js';

export interface SpawnOptions {
  /** May the scheduler crash this actor at its points? */
  crashable: boolean;
  /** Read by every step besides its operation (`clock`, `gate/<instance>`). */
  ambient: readonly string[];
  /**
   * The footprint of the first step (the actor's code up to its first point), or null when that
   * code touches nothing another actor writes: it then runs at once, with no point before it
   * (dying there would be the same as dying at the first point).
   */
  start: OpInfo | null;
}

export interface Runtime {
  spawn(name: string, opts: SpawnOptions, body: (point: Point) => Promise<unknown>): void;
  /** Results of the actors, by name: absent while running or crashed. */
  readonly results: Map<string, { ok: true; value: unknown } | { ok: false; error: unknown }>;
  readonly crashed: Set<string>;
}

export interface Transition {
  id: string;
  actor: string;
  kind: 'step' | 'crash';
  label: string;
  reads: readonly string[];
  writes: readonly string[];
}

function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  const wild = (w: string, k: string) => w.endsWith('/*') && k.startsWith(w.slice(0, -1));
  return wild(a, b) || wild(b, a);
}

/** Two transitions are dependent if they belong to one actor or one writes what the other touches. */
export function dependent(a: Transition, b: Transition): boolean {
  if (a.actor === b.actor) return true;
  const hits = (ws: readonly string[], ks: readonly string[]) => ws.some((w) => ks.some((k) => overlaps(w, k)));
  return hits(a.writes, [...b.reads, ...b.writes]) || hits(b.writes, [...a.reads, ...a.writes]);
}

interface ActorState {
  name: string;
  opts: SpawnOptions;
  status: 'parked' | 'running' | 'done' | 'crashed';
  pending: OpInfo;
  release: () => void;
  onSettle: (() => void) | null;
}

/** The runtime `exploreAll` drives: it fires the transitions the search chooses. */
export class CooperativeRuntime implements Runtime {
  readonly actors: ActorState[] = [];
  readonly results: Runtime['results'] = new Map();
  readonly crashed = new Set<string>();
  /** Once true, points resolve at once (a sequential phase after the explored one). */
  free = false;

  constructor(public crashesLeft: number) {}

  spawn(name: string, opts: SpawnOptions, body: (point: Point) => Promise<unknown>): void {
    if (this.actors.some((a) => a.name === name)) throw new Error(`actor ${name} exists`);
    const state: ActorState = { name, opts, status: 'parked', pending: opts.start ?? { op: 'start', reads: [], writes: [] }, release: () => undefined, onSettle: null };
    const settle = () => {
      const cb = state.onSettle;
      state.onSettle = null;
      cb?.();
    };
    const point: Point = (op) => {
      if (this.free || op.private) return Promise.resolve();
      return new Promise<void>((resolve) => {
        state.status = 'parked';
        state.pending = op;
        state.release = resolve;
        settle();
      });
    };
    state.release = () => {
      body(point).then(
        (value) => {
          state.status = 'done';
          this.results.set(name, { ok: true, value });
          settle();
        },
        (error: unknown) => {
          state.status = 'done';
          this.results.set(name, { ok: false, error });
          settle();
        },
      );
    };
    this.actors.push(state);
    if (this.free || opts.start === null) {
      state.status = 'running';
      state.release();
    }
  }

  enabled(): Transition[] {
    const out: Transition[] = [];
    for (const a of this.actors) {
      if (a.status !== 'parked') continue;
      const reads = [...a.pending.reads, ...a.opts.ambient];
      out.push({ id: a.name, actor: a.name, kind: 'step', label: `${a.name}:${a.pending.op}`, reads, writes: a.pending.writes });
    }
    if (this.crashesLeft > 0) {
      for (const a of this.actors) {
        if (a.status === 'parked' && a.opts.crashable && !a.pending.noCrash) {
          out.push({ id: `crash:${a.name}`, actor: a.name, kind: 'crash', label: `${a.name} dies before ${a.pending.op}`, reads: [], writes: ['(crash budget)'] });
        }
      }
    }
    return out;
  }

  async fire(t: Transition): Promise<void> {
    const a = this.actors.find((x) => x.name === t.actor);
    if (!a || a.status !== 'parked') throw new Error(`transition ${t.id} is not enabled`);
    if (t.kind === 'crash') {
      a.status = 'crashed';
      this.crashed.add(a.name);
      this.crashesLeft -= 1;
      return;
    }
    a.status = 'running';
    const settled = new Promise<void>((resolve) => {
      a.onSettle = resolve;
    });
    a.release();
    await settled;
  }

  /** Waits until no actor is running (those started at once have reached their first point). */
  async drain(): Promise<void> {
    for (;;) {
      const running = this.actors.find((a) => a.status === 'running');
      if (!running) return;
      await new Promise<void>((resolve) => {
        running.onSettle = resolve;
      });
    }
  }
}

export interface Explorable {
  runtime: CooperativeRuntime;
  /** Called once no transition is enabled: finish the run and check its properties (throw on a violation). */
  finish(trace: readonly Transition[]): Promise<void>;
}

export interface ExploreStats {
  /** Schedules run to the end and checked. */
  complete: number;
  /** Runs cut short because every remaining step was asleep (an equivalent schedule was explored). */
  pruned: number;
  maxDepth: number;
}

/**
 * Explores every schedule of the actors `build()` sets up, up to the order of independent
 * steps: a stateless depth-first search that replays a prefix of choices from scratch for each
 * run (`build` must be deterministic), with sleep sets (Godefroid, 1996): after the subtree of
 * step `t` from state `s` is explored, `t` sleeps in the subtrees of `s`'s other steps until a
 * step dependent on it runs — every ordering that differs from an explored one only by
 * commuting independent steps is skipped, and every other one (each Mazurkiewicz trace) is
 * run to its end. A run whose every enabled step sleeps is cut short (`pruned`).
 * `sleepSets: false` explores every interleaving (to check the reduction on small spaces).
 */
export async function exploreAll(build: () => Explorable, opts: { maxRuns?: number; sleepSets?: boolean } = {}): Promise<ExploreStats> {
  const maxRuns = opts.maxRuns ?? Number.POSITIVE_INFINITY;
  const reduce = opts.sleepSets ?? true;
  interface Frame {
    /** Enabled at the state before `chosen`. */
    enabled: Transition[];
    /** Asleep at that state. */
    sleep: Transition[];
    /** Explored from that state so far, `chosen` last. */
    done: string[];
    chosen: Transition;
  }
  const stack: Frame[] = [];
  const stats: ExploreStats = { complete: 0, pruned: 0, maxDepth: 0 };
  const childSleep = (f: Frame): Transition[] => {
    if (!reduce) return [];
    const before = f.done.slice(0, -1).map((id) => f.enabled.find((t) => t.id === id)!);
    return [...f.sleep, ...before].filter((u) => !dependent(u, f.chosen));
  };

  for (let runs = 0; ; runs++) {
    if (runs >= maxRuns) throw new Error(`exploreAll: more than ${maxRuns} runs`);
    const world = build();
    const rt = world.runtime;
    await rt.drain();
    for (const f of stack) {
      const ids = rt.enabled().map((t) => t.id).join(',');
      if (ids !== f.enabled.map((t) => t.id).join(',')) throw new Error(`nondeterministic replay: ${ids} vs ${f.enabled.map((t) => t.id).join(',')}`);
      await rt.fire(f.chosen);
    }
    let sleep = stack.length > 0 ? childSleep(stack[stack.length - 1]!) : [];
    for (;;) {
      const enabled = rt.enabled();
      if (enabled.length === 0) {
        await world.finish(stack.map((f) => f.chosen));
        stats.complete += 1;
        break;
      }
      const asleep = sleep.filter((s) => enabled.some((t) => t.id === s.id));
      const next = enabled.find((t) => !asleep.some((s) => s.id === t.id));
      if (next === undefined) {
        stats.pruned += 1;
        break;
      }
      const frame: Frame = { enabled, sleep: asleep, done: [next.id], chosen: next };
      stack.push(frame);
      stats.maxDepth = Math.max(stats.maxDepth, stack.length);
      await rt.fire(next);
      sleep = childSleep(frame);
    }
    // Backtrack to the deepest state with a step left that is neither explored nor asleep.
    for (;;) {
      const f = stack[stack.length - 1];
      if (f === undefined) return stats;
      const alt = f.enabled.find((t) => !f.done.includes(t.id) && !f.sleep.some((s) => s.id === t.id));
      if (alt !== undefined) {
        f.done.push(alt.id);
        f.chosen = alt;
        break;
      }
      stack.pop();
    }
  }
}

/**
 * The same actors under `fc.scheduler()`: each point is a scheduled task, released when the
 * scheduler picks it; the release waits until the actor reaches its next point or ends, so a
 * step stays atomic. Crashes are planned up front: `crashAt.get(actor) = n` kills the actor at
 * its n-th point (0: before it starts).
 */
export class FcRuntime implements Runtime {
  readonly results: Runtime['results'] = new Map();
  readonly crashed = new Set<string>();
  readonly trace: string[] = [];
  free = false;

  constructor(
    private readonly s: fc.Scheduler,
    private readonly crashAt: ReadonlyMap<string, number>,
  ) {}

  spawn(name: string, opts: SpawnOptions, body: (point: Point) => Promise<unknown>): void {
    let points = 0;
    let onSettle: (() => void) | null = null;
    const settle = () => {
      const cb = onSettle;
      onSettle = null;
      cb?.();
    };
    const gate = (op: OpInfo): Promise<void> => {
      if (this.free || op.private) return Promise.resolve();
      const n = points++;
      if (opts.crashable && !op.noCrash && this.crashAt.get(name) === n) {
        this.crashed.add(name);
        this.trace.push(`${name} dies before ${op.op}`);
        settle();
        return new Promise<void>(() => undefined);
      }
      settle();
      return this.s.schedule(Promise.resolve(), `${name}:${op.op}`, undefined, async (release) => {
        const settled = new Promise<void>((resolve) => {
          onSettle = resolve;
        });
        this.trace.push(`${name}:${op.op}`);
        await release();
        await settled;
      });
    };
    void (opts.start === null ? Promise.resolve() : gate(opts.start)).then(() =>
      body(gate).then(
        (value) => {
          this.results.set(name, { ok: true, value });
          settle();
        },
        (error: unknown) => {
          this.results.set(name, { ok: false, error });
          settle();
        },
      ),
    );
  }
}
