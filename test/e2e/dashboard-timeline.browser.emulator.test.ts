/**
 * The dashboard's charts in a real browser: Debian's chromium (never a downloaded one) driven
 * by playwright-core against the compiled `ops` function under functions-framework — what
 * Cloud Functions 2nd gen runs — on the official Firestore emulator, with Firestore seeded
 * like a trading morning: intents over the last hours with every outcome, a halt and a resume
 * in the kill switch's audit, breaker trips (one still latched, one reset), P&L events today.
 *
 * Through the real UI: an operator signs in with email and password (firebase-tools' Auth
 * emulator; the sign-in panels give way to a sign-out control), the timeline and the P&L chart
 * are drawn by uPlot (canvas, legend labels and values checked against the seeded data), the
 * audit trail and marks are shown; the operator halts by keyboard, the banner flips, the halt
 * is marked on the timeline at once (from the document) and, once `onKillSwitchWrite` — also
 * a functions-framework process, sent the CloudEvent Eventarc would send — has audited it, in
 * the audit trail; then resets the latched breaker. No CSP violation on the way.
 *
 * Auth: firebase-tools' Auth emulator maps every API key to the project it was started for,
 * and the suite's instance is started for the suite project, which the local-stack browser
 * test uses. So this file starts its own instance of the same emulator (firebase-tools'
 * AuthEmulator) for its own project: sign-in, the token's audience and the function's
 * verification then all agree, and nothing is shared with other suites.
 *
 * Screenshot: to a temp dir by default (the work tree is not touched); with
 * HALTGATE_WRITE_SCREENSHOT=docs/dashboard.png it is written there (the README's picture).
 *
 * Without a chromium binary this fails in CI (CI=true) and is skipped loudly elsewhere.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deleteApp, initializeApp, type App } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { Timestamp, type DocumentSnapshot, type Firestore } from 'firebase-admin/firestore';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentJson } from '../../dev/stack/firestore-event-json.js';
import { loadRuntimeConfig } from '../../functions/src/config.js';
import { tradingDayStartMs } from '../../functions/src/domain/trading-day-bounds.js';
import { OPS_EVENTS_TOPIC } from '../../functions/src/topics.js';
import { writeInstanceReport } from '../../functions/src/store/instance-report.js';
import { startTestBackends, type TestBackends } from '../support/backends.js';
import { buildFunctionsIfStale, freePort, startFramework, type Framework } from '../support/functions-framework.js';
import { recordTopic, type TopicRecorder } from '../support/pubsub.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const message = `chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(`browser test cannot run in CI: ${message}`);
  console.warn(`\n*** BROWSER TEST SKIPPED: ${message} ***\n`);
}

const TZ = 'America/New_York';
const MIN = 60_000;
const WEB_API_KEY = 'local-test-web-api-key';
const OPERATOR = { email: 'ops-lead@haltgate.test', password: 'correct-horse-battery' };
const VIEWER = { email: 'risk-viewer@haltgate.test', password: 'staple-battery-horse' };
const STRATEGIES = ['momentum-1', 'mean-revert-2', 'pairs-3'] as const;

interface AuthEmulatorInstance {
  start(): Promise<void>;
  stop(): Promise<void>;
}

let b: TestBackends;
let browser: Browser | undefined;
let auth: AuthEmulatorInstance | undefined;
let authApp: App | undefined;
let ops: Framework;
let trigger: Framework;
let opsEvents: TopicRecorder | undefined;
const started: ChildProcess[] = [];
let shotDir: string | undefined;
const operatorUid = 'op-lead';
let nowMs = 0;
/** What was seeded, for the expectations. */
const seeded = {
  // minute start → outcome key → count
  perMinute: new Map<number, Map<string, number>>(),
  totals: new Map<string, number>(),
  pnlMicros: new Map<string, bigint>(),
};

/** A small deterministic PRNG (mulberry32): the same picture every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function commitAll(db: Firestore, writes: Array<{ path: string; data: Record<string, unknown> }>): Promise<void> {
  for (let i = 0; i < writes.length; i += 450) {
    const batch = db.batch();
    for (const w of writes.slice(i, i + 450)) batch.set(db.doc(w.path), w.data);
    await batch.commit();
  }
}

/** A trading morning, minute by minute, relative to `now`. */
async function seed(db: Firestore, now: number): Promise<void> {
  const rand = prng(42);
  const hours = 6;
  const firstMinute = Math.floor((now - hours * 3_600_000) / MIN) * MIN;
  const halt = { at: now - 190 * MIN, until: now - 165 * MIN };
  const dailyLossTrip = now - 80 * MIN;
  const orderRateTrip = { at: now - 250 * MIN, reset: now - 238 * MIN };
  const writes: Array<{ path: string; data: Record<string, unknown> }> = [];
  let n = 0;
  // From five minutes into the window: the page asks a little later, when the window has moved on.
  for (let minute = firstMinute + 5 * MIN; minute < now - MIN; minute += MIN) {
    // A busy open, a lull, a pick-up: 2–14 intents a minute.
    const phase = (minute - firstMinute) / (hours * 3_600_000);
    const rate = Math.max(1, Math.round(7 + 5 * Math.sin(phase * Math.PI * 3.2) + rand() * 4 - 2));
    for (let k = 0; k < rate; k++) {
      const at = minute + Math.floor(rand() * (MIN - 1));
      const strategyId = STRATEGIES[Math.floor(rand() * STRATEGIES.length)]!;
      const r = rand();
      let state: string;
      let reason: string | null = null;
      if (at >= halt.at && at < halt.until) [state, reason] = ['refused', 'halted'];
      else if (strategyId === 'mean-revert-2' && at >= dailyLossTrip) [state, reason] = ['refused', 'breaker:dailyLoss'];
      else if (strategyId === 'momentum-1' && at >= orderRateTrip.at && at < orderRateTrip.reset) [state, reason] = ['refused', 'breaker:orderRate'];
      else if (r < 0.9) state = 'submitted';
      else if (r < 0.95) state = 'rejected';
      else if (r < 0.99) [state, reason] = ['refused', 'expired'];
      // Rare, and only lately: older ones the reconciler has settled.
      else state = at > now - 20 * MIN ? 'unknown' : 'abandoned';
      const key = state === 'refused' ? `refused:${reason}` : state;
      const bucket = Math.floor(at / MIN) * MIN;
      const m = seeded.perMinute.get(bucket) ?? new Map<string, number>();
      m.set(key, (m.get(key) ?? 0) + 1);
      seeded.perMinute.set(bucket, m);
      seeded.totals.set(key, (seeded.totals.get(key) ?? 0) + 1);
      n += 1;
      const intentId = `${strategyId.split('-')[0]}-${String(n).padStart(5, '0')}`;
      const symbol = ['AAPL', 'MSFT', 'NVDA', 'SPY', 'QQQ', 'AMD'][Math.floor(rand() * 6)]!;
      writes.push({
        path: `submissions/${intentId}`,
        data: {
          intentId,
          strategyId,
          state,
          reason,
          claimedAt: state === 'refused' ? null : Timestamp.fromMillis(at - 800),
          updatedAt: Timestamp.fromMillis(at),
          intent: { intentId, strategyId, symbol, side: rand() < 0.5 ? 'buy' : 'sell', qty: 1 + Math.floor(rand() * 50), type: 'market', timeInForce: 'day', createdAt: new Date(at - 1000).toISOString() },
        },
      });
    }
  }

  // The kill switch: opened this morning, halted for a latency spike, resumed.
  const audit = (id: string, when: number, transition: string, before: Record<string, unknown> | null, after: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    path: `ops/killSwitch/audit/${id}`,
    data: {
      eventId: id,
      before,
      after,
      who: after.updatedBy,
      reason: after.reason,
      when: Timestamp.fromMillis(when),
      recordedAt: Timestamp.fromMillis(when + 400),
      transition,
      cancelAll: { state: 'skipped' },
      publish: { state: 'done', messageId: `m-${id}` },
      ...extra,
    },
  });
  const open = { halted: false, reason: 'pre-market checks done', updatedBy: 'op-dana', updatedAt: Timestamp.fromMillis(now - 340 * MIN), via: 'cli' };
  const halted = { halted: true, reason: 'broker latency spike (p99 > 4 s)', updatedBy: 'op-lead', updatedAt: Timestamp.fromMillis(halt.at), via: 'api' };
  const resumed = { halted: false, reason: 'latency back to normal', updatedBy: 'op-lead', updatedAt: Timestamp.fromMillis(halt.until), via: 'api' };
  writes.push(audit('evt-open', now - 340 * MIN, 'resume', { halted: true, reason: 'overnight', updatedBy: 'op-dana' }, open));
  writes.push(audit('evt-halt', halt.at, 'halt', open, halted, { cancelAll: { state: 'done', cancelled: 3, failed: 0 } }));
  writes.push(audit('evt-resume', halt.until, 'resume', halted, resumed));
  writes.push({ path: 'ops/killSwitch', data: resumed });

  // Breakers: mean-revert-2's daily loss still latched; momentum-1's order rate tripped and reset.
  writes.push({
    path: 'strategies/mean-revert-2',
    data: {
      breakers: {
        dailyLoss: { tripped: true, breaker: 'dailyLoss', detail: `realized P&L today is -612.4, at or below the daily limit of -500`, value: -612.4, threshold: -500, trippedAt: dailyLossTrip, intentId: 'mean-01234' },
      },
    },
  });
  writes.push({ path: 'strategies/momentum-1', data: { breakers: {} } });
  writes.push({ path: 'strategies/pairs-3', data: { breakers: {} } });
  writes.push({
    path: 'strategies/momentum-1/audit/reset-1',
    data: {
      action: 'reset_breaker',
      strategyId: 'momentum-1',
      breaker: 'orderRate',
      who: 'op-dana',
      why: 'burst from a restart, limit confirmed',
      at: Timestamp.fromMillis(orderRateTrip.reset),
      before: { tripped: true, breaker: 'orderRate', detail: '31 claims in 60 s, over the limit of 30', value: 31, threshold: 30, trippedAt: orderRateTrip.at, intentId: 'momentum-00420' },
      statsBefore: null,
    },
  });

  // Realized P&L today (closing fills), from the trading day's start or six hours back.
  const dayStart = tradingDayStartMs(now, TZ);
  const pnlFrom = Math.max(dayStart, now - 6 * 3_600_000);
  const drift: Record<string, number> = { 'momentum-1': 9, 'mean-revert-2': -14, 'pairs-3': 2.5 };
  for (const strategyId of STRATEGIES) {
    let total = 0n;
    for (let i = 0; i < 28; i++) {
      const at = pnlFrom + Math.floor(((i + rand()) / 28) * (now - pnlFrom - MIN));
      const cents = Math.round((drift[strategyId]! + (rand() - 0.45) * 60) * 100);
      const micros = BigInt(cents) * 10_000n;
      total += micros;
      const fillId = `${strategyId}-fill-${i}`;
      // The decimal string fills-store.ts writes (money at 18 decimals, trailing zeros trimmed).
      const realized = (cents < 0 ? '-' : '') + `${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`.replace(/\.?0+$/, '');
      writes.push({
        path: `strategies/${strategyId}/pnl/${fillId}`,
        data: { fillId, orderId: `o-${fillId}`, intentId: `i-${fillId}`, symbol: 'SPY', closedQty: '10', realized: realized === '' || realized === '-' ? '0' : realized, pnlMicros: Number(micros), at: Timestamp.fromMillis(at) },
      });
    }
    seeded.pnlMicros.set(strategyId, total);
  }
  // The reconciler's last run, as reconcile-store.ts writes it.
  writes.push({ path: 'ops/reconciler', data: { lastRunAt: Timestamp.fromMillis(now - 40_000), scanned: 4, submitted: 2, abandoned: 1, stillUnknown: 1, markedUnknown: 0, errors: 0, durationMs: 812, problems: [] } });
  await commitAll(db, writes);

  // What executeIntent reports it runs with (the real writer, the test's configuration).
  await writeInstanceReport(db, { function: 'executeIntent', instanceId: '00a1f3c9e2', version: '0.1.0', revision: null, startedAtMs: now - 300 * MIN, config: loadRuntimeConfig(b.env) }, now);
}

async function signIn(page: Page, who: { email: string; password: string }): Promise<void> {
  await page.goto(ops.url);
  await expect.poll(() => page.locator('#banner-state').textContent(), { timeout: 10_000 }).toBe('UNKNOWN');
  expect(await page.locator('#signin-form').isVisible()).toBe(true);
  expect(await page.locator('#app').isVisible()).toBe(false);
  await page.locator('#signin-email').fill(who.email);
  await page.locator('#signin-password').fill(who.password);
  await page.locator('#signin-password').press('Enter');
  await expect.poll(() => page.locator('#who').textContent(), { timeout: 10_000 }).toContain(who.email);
}

/** Installed before any page script: records every CSP violation the page raises. */
const WATCH_CSP = `window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`;

/** The Firestore CloudEvent Eventarc delivers for a write of ops/killSwitch (JSON data, as the emulator suite sends it). */
function killSwitchEvent(id: string, before: DocumentSnapshot, after: DocumentSnapshot): Record<string, unknown> {
  const database = `projects/${b.projectId}/databases/(default)`;
  return {
    id,
    specversion: '1.0',
    source: `//firestore.googleapis.com/${database}`,
    type: 'google.cloud.firestore.document.v1.written',
    subject: 'documents/ops/killSwitch',
    time: (after.updateTime ?? Timestamp.now()).toDate().toISOString(),
    datacontenttype: 'application/json',
    project: b.projectId,
    database: '(default)',
    namespace: '(default)',
    document: 'ops/killSwitch',
    location: 'local',
    data: { oldValue: documentJson(before, database), value: documentJson(after, database) },
  };
}

const moneyText = (micros: bigint) => {
  const n = Number(micros) / 1e6;
  return (n > 0 ? '+' : n < 0 ? '\u2212' : '') + Math.abs(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
};

describe.skipIf(!haveChromium)('ops dashboard charts in chromium (ops under functions-framework)', () => {
  beforeAll(async () => {
    buildFunctionsIfStale();
    b = await startTestBackends();
    // This file's own firebase-tools Auth emulator, for this file's project (see the header).
    const require = createRequire(import.meta.url);
    const { AuthEmulator, SingleProjectMode } = require('firebase-tools/lib/emulator/auth/index.js') as {
      AuthEmulator: new (args: { projectId: string; host: string; port: number; singleProjectMode: number }) => AuthEmulatorInstance;
      SingleProjectMode: { NO_WARNING: number };
    };
    const authPort = await freePort();
    const authHost = `127.0.0.1:${authPort}`;
    auth = new AuthEmulator({ projectId: b.projectId, host: '127.0.0.1', port: authPort, singleProjectMode: SingleProjectMode.NO_WARNING });
    await auth.start();
    process.env.FIREBASE_AUTH_EMULATOR_HOST = authHost;
    authApp = initializeApp({ projectId: b.projectId }, `dashboard-timeline-auth-${process.pid}`);
    const admin = getAuth(authApp);
    await admin.createUser({ uid: operatorUid, email: OPERATOR.email, password: OPERATOR.password });
    await admin.setCustomUserClaims(operatorUid, { haltgate: { role: 'operator' } });
    await admin.createUser({ uid: 'risk-viewer', email: VIEWER.email, password: VIEWER.password });
    await admin.setCustomUserClaims('risk-viewer', { haltgate: { role: 'viewer' } });

    opsEvents = await recordTopic(b.projectId, OPS_EVENTS_TOPIC);
    const env = { ...b.env, FIREBASE_AUTH_EMULATOR_HOST: authHost, OPS_WEB_API_KEY: WEB_API_KEY, CB_TRADING_TIME_ZONE: TZ, TZ: 'UTC' };
    [ops, trigger] = await Promise.all([
      startFramework({ target: 'ops', signatureType: 'http', env, started }),
      startFramework({ target: 'onKillSwitchWrite', signatureType: 'cloudevent', env: { ...env, PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST ?? '' }, started }),
    ]);

    nowMs = Date.now();
    await seed(b.db, nowMs);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    shotDir = await mkdtemp(path.join(tmpdir(), 'haltgate-dashboard-'));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await opsEvents?.close();
    if (authApp) await deleteApp(authApp);
    await auth?.stop();
    await b?.stop();
    if (shotDir) await rm(shotDir, { recursive: true, force: true });
  });

  it('operator: charts drawn from the data, audit trail, halt by keyboard marked on the timeline and audited, breaker reset', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    await page.addInitScript(WATCH_CSP);
    const failedRequests: string[] = [];
    page.on('requestfailed', (r) => failedRequests.push(r.url()));
    try {
      await signIn(page, OPERATOR);
      // Signed in: the sign-in panels are gone, a sign-out control is there, the data is.
      expect(await page.locator('#who').textContent()).toBe(`Signed in as ${OPERATOR.email} (operator)`);
      expect(await page.locator('#signin-panels').isVisible()).toBe(false);
      expect(await page.locator('#signout-button').isVisible()).toBe(true);
      const banner = page.locator('#banner-state');
      await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('ACTIVE');

      // Execution: what executeIntent reported, not this function's own view.
      await expect.poll(() => page.locator('#exec-mode').textContent()).toBe('PAPER');
      expect(await page.locator('#exec-source').textContent()).toContain('executeIntent instance 00a1f3c9e2');

      // The timeline, drawn by uPlot: a canvas with pixels on it and uPlot's legend.
      const chart = page.locator('#timeline-chart .uplot');
      await chart.locator('canvas').waitFor({ timeout: 15_000 });
      const legend = async (root: string) =>
        page.evaluate<Array<[string, string]>>(
          `[...document.querySelectorAll(${JSON.stringify(root)} + ' .u-legend .u-series')].map((tr) => [tr.querySelector('.u-label')?.textContent ?? '', tr.querySelector('.u-value')?.textContent ?? ''])`,
        );
      const labelOf = (key: string) => (key.startsWith('refused:') ? `refused: ${key.slice('refused:'.length)}` : key);
      // Outcome order; refusals by how often they happened.
      const refusedKeys = [...seeded.totals.entries()].filter(([k]) => k.startsWith('refused:')).sort(([ka, a], [kb, b2]) => b2 - a || ka.localeCompare(kb)).map(([k]) => k);
      expect(refusedKeys).toHaveLength(4);
      expect((await legend('#timeline-chart')).map(([l]) => l)).toEqual(['time', 'submitted', ...refusedKeys.map(labelOf), 'rejected', 'unknown', 'abandoned']);
      // Not hovered: each series shows its window total, as seeded.
      const totals = Object.fromEntries((await legend('#timeline-chart')).slice(1));
      expect(totals).toEqual({ unknown: '0', ...Object.fromEntries([...seeded.totals.entries()].map(([k, v]) => [labelOf(k), String(v)])) });
      const inked = await page.evaluate<number>(
        "(() => { const c = document.querySelector('#timeline-chart canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) n++; return n / (c.width * c.height); })()",
      );
      expect(inked).toBeGreaterThan(0.05);
      // Hovered: the counts of that one minute.
      const box = (await page.locator('#timeline-chart .u-over').boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.6);
      const hovered = Object.fromEntries(await legend('#timeline-chart'));
      // The minute under the cursor, as the page labels it (the browser's own time format).
      const minute = await page.evaluate<number | null>(
        `(() => { const text = document.querySelector('#timeline-chart .u-legend .u-series .u-value')?.textContent;
          return ${JSON.stringify([...seeded.perMinute.keys()])}.find((ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) === text) ?? null; })()`,
      );
      expect(minute).not.toBeNull();
      const counts = seeded.perMinute.get(minute!)!;
      expect(hovered.submitted).toBe(String(counts.get('submitted') ?? 0));
      expect(hovered.rejected).toBe(String(counts.get('rejected') ?? 0));
      await page.mouse.move(0, 0);

      // Marks: the seeded halt and resumes, the two trips (one latched, one reset) and the reset.
      const flags = async () => page.evaluate<Record<string, number>>("[...document.querySelectorAll('#timeline-chart .u-over .tl-flag')].reduce((a, f) => (a[f.dataset.kind] = (a[f.dataset.kind] || 0) + 1, a), {})");
      expect(await flags()).toEqual({ halt: 1, resume: 2, trip: 2, reset: 1 });
      expect(await page.locator('#timeline-chart .tl-flag.halt').getAttribute('title')).toContain('broker latency spike');
      expect(await page.locator('#events-body tr[data-kind="trip"]').allTextContents()).toEqual([expect.stringContaining('TRIP dailyLoss'), expect.stringContaining('TRIP orderRate')]);
      expect(await page.locator('#timeline-summary').textContent()).toMatch(/1 halt\(s\), 2 resume\(s\), 2 breaker trip\(s\), 1 breaker reset\(s\)/);

      // Realized P&L today: uPlot lines with the strategies in its legend, totals exact in the table.
      await page.locator('#pnl-chart .uplot canvas').waitFor();
      const pnlLegend = Object.fromEntries((await legend('#pnl-chart')).slice(1));
      for (const s of STRATEGIES) {
        expect(pnlLegend[s]).toBe(moneyText(seeded.pnlMicros.get(s)!));
        expect(await page.locator(`#pnl-body tr[data-strategy-id="${s}"] td`).nth(1).textContent()).toBe(moneyText(seeded.pnlMicros.get(s)!));
      }
      expect(await page.locator('#pnl-day').textContent()).toContain(`(${TZ})`);

      // The audit trail: who, when, before → after, reason, side effects.
      const auditRows = page.locator('#audit-body tr');
      await expect.poll(() => auditRows.count()).toBe(3);
      expect(await page.locator('#audit-body tr[data-audit-id="evt-halt"]').textContent()).toMatch(/op-lead · api.*ACTIVE → HALTED.*broker latency spike.*cancel-all done \(3 cancelled\)/);
      expect(await page.locator('#audit-body tr[data-audit-id="evt-resume"]').textContent()).toMatch(/HALTED → ACTIVE.*latency back to normal/);

      // Accessible controls: every input has a label; the chart has a name and a text summary.
      const unlabelled = await page.evaluate<string[]>("[...document.querySelectorAll('input, textarea, select')].filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id)");
      expect(unlabelled).toEqual([]);
      expect(await page.locator('#timeline-chart').getAttribute('role')).toBe('img');

      // No layout jump on refresh: after the next polls of status (3 s) and charts (10 s) every part is where it was.
      const boxes = () => Promise.all(['#banner', '#halt-form', '#timeline-chart', '#pnl-chart', '#strategies', '#audit-body', '#submissions-body'].map((sel) => page.locator(sel).boundingBox()));
      const placed = await boxes();
      await page.waitForTimeout(10_500);
      expect(await boxes()).toEqual(placed);

      // HALT by keyboard: type the reason, Tab to HALT, Enter, confirm.
      const beforeSnap = await b.db.doc('ops/killSwitch').get();
      const reason = 'desk drill: mean-revert-2 fills look wrong';
      await page.locator('#halt-reason').focus();
      await page.keyboard.type(reason);
      const confirmText = new Promise<string>((resolve) =>
        page.once('dialog', (d) => {
          resolve(d.message());
          void d.accept();
        }),
      );
      await page.keyboard.press('Tab');
      expect(await page.evaluate<string>('document.activeElement.id')).toBe('halt-button');
      await page.keyboard.press('Enter');
      expect(await confirmText).toContain(reason);
      await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('HALTED');
      expect(await page.locator('#banner').getAttribute('class')).toBe('halted');
      expect(await page.locator('#banner-detail').textContent()).toContain(reason);
      // On the timeline at once, from the document (the audit is not written yet).
      await expect.poll(flags, { timeout: 15_000 }).toMatchObject({ halt: 2 });
      expect(await page.locator('#events-body tr[data-kind="halt"]').first().textContent()).toContain(reason);

      // Eventarc's delivery to onKillSwitchWrite; the trigger audits the halt.
      const afterSnap = await b.db.doc('ops/killSwitch').get();
      const delivered = await fetch(trigger.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' }, body: JSON.stringify(killSwitchEvent('evt-ui-halt', beforeSnap, afterSnap)) });
      expect(delivered.ok, trigger.output()).toBe(true);
      const uiHalt = page.locator('#audit-body tr[data-audit-id="evt-ui-halt"]');
      await expect.poll(() => uiHalt.count(), { timeout: 15_000 }).toBe(1);
      await expect.poll(() => uiHalt.textContent(), { timeout: 15_000 }).toContain('runners told: done');
      expect(await uiHalt.textContent()).toMatch(new RegExp(`${operatorUid} · api.*ACTIVE → HALTED.*${reason}`));
      expect(await page.locator('#audit-body tr').first().getAttribute('data-audit-id')).toBe('evt-ui-halt');
      // Still one new halt on the timeline (now from the audit), and a halted span to the right edge.
      await expect.poll(flags, { timeout: 15_000 }).toMatchObject({ halt: 2 });
      expect((await opsEvents!.waitFor(1)).map((m) => m.json)).toEqual([expect.objectContaining({ type: 'halt', changeId: 'evt-ui-halt' })]);

      // The README's picture (opt-in), else a temp file.
      const shot = process.env.HALTGATE_WRITE_SCREENSHOT ? path.resolve(process.env.HALTGATE_WRITE_SCREENSHOT) : path.join(shotDir!, 'dashboard.png');
      await mkdir(path.dirname(shot), { recursive: true });
      // From the banner down to the audit trail (the long tables below are no picture).
      const bottom = await page.evaluate<number>("Math.ceil(document.getElementById('audit-title').closest('.row').getBoundingClientRect().bottom + window.scrollY) + 16");
      await page.screenshot({ path: shot, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: bottom } });
      expect(existsSync(shot)).toBe(true);

      // Reset the latched breaker: reason typed, Enter.
      const input = page.locator('#reset-mean-revert-2-dailyLoss');
      await input.fill('limit raised after review');
      await input.press('Enter');
      await expect.poll(() => page.locator('#message').textContent(), { timeout: 10_000 }).toBe('Breaker dailyLoss of mean-revert-2 cleared.');
      expect((await b.db.doc('strategies/mean-revert-2').get()).get('breakers')).toEqual({});
      await expect.poll(() => page.locator('#strategies').textContent(), { timeout: 10_000 }).not.toContain('TRIPPED');
      // The reset is marked on the timeline (the cleared trip stays, from the reset's audit entry).
      await expect.poll(flags, { timeout: 15_000 }).toEqual({ halt: 2, resume: 2, trip: 2, reset: 2 });

      expect(await page.evaluate<string[]>('window.__csp')).toEqual([]);
      expect(failedRequests).toEqual([]);

      // Sign out: back to the sign-in panels, no data on screen.
      await page.locator('#signout-button').click();
      await expect.poll(() => page.locator('#signin-form').isVisible()).toBe(true);
      expect(await page.locator('#app').isVisible()).toBe(false);
      expect(await page.locator('#account').isVisible()).toBe(false);
    } finally {
      await page.close();
    }
  }, 120_000);

  it('viewer: sees the charts, may not halt', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await page.addInitScript(WATCH_CSP);
    try {
      await signIn(page, VIEWER);
      expect(await page.locator('#who').textContent()).toBe(`Signed in as ${VIEWER.email} (viewer)`);
      await page.locator('#timeline-chart .uplot canvas').waitFor({ timeout: 15_000 });
      await page.locator('#halt-reason').fill('viewer tries');
      page.once('dialog', (d) => void d.accept());
      await page.locator('#halt-button').click();
      await expect.poll(() => page.locator('#message').textContent(), { timeout: 10_000 }).toMatch(/Halt failed: role viewer/);
      expect(await page.evaluate<string[]>('window.__csp')).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
