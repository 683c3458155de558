/**
 * One intent's world for interleaving tests: the real `handleExecuteIntent` and
 * `handleReconcileSubmissions` over the in-memory store (memory-store.ts), a scripted broker
 * (scripted-broker.ts), a pinned clock and a shutdown gate per instance, driven as actors by a
 * Runtime (interleave.ts). After the explored phase, `settle()` plays Pub/Sub and the scheduler
 * until nothing is left to do, and `violations()` checks the guarantees.
 */
import { loadReconcileConfig, loadRuntimeConfig } from '../../functions/src/config.js';
import { fixedClock } from '../../functions/src/domain/clock.js';
import type { OrderIntent } from '../../functions/src/domain/intent.js';
import { isTerminal, type SubmissionRecord } from '../../functions/src/domain/submission.js';
import { HaltgateError } from '../../functions/src/errors.js';
import { handleExecuteIntent, type ExecuteIntentDeps } from '../../functions/src/execution/handle-execute-intent.js';
import type { IntentDelivery } from '../../functions/src/execution/intent-delivery.js';
import { memoryEventLogger } from '../../functions/src/logs.js';
import { handleReconcileSubmissions } from '../../functions/src/reconcile/handle-reconcile.js';
import { ShutdownGate } from '../../functions/src/safety/shutdown-gate.js';
import { ts } from '../../functions/src/store/firestore-values.js';
import { KILL_SWITCH_PATH } from '../../functions/src/store/paths.js';
import type { Runtime } from './interleave.js';
import { counter, createMemoryReconcileStore, createMemorySubmissionStore, MemoryFirestore, noPoint, readRecord, type Point } from './memory-store.js';
import { createScriptedBroker, type ScriptedBroker, type SubmitFate } from './scripted-broker.js';

export const T0 = Date.parse('2026-11-26T15:00:00Z');

export const WORLD_ENV = {
  EXECUTION_MODE: 'paper',
  EXECUTION_HALTED: 'false',
  ALPACA_KEY_ID: 'key-id',
  ALPACA_SECRET_KEY: 'secret-key',
  EXECUTE_TIMEOUT_SECONDS: '60',
  MIN_SUBMIT_BUDGET_MS: '15000',
  BROKER_TIMEOUT_MS: '2000',
  DEADLINE_MARGIN_MS: '1000',
  OWNER_GRACE_MS: '1000',
  RECONCILE_ABANDON_AFTER_MS: '60000',
} as const;
const RUNTIME_CONFIG = loadRuntimeConfig(WORLD_ENV);
const RECONCILE_CONFIG = loadReconcileConfig(WORLD_ENV);
if (!RUNTIME_CONFIG.ok || !RECONCILE_CONFIG.ok) throw new Error('pipeline-world: configuration is invalid');

/** One clock event: every owner that entered before it is past its deadline + OWNER_GRACE_MS after it. */
export const TICK_MS = 60_000 + 1_000 + 1;
/** A settle round: past any deadline + grace and past RECONCILE_ABANDON_AFTER_MS. */
export const ROUND_MS = 130_000;
export const MAX_SETTLE_ROUNDS = 6;

export const INTENT: OrderIntent = {
  intentId: 'intent-1',
  strategyId: 'strategy-1',
  symbol: 'AAPL',
  side: 'buy',
  qty: 1,
  type: 'market',
  timeInForce: 'day',
  createdAt: new Date(T0).toISOString(),
};

export interface WorldConfig {
  /** Deliveries of the intent: Pub/Sub redelivers one message with its event id; a publisher retry has a new one. */
  deliveries: ReadonlyArray<{ eventId: string; instance: string }>;
  halt?: boolean;
  /** One clock event past every running owner's deadline + grace. */
  tick?: boolean;
  /** Instances that get SIGTERM (their shutdown gate closes). */
  sigterm?: readonly string[];
  reconcilerRuns?: number;
  script?: readonly SubmitFate[];
  lookupScript?: ReadonlyArray<'ok' | 'fail'>;
}

type Result = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The retryable errors handleExecuteIntent documents (errors.ts). */
const DOCUMENTED_RETRYABLE = new Set(['claim_held', 'broker_outcome_unknown', 'broker_not_placed', 'shutting_down', 'deadline_budget', 'store_unavailable', 'record_unreadable']);

export class PipelineWorld {
  readonly seq = counter();
  readonly clock = fixedClock(T0);
  readonly db = new MemoryFirestore(this.seq);
  readonly broker: ScriptedBroker;
  readonly gates = new Map<string, ShutdownGate>();
  haltSeq: number | null = null;
  /** Event ids Pub/Sub still owes a delivery: some delivery of them was not acknowledged. */
  readonly unacked = new Set<string>();
  readonly problems: string[] = [];
  private lateLandings = 0;
  private settleRound = 0;

  constructor(
    readonly config: WorldConfig,
    readonly runtime: Runtime & { free: boolean },
  ) {
    this.broker = createScriptedBroker({
      clock: this.clock,
      script: config.script ?? [],
      lookupScript: config.lookupScript ?? [],
      nextSeq: this.seq,
      onLate: (land, entry) => {
        // The request is still on the wire: it lands as an event of its own (at once after the explored phase).
        if (this.runtime.free) return land();
        this.lateLandings += 1;
        const key = `broker/${entry.clientOrderId}`;
        this.runtime.spawn(`land${this.lateLandings}`, { crashable: false, ambient: [], start: { op: 'request lands', reads: [key], writes: [key] } }, async () => land());
      },
    });
    this.db.set(KILL_SWITCH_PATH, { halted: false, reason: 'open', updatedBy: 'operator', updatedAt: ts(T0 - 1000) });
  }

  gate(instance: string): ShutdownGate {
    let g = this.gates.get(instance);
    if (!g) this.gates.set(instance, (g = new ShutdownGate()));
    return g;
  }

  executeDeps(instance: string, point: Point): ExecuteIntentDeps {
    // A clock jump or SIGTERM may land between the claim's commit and the check after it.
    const pointAfterClaim = this.config.tick === true || (this.config.sigterm ?? []).includes(instance);
    return {
      store: createMemorySubmissionStore(this.db, { clock: this.clock, point, pointAfterClaim }),
      brokerFor: () => this.broker.forInvocation(point),
      clock: this.clock,
      gate: this.gate(instance),
      loadConfig: () => RUNTIME_CONFIG,
      instanceId: instance,
      log: memoryEventLogger(),
    };
  }

  reconcile(point: Point) {
    return handleReconcileSubmissions({
      store: createMemoryReconcileStore(this.db, { clock: this.clock, point }),
      brokerFor: () => this.broker.forInvocation(point),
      clock: this.clock,
      loadConfig: () => RECONCILE_CONFIG,
      log: memoryEventLogger(),
    });
  }

  delivery(eventId: string): IntentDelivery {
    return { eventId, messageId: eventId, publishTime: null, dataBase64: Buffer.from(JSON.stringify(INTENT)).toString('base64'), attributes: {} };
  }

  /** Spawns the explored phase's actors. */
  start(): this {
    const c = this.config;
    // An invocation's code before its first store call reads only the clock and its gate: a
    // point before it matters only when a tick or a SIGTERM may come first.
    const start = (watched: boolean) => (watched ? { op: 'start', reads: [], writes: [] } : null);
    c.deliveries.forEach((d, i) => {
      const name = `D${i + 1}`;
      const watched = c.tick === true || (c.sigterm ?? []).includes(d.instance);
      this.runtime.spawn(name, { crashable: true, ambient: ['clock', `gate/${d.instance}`], start: start(watched) }, (point) =>
        handleExecuteIntent(this.executeDeps(d.instance, point), this.delivery(d.eventId)),
      );
    });
    for (let i = 0; i < (c.reconcilerRuns ?? 0); i++) {
      this.runtime.spawn(`R${i + 1}`, { crashable: true, ambient: ['clock'], start: start(c.tick === true) }, (point) => this.reconcile(point));
    }
    if (c.halt) {
      this.runtime.spawn('halt', { crashable: false, ambient: [], start: { op: 'halt', reads: [], writes: [KILL_SWITCH_PATH] } }, async () => {
        this.haltSeq = this.db.set(KILL_SWITCH_PATH, { halted: true, reason: 'operator halt', updatedBy: 'operator', updatedAt: ts(T0) });
      });
    }
    if (c.tick) {
      this.runtime.spawn('tick', { crashable: false, ambient: [], start: { op: 'clock passes deadlines', reads: [], writes: ['clock'] } }, async () => {
        this.clock.advance(TICK_MS);
      });
    }
    for (const inst of c.sigterm ?? []) {
      this.runtime.spawn(`sigterm-${inst}`, { crashable: false, ambient: [], start: { op: 'SIGTERM', reads: [], writes: [`gate/${inst}`] } }, async () => {
        this.gate(inst).requestShutdown('SIGTERM');
      });
    }
    return this;
  }

  private noteDelivery(eventId: string, result: Result | undefined, where: string): void {
    if (result === undefined) {
      this.unacked.add(eventId); // crashed: never acknowledged, Pub/Sub redelivers
      return;
    }
    if (result.ok) {
      this.unacked.delete(eventId);
      return;
    }
    const err = result.error;
    if (!(err instanceof HaltgateError) || !err.retryable || !DOCUMENTED_RETRYABLE.has(err.reason)) {
      this.problems.push(`${where}: threw an undocumented error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
    this.unacked.add(eventId);
  }

  /** After the explored phase: Pub/Sub redelivers, the reconciler runs, time passes; bounded. */
  async settle(): Promise<void> {
    const rt = this.runtime;
    this.config.deliveries.forEach((d, i) => {
      const name = `D${i + 1}`;
      this.noteDelivery(d.eventId, rt.crashed.has(name) ? undefined : rt.results.get(name), name);
      if (!rt.crashed.has(name) && !rt.results.has(name)) this.problems.push(`${name} neither finished nor crashed`);
    });
    for (let i = 0; i < (this.config.reconcilerRuns ?? 0); i++) {
      const r = rt.results.get(`R${i + 1}`);
      if (r && !r.ok) this.problems.push(`R${i + 1} threw: ${String(r.error)}`);
    }
    rt.free = true;
    for (this.settleRound = 1; this.settleRound <= MAX_SETTLE_ROUNDS; this.settleRound++) {
      const rec = this.record();
      if (this.unacked.size === 0 && rec !== null && !('unreadable' in rec) && isTerminal(rec.state)) return;
      this.clock.advance(ROUND_MS);
      try {
        await this.reconcile(noPoint);
      } catch (err) {
        this.problems.push(`settle reconciler threw: ${String(err)}`);
      }
      for (const eventId of [...this.unacked]) {
        const instance = `settle${this.settleRound}`;
        let result: Result;
        try {
          result = { ok: true, value: await handleExecuteIntent(this.executeDeps(instance, noPoint), this.delivery(eventId)) };
        } catch (error) {
          result = { ok: false, error };
        }
        this.noteDelivery(eventId, result, `redelivery ${eventId} (round ${this.settleRound})`);
      }
    }
  }

  record(): SubmissionRecord | null | { unreadable: string } {
    return readRecord(this.db, INTENT.intentId);
  }

  /** Every guarantee this world checks; empty when all hold. */
  violations(): string[] {
    const out = [...this.problems];
    const coid = INTENT.intentId;
    const orders = this.broker.orders.filter((o) => o.clientOrderId === coid);
    const submits = this.broker.submits.filter((s) => s.clientOrderId === coid);
    // G1: at most one order at a broker that does not itself refuse duplicates...
    if (orders.length > 1) out.push(`G1: the broker holds ${orders.length} orders for one intent`);
    // ... and no submit after an answer that did not prove nothing was placed (only 429 does).
    submits.slice(0, -1).forEach((s, i) => {
      if (s.fate !== 'not_placed') out.push(`G1: submit #${i + 2} follows submit #${i + 1} answered ${s.fate}`);
    });
    // G2: no claim commits after the halt commits; every submit follows a claim of its own.
    const claims = this.db.commits.filter((c) => c.kind === 'claim');
    if (this.haltSeq !== null) {
      for (const c of claims) if (c.seq > this.haltSeq) out.push(`G2: claim (attempt ${c.attempt}) committed at #${c.seq}, after the halt at #${this.haltSeq}`);
    }
    if (submits.length > claims.length) out.push(`G2: ${submits.length} submits for ${claims.length} claims`);
    submits.forEach((s, i) => {
      const c = claims[i];
      if (c && c.seq > s.seq) out.push(`G2: submit #${i + 1} at #${s.seq} precedes its claim at #${c.seq}`);
    });
    // G5: nothing lost; the record tells the truth about the broker.
    if (this.unacked.size > 0) out.push(`G5: deliveries still unacknowledged after ${MAX_SETTLE_ROUNDS} settle rounds: ${[...this.unacked].join(', ')}`);
    const rec = this.record();
    if (rec === null) out.push('G5: no submission record');
    else if ('unreadable' in rec) out.push(`G5: record unreadable: ${rec.unreadable}`);
    else {
      if (!isTerminal(rec.state)) out.push(`G5: record is ${rec.state} (${rec.reason}) after settling`);
      if (orders.length > 0 && rec.state !== 'submitted') out.push(`G5: the broker holds ${orders[0]!.id} but the record is ${rec.state} (${rec.reason})`);
      if (rec.state === 'submitted' && (orders.length !== 1 || rec.brokerOrderId !== orders[0]!.id)) {
        out.push(`G5: record submitted with ${rec.brokerOrderId}, broker holds [${orders.map((o) => o.id).join(', ')}]`);
      }
    }
    return out;
  }

  /** For a report: the record's history and what the broker saw. */
  describe(): string {
    const rec = this.record();
    const history = rec && !('unreadable' in rec) ? rec.history.map((h) => `${h.state}${h.reason ? `(${h.reason})` : ''}@a${h.attempt ?? '-'}`).join(' → ') : String(rec);
    return [
      `record: ${rec && !('unreadable' in rec) ? `${rec.state} attempt ${rec.attempts}` : String(rec)}; history ${history}`,
      `broker submits: ${this.broker.submits.map((s) => `#${s.seq} ${s.fate}${s.placed ? ' (placed)' : ''}`).join(', ') || 'none'}; orders ${this.broker.orders.length}`,
      `commits: ${this.db.commits.map((c) => `#${c.seq} ${c.path} ${c.kind}${c.state ? ` ${c.state}` : ''}`).join('; ')}`,
      `halt at: ${this.haltSeq ?? 'none'}`,
    ].join('\n');
  }
}
