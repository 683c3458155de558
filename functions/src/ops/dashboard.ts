import { dashboardAssets } from './dashboard-assets.js';

/**
 * The ops dashboard: one page (no build step, no CDN) whose code and styles are assets of the
 * same function (dashboard-assets.ts: uPlot for the charts, the page's own script and CSS in
 * dashboard-client.ts). It holds no data of its own; its script calls `status`, `timeline`,
 * `pnl`, `kill-switch/audit`, `halt`, `resume`, `reduce-only`, per-strategy halts and breaker resets next to it with the
 * operator's Firebase ID token, obtained one of two ways:
 *  - email/password sign-in through Firebase Auth's REST API, when the project's web API key
 *    is configured (OPS_WEB_API_KEY; a public identifier, not a secret); the token is
 *    refreshed before it expires. Where the function itself runs against an Auth emulator
 *    (FIREBASE_AUTH_EMULATOR_HOST, local only), the page signs in there instead, as the
 *    Firebase client SDK does with connectAuthEmulator: the endpoint comes from the
 *    function's configuration, never from the URL or anything else the visitor controls;
 *  - a token pasted once, or passed in the URL fragment `#token=…` (never sent to a server).
 * Tokens live in this tab's sessionStorage only. Once signed in, the sign-in panels give way
 * to a sign-out control.
 *
 * CSP: no inline script or style at all. `script-src 'self'` (the two scripts, also pinned by
 * Subresource Integrity); `style-src 'self'`: uPlot positions its parts through CSSOM
 * (`el.style.left = …`), which CSP does not govern, and sets no style attributes in markup, so
 * it needs no 'unsafe-inline'. Trusted Types with no policy make every HTML sink (innerHTML and
 * friends) throw: everything from the server goes in as text.
 */

/** `host:port` of a local Auth emulator, strictly: it lands in the CSP and in a URL. */
const EMULATOR_HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$/;

/** The host when it is a plain `host:port`, else null (then the page uses Google's endpoints). */
export function authEmulatorHostOf(value: string | null | undefined): string | null {
  const v = value?.trim() ?? '';
  return EMULATOR_HOST.test(v) ? v : null;
}

/** The page's CSP; with an Auth emulator its origin is the one extra place the page may call. */
export function dashboardCsp(opts: { authEmulatorHost?: string | null } = {}): string {
  const emulator = authEmulatorHostOf(opts.authEmulatorHost);
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self' https://identitytoolkit.googleapis.com https://securetoken.googleapis.com${emulator ? ` http://${emulator}` : ''}`,
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

export const DASHBOARD_CSP = dashboardCsp();

const escapeAttribute = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An asset reference relative to the page itself (see handler.ts for why a query). */
const assetUrl = (name: string) => `?asset=${encodeURIComponent(name)}`;

function page(): string {
  const a = dashboardAssets();
  const css = (x: typeof a.appCss) => `<link rel="stylesheet" href="${assetUrl(x.name)}" integrity="${x.integrity}">`;
  const js = (x: typeof a.appJs) => `<script src="${assetUrl(x.name)}" integrity="${x.integrity}" defer></script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>haltgate ops</title><meta name="haltgate-web-api-key" content="__WEB_API_KEY__"><meta name="haltgate-auth-emulator" content="__AUTH_EMULATOR__">
${css(a.uplotCss)}${css(a.appCss)}${js(a.uplotJs)}${js(a.appJs)}</head>
<body>
<header class="top"><h1>haltgate — operations</h1>
<div id="account" hidden><span id="who"></span><button type="button" id="signout-button">Sign out</button></div></header>
<main>
<section id="banner" aria-live="polite" aria-atomic="true"><p id="banner-state">…</p><p id="banner-detail">Loading status…</p></section>
<p id="message" role="alert"></p>
<div id="signin-panels" class="row">
<form id="signin-form" class="panel" aria-labelledby="signin-title" hidden><h2 id="signin-title">Sign in</h2>
<label for="signin-email">Email</label><input id="signin-email" type="text" inputmode="email" autocomplete="username">
<label for="signin-password">Password</label><input id="signin-password" type="password" autocomplete="current-password">
<p><button type="submit" id="signin-button">Sign in</button></p></form>
<form id="token-form" class="panel" aria-labelledby="token-title"><h2 id="token-title">Sign in with an ID token</h2>
<label for="token">Firebase ID token (kept in this tab only)</label><input id="token" type="password" autocomplete="off">
<p><button type="submit">Use token</button></p></form>
</div>
<div id="app" hidden>
<div class="row top-row">
  <form id="halt-form" class="panel" aria-labelledby="halt-title">
    <h2 id="halt-title">Halt trading</h2>
    <label for="halt-reason">Reason (required)</label>
    <textarea id="halt-reason" name="reason" rows="2" required></textarea>
    <p><button type="submit" class="danger" id="halt-button">HALT</button></p>
  </form>
  <form id="resume-form" class="panel" aria-labelledby="resume-title">
    <h2 id="resume-title">Resume trading</h2>
    <label for="resume-reason">Reason (required)</label>
    <textarea id="resume-reason" name="reason" rows="2" required></textarea>
    <p><input type="checkbox" id="resume-force"> <label for="resume-force" class="inline">Override unmet preconditions (force)</label></p>
    <p><button type="submit" class="go" id="resume-button">Resume</button></p>
  </form>
  <form id="reduce-form" class="panel" aria-labelledby="reduce-title">
    <h2 id="reduce-title">Reduce-only</h2>
    <p class="muted">Only orders that shrink a position are claimed. Resume ends it.</p>
    <label for="reduce-reason">Reason (required)</label>
    <textarea id="reduce-reason" name="reason" rows="2" required></textarea>
    <p><input type="checkbox" id="reduce-force"> <label for="reduce-force" class="inline">Override unmet preconditions (from halted)</label></p>
    <p><button type="submit" class="warn" id="reduce-button">Reduce-only</button></p>
  </form>
  <section class="panel" aria-labelledby="exec-title"><h2 id="exec-title">Execution</h2>
    <p><span id="exec-mode" class="exec-mode">…</span><span id="mode" class="muted"></span></p><p id="exec-source" class="muted"></p>
    <table><caption class="vh">What each function instance reported it runs with</caption><thead><tr><th scope="col">Function</th><th scope="col">Mode</th><th scope="col">Config</th><th scope="col">Version</th><th scope="col">Reported</th></tr></thead><tbody id="functions-body"></tbody></table>
  </section>
</div>
<section class="panel" aria-labelledby="timeline-title">
  <div class="panel-head"><h2 id="timeline-title">Intents per minute by outcome</h2>
  <p><label for="timeline-hours">Window</label><select id="timeline-hours"><option value="1">last hour</option><option value="3">last 3 hours</option><option value="6" selected>last 6 hours</option><option value="24">last 24 hours</option></select></p></div>
  <div id="timeline-chart" class="chart" role="img" aria-labelledby="timeline-title" aria-describedby="timeline-summary"></div>
  <ul class="key" aria-label="Marks on the timeline"><li class="k-halt">halt</li><li class="k-resume">resume</li><li class="k-trip">breaker trip</li><li class="k-reset">breaker reset</li><li class="k-span">halted</li></ul>
  <p id="timeline-summary" class="muted"></p>
</section>
<div class="row">
  <section class="panel" aria-labelledby="pnl-title"><h2 id="pnl-title">Realized P&amp;L today</h2><p id="pnl-day" class="muted"></p>
    <div id="pnl-chart" class="chart small" role="img" aria-labelledby="pnl-title" aria-describedby="pnl-table-caption"></div>
    <table><caption id="pnl-table-caption" class="vh">Realized P&amp;L today per strategy</caption><thead><tr><th scope="col">Strategy</th><th scope="col" class="num">Realized today</th><th scope="col" class="num">Closing fills</th></tr></thead><tbody id="pnl-body"></tbody></table>
  </section>
  <section class="panel" aria-labelledby="breakers-title"><h2 id="breakers-title">Breakers per strategy</h2><div id="strategies"></div></section>
</div>
<div class="row">
  <section class="panel wide" aria-labelledby="audit-title"><h2 id="audit-title">Kill switch audit trail</h2>
    <div class="scroll"><table><caption class="vh">Every change of ops/killSwitch, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">Who · via</th><th scope="col">Change</th><th scope="col">Reason</th><th scope="col">Side effects</th></tr></thead><tbody id="audit-body"></tbody></table></div>
  </section>
  <section class="panel" aria-labelledby="events-title"><h2 id="events-title">On the timeline</h2>
    <div class="scroll"><table><caption class="vh">Halts, resumes, breaker trips and resets in the timeline's window, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Strategy</th><th scope="col">Who</th><th scope="col">Reason</th></tr></thead><tbody id="events-body"></tbody></table></div>
  </section>
</div>
<section class="panel" aria-labelledby="subs-title"><h2 id="subs-title">Recent submissions</h2>
<div class="scroll"><table><thead><tr><th scope="col">Updated</th><th scope="col">Intent</th><th scope="col">Strategy</th><th scope="col">Order</th><th scope="col">State</th></tr></thead><tbody id="submissions-body"></tbody></table></div></section>
<section class="panel" aria-labelledby="state-title"><h2 id="state-title">State</h2>
<p id="instance"></p><p id="reconciler"></p><p id="counts"></p><p id="runners"></p><p id="updated" class="muted"></p></section>
</div>
</main></body></html>`;
}

/**
 * The page; `webApiKey` (the project's public web API key) enables email/password sign-in,
 * against `authEmulatorHost` when the function runs with a local Auth emulator.
 */
export function dashboardHtml(opts: { webApiKey?: string | null; authEmulatorHost?: string | null } = {}): string {
  // Replacer functions: a `$&` in a key must stay text, not become a replacement pattern.
  return page()
    .replace('__WEB_API_KEY__', () => escapeAttribute(opts.webApiKey ?? ''))
    .replace('__AUTH_EMULATOR__', () => escapeAttribute(authEmulatorHostOf(opts.authEmulatorHost) ?? ''));
}
