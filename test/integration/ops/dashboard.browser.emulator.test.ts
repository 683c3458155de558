/**
 * The dashboard in a real browser: playwright-core driving Debian's `chromium` (which
 * `.ci/run` installs with apt-get) against the local stack — embedded Firestore, the Alpaca
 * simulator, the exported executeIntent, and the ops handler over HTTP with tokens from the
 * test issuer. Opens the page, halts with a reason, sees the banner flip and a new intent get
 * `refused: halted`, resumes, and saves docs/dashboard.png.
 *
 * Without a chromium binary this fails in CI (CI=true) and is skipped loudly elsewhere.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeIntent } from '../../../functions/src/index.js';
import { startTestBackends, type TestBackends } from '../../support/backends.js';
import { createTestIssuer, OPERATOR } from '../../support/id-tokens.js';
import { makeIntent, pubsubCloudEvent } from '../../support/intents.js';
import { startOpsServer, type OpsTestServer } from '../../support/ops-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../../docs/dashboard.png', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const message = `chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(`browser test cannot run in CI: ${message}`);
  console.warn(`\n*** BROWSER TEST SKIPPED: ${message} ***\n`);
}

let b: TestBackends;
let ops: OpsTestServer;
let browser: Browser;
let page: Page;
let issuer: ReturnType<typeof createTestIssuer>;

function deliver(event: ReturnType<typeof pubsubCloudEvent>): Promise<unknown> {
  return (executeIntent as unknown as (e: unknown) => Promise<unknown>)(event);
}

describe.skipIf(!haveChromium)('ops dashboard in chromium', () => {
  beforeAll(async () => {
    b = await startTestBackends();
    await b.reset();
    issuer = createTestIssuer();
    ops = await startOpsServer(b.db, issuer.verifyIdToken);
    // Something to show in the breakers table.
    await b.db.doc('strategies/momentum-1').set({ breakers: {} });
    await b.db.doc('strategies/mean-revert-2').set({
      breakers: {
        dailyLoss: { tripped: true, breaker: 'dailyLoss', detail: 'realized P&L -612.40 <= -500', value: -612.4, threshold: 500, trippedAt: Date.now() - 600_000, intentId: 'mr2-0042' },
      },
    });
    const ok = makeIntent({ strategyId: 'momentum-1', symbol: 'MSFT', qty: 5 });
    await deliver(pubsubCloudEvent(ok));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`${ops.url}/#token=${issuer.mint('op-alice', OPERATOR)}`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await ops?.stop();
    await b?.stop();
  });

  it('halts with a reason, shows HALTED, refuses a new intent as halted, resumes', async () => {
    const banner = page.locator('#banner-state');
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('ACTIVE');
    // The token left the URL once read (it is kept in this tab's sessionStorage only).
    expect(page.url()).not.toContain('token=');

    // Accessible form controls: every input has a label.
    const unlabelled = await page.evaluate<string[]>(
      "[...document.querySelectorAll('input, textarea')].filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id)",
    );
    expect(unlabelled).toEqual([]);

    // A HALT without a reason is refused by the page itself (native required-field validation).
    await page.locator('#halt-button').click();
    expect(await page.evaluate<boolean>("document.getElementById('halt-reason').validity.valueMissing")).toBe(true);
    expect(await banner.textContent()).toBe('ACTIVE');

    // Keyboard only: type the reason, tab to HALT, press Enter, confirm.
    await page.locator('#halt-reason').focus();
    await page.keyboard.type('browser drill: runaway momentum-1');
    page.once('dialog', (d) => void d.accept());
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('halt-button');
    await page.keyboard.press('Enter');
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('HALTED');
    await expect.poll(() => page.locator('#banner-detail').textContent()).toContain('browser drill: runaway momentum-1');
    expect(await page.locator('#banner-detail').textContent()).toContain('op-alice');
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: true, updatedBy: 'op-alice' });

    // A new intent is refused: halted, and the table shows it.
    const refused = makeIntent({ strategyId: 'momentum-1', symbol: 'AAPL', qty: 2 });
    await deliver(pubsubCloudEvent(refused));
    expect((await b.db.doc(`submissions/${refused.intentId}`).get()).data()).toMatchObject({ state: 'refused', reason: 'halted' });
    const row = page.locator(`tr[data-intent-id="${refused.intentId}"]`);
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('refused: halted');
    expect(await page.locator('text=Reset dailyLoss').count()).toBe(1);

    await mkdir(fileURLToPath(new URL('.', `file://${SCREENSHOT}`)), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);

    // Resume.
    await page.locator('#resume-reason').fill('drill over');
    page.once('dialog', (d) => void d.accept());
    await page.locator('#resume-button').click();
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toBe('ACTIVE');
    expect((await b.db.doc('ops/killSwitch').get()).data()).toMatchObject({ halted: false, reason: 'drill over', updatedBy: 'op-alice' });
  }, 60_000);

  it('email/password sign-in through Firebase Auth (routed to a fake Identity Toolkit) when OPS_WEB_API_KEY is set', async () => {
    const signinOps = await startOpsServer(b.db, issuer.verifyIdToken, { webApiKey: 'test-web-api-key' });
    const p = await browser.newPage();
    const seen: Array<{ url: string; body: unknown }> = [];
    try {
      await p.route('https://identitytoolkit.googleapis.com/**', async (route) => {
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
      await p.goto(`${signinOps.url}/`);
      await expect.poll(() => p.locator('#banner-state').textContent(), { timeout: 10_000 }).toBe('UNKNOWN');
      expect(await p.locator('#signin-form').isVisible()).toBe(true);
      await p.locator('#signin-email').fill('vic@example.com');
      await p.locator('#signin-password').fill('correct horse');
      await p.locator('#signin-button').click();
      await expect.poll(() => p.locator('#banner-state').textContent(), { timeout: 10_000 }).toMatch(/HALTED|ACTIVE/);
      expect(seen[0]!.url).toContain('key=test-web-api-key');
      expect(seen[0]!.body).toEqual({ email: 'vic@example.com', password: 'correct horse', returnSecureToken: true });
      expect(await p.locator('#signin-password').inputValue()).toBe('');
      // A viewer may look but not halt: the API says so and the page shows it.
      await p.locator('#halt-reason').fill('viewer tries');
      p.once('dialog', (d) => void d.accept());
      await p.locator('#halt-button').click();
      await expect.poll(() => p.locator('#message').textContent()).toMatch(/Halt failed: role viewer/);
    } finally {
      await p.close();
      await signinOps.stop();
    }
  }, 60_000);
});
