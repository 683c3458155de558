/**
 * The dashboard's data as pure functions: per-minute buckets by outcome and reason, the kill
 * switch's markers and halted spans from its audit (and from the document when the audit lags),
 * breaker trips and resets, today's realized P&L summed exactly from the trading day's start
 * in the configured time zone; and the ops routes that serve them (auth, query validation,
 * assets without auth).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tradingDayKey } from '../../../functions/src/domain/breakers/trading-day.js';
import { tradingDayStartMs } from '../../../functions/src/domain/trading-day-bounds.js';
import { memoryEventLogger } from '../../../functions/src/logs.js';
import { dashboardAssets } from '../../../functions/src/ops/dashboard-assets.js';
import { DASHBOARD_CSP, dashboardHtml } from '../../../functions/src/ops/dashboard.js';
import { handleOpsRequest, type OpsDeps } from '../../../functions/src/ops/handler.js';
import { plainQuery } from '../../../functions/src/ops/http-adapters.js';
import {
  breakerMarkers,
  bucketStartsOf,
  bucketSubmissions,
  killSwitchAuditEntry,
  killSwitchTimeline,
  MAX_REFUSED_SERIES,
  opsKillSwitchAuditSchema,
  opsPnlSchema,
  opsTimelineSchema,
  outcomeOf,
  realizedToday,
} from '../../../functions/src/ops/timeline.js';
import { tradingTimeZoneOf } from '../../../functions/src/ops/timeline-reader.js';

const MIN = 60_000;
const T0 = Date.parse('2026-12-01T14:00:00Z');

describe('bucketing by minute', () => {
  it('buckets start on whole minutes and cover the window', () => {
    const starts = bucketStartsOf(T0 + 30_000, T0 + 3 * MIN + 5_000);
    expect(starts).toEqual([T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
    expect(bucketStartsOf(T0, T0)).toEqual([T0]);
  });

  it('counts each record in the minute of its updatedAt, by outcome; refusals by reason', () => {
    const starts = bucketStartsOf(T0, T0 + 2 * MIN);
    const series = bucketSubmissions(
      [
        { state: 'submitted', reason: null, atMs: T0 },
        { state: 'submitted', reason: null, atMs: T0 + MIN - 1 },
        { state: 'submitted', reason: null, atMs: T0 + MIN },
        { state: 'refused', reason: 'halted', atMs: T0 + 2 * MIN + 59_999 },
        { state: 'refused', reason: 'breaker:dailyLoss', atMs: T0 + MIN },
        { state: 'rejected', reason: 'insufficient buying power', atMs: T0 + MIN },
        { state: 'unknown', reason: null, atMs: T0 + 2 * MIN },
        { state: 'submitting', reason: null, atMs: T0 },
        // Outside the buckets, or unreadable times: not counted.
        { state: 'submitted', reason: null, atMs: T0 - 1 },
        { state: 'submitted', reason: null, atMs: T0 + 3 * MIN },
        { state: 'submitted', reason: null, atMs: Number.NaN },
      ],
      starts,
    );
    const byKey = Object.fromEntries(series.map((s) => [s.key, s.counts]));
    expect(byKey).toEqual({
      submitted: [2, 1, 0],
      'refused:breaker:dailyLoss': [0, 1, 0],
      'refused:halted': [0, 0, 1],
      rejected: [0, 1, 0],
      unknown: [0, 0, 1],
      in_flight: [1, 0, 0],
    });
    // Order: the outcome order, refusals most frequent first (ties by name); labels for the legend.
    expect(series.map((s) => s.label)).toEqual(['submitted', 'refused: breaker:dailyLoss', 'refused: halted', 'rejected', 'unknown', 'in flight']);
    expect(series.find((s) => s.key === 'submitted')!.total).toBe(3);
  });

  it('always has submitted, rejected and unknown (a stable legend), even when empty', () => {
    const series = bucketSubmissions([], bucketStartsOf(T0, T0 + MIN));
    expect(series.map((s) => [s.key, s.total])).toEqual([
      ['submitted', 0],
      ['rejected', 0],
      ['unknown', 0],
    ]);
  });

  it('merges rare refusal reasons into refused: other beyond the limit', () => {
    const starts = bucketStartsOf(T0, T0);
    const records = Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 - i }, () => ({ state: 'refused', reason: `r${i}`, atMs: T0 }))).flat();
    const refused = bucketSubmissions(records, starts).filter((s) => s.outcome === 'refused');
    expect(refused).toHaveLength(MAX_REFUSED_SERIES);
    expect(refused.map((s) => s.reason)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'other']);
    expect(refused.at(-1)!.total).toBe(5 + 4 + 3 + 2 + 1);
  });

  it('property: every record in the window is counted exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ state: fc.constantFrom('submitted', 'refused', 'rejected', 'unknown', 'dry_run', 'released', 'bogus'), reason: fc.constantFrom(null, 'halted', 'expired', 'breaker:notional'), off: fc.integer({ min: 0, max: 30 * MIN - 1 }) })),
        (rows) => {
          const starts = bucketStartsOf(T0, T0 + 30 * MIN - 1);
          const series = bucketSubmissions(rows.map((r) => ({ state: r.state, reason: r.reason, atMs: T0 + r.off })), starts);
          expect(series.reduce((a, s) => a + s.total, 0)).toBe(rows.length);
          for (const s of series) expect(s.counts).toHaveLength(starts.length);
        },
      ),
    );
  });

  it('outcome groups', () => {
    expect(outcomeOf('refused', null)).toEqual({ outcome: 'refused', reason: 'unspecified' });
    expect(outcomeOf('dry_run', null).outcome).toBe('dry_run');
    expect(outcomeOf(null, null).outcome).toBe('unreadable');
    expect(outcomeOf('weird', 'x').outcome).toBe('unreadable');
  });
});

describe('trading day boundaries (CB_TRADING_TIME_ZONE)', () => {
  it('the day starts at local midnight, across DST changes', () => {
    // New York, EDT (−4): midnight is 04:00Z; EST (−5): 05:00Z.
    expect(new Date(tradingDayStartMs(Date.parse('2026-07-01T15:00:00Z'), 'America/New_York')).toISOString()).toBe('2026-07-01T04:00:00.000Z');
    expect(new Date(tradingDayStartMs(Date.parse('2026-12-01T15:00:00Z'), 'America/New_York')).toISOString()).toBe('2026-12-01T05:00:00.000Z');
    // 03:30Z on 1 Dec is still 30 Nov in New York.
    expect(new Date(tradingDayStartMs(Date.parse('2026-12-01T03:30:00Z'), 'America/New_York')).toISOString()).toBe('2026-11-30T05:00:00.000Z');
    // The day of the spring change (8 Mar 2026): midnight is still EST; the day is 23 hours.
    expect(new Date(tradingDayStartMs(Date.parse('2026-03-08T20:00:00Z'), 'America/New_York')).toISOString()).toBe('2026-03-08T05:00:00.000Z');
    // The day after it starts on EDT.
    expect(new Date(tradingDayStartMs(Date.parse('2026-03-09T12:00:00Z'), 'America/New_York')).toISOString()).toBe('2026-03-09T04:00:00.000Z');
    expect(new Date(tradingDayStartMs(Date.parse('2026-12-01T10:00:00Z'), 'Asia/Tokyo')).toISOString()).toBe('2026-11-30T15:00:00.000Z');
    expect(tradingDayStartMs(Date.parse('2026-12-01T00:00:00Z'), 'UTC')).toBe(Date.parse('2026-12-01T00:00:00Z'));
  });

  it('where local midnight does not exist, the day starts at the first instant of that date', () => {
    // Santiago moved clocks from 00:00 to 01:00 on 2026-09-06 (CLT −4 → CLST −3).
    const start = tradingDayStartMs(Date.parse('2026-09-06T15:00:00Z'), 'America/Santiago');
    expect(tradingDayKey(start, 'America/Santiago')).toBe('2026-09-06');
    expect(tradingDayKey(start - 1, 'America/Santiago')).toBe('2026-09-05');
  });

  it('property: the start has today\'s key and the instant before it does not', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2035-01-01') }), fc.constantFrom('America/New_York', 'Europe/London', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'), (now, tz) => {
        const start = tradingDayStartMs(now, tz);
        expect(start).toBeLessThanOrEqual(now);
        expect(tradingDayKey(start, tz)).toBe(tradingDayKey(now, tz));
        expect(tradingDayKey(start - 1, tz) < tradingDayKey(now, tz)).toBe(true);
      }),
    );
  });

  it('an invalid configured zone falls back to the default and says so', () => {
    expect(tradingTimeZoneOf('Europe/Berlin')).toEqual({ timeZone: 'Europe/Berlin', source: 'CB_TRADING_TIME_ZONE' });
    expect(tradingTimeZoneOf(undefined).timeZone).toBe('America/New_York');
    expect(tradingTimeZoneOf('Mars/Olympus')).toEqual({ timeZone: 'America/New_York', source: 'default (CB_TRADING_TIME_ZONE "Mars/Olympus" is not a time zone)' });
  });
});

describe('realized P&L today', () => {
  it('sums exactly from the decimal strings, falls back to micro-units, cumulates per minute', () => {
    const dayStart = T0;
    const starts = bucketStartsOf(dayStart, dayStart + 3 * MIN);
    const [s] = realizedToday(
      [
        {
          strategyId: 'mom-1',
          truncated: false,
          events: [
            { atMs: dayStart + 10, realized: '0.1', pnlMicros: 100_000 },
            { atMs: dayStart + 20, realized: '0.2', pnlMicros: 200_000 },
            { atMs: dayStart + 2 * MIN, realized: undefined, pnlMicros: -1_500_000 },
            { atMs: dayStart + 2 * MIN, realized: 'garbage', pnlMicros: 'x' },
            // Yesterday (before the day's start): not today.
            { atMs: dayStart - 1, realized: '1000', pnlMicros: 1_000_000_000 },
          ],
        },
      ],
      starts,
      dayStart,
      dayStart + 3 * MIN,
    );
    expect(s).toMatchObject({ strategyId: 'mom-1', realized: '-1.2', realizedMicros: -1_200_000, events: 3, unreadable: 1, truncated: false });
    // 0.1 + 0.2 is 0.3 exactly, not 0.30000000000000004.
    expect(s!.cumulative).toEqual([0.3, 0.3, -1.2, -1.2]);
  });

  it('a strategy without events today is there with zero (the legend keeps its place)', () => {
    const [s] = realizedToday([{ strategyId: 'idle', truncated: false, events: [] }], bucketStartsOf(T0, T0), T0, T0);
    expect(s).toMatchObject({ realized: '0', realizedMicros: 0, events: 0, cumulative: [0] });
  });
});

describe('the kill switch on the timeline', () => {
  const entry = (id: string, whenMs: number, transition: string, beforeHalted: boolean | null, afterHalted: boolean, extra: Record<string, unknown> = {}) =>
    killSwitchAuditEntry(id, {
      when: new Date(whenMs),
      who: 'op-1',
      transition,
      reason: afterHalted ? 'runaway' : 'fixed',
      before: beforeHalted === null ? null : { halted: beforeHalted, reason: 'r0', updatedBy: 'x' },
      after: { halted: afterHalted, reason: afterHalted ? 'runaway' : 'fixed', updatedBy: 'op-1', via: 'api', ...extra },
      cancelAll: { state: afterHalted ? 'done' : 'skipped', cancelled: 2, failed: 0 },
      publish: { state: 'done', messageId: 'm1' },
    });

  it('reads an audit entry as halt-trigger.ts writes it', () => {
    const e = entry('evt-1', T0, 'halt', false, true, { forced: false });
    expect(e).toMatchObject({
      id: 'evt-1',
      when: new Date(T0).toISOString(),
      who: 'op-1',
      transition: 'halt',
      before: { state: 'active' },
      after: { state: 'halted', reason: 'runaway', updatedBy: 'op-1' },
      via: 'api',
      forced: false,
      cancelAll: { state: 'done', cancelled: 2, failed: 0, detail: null },
      publish: { state: 'done', detail: null },
    });
    // Missing before (first write) and a malformed after: both halted as the functions see it.
    const odd = killSwitchAuditEntry('evt-2', { when: new Date(T0), before: null, after: { halted: 'false' }, transition: 'none' });
    expect(odd.before).toBeNull();
    expect(odd.after).toEqual({ state: 'malformed', reason: null, updatedBy: null });
    expect(opsKillSwitchAuditSchema.safeParse({ generatedAt: 'x', limit: 1, entries: [(({ whenMs: _w, ...r }) => r)(e)] }).success).toBe(true);
  });

  it('halt and resume marks and the halted spans between them', () => {
    const from = T0;
    const to = T0 + 60 * MIN;
    const r = killSwitchTimeline(
      [entry('a', T0 + 10 * MIN, 'halt', false, true), entry('b', T0 + 20 * MIN, 'resume', true, false), entry('n', T0 + 25 * MIN, 'none', false, false), entry('c', T0 + 50 * MIN, 'halt', false, true)],
      { halted: true, updatedAtMs: T0 + 50 * MIN, reason: 'runaway', updatedBy: 'op-1' },
      from,
      to,
    );
    expect(r.markers.map((m) => [m.kind, m.atMs - T0, m.source])).toEqual([
      ['halt', 10 * MIN, 'killSwitchAudit'],
      ['resume', 20 * MIN, 'killSwitchAudit'],
      ['halt', 50 * MIN, 'killSwitchAudit'],
    ]);
    expect(r.haltedSpans).toEqual([
      { fromMs: T0 + 10 * MIN, toMs: T0 + 20 * MIN },
      { fromMs: T0 + 50 * MIN, toMs: to },
    ]);
  });

  it('halted before the window: the span opens at the window start (from the first change\'s before)', () => {
    const r = killSwitchTimeline([entry('b', T0 + 5 * MIN, 'resume', true, false)], { halted: false, updatedAtMs: T0 + 5 * MIN, reason: null, updatedBy: null }, T0, T0 + 10 * MIN);
    expect(r.haltedSpans).toEqual([{ fromMs: T0, toMs: T0 + 5 * MIN }]);
  });

  it('a halt not audited yet shows from the document itself', () => {
    const r = killSwitchTimeline([], { halted: true, updatedAtMs: T0 + 7 * MIN, reason: 'drill', updatedBy: 'op-2' }, T0, T0 + 10 * MIN);
    expect(r.markers).toEqual([expect.objectContaining({ kind: 'halt', atMs: T0 + 7 * MIN, who: 'op-2', reason: 'drill', source: 'killSwitchDocument' })]);
    expect(r.haltedSpans).toEqual([{ fromMs: T0 + 7 * MIN, toMs: T0 + 10 * MIN }]);
    // Nothing changed in the window: the document's state holds throughout; a missing document is halted.
    expect(killSwitchTimeline([], { halted: false, updatedAtMs: T0 - MIN, reason: null, updatedBy: null }, T0, T0 + MIN).haltedSpans).toEqual([]);
    expect(killSwitchTimeline([], null, T0, T0 + MIN).haltedSpans).toEqual([{ fromMs: T0, toMs: T0 + MIN }]);
  });

  it('the newest change before the window gives the state at its start', () => {
    const wasHalted = { state: 'halted' as const, reason: 'r', updatedBy: 'x' };
    // Halted before the window and still: one span, and a reason edit in the window is no new halt.
    const still = killSwitchTimeline([], { halted: true, updatedAtMs: T0 + 3 * MIN, reason: 'edited', updatedBy: 'x' }, T0, T0 + 10 * MIN, wasHalted);
    expect(still.markers).toEqual([]);
    expect(still.haltedSpans).toEqual([{ fromMs: T0, toMs: T0 + 10 * MIN }]);
    // Halted before, resumed in the window but not audited yet.
    const resumed = killSwitchTimeline([], { halted: false, updatedAtMs: T0 + 4 * MIN, reason: 'ok', updatedBy: 'y' }, T0, T0 + 10 * MIN, wasHalted);
    expect(resumed.markers.map((m) => [m.kind, m.source])).toEqual([['resume', 'killSwitchDocument']]);
    expect(resumed.haltedSpans).toEqual([{ fromMs: T0, toMs: T0 + 4 * MIN }]);
  });
});

describe('breaker trips and resets', () => {
  it('latched trips and trips cleared by a reset in the window, once each; resets', () => {
    const trip = (breaker: string, at: number) => ({ tripped: true, breaker, detail: `${breaker} over`, value: 1, threshold: 1, trippedAt: at, intentId: 'i1' });
    const markers = breakerMarkers(
      [
        { strategyId: 's1', breakers: { dailyLoss: trip('dailyLoss', T0 + 5 * MIN), notional: trip('notional', T0 - 60 * MIN) }, audit: [] },
        {
          strategyId: 's2',
          breakers: {},
          audit: [
            { action: 'reset_breaker', breaker: 'orderRate', who: 'op-1', why: 'limit raised', at: new Date(T0 + 9 * MIN), before: trip('orderRate', T0 + 2 * MIN) },
            { action: 'something_else', at: new Date(T0 + 9 * MIN) },
          ],
        },
      ],
      T0,
      T0 + 10 * MIN,
    );
    expect(markers.map((m) => [m.kind, m.strategyId, m.breaker, m.atMs - T0, m.source])).toEqual([
      ['trip', 's2', 'orderRate', 2 * MIN, 'strategyAudit'],
      ['trip', 's1', 'dailyLoss', 5 * MIN, 'breakerState'],
      ['reset', 's2', 'orderRate', 9 * MIN, 'strategyAudit'],
    ]);
    expect(markers[2]).toMatchObject({ label: 'orderRate reset', who: 'op-1', reason: 'limit raised' });
  });
});

describe('ops routes for the dashboard', () => {
  const timeline = { generatedAt: 'x', from: 'x', to: 'x', hours: 6, bucketMs: MIN, bucketStarts: [], series: [], truncated: false, coveredFrom: null, markers: [], haltedSpans: [] };
  function deps(seen: unknown[]): OpsDeps {
    return {
      verifyIdToken: async (t) => ({ uid: t, claims: t === 'nobody' ? {} : { haltgate: { role: t } } }),
      readStatus: () => Promise.reject(new Error('not here')),
      readTimeline: async (q) => (seen.push(q), timeline),
      readPnl: async () => ({ generatedAt: 'x', timeZone: 'UTC', timeZoneSource: 'x', tradingDay: 'x', dayStart: 'x', bucketMs: MIN, bucketStarts: [], strategies: [] }),
      readKillSwitchAudit: async (q) => (seen.push(q), { generatedAt: 'x', limit: q.limit, entries: [] }),
      writeKillSwitch: () => Promise.reject(new Error('no')),
      resetBreaker: () => Promise.reject(new Error('no')),
      haltStrategy: () => Promise.reject(new Error('no')),
      writeSymbolHalt: () => Promise.reject(new Error('no')),
      clock: { now: () => T0 },
      log: memoryEventLogger(),
    };
  }
  const get = (d: OpsDeps, path: string, query: Record<string, string> = {}, token?: string) => handleOpsRequest(d, { method: 'GET', path, authorization: token ? `Bearer ${token}` : undefined, body: undefined, query });

  it('viewers read the timeline, P&L and audit; nobody without a role or token', async () => {
    const seen: unknown[] = [];
    const d = deps(seen);
    for (const path of ['/timeline', '/pnl', '/kill-switch/audit']) {
      expect((await get(d, path)).status).toBe(401);
      expect((await get(d, path, {}, 'nobody')).status).toBe(403);
      const ok = await get(d, path, {}, 'viewer');
      expect(ok.status).toBe(200);
      expect(ok.headers['cache-control']).toBe('no-store');
      expect(ok.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(opsTimelineSchema.safeParse(JSON.parse((await get(d, '/timeline', {}, 'viewer')).body)).success).toBe(true);
    expect(opsPnlSchema.safeParse(JSON.parse((await get(d, '/pnl', {}, 'viewer')).body)).success).toBe(true);
    expect((await handleOpsRequest(d, { method: 'POST', path: '/timeline', authorization: 'Bearer operator', body: {} })).status).toBe(405);
  });

  it('validates the query: hours 1–24 (default 6), audit limit 1–100 (default 20)', async () => {
    const seen: unknown[] = [];
    const d = deps(seen);
    await get(d, '/timeline', {}, 'viewer');
    await get(d, '/timeline', { hours: '24', cachebust: '1' }, 'viewer');
    await get(d, '/kill-switch/audit', {}, 'viewer');
    await get(d, '/kill-switch/audit', { limit: '5' }, 'viewer');
    expect(seen).toEqual([{ hours: 6 }, { hours: 24 }, { limit: 20 }, { limit: 5 }]);
    for (const hours of ['0', '25', '1.5', 'six', '']) {
      const r = await get(d, '/timeline', { hours }, 'viewer');
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_query', issues: [expect.objectContaining({ path: 'hours' })] });
    }
    expect((await get(d, '/kill-switch/audit', { limit: '1000' }, 'viewer')).status).toBe(400);
  });

  it('serves uPlot and the page\'s code as hashed, cacheable assets without auth; unknown names 404', async () => {
    const d = deps([]);
    const a = dashboardAssets();
    expect(a.uplotVersion).toMatch(/^1\.6\./);
    for (const [asset, type] of [
      [a.uplotJs, 'text/javascript; charset=utf-8'],
      [a.uplotCss, 'text/css; charset=utf-8'],
      [a.appJs, 'text/javascript; charset=utf-8'],
      [a.appCss, 'text/css; charset=utf-8'],
    ] as const) {
      const r = await get(d, '/', { asset: asset.name });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe(type);
      expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.body).toBe(asset.body);
      // The page names it with its Subresource Integrity hash.
      expect(dashboardHtml()).toContain(`?asset=${asset.name}" integrity="${asset.integrity}"`);
    }
    expect(a.uplotJs.body.length).toBeLessThan(60_000);
    expect(a.uplotJs.body).toContain('uPlot');
    expect((await get(d, '/', { asset: 'uplot.js' })).status).toBe(404);
    expect((await get(d, '/', { asset: '../package.json' })).status).toBe(404);
    expect((await handleOpsRequest(d, { method: 'POST', path: '/', authorization: undefined, body: undefined, query: { asset: a.appJs.name } })).status).toBe(405);
  });

  it('the page has no inline code; the CSP allows none', () => {
    const html = dashboardHtml();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/);
    expect(DASHBOARD_CSP).toContain("script-src 'self';");
    expect(DASHBOARD_CSP).toContain("style-src 'self';");
    expect(DASHBOARD_CSP).toContain("require-trusted-types-for 'script'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-(inline|eval)/);
    // The page's script never writes HTML.
    expect(dashboardAssets().appJs.body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('express query values are reduced to plain strings', () => {
    expect(plainQuery({ hours: '6', a: ['1', '2'], nested: { x: '1' }, n: 3 })).toEqual({ hours: '6', a: '1' });
    expect(plainQuery(undefined)).toEqual({});
  });
});
