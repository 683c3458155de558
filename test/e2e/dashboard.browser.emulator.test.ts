/**
 * The ops dashboard in a real browser against the local stack, as `npm start` runs it:
 * playwright-core drives Debian's `chromium` (which the vitest global setup installs with
 * apt-get where it can) against the `ops`, `executeIntent` and `onKillSwitchWrite` function
 * processes, the official Firestore, Pub/Sub and Auth emulators and the Alpaca simulator. The
 * operator signs in with email and password (firebase-tools' Auth emulator), halts with a
 * reason, sees the banner flip; a new intent published through Pub/Sub ends `refused:
 * halted` in Firestore and in the page; the trigger audits the halt and cancels open orders;
 * the operator resumes.
 *
 * The stack runs in the suite's own project (demo-haltgate): the Auth emulator serves
 * email/password sign-in for that project only (it maps every API key to it).
 *
 * The halted page is saved as test-results/dashboard-halted.png (git-ignored): the test never
 * touches the work tree.
 *
 * Without a chromium binary this fails in CI (CI=true) and is skipped loudly elsewhere.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PubSub } from '@google-cloud/pubsub';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUITE_PROJECT_ID } from '../../dev/emulators/suite.js';
import { startLocalStack, type LocalStack } from '../../dev/stack/stack.js';
import { publishIntent } from '../../runner/src/index.js';
import { clearAuth, clearFirestore } from '../support/emulators.js';
import { createTestIssuer } from '../support/id-tokens.js';
import { makeIntent } from '../support/intents.js';
import { startOpsServer } from '../support/ops-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Git-ignored: the README's picture (docs/dashboard.png) comes from dashboard-timeline.browser.emulator.test.ts, on request. */
const SCREENSHOT = fileURLToPath(new URL('../../test-results/dashboard-halted.png', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const message = `chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(`browser test cannot run in CI: ${message}`);
  console.warn(`\n*** BROWSER TEST SKIPPED: ${message} ***\n`);
}

let stack: LocalStack | undefined;
let browser: Browser | undefined;
let pubsub: PubSub | undefined;

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto(stack!.dashboardUrl!);
  // No token yet: the API answers 401 and the page says so.
  await expect.poll(() => page.locator('#banner-state').textContent(), { timeout: 10_000 }).toBe('UNKNOWN');
  expect(await page.locator('#signin-form').isVisible()).toBe(true);
  await page.locator('#signin-email').fill(email);
  await page.locator('#signin-password').fill(password);
  await page.locator('#signin-button').click();
  await expect.poll(() => page.locator('#message').textContent(), { timeout: 10_000 }).toContain(`Signed in as ${email}`);
  expect(await page.locator('#signin-password').inputValue()).toBe('');
}

describe.skipIf(!haveChromium)('ops dashboard in chromium against the local stack', () => {
  beforeAll(async () => {
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    // Whatever an earlier run on this suite left in the suite's project.
    await clearFirestore(SUITE_PROJECT_ID);
    await clearAuth(SUITE_PROJECT_ID);
    stack = await startLocalStack({
      projectId: SUITE_PROJECT_ID,
      only: ['executeIntent', 'ops', 'onKillSwitchWrite'],
      openKillSwitch: { reason: 'trading enabled for the browser drill', updatedBy: 'local-operator' },
      quiet: true,
      schedules: 'off',
      // Orders rest at the broker, so the halt's cancel-all has something to cancel.
      sim: { fillMode: 'none' },
    });
    pubsub = new PubSub({ projectId: stack.projectId, apiEndpoint: stack.pubsubHost, emulatorMode: true });
    // Something to show in the breakers table.
    await stack.db.doc('strategies/momentum-1').set({ breakers: {} });
    await stack.db.doc('strategies/mean-revert-2').set({
      breakers: {
        dailyLoss: { tripped: true, breaker: 'dailyLoss', detail: 'realized P&L -612.40 <= -500', value: -612.4, threshold: 500, trippedAt: Date.now() - 600_000, intentId: 'mr2-0042' },
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await pubsub?.close();
    await stack?.stop();
  });

  it('operator signs in, halts with a reason, a new intent is refused: halted, the trigger audits and cancels, resume', async () => {
    const s = stack!;
    expect(s.auth).not.toBeNull();
    const operator = s.auth!.operator;

    // An order before the halt: submitted, resting at the broker.
    const before = makeIntent({ strategyId: 'momentum-1', symbol: 'MSFT', qty: 5, type: 'limit', limitPrice: 400 });
    await publishIntent(before, { topic: 'order-intents', pubsub: pubsub! });
    await waitFor('the first order to be submitted', async () => ((await s.db.doc(`submissions/${before.intentId}`).get()).get('state') === 'submitted' ? true : null));

    const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
    const signIns: Array<{ url: string; status: number }> = [];
    page.on('response', (r) => {
      if (r.url().includes('accounts:signInWithPassword')) signIns.push({ url: r.url(), status: r.status() });
    });
    expect(s.auth!.signInWorks).toBe(true);
    await signIn(page, operator.email, operator.password);
    const banner = page.locator('#banner-state');
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('ACTIVE');
    // The sign-in went to firebase-tools' Auth emulator, and no token ever sits in the URL.
    expect(signIns).toEqual([{ url: `http://${s.auth!.host}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=${s.auth!.webApiKey}`, status: 200 }]);
    expect(page.url()).not.toContain('token');

    // Accessible form controls: every visible input has a label.
    const unlabelled = await page.evaluate<string[]>(
      "[...document.querySelectorAll('input, textarea')].filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id)",
    );
    expect(unlabelled).toEqual([]);

    // A HALT without a reason is refused by the page itself.
    await page.locator('#halt-button').click();
    expect(await page.evaluate<boolean>("document.getElementById('halt-reason').validity.valueMissing")).toBe(true);
    expect(await banner.textContent()).toBe('ACTIVE');

    // Keyboard only: type the reason, tab to HALT, press Enter, confirm.
    const reason = 'browser drill: runaway momentum-1';
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
    await expect.poll(() => page.locator('#banner-detail').textContent()).toContain(reason);
    expect(await page.locator('#banner-detail').textContent()).toContain(operator.uid);
    expect((await s.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: true, reason, updatedBy: operator.uid });

    // A new intent through Pub/Sub is refused: halted, in Firestore and in the page.
    const refused = makeIntent({ strategyId: 'momentum-1', symbol: 'AAPL', qty: 2 });
    await publishIntent(refused, { topic: 'order-intents', pubsub: pubsub! });
    const record = await waitFor('the refused record', async () => {
      const snap = await s.db.doc(`submissions/${refused.intentId}`).get();
      return snap.exists ? snap.data()! : null;
    });
    expect(record).toMatchObject({ state: 'refused', reason: 'halted' });
    const row = page.locator(`tr[data-intent-id="${refused.intentId}"]`);
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('refused: halted');

    // The trigger (the real onKillSwitchWrite process) audited the halt and cancelled the resting order.
    const haltAudit = await waitFor('the halt audit', async () => {
      const docs = (await s.db.collection('ops/killSwitch/audit').where('transition', '==', 'halt').get()).docs;
      const d = docs[0]?.data();
      return d && (d.cancelAll as { state?: string }).state === 'done' ? d : null;
    });
    expect(haltAudit).toMatchObject({ who: operator.uid, reason, after: { halted: true, reason }, cancelAll: { state: 'done', cancelled: 1 } });
    expect(s.sim.requestLog.filter((r) => r.method === 'DELETE' && r.path === '/v2/orders')).toHaveLength(1);
    expect(s.sim.orders().every((o) => o.status === 'canceled')).toBe(true);

    expect(await page.locator('text=Reset dailyLoss').count()).toBe(1);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);

    // Resume.
    await page.locator('#resume-reason').fill('drill over');
    page.once('dialog', (d) => void d.accept());
    await page.locator('#resume-button').click();
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('ACTIVE');
    expect((await s.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, reason: 'drill over', updatedBy: operator.uid });
    await waitFor('the resume audit', async () => ((await s.db.collection('ops/killSwitch/audit').where('reason', '==', 'drill over').get()).docs[0]?.get('transition') === 'resume' ? true : null));
    await page.close();
  }, 60_000);

  it('operator halts one strategy with its button (breaker manual), resets it; switches to reduce-only and back', async () => {
    const s = stack!;
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
    try {
      await signIn(page, s.auth!.operator.email, s.auth!.operator.password);
      const banner = page.locator('#banner-state');
      await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('ACTIVE');

      // A halt button per strategy, next to the breakers; a reason is required.
      const haltButton = page.getByRole('button', { name: 'Halt strategy momentum-1' });
      await expect.poll(() => haltButton.count(), { timeout: 10_000 }).toBe(1);
      await haltButton.click();
      expect(await page.evaluate<boolean>("document.getElementById('halt-strategy-momentum-1').validity.valueMissing")).toBe(true);
      await page.locator('#halt-strategy-momentum-1').fill('browser drill: momentum-1 misbehaves');
      const asked = new Promise<string>((resolve) => page.once('dialog', (d) => (resolve(d.message()), void d.accept())));
      await haltButton.click();
      expect(await asked).toContain('Halt strategy momentum-1');
      await expect.poll(() => page.locator('#message').textContent(), { timeout: 10_000 }).toContain('Strategy momentum-1 halted');
      expect((await s.db.doc('strategies/momentum-1').get()).get('breakers.manual')).toMatchObject({ by: s.auth!.operator.uid, reason: 'browser drill: momentum-1 misbehaves' });
      await expect.poll(() => page.locator('text=HALTED by operator').count(), { timeout: 10_000 }).toBe(1);

      // Its intents are refused breaker:manual; the trading banner is untouched.
      const refused = makeIntent({ strategyId: 'momentum-1', symbol: 'AAPL', qty: 1 });
      await publishIntent(refused, { topic: 'order-intents', pubsub: pubsub! });
      const record = await waitFor('the refused record', async () => {
        const snap = await s.db.doc(`submissions/${refused.intentId}`).get();
        return snap.exists ? snap.data()! : null;
      });
      expect(record).toMatchObject({ state: 'refused', reason: 'breaker:manual' });
      expect(await banner.textContent()).toBe('ACTIVE');

      // Reset the same way as any breaker.
      await page.locator('#reset-momentum-1-manual').fill('drill over');
      await page.getByRole('button', { name: 'Reset breaker manual of momentum-1' }).click();
      await expect.poll(() => page.locator('#message').textContent(), { timeout: 10_000 }).toContain('Breaker manual of momentum-1 cleared');
      expect((await s.db.doc('strategies/momentum-1').get()).get('breakers')).toEqual({});

      // Reduce-only: the banner shows the posture, resume ends it.
      await page.locator('#reduce-reason').fill('wind down before the close');
      page.once('dialog', (d) => void d.accept());
      await page.locator('#reduce-button').click();
      await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('REDUCE-ONLY');
      expect(await page.locator('#banner').getAttribute('data-posture')).toBe('reduce_only');
      expect((await s.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, reduceOnly: true, updatedBy: s.auth!.operator.uid });
      await page.locator('#resume-reason').fill('normal trading');
      await page.locator('#resume-force').check();
      page.once('dialog', (d) => void d.accept());
      await page.locator('#resume-button').click();
      await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('ACTIVE');
      expect((await s.db.doc('ops/killSwitch').get()).get('reduceOnly')).toBeUndefined();
    } finally {
      await page.close();
    }
  }, 60_000);

  it('a viewer may look but not halt', async () => {
    const s = stack!;
    const page = await browser!.newPage();
    try {
      await signIn(page, s.auth!.viewer.email, s.auth!.viewer.password);
      await expect.poll(() => page.locator('#banner-state').textContent(), { timeout: 10_000 }).toMatch(/^(HALTED|ACTIVE)$/);
      await page.locator('#halt-reason').fill('viewer tries');
      page.once('dialog', (d) => void d.accept());
      await page.locator('#halt-button').click();
      await expect.poll(() => page.locator('#message').textContent()).toMatch(/Halt failed: role viewer/);
      // Signed in, the page offers sign-out instead of the sign-in form; signing out reloads it.
      expect(await page.locator('#signin-form').isVisible()).toBe(false);
      await page.locator('#signout-button').click();
      await expect.poll(() => page.locator('#signin-form').isVisible(), { timeout: 10_000 }).toBe(true);
      // A wrong password is refused by the emulator, and the page says so.
      await page.locator('#signin-email').fill(s.auth!.operator.email);
      await page.locator('#signin-password').fill('not-the-password');
      await page.locator('#signin-button').click();
      // The emulator says INVALID_PASSWORD; Firebase Auth with email-enumeration protection, INVALID_LOGIN_CREDENTIALS.
      await expect.poll(() => page.locator('#message').textContent()).toMatch(/Sign-in failed: (INVALID_PASSWORD|INVALID_LOGIN_CREDENTIALS)/);
    } finally {
      await page.close();
    }
  }, 30_000);

  it('deployed (no emulator): sign-in goes to Firebase Auth at identitytoolkit.googleapis.com', async () => {
    // The same page served without FIREBASE_AUTH_EMULATOR_HOST, Google's endpoint stood in for by a route.
    const issuer = createTestIssuer(stack!.projectId);
    const ops = await startOpsServer(stack!.db, issuer.verifyIdToken, { webApiKey: 'test-web-api-key', authEmulatorHost: null });
    const page = await browser!.newPage();
    const seen: Array<{ url: string; body: unknown }> = [];
    try {
      await page.route('https://identitytoolkit.googleapis.com/**', async (route) => {
        const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type', 'access-control-allow-methods': 'POST' };
        if (route.request().method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
        seen.push({ url: route.request().url(), body: route.request().postDataJSON() });
        return route.fulfill({
          status: 200,
          headers: cors,
          contentType: 'application/json',
          body: JSON.stringify({ idToken: issuer.mint('viewer-vic', { haltgate: { role: 'viewer' } }), refreshToken: 'rt-1', expiresIn: '3600', email: 'vic@example.com' }),
        });
      });
      await page.goto(`${ops.url}/`);
      await expect.poll(() => page.locator('#banner-state').textContent(), { timeout: 10_000 }).toBe('UNKNOWN');
      await page.locator('#signin-email').fill('vic@example.com');
      await page.locator('#signin-password').fill('correct horse');
      await page.locator('#signin-button').click();
      await expect.poll(() => page.locator('#banner-state').textContent(), { timeout: 10_000 }).toMatch(/^(HALTED|ACTIVE)$/);
      expect(seen[0]!.url).toBe('https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=test-web-api-key');
      expect(seen[0]!.body).toEqual({ email: 'vic@example.com', password: 'correct horse', returnSecureToken: true });
    } finally {
      await page.close();
      await ops.stop();
    }
  }, 30_000);
});
