import { createHash } from 'node:crypto';

/**
 * The ops dashboard: one self-contained page (no build step, no CDN). It holds no data of
 * its own; its script calls `status`, `halt`, `resume` and breaker resets next to it with the
 * operator's Firebase ID token, obtained one of two ways:
 *  - email/password sign-in through Firebase Auth's REST API, when the project's web API key
 *    is configured (OPS_WEB_API_KEY; a public identifier, not a secret); the token is
 *    refreshed before it expires. Where the function itself runs against an Auth emulator
 *    (FIREBASE_AUTH_EMULATOR_HOST, local only), the page signs in there instead, as the
 *    Firebase client SDK does with connectAuthEmulator: the endpoint comes from the
 *    function's configuration, never from the URL or anything else the visitor controls;
 *  - a token pasted once, or passed in the URL fragment `#token=…` (never sent to a server).
 * Tokens live in this tab's sessionStorage only. Everything from the server is
 * written with textContent, never parsed as HTML. The CSP allows only this exact script
 * (by hash) and same-origin requests.
 */

const CSS = `
:root { color-scheme: light; --halt: #a50e0e; --ok: #0b6b2f; --ink: #111; --muted: #444; --line: #bbb; }
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, sans-serif; color: var(--ink); background: #fff; margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.25rem; margin: 0 0 .75rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
#banner { border-radius: .5rem; padding: 1rem 1.25rem; color: #fff; background: #555; }
#banner.halted { background: var(--halt); }
#banner.active { background: var(--ok); }
#banner-state { font-size: 3rem; font-weight: 800; letter-spacing: .06em; margin: 0; }
#banner-detail { margin: .25rem 0 0; font-size: 1.05rem; }
.row { display: flex; gap: 1rem; flex-wrap: wrap; align-items: stretch; }
.panel { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; margin-top: 1rem; flex: 1 1 20rem; }
label { display: block; font-weight: 600; margin-bottom: .25rem; }
input[type=text], input[type=password], textarea { width: 100%; font: inherit; padding: .4rem; border: 1px solid #666; border-radius: .25rem; }
button { font: inherit; font-weight: 700; padding: .5rem 1rem; border-radius: .35rem; border: 2px solid #222; background: #f2f2f2; color: #111; cursor: pointer; }
button.danger { background: var(--halt); border-color: var(--halt); color: #fff; }
button.go { background: var(--ok); border-color: var(--ok); color: #fff; }
button:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
.tripped { color: var(--halt); font-weight: 700; }
.muted { color: var(--muted); }
#message { min-height: 1.5rem; font-weight: 600; }
#message.error { color: var(--halt); }
`;

const SCRIPT = `
(function () {
  'use strict';
  var base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
  var fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) { sessionStorage.setItem('haltgate.idToken', fragment.get('token')); history.replaceState(null, '', location.pathname); }
  var $ = function (id) { return document.getElementById(id); };
  $('token').value = sessionStorage.getItem('haltgate.idToken') || '';
  $('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    sessionStorage.removeItem('haltgate.refreshToken');
    sessionStorage.setItem('haltgate.idToken', $('token').value.trim());
    refresh();
  });

  function say(text, isError) { var m = $('message'); m.textContent = text; m.className = isError ? 'error' : ''; }
  function cell(tr, text, cls) { var td = document.createElement('td'); td.textContent = text == null ? '' : String(text); if (cls) td.className = cls; tr.appendChild(td); return td; }

  var apiKey = ((document.querySelector('meta[name="haltgate-web-api-key"]') || {}).content || '').trim();
  var emulator = ((document.querySelector('meta[name="haltgate-auth-emulator"]') || {}).content || '').trim();
  var identityToolkit = emulator ? 'http://' + emulator + '/identitytoolkit.googleapis.com' : 'https://identitytoolkit.googleapis.com';
  var secureToken = emulator ? 'http://' + emulator + '/securetoken.googleapis.com' : 'https://securetoken.googleapis.com';
  function store(idToken, refreshToken, expiresInS) {
    sessionStorage.setItem('haltgate.idToken', idToken);
    if (refreshToken) sessionStorage.setItem('haltgate.refreshToken', refreshToken);
    sessionStorage.setItem('haltgate.expiresAt', String(Date.now() + Number(expiresInS || 3600) * 1000));
  }
  if (apiKey) {
    $('signin-form').hidden = false;
    $('signin-form').addEventListener('submit', function (e) {
      e.preventDefault();
      fetch(identityToolkit + '/v1/accounts:signInWithPassword?key=' + encodeURIComponent(apiKey), {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: $('signin-email').value.trim(), password: $('signin-password').value, returnSecureToken: true })
      }).then(function (res) { return res.json().then(function (d) { return { ok: res.ok, d: d }; }); }).then(function (r) {
        $('signin-password').value = '';
        if (!r.ok || !r.d.idToken) { say('Sign-in failed: ' + ((r.d.error && r.d.error.message) || 'unknown error'), true); return; }
        store(r.d.idToken, r.d.refreshToken, r.d.expiresIn);
        say('Signed in as ' + (r.d.email || 'operator') + '.');
        refresh();
      }).catch(function (err) { say('Sign-in failed: ' + err.message, true); });
    });
  }
  // Firebase ID tokens last an hour: refresh a minute early when signed in with a refresh token.
  function freshToken() {
    var token = sessionStorage.getItem('haltgate.idToken') || '';
    var rt = sessionStorage.getItem('haltgate.refreshToken');
    var exp = Number(sessionStorage.getItem('haltgate.expiresAt') || 0);
    if (!apiKey || !rt || exp - Date.now() > 60000) return Promise.resolve(token);
    return fetch(secureToken + '/v1/token?key=' + encodeURIComponent(apiKey), {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=' + encodeURIComponent(rt)
    }).then(function (res) { return res.json(); }).then(function (d) {
      if (d.id_token) { store(d.id_token, d.refresh_token, d.expires_in); return d.id_token; }
      return token;
    }).catch(function () { return token; });
  }

  function call(method, path, body) {
    return freshToken().then(function (token) {
      var headers = { 'Authorization': 'Bearer ' + token };
      if (body) headers['Content-Type'] = 'application/json';
      return fetch(base + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined });
    }).then(function (res) { return res.json().catch(function () { return {}; }).then(function (data) { return { status: res.status, data: data }; }); });
  }
  function explain(r) {
    var d = r.data || {};
    var text = (d.message || d.error || ('HTTP ' + r.status));
    if (d.issues) text += ': ' + d.issues.map(function (i) { return (i.path ? i.path + ' ' : '') + i.message; }).join('; ');
    if (d.unmet) text += ': ' + d.unmet.map(function (u) { return u.message; }).join('; ');
    return text;
  }

  function render(s) {
    var b = $('banner');
    b.className = s.killSwitch.halted ? 'halted' : 'active';
    $('banner-state').textContent = s.killSwitch.halted ? 'HALTED' : 'ACTIVE';
    var who = s.killSwitch.who ? ' — by ' + s.killSwitch.who : '';
    var since = s.killSwitch.since ? ' since ' + new Date(s.killSwitch.since).toLocaleString() : '';
    // Halted by the document alone: its own words; otherwise the combined reason naming each source.
    var onlyDocument = s.killSwitch.sources.length === 1 && s.killSwitch.sources[0] === 'document' && s.killSwitch.documentReason;
    var text = s.killSwitch.halted ? (onlyDocument ? s.killSwitch.documentReason : (s.killSwitch.reason || 'halted')) : (s.killSwitch.documentReason || 'trading enabled');
    $('banner-detail').textContent = text + who + since;
    $('mode').textContent = 'Execution mode: ' + (s.execution.mode || 'unknown') + (s.execution.configValid === false ? ' — CONFIGURATION INVALID: ' + s.execution.problems.join('; ') : '') + ' (' + s.execution.source + ')';
    $('instance').textContent = 'This instance: ' + (s.instance.shuttingDown ? 'shutting down' : 'serving') + ', ' + s.instance.inflight + ' broker call(s) in flight';
    var rec = s.reconciler;
    $('reconciler').textContent = rec ? 'Last reconciler run: ' + (rec.lastRunAt || 'unknown') + (rec.ok === false ? ' — FAILED' : rec.ok ? ' — ok' : '') + (rec.result ? ' (' + rec.result + ')' : '') : 'Reconciler: no run recorded';
    var counts = Object.keys(s.submissions.countsByState).map(function (k) { return k + ': ' + s.submissions.countsByState[k]; }).join(', ');
    $('counts').textContent = 'Last hour: ' + (counts || 'no submissions') + '. Stuck non-terminal: ' + s.submissions.stuck.length + '.';

    var strategies = $('strategies'); strategies.replaceChildren();
    if (!s.strategies.length) { var p = document.createElement('p'); p.className = 'muted'; p.textContent = 'No strategy state yet.'; strategies.appendChild(p); }
    s.strategies.forEach(function (st) {
      var h = document.createElement('h3'); h.textContent = st.strategyId; strategies.appendChild(h);
      if (st.problem) { var pr = document.createElement('p'); pr.className = 'tripped'; pr.textContent = st.problem; strategies.appendChild(pr); return; }
      var t = document.createElement('table');
      var cap = document.createElement('caption'); cap.className = 'muted'; cap.textContent = 'Breakers of ' + st.strategyId; t.appendChild(cap);
      var head = document.createElement('tr'); ['Breaker', 'State', 'Value / threshold', 'Since', 'Reason', ''].forEach(function (x) { var th = document.createElement('th'); th.scope = 'col'; th.textContent = x; head.appendChild(th); }); t.appendChild(head);
      st.breakers.forEach(function (br) {
        var tr = document.createElement('tr');
        cell(tr, br.name); cell(tr, br.tripped ? 'TRIPPED' : 'ok', br.tripped ? 'tripped' : '');
        cell(tr, br.tripped ? (br.value == null ? 'n/a' : br.value) + ' / ' + br.threshold : '');
        cell(tr, br.since ? new Date(br.since).toLocaleString() : ''); cell(tr, br.reason);
        var td = cell(tr, '');
        if (br.tripped) {
          var btn = document.createElement('button'); btn.type = 'button'; btn.textContent = 'Reset ' + br.name;
          btn.setAttribute('aria-label', 'Reset breaker ' + br.name + ' of ' + st.strategyId);
          btn.addEventListener('click', function () {
            var why = prompt('Reason for resetting ' + br.name + ' on ' + st.strategyId + ' (required):');
            if (!why || !why.trim()) { say('Reset cancelled: a reason is required.', true); return; }
            call('POST', 'strategies/' + encodeURIComponent(st.strategyId) + '/breakers/' + encodeURIComponent(br.name) + '/reset', { reason: why.trim() })
              .then(function (r) { say(r.status === 200 ? 'Breaker ' + br.name + ' reset.' : 'Reset refused: ' + explain(r), r.status !== 200); refresh(); });
          });
          td.appendChild(btn);
        }
        t.appendChild(tr);
      });
      strategies.appendChild(t);
    });

    var body = $('submissions-body'); body.replaceChildren();
    s.submissions.recent.forEach(function (sub) {
      var tr = document.createElement('tr');
      tr.dataset.intentId = sub.intentId;
      cell(tr, sub.updatedAt ? new Date(sub.updatedAt).toLocaleTimeString() : ''); cell(tr, sub.intentId); cell(tr, sub.strategyId);
      cell(tr, [sub.side, sub.qty, sub.symbol].filter(function (x) { return x != null; }).join(' '));
      cell(tr, sub.state + (sub.reason ? ': ' + sub.reason : ''), sub.state === 'refused' ? 'tripped' : '');
      body.appendChild(tr);
    });
    var runners = $('runners'); runners.textContent = s.runners.length ? 'Runners: ' + s.runners.map(function (r) { return r.runnerId + ' ' + (r.state || '?') + (r.stale ? ' (STALE)' : ''); }).join(', ') : 'Runners: none reporting';
    $('updated').textContent = 'Updated ' + new Date(s.generatedAt).toLocaleTimeString();
  }

  var inFlight = false;
  function refresh() {
    if (inFlight) return; inFlight = true;
    call('GET', 'status').then(function (r) {
      if (r.status === 200) render(r.data);
      else { $('banner-state').textContent = 'UNKNOWN'; $('banner').className = ''; $('banner-detail').textContent = 'Cannot read status: ' + explain(r); }
    }).catch(function (e) { $('banner-detail').textContent = 'Cannot reach the ops API: ' + e.message; })
      .finally(function () { inFlight = false; });
  }

  $('halt-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var why = $('halt-reason').value.trim();
    if (!why) { say('A reason is required to halt.', true); $('halt-reason').focus(); return; }
    if (!confirm('HALT all trading now?\\n\\nReason: ' + why)) { say('Halt cancelled.'); return; }
    call('POST', 'halt', { reason: why }).then(function (r) {
      if (r.status === 200) { say('Trading halted.'); $('halt-reason').value = ''; } else say('Halt failed: ' + explain(r), true);
      refresh();
    });
  });
  $('resume-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var why = $('resume-reason').value.trim();
    if (!why) { say('A reason is required to resume.', true); $('resume-reason').focus(); return; }
    if (!confirm('Resume trading?\\n\\nReason: ' + why)) { say('Resume cancelled.'); return; }
    call('POST', 'resume', { reason: why, force: $('resume-force').checked }).then(function (r) {
      if (r.status === 200) { say('Trading resumed.'); $('resume-reason').value = ''; $('resume-force').checked = false; } else say('Resume refused: ' + explain(r), true);
      refresh();
    });
  });
  refresh();
  setInterval(refresh, 3000);
})();
`;

const HTML_HEAD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>haltgate ops</title><meta name="haltgate-web-api-key" content="__WEB_API_KEY__"><meta name="haltgate-auth-emulator" content="__AUTH_EMULATOR__"><style>${CSS}</style></head>
<body><main>
<h1>haltgate — operations</h1>
<section id="banner" aria-live="polite" aria-atomic="true"><p id="banner-state">…</p><p id="banner-detail">Loading status…</p></section>
<p id="message" role="alert"></p>
<div class="row">
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
    <p><input type="checkbox" id="resume-force"> <label for="resume-force" style="display:inline">Override unmet preconditions (force)</label></p>
    <p><button type="submit" class="go" id="resume-button">Resume</button></p>
  </form>
</div>
<section class="panel" aria-labelledby="state-title"><h2 id="state-title">State</h2>
<p id="mode"></p><p id="instance"></p><p id="reconciler"></p><p id="counts"></p><p id="runners"></p><p id="updated" class="muted"></p></section>
<section aria-labelledby="breakers-title"><h2 id="breakers-title">Breakers per strategy</h2><div id="strategies"></div></section>
<section aria-labelledby="subs-title"><h2 id="subs-title">Recent submissions</h2>
<table><thead><tr><th scope="col">Updated</th><th scope="col">Intent</th><th scope="col">Strategy</th><th scope="col">Order</th><th scope="col">State</th></tr></thead><tbody id="submissions-body"></tbody></table></section>
<form id="signin-form" class="panel" aria-labelledby="signin-title" hidden><h2 id="signin-title">Sign in</h2>
<label for="signin-email">Email</label><input id="signin-email" type="text" inputmode="email" autocomplete="username">
<label for="signin-password">Password</label><input id="signin-password" type="password" autocomplete="current-password">
<p><button type="submit" id="signin-button">Sign in</button></p></form>
<form id="token-form" class="panel" aria-labelledby="token-title"><h2 id="token-title">Sign in with an ID token</h2>
<label for="token">Firebase ID token (kept in this tab only)</label><input id="token" type="password" autocomplete="off">
<p><button type="submit">Use token</button></p></form>
</main>`;

const scriptHash = createHash('sha256').update(SCRIPT).digest('base64');

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
    `script-src 'sha256-${scriptHash}'`,
    "style-src 'unsafe-inline'",
    `connect-src 'self' https://identitytoolkit.googleapis.com https://securetoken.googleapis.com${emulator ? ` http://${emulator}` : ''}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export const DASHBOARD_CSP = dashboardCsp();

const PAGE = `${HTML_HEAD}<script>${SCRIPT}</script></body></html>`;

const escapeAttribute = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The page; `webApiKey` (the project's public web API key) enables email/password sign-in,
 * against `authEmulatorHost` when the function runs with a local Auth emulator.
 */
export function dashboardHtml(opts: { webApiKey?: string | null; authEmulatorHost?: string | null } = {}): string {
  return PAGE.replace('__WEB_API_KEY__', escapeAttribute(opts.webApiKey ?? '')).replace('__AUTH_EMULATOR__', escapeAttribute(authEmulatorHostOf(opts.authEmulatorHost) ?? ''));
}
