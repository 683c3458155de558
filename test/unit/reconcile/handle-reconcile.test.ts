import { describe, expect, it } from 'vitest';
import type { Broker, LookupOutcome } from '../../../functions/src/broker/broker.js';
import { loadReconcileConfig } from '../../../functions/src/config.js';
import { fixedClock } from '../../../functions/src/domain/clock.js';
import { SubmissionState, type SubmissionRecord } from '../../../functions/src/domain/submission.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { handleReconcileSubmissions } from '../../../functions/src/reconcile/handle-reconcile.js';
import type { ReconcileReport, ReconcileStore } from '../../../functions/src/store/reconcile-store.js';

const T0 = Date.parse('2026-03-02T15:00:00Z');

function unknownRecord(i: number): SubmissionRecord {
  const intentId = `it-${i}`;
  return {
    intentId,
    state: SubmissionState.unknown,
    reason: 'broker_outcome_unknown',
    detail: null,
    intent: { intentId, strategyId: 's', symbol: 'AAPL', side: 'buy', qty: 1, type: 'market', timeInForce: 'day', createdAt: new Date(T0).toISOString() },
    strategyId: 's',
    clientOrderId: intentId,
    brokerOrderId: null,
    brokerStatus: null,
    attempts: 1,
    owner: { instanceId: 'x', eventId: 'e', deadlineAtMs: T0 - 60_000 },
    executionMode: 'paper',
    claimedAtMs: T0 - 120_000,
    updatedAtMs: T0 - 100_000,
    history: [],
  };
}

/** A store over a fixed list of records that only counts what is asked of it. */
function fakeStore(records: SubmissionRecord[]) {
  const writes: string[] = [];
  const reports: ReconcileReport[] = [];
  const queries: Array<{ state: string; limit: number; updatedBeforeMs?: number }> = [];
  const store: ReconcileStore = {
    async findInState(q) {
      queries.push(q);
      return records.filter((r) => r.state === q.state).slice(0, q.limit).map((record) => ({ ok: true as const, record }));
    },
    async recordOutcome(intentId, _expect, update) {
      writes.push(`${intentId}:${update.state}`);
      return { applied: true, record: { ...records.find((r) => r.intentId === intentId)!, state: update.state } };
    },
    async writeReport(report) {
      reports.push(report);
    },
  };
  return { store, writes, reports, queries };
}

/** Answers lookups through `answer`; any other call fails the test — above all a submit. */
function lookupOnlyBroker(answer: (clientOrderId: string) => Promise<LookupOutcome>): Broker & { lookups: string[] } {
  const lookups: string[] = [];
  const forbidden = () => {
    throw new Error('the reconciler must only look orders up');
  };
  return {
    name: 'fake',
    lookups,
    submitOrder: forbidden,
    cancelAllOpenOrders: forbidden,
    listOrders: forbidden,
    listFills: forbidden,
    async getOrderByClientOrderId(id) {
      lookups.push(id);
      return answer(id);
    },
  };
}

const config = () => loadReconcileConfig({ EXECUTION_MODE: 'paper', ALPACA_KEY_ID: 'k', ALPACA_SECRET_KEY: 's', BROKER_TIMEOUT_MS: '5000' });

describe('handleReconcileSubmissions', () => {
  it('reads both states oldest first, in batches, and skips claims too recent to be orphaned', async () => {
    const clock = fixedClock(T0);
    const { store, queries } = fakeStore([]);
    const broker = lookupOnlyBroker(async () => ({ kind: 'not_found' }));
    await handleReconcileSubmissions({ store, brokerFor: () => broker, clock, loadConfig: config, log: memoryEventLogger() }, { batchSize: 7 });
    expect(queries).toEqual([
      { state: 'submitting', limit: 7, updatedBeforeMs: T0 - 30_000 },
      { state: 'unknown', limit: 7 },
    ]);
  });

  it('stops starting lookups when less than one broker timeout of its time budget is left', async () => {
    const clock = fixedClock(T0);
    const records = Array.from({ length: 5 }, (_, i) => unknownRecord(i));
    const { store, reports } = fakeStore(records);
    // Each lookup takes 4 s; budget 15 s, broker timeout 5 s: lookups start at 0, 4, 8 s; not at 12 s.
    const broker = lookupOnlyBroker(async () => {
      clock.advance(4000);
      return { kind: 'not_found' };
    });
    const report = await handleReconcileSubmissions(
      { store, brokerFor: () => broker, clock, loadConfig: config, log: memoryEventLogger() },
      { timeBudgetMs: 15_000 },
    );
    expect(broker.lookups).toEqual(['it-0', 'it-1', 'it-2']);
    expect(report).toMatchObject({ scanned: 5, stillUnknown: 5, errors: 1, durationMs: 12_000 });
    expect(report.problems).toEqual(['time budget used up; 2 records left for the next run']);
    expect(reports).toEqual([report]);
  });

  it('a broker that throws is a failed lookup, not a crash; nothing is written', async () => {
    const { store, writes } = fakeStore([unknownRecord(1)]);
    const broker = lookupOnlyBroker(async () => {
      throw new Error('socket hang up');
    });
    const report = await handleReconcileSubmissions({ store, brokerFor: () => broker, clock: fixedClock(T0), loadConfig: config, log: memoryEventLogger() });
    expect(report).toMatchObject({ stillUnknown: 1, errors: 1 });
    expect(report.problems.join()).toMatch(/socket hang up/);
    expect(writes).toEqual([]);
  });

  it('a record of a mode without a broker is left alone and reported', async () => {
    const { store, writes } = fakeStore([{ ...unknownRecord(1), executionMode: 'invalid' }]);
    const broker = lookupOnlyBroker(async () => ({ kind: 'not_found' }));
    const report = await handleReconcileSubmissions({ store, brokerFor: () => broker, clock: fixedClock(T0 + 10 ** 9), loadConfig: config, log: memoryEventLogger() });
    expect(broker.lookups).toEqual([]);
    expect(writes).toEqual([]);
    expect(report.problems.join()).toMatch(/no broker to ask/);
  });

  it('the status write failing fails the run (the scheduler sees it)', async () => {
    const { store } = fakeStore([]);
    store.writeReport = async () => {
      throw new Error('firestore down');
    };
    const broker = lookupOnlyBroker(async () => ({ kind: 'not_found' }));
    await expect(
      handleReconcileSubmissions({ store, brokerFor: () => broker, clock: fixedClock(T0), loadConfig: config, log: memoryEventLogger() }),
    ).rejects.toThrow('firestore down');
  });
});
