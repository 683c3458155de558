/**
 * The dashboard's own stylesheet and script, served as assets next to uPlot's (see
 * dashboard-assets.ts) so the page's CSP can be `script-src 'self'; style-src 'self'` with no
 * inline code at all. Kept as strings in a TypeScript module so the compiled functions carry
 * them without a copy step.
 *
 * The script writes everything from the server with textContent or through uPlot's API (which
 * itself only uses textContent and CSSOM), never as HTML; the CSP's Trusted Types directive
 * makes any HTML sink throw, so that stays true.
 */

export const DASHBOARD_CSS = String.raw`
:root { color-scheme: light; --halt: #a50e0e; --ok: #0b6b2f; --ink: #111; --muted: #4a4a4a; --line: #c8c8c8; --panel: #fff; --bg: #f3f4f6; --focus: #1a5fb4; }
* { box-sizing: border-box; }
/* The hidden attribute wins over any display rule below (sign-in panels, the signed-in view). */
[hidden] { display: none !important; }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: var(--bg); margin: 0; }
.top { display: flex; align-items: center; justify-content: space-between; gap: 1rem; padding: .6rem 1rem; background: #1f2430; color: #fff; }
.top h1 { font-size: 1.15rem; margin: 0; letter-spacing: .02em; }
#account { display: flex; align-items: center; gap: .75rem; }
#who { font-size: .95rem; }
#signout-button { padding: .3rem .8rem; background: #fff; color: #111; border-color: #fff; }
main { max-width: 90rem; margin: 0 auto; padding: .75rem 1rem 2rem; }
h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
h3 { font-size: .98rem; margin: .6rem 0 .3rem; }
#banner { border-radius: .5rem; padding: .7rem 1.25rem; color: #fff; background: #555; min-height: 5.6rem; display: flex; align-items: center; gap: 1.5rem; }
#banner.halted { background: var(--halt); }
#banner.active { background: var(--ok); }
#banner.reduce-only { background: #8a4b00; }
button.warn { background: #8a4b00; border-color: #8a4b00; color: #fff; }
.halt-form { margin-top: .35rem; }
#banner-state { font-size: 2.6rem; font-weight: 800; letter-spacing: .06em; margin: 0; min-width: 14rem; }
#banner-detail { margin: 0; font-size: 1.05rem; }
#message { min-height: 1.6rem; margin: .4rem 0; font-weight: 600; }
#message.error { color: var(--halt); }
.row { display: flex; gap: .9rem; flex-wrap: wrap; align-items: stretch; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: .5rem; padding: .7rem .9rem; margin-top: .9rem; flex: 1 1 20rem; min-width: 0; }
.row > .panel { margin-top: 0; }
.row > .panel.wide { flex-grow: 1.5; }
.row + .row, .row + .panel, .panel + .row { margin-top: .9rem; }
.panel-head { display: flex; align-items: baseline; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
.panel-head label { display: inline; font-weight: 600; margin-right: .35rem; }
label { display: block; font-weight: 600; margin-bottom: .25rem; }
label.inline { display: inline; font-weight: 400; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
input[type=text], input[type=password], textarea, select { font: inherit; padding: .35rem .45rem; border: 1px solid #666; border-radius: .25rem; background: #fff; color: var(--ink); }
input[type=text], input[type=password], textarea { width: 100%; }
button { font: inherit; font-weight: 700; padding: .45rem 1rem; border-radius: .35rem; border: 2px solid #222; background: #f2f2f2; color: #111; cursor: pointer; }
button.danger { background: var(--halt); border-color: var(--halt); color: #fff; }
button.go { background: var(--ok); border-color: var(--ok); color: #fff; }
button.small { padding: .2rem .6rem; font-size: .9rem; }
button:focus-visible, input:focus-visible, textarea:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
form.panel p { margin: .5rem 0 0; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .25rem .45rem; border-bottom: 1px solid #e2e2e2; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.tripped { color: var(--halt); font-weight: 700; }
.okstate { color: var(--ok); font-weight: 600; }
.muted { color: var(--muted); }
.pos { color: var(--ok); }
.neg { color: var(--halt); }
.chart { position: relative; width: 100%; min-height: 20rem; }
.chart.small { min-height: 13.5rem; }
.chart .uplot { width: 100%; }
.u-legend { font-size: .88rem; }
.u-legend .u-series > * { padding: 2px 4px; }
.key { display: flex; flex-wrap: wrap; gap: .35rem 1.1rem; margin: .35rem 0 0; padding: 0; list-style: none; font-size: .88rem; color: var(--muted); }
.key li::before { content: ""; display: inline-block; width: 1.4em; height: .8em; margin-right: .35em; vertical-align: -.05em; border-left: 3px solid transparent; }
.key .k-halt::before { border-left-color: #a50e0e; }
.key .k-resume::before { border-left-color: #0b6b2f; }
.key .k-trip::before { border-left: 3px dashed #c25400; }
.key .k-reset::before { border-left: 3px dotted #444; }
.key .k-span::before { background: rgba(165, 14, 14, .13); border-left-color: transparent; }
.tl-flag { position: absolute; top: 0; transform: translateX(-50%); font-size: 11px; font-weight: 700; line-height: 1; padding: 2px 4px; border-radius: 3px; color: #fff; white-space: nowrap; pointer-events: auto; cursor: default; }
.tl-flag.halt { background: #a50e0e; }
.tl-flag.resume { background: #0b6b2f; }
.tl-flag.trip { background: #c25400; }
.tl-flag.reset { background: #444; }
.strategy { border-top: 1px solid #e2e2e2; padding-top: .3rem; margin-top: .4rem; }
.strategy:first-child { border-top: 0; margin-top: 0; padding-top: 0; }
.trip-card { border-left: 4px solid var(--halt); background: #fdf2f2; padding: .35rem .6rem; margin: .35rem 0; border-radius: 0 .3rem .3rem 0; }
.trip-card p { margin: 0 0 .25rem; }
.trip-head { display: flex; flex-wrap: wrap; gap: .2rem .8rem; align-items: baseline; }
.trip-reason { font-size: .9rem; }
.reset-form { display: flex; gap: .5rem; align-items: center; }
.reset-form label { white-space: nowrap; font-size: .9rem; font-weight: 600; }
.reset-form input { flex: 1 1 10rem; min-width: 6rem; }
.ok-line { margin: .2rem 0 .1rem; font-size: .88rem; }
td.nowrap { white-space: nowrap; }
.scroll th { position: sticky; top: 0; }
.exec-mode { font-size: 1.5rem; font-weight: 800; margin: 0; letter-spacing: .04em; display: inline-block; margin-right: .6rem; }
#mode { display: inline; }
#exec-source { font-size: .85rem; margin: .25rem 0 .4rem; }
#functions-body td { white-space: nowrap; }
.top-row > form.panel { flex: 1 1 15rem; }
.top-row > section.panel { flex: 1.6 1 24rem; }
.exec-mode.live { color: var(--halt); }
.badge { display: inline-block; padding: 0 .4rem; border-radius: .25rem; font-weight: 700; font-size: .85rem; }
.badge.halted { background: #f8d7d7; color: #7a0a0a; }
.badge.active { background: #d4edda; color: #0b4d22; }
.badge.malformed { background: #fff3cd; color: #5c4400; }
.scroll { max-height: 22rem; overflow: auto; }
`;

export const DASHBOARD_SCRIPT = String.raw`
(function () {
  'use strict';
  var base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
  var fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) { sessionStorage.setItem('haltgate.idToken', fragment.get('token')); history.replaceState(null, '', location.pathname); }
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, text, cls) { var e = document.createElement(tag); if (text != null) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function cell(tr, text, cls) { var td = el('td', text == null ? '' : text, cls); tr.appendChild(td); return td; }
  function say(text, isError) { var m = $('message'); m.textContent = text; m.className = isError ? 'error' : ''; }
  function time(iso) { return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }) : ''; }
  function dateTime(iso) { return iso ? new Date(iso).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }) : ''; }
  function money(n) { var s = Math.abs(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }); return (n > 0 ? '+' : n < 0 ? '\u2212' : '') + s; }
  // Re-render a region only when its data changed: polling must not move focus or wipe typing.
  var last = {};
  function changed(key, data) { var j = JSON.stringify(data); if (last[key] === j) return false; last[key] = j; return true; }

  // ---- session -------------------------------------------------------------------------------
  var apiKey = ((document.querySelector('meta[name="haltgate-web-api-key"]') || {}).content || '').trim();
  var emulator = ((document.querySelector('meta[name="haltgate-auth-emulator"]') || {}).content || '').trim();
  var identityToolkit = emulator ? 'http://' + emulator + '/identitytoolkit.googleapis.com' : 'https://identitytoolkit.googleapis.com';
  var secureToken = emulator ? 'http://' + emulator + '/securetoken.googleapis.com' : 'https://securetoken.googleapis.com';
  function store(idToken, refreshToken, expiresInS, email) {
    sessionStorage.setItem('haltgate.idToken', idToken);
    if (refreshToken) sessionStorage.setItem('haltgate.refreshToken', refreshToken);
    if (email) sessionStorage.setItem('haltgate.email', email);
    sessionStorage.setItem('haltgate.expiresAt', String(Date.now() + Number(expiresInS || 3600) * 1000));
  }
  function clearSession() { ['haltgate.idToken', 'haltgate.refreshToken', 'haltgate.expiresAt', 'haltgate.email'].forEach(function (k) { sessionStorage.removeItem(k); }); }
  function token() { return sessionStorage.getItem('haltgate.idToken') || ''; }
  // The token's own claims, for display only (the server verifies it).
  function claims() {
    try { var p = token().split('.')[1].replace(/-/g, '+').replace(/_/g, '/'); return JSON.parse(atob(p + '==='.slice((p.length + 3) % 4))); } catch (e) { return {}; }
  }
  function showSession() {
    var signedIn = token() !== '';
    $('signin-panels').hidden = signedIn;
    $('app').hidden = !signedIn;
    $('account').hidden = !signedIn;
    if (signedIn) {
      var c = claims();
      var role = c.haltgate && c.haltgate.role ? c.haltgate.role : 'no role';
      $('who').textContent = 'Signed in as ' + (sessionStorage.getItem('haltgate.email') || c.email || c.user_id || c.sub || 'unknown') + ' (' + role + ')';
    }
  }
  $('signin-form').hidden = !apiKey;
  $('token').value = '';
  $('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('token').value.trim();
    $('token').value = '';
    if (!t) { say('Paste a Firebase ID token first.', true); return; }
    clearSession();
    sessionStorage.setItem('haltgate.idToken', t);
    say('Signed in with a pasted ID token.');
    signedInNow();
  });
  if (apiKey) {
    $('signin-form').addEventListener('submit', function (e) {
      e.preventDefault();
      fetch(identityToolkit + '/v1/accounts:signInWithPassword?key=' + encodeURIComponent(apiKey), {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: $('signin-email').value.trim(), password: $('signin-password').value, returnSecureToken: true })
      }).then(function (res) { return res.json().then(function (d) { return { ok: res.ok, d: d }; }); }).then(function (r) {
        $('signin-password').value = '';
        if (!r.ok || !r.d.idToken) { say('Sign-in failed: ' + ((r.d.error && r.d.error.message) || 'unknown error'), true); return; }
        store(r.d.idToken, r.d.refreshToken, r.d.expiresIn, r.d.email);
        say('Signed in as ' + (r.d.email || 'operator') + '.');
        signedInNow();
      }).catch(function (err) { say('Sign-in failed: ' + err.message, true); });
    });
  }
  $('signout-button').addEventListener('click', function () {
    clearSession();
    // A fresh page: nothing of the signed-in view (data, charts) stays on screen.
    location.reload();
  });
  // Firebase ID tokens last an hour: refresh a minute early when signed in with a refresh token.
  function freshToken() {
    var t = token();
    var rt = sessionStorage.getItem('haltgate.refreshToken');
    var exp = Number(sessionStorage.getItem('haltgate.expiresAt') || 0);
    if (!apiKey || !rt || exp - Date.now() > 60000) return Promise.resolve(t);
    return fetch(secureToken + '/v1/token?key=' + encodeURIComponent(apiKey), {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=' + encodeURIComponent(rt)
    }).then(function (res) { return res.json(); }).then(function (d) {
      if (d.id_token) { store(d.id_token, d.refresh_token, d.expires_in); return d.id_token; }
      return t;
    }).catch(function () { return t; });
  }

  function call(method, path, body) {
    return freshToken().then(function (t) {
      var headers = { 'Authorization': 'Bearer ' + t };
      if (body) headers['Content-Type'] = 'application/json';
      return fetch(base + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined });
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        // An expired or refused token: back to the sign-in panels, saying why.
        if (res.status === 401 && token() !== '') { clearSession(); showSession(); say('Signed out: ' + (data.message || 'the ID token was refused') + '. Sign in again.', true); }
        return { status: res.status, data: data };
      });
    });
  }
  function explain(r) {
    var d = r.data || {};
    var text = (d.message || d.error || ('HTTP ' + r.status));
    if (d.issues) text += ': ' + d.issues.map(function (i) { return (i.path ? i.path + ' ' : '') + i.message; }).join('; ');
    if (d.unmet) text += ': ' + d.unmet.map(function (u) { return u.message; }).join('; ');
    return text;
  }

  // ---- status --------------------------------------------------------------------------------
  function renderStatus(s) {
    var b = $('banner');
    var reduceOnly = !s.killSwitch.halted && s.killSwitch.reduceOnly === true;
    b.className = s.killSwitch.halted ? 'halted' : reduceOnly ? 'reduce-only' : 'active';
    b.dataset.posture = s.killSwitch.posture || (s.killSwitch.halted ? 'halted' : reduceOnly ? 'reduce_only' : 'trading');
    $('banner-state').textContent = s.killSwitch.halted ? 'HALTED' : reduceOnly ? 'REDUCE-ONLY' : 'ACTIVE';
    var who = s.killSwitch.who ? ' \u2014 by ' + s.killSwitch.who : '';
    var since = s.killSwitch.since ? ' since ' + new Date(s.killSwitch.since).toLocaleString() : '';
    // Halted by the document alone: its own words; otherwise the combined reason naming each source.
    var onlyDocument = s.killSwitch.sources.length === 1 && s.killSwitch.sources[0] === 'document' && s.killSwitch.documentReason;
    var text = s.killSwitch.halted ? (onlyDocument ? s.killSwitch.documentReason : (s.killSwitch.reason || 'halted')) : (s.killSwitch.documentReason || 'trading enabled');
    if (reduceOnly) text = 'Only orders that shrink a position are claimed' + (s.killSwitch.documentReason ? ': ' + s.killSwitch.documentReason : '');
    var sh = s.symbolHalts || [];
    if (sh.length) text += ' \u00b7 symbols halted: ' + sh.map(function (h) { return h.symbol; }).join(', ');
    $('banner-detail').textContent = text + who + since;
    if (halted !== null && halted !== s.killSwitch.halted) refreshCharts();
    halted = s.killSwitch.halted;

    var mode = s.execution.mode || 'unknown';
    $('exec-mode').textContent = mode.toUpperCase().replace('_', ' ');
    $('exec-mode').className = 'exec-mode' + (mode === 'live' ? ' live' : '');
    $('mode').textContent = s.execution.configValid === false ? 'CONFIGURATION INVALID: ' + s.execution.problems.join('; ') : (s.execution.configValid ? 'configuration valid' : 'configuration not reported');
    $('mode').className = s.execution.configValid === false ? 'tripped' : 'muted';
    $('exec-source').textContent = 'executeIntent runs with: ' + s.execution.source;
    if (changed('functions', s.functions)) {
      var fb = $('functions-body'); fb.replaceChildren();
      s.functions.forEach(function (f) {
        var tr = document.createElement('tr');
        cell(tr, f.function); cell(tr, f.mode || '?');
        cell(tr, f.configValid ? 'valid' : 'INVALID: ' + f.problems.join('; '), f.configValid ? '' : 'tripped');
        cell(tr, f.version || '?'); cell(tr, time(f.reportedAt));
        fb.appendChild(tr);
      });
      if (!s.functions.length) { var tr0 = document.createElement('tr'); var td0 = cell(tr0, 'No function instance has reported yet.', 'muted'); td0.colSpan = 5; fb.appendChild(tr0); }
    }

    $('instance').textContent = 'This ops instance: ' + (s.instance.shuttingDown ? 'shutting down' : 'serving') + ', ' + s.instance.inflight + ' broker call(s) in flight';
    var rec = s.reconciler;
    $('reconciler').textContent = rec ? 'Last reconciler run: ' + (rec.lastRunAt ? dateTime(rec.lastRunAt) : 'unknown') + (rec.ok === false ? ' \u2014 FAILED' : rec.ok ? ' \u2014 ok' : '') + (rec.result ? ' (' + rec.result + ')' : '') : 'Reconciler: no run recorded';
    var counts = Object.keys(s.submissions.countsByState).sort().map(function (k) { return k + ' ' + s.submissions.countsByState[k]; }).join(', ');
    $('counts').textContent = 'Last hour: ' + (counts || 'no submissions') + '. Stuck non-terminal: ' + s.submissions.stuck.length + '.';
    $('runners').textContent = s.runners.length ? 'Runners: ' + s.runners.map(function (r) { return r.runnerId + ' ' + (r.state || '?') + (r.stale ? ' (STALE)' : ''); }).join(', ') : 'Runners: none reporting';
    $('updated').textContent = 'Status updated ' + time(s.generatedAt);

    if (changed('strategies', s.strategies)) renderStrategies(s.strategies);
    if (changed('recent', s.submissions.recent)) {
      var body = $('submissions-body'); body.replaceChildren();
      s.submissions.recent.forEach(function (sub) {
        var tr = document.createElement('tr');
        tr.dataset.intentId = sub.intentId;
        cell(tr, time(sub.updatedAt)); cell(tr, sub.intentId); cell(tr, sub.strategyId);
        cell(tr, [sub.side, sub.qty, sub.symbol].filter(function (x) { return x != null; }).join(' '));
        cell(tr, sub.state + (sub.reason ? ': ' + sub.reason : ''), sub.state === 'refused' || sub.state === 'rejected' || sub.state === 'unknown' ? 'tripped' : '');
        body.appendChild(tr);
      });
    }
  }

  function renderStrategies(list) {
    var root = $('strategies'); root.replaceChildren();
    if (!list.length) { root.appendChild(el('p', 'No strategy state yet.', 'muted')); return; }
    list.forEach(function (st) {
      var box = el('div', null, 'strategy');
      box.appendChild(el('h3', st.strategyId));
      if (st.problem) { box.appendChild(el('p', st.problem, 'tripped')); root.appendChild(box); return; }
      var tripped = st.breakers.filter(function (b) { return b.tripped; });
      var ok = st.breakers.filter(function (b) { return !b.tripped; }).map(function (b) { return b.name; });
      if (tripped.length) {
        tripped.forEach(function (br) {
          var card = el('div', null, 'trip-card');
          var head = el('p', null, 'trip-head');
          head.appendChild(el('span', br.name === 'manual' ? 'HALTED by operator' : 'TRIPPED ' + br.name, 'tripped'));
          head.appendChild(el('span', br.name === 'manual' ? 'by ' + (br.by || 'unknown') + ' · since ' + dateTime(br.since) : (br.value == null ? 'n/a' : br.value) + ' vs limit ' + br.threshold + ' · since ' + dateTime(br.since), 'muted'));
          card.appendChild(head);
          if (br.reason) card.appendChild(el('p', br.reason, 'trip-reason'));
          var form = el('form', null, 'reset-form');
          var id = 'reset-' + st.strategyId + '-' + br.name;
          var label = el('label', 'Reason (required)', 'inline'); label.htmlFor = id;
          var input = el('input'); input.type = 'text'; input.id = id; input.required = true; input.autocomplete = 'off';
          input.setAttribute('aria-label', 'Reason (required) for clearing ' + br.name + ' of ' + st.strategyId);
          var btn = el('button', 'Reset ' + br.name, 'small'); btn.type = 'submit';
          btn.setAttribute('aria-label', 'Reset breaker ' + br.name + ' of ' + st.strategyId);
          form.appendChild(label); form.appendChild(input); form.appendChild(btn);
          form.addEventListener('submit', function (e) {
            e.preventDefault();
            var why = input.value.trim();
            if (!why) { say('Reset not sent: a reason is required.', true); input.focus(); return; }
            btn.disabled = true;
            call('POST', 'strategies/' + encodeURIComponent(st.strategyId) + '/breakers/' + encodeURIComponent(br.name) + '/reset', { reason: why })
              .then(function (r) { say(r.status === 200 ? 'Breaker ' + br.name + ' of ' + st.strategyId + ' cleared.' : 'Reset refused: ' + explain(r), r.status !== 200); btn.disabled = false; refreshStatus(); refreshCharts(); });
          });
          card.appendChild(form);
          box.appendChild(card);
        });
      }
      if (!st.breakers.some(function (b) { return b.name === 'manual' && b.tripped; })) box.appendChild(haltStrategyForm(st.strategyId));
      var okLine = el('p', null, 'ok-line');
      okLine.appendChild(el('span', tripped.length ? 'Other breakers ok: ' : 'All breakers ok: ', tripped.length ? 'muted' : 'okstate'));
      okLine.appendChild(el('span', ok.join(', ') || 'none', 'muted'));
      box.appendChild(okLine);
      root.appendChild(box);
    });
  }

  // A per-strategy halt: latches the breaker 'manual' (reset like any breaker, above).
  function haltStrategyForm(strategyId) {
    var form = el('form', null, 'halt-form');
    var id = 'halt-strategy-' + strategyId;
    var label = el('label', 'Reason (required)', 'inline'); label.htmlFor = id;
    var input = el('input'); input.type = 'text'; input.id = id; input.required = true; input.autocomplete = 'off';
    input.setAttribute('aria-label', 'Reason (required) for halting strategy ' + strategyId);
    var btn = el('button', 'Halt ' + strategyId, 'small danger'); btn.type = 'submit';
    btn.setAttribute('aria-label', 'Halt strategy ' + strategyId);
    form.appendChild(label); form.appendChild(input); form.appendChild(btn);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var why = input.value.trim();
      if (!why) { say('Halt not sent: a reason is required.', true); input.focus(); return; }
      if (!confirm('Halt strategy ' + strategyId + ' now?\n\nReason: ' + why)) { say('Strategy halt cancelled.'); return; }
      btn.disabled = true;
      call('POST', 'strategies/' + encodeURIComponent(strategyId) + '/halt', { reason: why })
        .then(function (r) { say(r.status === 200 ? 'Strategy ' + strategyId + ' halted (breaker manual).' : 'Halt refused: ' + explain(r), r.status !== 200); btn.disabled = false; refreshStatus(); refreshCharts(); });
    });
    return form;
  }

  // ---- charts (uPlot) ------------------------------------------------------------------------
  var COLORS = { submitted: '#1b7f3b', dry_run: '#5e6ad2', rejected: '#d32f2f', unknown: '#e0a800', abandoned: '#6d4c41', released: '#90a4ae', in_flight: '#1565c0', unreadable: '#000000' };
  var REFUSED = ['#c25400', '#8e44ad', '#c2185b', '#00838f', '#7c6f00', '#455a64'];
  var STRATEGY_COLORS = ['#1565c0', '#c2185b', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#5d4037', '#37474f'];
  var MARK = { halt: '#a50e0e', resume: '#0b6b2f', trip: '#c25400', reset: '#444444' };
  var timeline = { u: null, keys: '', data: null, raw: [], series: [], markers: [], spans: [] };
  var pnl = { u: null, keys: '', strategies: [] };
  var halted = null;
  function widthOf(id) { return Math.max(320, $(id).clientWidth); }

  function timelineOpts(series) {
    var bars = uPlot.paths.bars({ size: [0.92, 40], gap: 0 });
    return {
      width: widthOf('timeline-chart'), height: 300,
      padding: [18, 12, 0, 4],
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      // The whole window, to its last second: a halt this very minute is drawn at the right edge.
      scales: { x: { time: true, range: function () { return [timeline.x0, timeline.x1]; } }, y: { range: function (u, min, max) { return [0, Math.max(4, Math.ceil(max * 1.15))]; } } },
      axes: [
        { stroke: '#333', grid: { stroke: '#eee' }, ticks: { stroke: '#ccc' } },
        { stroke: '#333', grid: { stroke: '#eee' }, ticks: { stroke: '#ccc' }, label: 'intents / min', labelSize: 20, size: 44, values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? v : ''; }); } }
      ],
      series: [{ label: 'time', value: function (u, v) { return v == null ? 'window total' : new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); } }].concat(series.map(function (s, i) {
        var color = s.outcome === 'refused' ? REFUSED[refusedIndex(series, i) % REFUSED.length] : (COLORS[s.outcome] || '#555');
        return {
          label: s.label, stroke: color, fill: color, width: 0, paths: bars, points: { show: false },
          // The legend shows the count at the hovered minute, else the window's total (not the stacked height).
          value: function (u, v, si, idx) { var raw = timeline.raw[si - 1] || []; return idx == null ? String(timeline.series[si - 1] ? timeline.series[si - 1].total : 0) : String(raw[idx] || 0); }
        };
      })),
      legend: { live: true },
      hooks: {
        drawClear: [function (u) {
          var ctx = u.ctx; ctx.save(); ctx.fillStyle = 'rgba(165, 14, 14, 0.13)';
          timeline.spans.forEach(function (sp) {
            var x0 = u.valToPos(sp.fromMs / 1000, 'x', true), x1 = u.valToPos(sp.toMs / 1000, 'x', true);
            var l = Math.max(u.bbox.left, x0), r = Math.min(u.bbox.left + u.bbox.width, x1);
            if (r > l) ctx.fillRect(l, u.bbox.top, r - l, u.bbox.height);
          });
          ctx.restore();
        }],
        draw: [drawMarkers]
      }
    };
  }
  function refusedIndex(series, i) { var n = 0; for (var j = 0; j < i; j++) if (series[j].outcome === 'refused') n++; return n; }

  function drawMarkers(u) {
    var ctx = u.ctx; var dpr = window.devicePixelRatio || 1;
    u.over.querySelectorAll('.tl-flag').forEach(function (f) { f.remove(); });
    var min = u.scales.x.min, max = u.scales.x.max;
    var lastFlagX = -1e9;
    timeline.markers.forEach(function (m) {
      var v = m.atMs / 1000; if (v < min || v > max) return;
      var x = Math.round(u.valToPos(v, 'x', true));
      ctx.save();
      ctx.strokeStyle = MARK[m.kind]; ctx.lineWidth = (m.kind === 'halt' || m.kind === 'resume' ? 2.5 : 2) * dpr;
      if (m.kind === 'trip') ctx.setLineDash([6 * dpr, 4 * dpr]);
      if (m.kind === 'reset') ctx.setLineDash([2 * dpr, 3 * dpr]);
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.restore();
      // A flag above the line (in uPlot's overlay, positioned with CSSOM), its details on hover.
      var f = el('span', m.kind === 'halt' ? 'HALT' : m.kind === 'resume' ? 'RESUME' : m.kind === 'trip' ? 'TRIP' : 'RESET', 'tl-flag ' + m.kind);
      var cssX = u.valToPos(v, 'x');
      f.dataset.kind = m.kind;
      f.title = m.label + (m.strategyId ? ' \u2014 ' + m.strategyId : '') + ' at ' + dateTime(m.at) + (m.who ? ' by ' + m.who : '') + (m.reason ? ': ' + m.reason : '');
      f.setAttribute('aria-hidden', 'true');
      f.style.left = cssX + 'px';
      // Flags closer than their width stack downwards instead of overlapping.
      f.style.top = (cssX - lastFlagX < 46 ? 16 : 0) + 'px';
      if (cssX - lastFlagX >= 46) lastFlagX = cssX;
      u.over.appendChild(f);
    });
  }

  function renderTimeline(t) {
    timeline.series = t.series;
    timeline.raw = t.series.map(function (s) { return s.counts; });
    timeline.markers = t.markers; timeline.spans = t.haltedSpans;
    var xs = t.bucketStarts.map(function (ms) { return ms / 1000; });
    timeline.x0 = (xs[0] || 0) - 30; timeline.x1 = Math.max(Date.parse(t.to) / 1000, (xs[xs.length - 1] || 0) + 30);
    // Stacked bars: series i is drawn as the sum of itself and all after it, first (tallest) first,
    // so each later series paints over the lower part: the last outcome sits on the baseline.
    var n = xs.length; var acc = new Array(n).fill(0); var stacked = [];
    for (var i = t.series.length - 1; i >= 0; i--) { acc = acc.map(function (a, j) { return a + (t.series[i].counts[j] || 0); }); stacked[i] = acc.slice(); }
    var data = [xs].concat(stacked);
    var keys = t.series.map(function (s) { return s.key; }).join('|');
    if (!timeline.u || timeline.keys !== keys) {
      if (timeline.u) timeline.u.destroy();
      $('timeline-chart').replaceChildren();
      timeline.u = new uPlot(timelineOpts(t.series), data, $('timeline-chart'));
      timeline.keys = keys;
    } else timeline.u.setData(data);
    var totals = t.series.filter(function (s) { return s.total > 0; }).map(function (s) { return s.label + ' ' + s.total; });
    var marks = { halt: 0, resume: 0, trip: 0, reset: 0 }; t.markers.forEach(function (m) { marks[m.kind]++; });
    $('timeline-summary').textContent = 'From ' + dateTime(t.from) + ' to ' + time(t.to) + ': ' + (totals.join(', ') || 'no intents') + '. ' +
      marks.halt + ' halt(s), ' + marks.resume + ' resume(s), ' + marks.trip + ' breaker trip(s), ' + marks.reset + ' breaker reset(s).' +
      (t.truncated ? ' Read limit reached: minutes before ' + time(t.coveredFrom) + ' are incomplete.' : '');
    if (changed('events', t.markers)) {
      var body = $('events-body'); body.replaceChildren();
      t.markers.slice().reverse().forEach(function (m) {
        var tr = document.createElement('tr'); tr.dataset.kind = m.kind;
        cell(tr, dateTime(m.at), 'nowrap'); cell(tr, m.label, m.kind === 'halt' || m.kind === 'trip' ? 'tripped' : m.kind === 'resume' ? 'okstate' : '');
        cell(tr, m.strategyId || 'all strategies'); cell(tr, m.who || ''); cell(tr, m.reason || '');
        body.appendChild(tr);
      });
      if (!t.markers.length) { var tr0 = document.createElement('tr'); var td0 = cell(tr0, 'No halts, resumes or breaker trips in this window.', 'muted'); td0.colSpan = 5; body.appendChild(tr0); }
    }
  }

  function renderPnl(p) {
    pnl.strategies = p.strategies;
    $('pnl-day').textContent = 'Trading day ' + p.tradingDay + ' (' + p.timeZone + '), since ' + dateTime(p.dayStart) + '.';
    // Drawn from the first closing fill of the day (a day's first hours are usually empty).
    var firstIdx = p.bucketStarts.length - 1;
    p.strategies.forEach(function (s) { var k = s.cumulative.findIndex(function (v) { return v !== 0; }); if (k >= 0 && k < firstIdx) firstIdx = k; });
    firstIdx = Math.max(0, Math.min(firstIdx - 10, p.bucketStarts.length - 60));
    var xs = p.bucketStarts.slice(firstIdx).map(function (ms) { return ms / 1000; });
    var data = [xs].concat(p.strategies.map(function (s) { return s.cumulative.slice(firstIdx); }));
    var keys = p.strategies.map(function (s) { return s.strategyId; }).join('|');
    if (!pnl.u || pnl.keys !== keys) {
      if (pnl.u) pnl.u.destroy();
      $('pnl-chart').replaceChildren();
      pnl.u = new uPlot({
        width: widthOf('pnl-chart'), height: 190, padding: [12, 12, 0, 4],
        cursor: { points: { size: 6 }, drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: function (u, min, max) { var lo = Math.min(0, min), hi = Math.max(0, max), pad = Math.max(10, (hi - lo) * 0.12); return [lo < 0 ? lo - pad : 0, hi + pad]; } } },
        axes: [
          { stroke: '#333', grid: { stroke: '#eee' }, ticks: { stroke: '#ccc' } },
          { stroke: '#333', grid: { stroke: '#eee' }, ticks: { stroke: '#ccc' }, size: 60, values: function (u, vals) { return vals.map(function (v) { return v.toLocaleString('en-US'); }); } }
        ],
        series: [{ label: 'time', value: function (u, v) { return v == null ? 'today' : new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); } }].concat(p.strategies.map(function (s, i) {
          return {
            label: s.strategyId, stroke: STRATEGY_COLORS[i % STRATEGY_COLORS.length], width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
            value: function (u, v, si) { var st = pnl.strategies[si - 1]; return v == null ? (st ? money(st.realizedMicros / 1e6) : '') : money(v); }
          };
        })),
        hooks: { drawClear: [function (u) { var y = u.valToPos(0, 'y', true); var ctx = u.ctx; ctx.save(); ctx.strokeStyle = '#888'; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke(); ctx.restore(); }] }
      }, data, $('pnl-chart'));
      pnl.keys = keys;
    } else pnl.u.setData(data);
    if (changed('pnl', p.strategies.map(function (s) { return [s.strategyId, s.realized, s.events, s.truncated, s.unreadable]; }))) {
      var body = $('pnl-body'); body.replaceChildren();
      p.strategies.forEach(function (s) {
        var tr = document.createElement('tr'); tr.dataset.strategyId = s.strategyId;
        cell(tr, s.strategyId);
        var v = cell(tr, money(s.realizedMicros / 1e6) + (s.truncated ? ' (partial)' : ''), 'num ' + (s.realizedMicros > 0 ? 'pos' : s.realizedMicros < 0 ? 'neg' : ''));
        v.title = 'exact: ' + s.realized;
        cell(tr, s.events + (s.unreadable ? ' (+' + s.unreadable + ' unreadable)' : ''), 'num');
        body.appendChild(tr);
      });
      if (!p.strategies.length) { var tr0 = document.createElement('tr'); var td0 = cell(tr0, 'No strategy has state yet.', 'muted'); td0.colSpan = 3; body.appendChild(tr0); }
    }
  }

  function side(s) { return s === null ? ['absent (halted)', 'halted'] : s.state === 'malformed' ? ['malformed (halted)', 'malformed'] : [s.state.toUpperCase(), s.state]; }
  function renderAudit(a) {
    if (!changed('audit', a.entries)) return;
    var body = $('audit-body'); body.replaceChildren();
    a.entries.forEach(function (e) {
      var tr = document.createElement('tr'); tr.dataset.auditId = e.id; tr.dataset.transition = e.transition;
      cell(tr, dateTime(e.when), 'nowrap');
      var whoCell = cell(tr, e.who || 'unknown');
      whoCell.appendChild(el('span', ' \u00b7 ' + (e.via || 'console'), 'muted'));
      var change = cell(tr, '', 'nowrap');
      var b = side(e.before), f = side(e.after);
      change.appendChild(el('span', b[0], 'badge ' + b[1])); change.appendChild(document.createTextNode(' \u2192 ')); change.appendChild(el('span', f[0], 'badge ' + f[1]));
      if (e.forced) change.appendChild(el('span', ' forced', 'tripped'));
      cell(tr, e.reason || '');
      var fx = [];
      if (e.cancelAll && e.cancelAll.state !== 'skipped') fx.push('cancel-all ' + e.cancelAll.state + (e.cancelAll.cancelled != null ? ' (' + e.cancelAll.cancelled + ' cancelled' + (e.cancelAll.failed ? ', ' + e.cancelAll.failed + ' failed' : '') + ')' : '') + (e.cancelAll.detail ? ': ' + e.cancelAll.detail : ''));
      if (e.publish && e.publish.state !== 'skipped') fx.push('runners told: ' + e.publish.state);
      cell(tr, fx.join('; ') || '\u2014', e.cancelAll && e.cancelAll.state === 'failed' ? 'tripped' : '');
      body.appendChild(tr);
    });
    if (!a.entries.length) { var tr0 = document.createElement('tr'); var td0 = cell(tr0, 'No change of the kill switch recorded yet.', 'muted'); td0.colSpan = 5; body.appendChild(tr0); }
  }

  // ---- polling -------------------------------------------------------------------------------
  var busy = {}, again = {};
  function once(key, path, ok) {
    if (token() === '') return Promise.resolve();
    // The read in flight may have been answered before the change that asks for this one (a
    // halt just made): it is not dropped but made once more when that read is back.
    if (busy[key]) { again[key] = [path, ok]; return Promise.resolve(); }
    busy[key] = true;
    return call('GET', path).then(function (r) {
      if (r.status === 200) ok(r.data);
      else if (r.status !== 401) say('Cannot read ' + path.split('?')[0] + ': ' + explain(r), true);
    }).catch(function (e) { say('Cannot reach the ops API: ' + e.message, true); })
      .finally(function () {
        busy[key] = false;
        var next = again[key];
        again[key] = null;
        if (next) once(key, next[0], next[1]);
      });
  }
  function refreshStatus() {
    if (token() === '') { $('banner-state').textContent = 'UNKNOWN'; $('banner').className = ''; $('banner-detail').textContent = 'Sign in to read the kill switch.'; return Promise.resolve(); }
    return call('GET', 'status').then(function (r) {
      if (r.status === 200) renderStatus(r.data);
      else { $('banner-state').textContent = 'UNKNOWN'; $('banner').className = ''; $('banner-detail').textContent = 'Cannot read status: ' + explain(r); }
    }).catch(function (e) { $('banner-detail').textContent = 'Cannot reach the ops API: ' + e.message; });
  }
  function refreshCharts() {
    once('timeline', 'timeline?hours=' + encodeURIComponent($('timeline-hours').value), renderTimeline);
    once('pnl', 'pnl', renderPnl);
    once('audit', 'kill-switch/audit?limit=15', renderAudit);
  }
  // After an action the trigger writes its audit entry within seconds: look again soon.
  function soon() { refreshStatus(); refreshCharts(); setTimeout(refreshCharts, 1500); setTimeout(refreshCharts, 4000); }
  function signedInNow() { showSession(); refreshStatus(); refreshCharts(); }

  $('timeline-hours').addEventListener('change', function () { last.events = null; refreshCharts(); });
  window.addEventListener('resize', function () {
    if (timeline.u) timeline.u.setSize({ width: widthOf('timeline-chart'), height: 300 });
    if (pnl.u) pnl.u.setSize({ width: widthOf('pnl-chart'), height: 190 });
  });

  $('halt-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var why = $('halt-reason').value.trim();
    if (!why) { say('A reason is required to halt.', true); $('halt-reason').focus(); return; }
    if (!confirm('HALT all trading now?\n\nReason: ' + why)) { say('Halt cancelled.'); return; }
    call('POST', 'halt', { reason: why }).then(function (r) {
      if (r.status === 200) { say('Trading halted.'); $('halt-reason').value = ''; } else say('Halt failed: ' + explain(r), true);
      soon();
    });
  });
  $('reduce-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var why = $('reduce-reason').value.trim();
    if (!why) { say('A reason is required for reduce-only.', true); $('reduce-reason').focus(); return; }
    if (!confirm('Switch to REDUCE-ONLY?\n\nOnly orders that shrink a position will be claimed.\nReason: ' + why)) { say('Reduce-only cancelled.'); return; }
    call('POST', 'reduce-only', { reason: why, force: $('reduce-force').checked }).then(function (r) {
      if (r.status === 200) { say('Reduce-only: only reducing orders are claimed.'); $('reduce-reason').value = ''; $('reduce-force').checked = false; } else say('Reduce-only refused: ' + explain(r), true);
      soon();
    });
  });
  $('resume-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var why = $('resume-reason').value.trim();
    if (!why) { say('A reason is required to resume.', true); $('resume-reason').focus(); return; }
    if (!confirm('Resume trading?\n\nReason: ' + why)) { say('Resume cancelled.'); return; }
    call('POST', 'resume', { reason: why, force: $('resume-force').checked }).then(function (r) {
      if (r.status === 200) { say('Trading resumed.'); $('resume-reason').value = ''; $('resume-force').checked = false; } else say('Resume refused: ' + explain(r), true);
      soon();
    });
  });

  showSession();
  refreshStatus(); refreshCharts();
  setInterval(refreshStatus, 3000);
  setInterval(refreshCharts, 10000);
})();
`;
