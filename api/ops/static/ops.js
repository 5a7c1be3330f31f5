// The ops page's script: vanilla JavaScript, no framework, no build step.
// It polls the page's JSON endpoints (api/state every 2 s, the live table
// every second), renders with textContent only (never HTML from data), and
// sends every action with the session's CSRF token after asking for a
// reason and a confirmation.
'use strict';

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);

// el builds an element; children are nodes or text.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// api calls the page's JSON endpoints; a 401 means the session ended.
async function api(method, path, body) {
  const opts = { method, headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch('/ops/' + path, opts);
  if (r.status === 401) {
    location.reload(); // back to the login form
    throw new Error('logged out');
  }
  let data = null;
  if (r.status !== 204) data = await r.json().catch(() => null);
  if (!r.ok) throw new Error((data && (data.detail || data.title)) || ('HTTP ' + r.status));
  return data;
}

function flash(msg, bad) {
  const f = $('flash');
  f.textContent = msg;
  f.className = bad ? 'flash bad' : 'flash';
  f.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { f.hidden = true; }, 8000);
}

// ask shows what an action will do and asks for a reason; it resolves to
// the reason, or null if the operator cancelled.
function ask(what) {
  const d = $('confirm');
  $('confirm-what').textContent = what;
  $('confirm-reason').value = '';
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener('close', () => {
      resolve(d.returnValue === 'go' ? $('confirm-reason').value.trim() : null);
    }, { once: true });
  });
}

// act runs an action after the confirmation, and tells how it went.
async function act(what, path, body, done) {
  const reason = await ask(what);
  if (reason === null) return;
  try {
    const res = await api('POST', path, Object.assign({}, body, { reason }));
    flash(done(res));
    refresh();
  } catch (e) {
    flash(e.message, true);
  }
}

// ---- state: nodes, switches, degradation ----

let state = null;

function renderNodes() {
  const list = $('node-list');
  const err = $('nodes-error');
  err.hidden = !state.nodes_error;
  err.textContent = state.nodes_error || '';
  // A node's item is rebuilt only when that node changed, in place, so a
  // tap on another node's button never lands on a replaced element.
  const key = (n) => JSON.stringify({ ...n, seen_ms: 0 });
  const old = [...list.children];
  const sameNodes = old.length === state.nodes.length && state.nodes.every((n, i) => old[i].dataset.node === n.id);
  if (sameNodes) {
    state.nodes.forEach((n, i) => { if (old[i].dataset.key !== key(n)) old[i].replaceWith(nodeItem(n, key(n))); });
    return;
  }
  list.replaceChildren(...state.nodes.map((n) => nodeItem(n, key(n))));
  if (!state.nodes.length && !state.nodes_error) list.replaceChildren(el('li', { class: 'muted' }, 'no push node has reported'));
}

function nodeItem(n, key) {
  const ready = n.state === 'ready';
  const started = n.started_at ? new Date(n.started_at * 1000).toLocaleString() : '';
  return el('li', { 'data-node': n.id, 'data-key': key },
    el('span', { class: 'name' }, n.id),
    el('span', { class: 'badge ' + n.state }, n.state),
    el('span', { class: 'muted' }, (n.sessions || 0) + ' sessions'),
    el('span', { class: 'detail' }, [n.tcp_addr, started && 'started ' + started].filter(Boolean).join(' · ')),
    el('button', { class: 'small drain', disabled: !ready, onclick: () => act(
      'Drain node ' + n.id + ': it stops taking connections, moves its ' + (n.sessions || 0) +
      ' sessions to other nodes, then stops.',
      'api/nodes/' + encodeURIComponent(n.id) + '/drain', {}, () => 'Drain requested for ' + n.id) }, 'Drain…'),
    el('button', { class: 'small hot-restart', disabled: !ready || !n.hot_restart,
      title: n.hot_restart ? '' : 'no upgrade socket (tether dev)', onclick: () => act(
        'Hot-restart node ' + n.id + ': a new process of it takes every connection over; clients notice nothing.',
        'api/nodes/' + encodeURIComponent(n.id) + '/hot-restart', {}, () => 'Hot restart requested for ' + n.id) }, 'Hot restart…'));
}

function rulesText(r) {
  if (!r) return 'everyone';
  const parts = [];
  if (r.percent != null) parts.push(r.percent + '% of users');
  if (r.platforms) parts.push('platforms ' + r.platforms.join(', '));
  if (r.min_app_version || r.max_app_version) parts.push('app ' + (r.min_app_version || '') + '..' + (r.max_app_version || ''));
  if (r.allow_users) parts.push('allow ' + r.allow_users.length + ' users');
  if (r.deny_users) parts.push('deny ' + r.deny_users.length + ' users');
  if (r.nodes) parts.push('nodes ' + r.nodes.join(', '));
  return parts.join('; ') || 'everyone';
}

function valueBadge(s) {
  const cls = s.kind === 'bool' ? s.value : '';
  return el('span', { class: 'badge ' + cls }, s.value);
}

function renderSwitches() {
  $('switch-list').replaceChildren(...state.switches.map((s) => el('li', { 'data-switch': s.name },
    el('span', { class: 'name' }, s.name),
    valueBadge(s),
    el('button', { class: 'small change', onclick: () => edit(s) }, 'Change…'),
    el('span', { class: 'detail' }, s.description + ' Default ' + s.default + '. Applies to: ' + rulesText(s.rules) +
      (s.set ? '. Set by ' + s.updated_by + ' at ' + new Date(s.updated_at).toLocaleString() : '') + '.'))));
  $('degrade-list').replaceChildren(...state.switches.filter((s) => s.degradation).map((s) => {
    const to = s.value === 'on' ? 'off' : 'on';
    return el('li', { 'data-degrade': s.name },
      el('span', { class: 'name' }, s.name),
      valueBadge(s),
      el('button', { class: 'small ' + (to === 'off' ? 'danger' : ''), onclick: () => act(
        'Turn ' + s.name + ' ' + to + ' (applies to: ' + rulesText(s.rules) + ').',
        'api/switches/' + encodeURIComponent(s.name), { value: to, rules: s.rules || null },
        () => s.name + ' is ' + to) }, 'Turn ' + to + '…'));
  }));
}

// edit asks for a switch's new value and rules, then for the confirmation.
function edit(s) {
  const d = $('edit');
  $('edit-title').textContent = s.name;
  $('edit-desc').textContent = s.description + ' (' + s.kind + ', default ' + s.default + ')';
  $('edit-value').value = s.value;
  $('edit-rules').value = s.rules ? JSON.stringify(s.rules) : '';
  d.returnValue = '';
  d.showModal();
  d.addEventListener('close', () => {
    if (d.returnValue !== 'next') return;
    const value = $('edit-value').value.trim();
    let rules = null;
    const rt = $('edit-rules').value.trim();
    if (rt) {
      try { rules = JSON.parse(rt); } catch (e) { flash('Rules are not JSON: ' + e.message, true); return; }
    }
    act('Set ' + s.name + ': ' + s.value + ' → ' + value + ', applies to: ' + rulesText(rules) + '.',
      'api/switches/' + encodeURIComponent(s.name), { value, rules }, () => s.name + ' is ' + value);
  }, { once: true });
}

async function refresh() {
  try {
    state = await api('GET', 'api/state');
  } catch (e) {
    flash(e.message, true);
    return;
  }
  state.nodes = state.nodes || [];
  // Redraw a list only when what it shows changed: a redraw replaces its
  // buttons, and a tap landing during one would be lost.
  const nodes = JSON.stringify([state.nodes.map(({ seen_ms, ...n }) => n), state.nodes_error]); // seen_ms moves with every heartbeat
  const switches = JSON.stringify(state.switches);
  if (nodes !== shown.nodes) { shown.nodes = nodes; renderNodes(); }
  if (switches !== shown.switches) { shown.switches = switches; renderSwitches(); }
  $('live').hidden = !state.live;
}

const shown = { nodes: '', switches: '' };

// ---- the live table ----

const sum = (xs, f) => (xs || []).reduce((a, x) => a + f(x), 0);
const dep = (s, name) => (s.deps || []).find((d) => d.name === name) || { calls: 0, time_ms: 0 };
const per = (s, n) => n / (s.seconds || 1);

// The talk's columns. hot: the value an operator must see at once.
const columns = [
  { k: 'cmd', f: (s) => per(s, s.work.calls), hot: () => false },
  { k: 'p50ms', f: (s) => s.work.p50_ms, hot: () => false },
  { k: 'p99ms', f: (s) => s.work.p99_ms, hot: () => false },
  { k: 'htime', f: (s) => s.work.timeouts, hot: (v) => v > 0 },
  { k: 'error', f: (s) => s.work.errors, hot: (v) => v > 0 },
  { k: 'cmdq', f: (s) => s.backlog.outbox + s.backlog.webhook + sum(s.backlog.streams, (x) => x.lag + x.pending), hot: (v) => v > 1000 },
  { k: 'work0', f: (s) => sum(s.pools, (p) => p.busy), hot: () => false },
  { k: 'workq0', f: (s) => sum(s.pools, (p) => p.queued), hot: (v) => v > 0 },
  { k: 'sql', f: (s) => per(s, dep(s, 'sql').calls), hot: () => false },
  { k: 'sql_ms', f: (s) => dep(s, 'sql').time_ms, hot: () => false },
  { k: 'redis', f: (s) => per(s, dep(s, 'redis').calls), hot: () => false },
  { k: 'redis_ms', f: (s) => dep(s, 'redis').time_ms, hot: () => false },
  { k: 'sess', f: (s) => s.sessions.total, hot: () => false },
  { k: 'hs', f: (s) => s.sessions.handshaking, hot: () => false },
  { k: 'in', f: (s) => s.sessions.logged_in, hot: () => false },
  { k: 'gc', f: (s) => s.runtime.gc, hot: () => false },
  { k: 'heapMB', f: (s) => s.runtime.heap_bytes / 1048576, hot: () => false },
  { k: 'gor', f: (s) => s.runtime.goroutines, hot: () => false },
  { k: 'rxKB', f: (s) => s.net.rx_bytes / 1024, hot: () => false },
  { k: 'txKB', f: (s) => s.net.tx_bytes / 1024, hot: () => false },
];

const keep = 300; // seconds of history behind the sparklines: five minutes
let views = []; // cluster views, oldest first

function fmt(v) {
  if (!isFinite(v)) return '-';
  if (Math.abs(v) >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return v.toFixed(1);
}

function hhmmss(t) { return new Date(t).toTimeString().slice(0, 8); }

// pick is the selected process's second of a cluster view.
function pick(v) {
  const p = $('live-process').value;
  if (!p) return v.sum;
  return v.processes.find((x) => x.process === p) || null;
}

function spark(values) {
  const w = 100, h = 24;
  const max = Math.max(...values, 1e-9), min = Math.min(...values, 0);
  const pts = values.map((v, i) => {
    const x = values.length > 1 ? (i / (values.length - 1)) * w : w;
    const y = h - ((v - min) / (max - min || 1)) * (h - 2) - 1;
    return x.toFixed(1) + ',' + y.toFixed(1);
  }).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  svg.setAttribute('preserveAspectRatio', 'none');
  const pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  pl.setAttribute('points', pts);
  svg.append(pl);
  return svg;
}

function renderLive() {
  const rows = views.map(pick).filter(Boolean);
  if (!rows.length) return;
  const last = rows[rows.length - 1];
  const processes = views[views.length - 1].processes.length;
  $('live-status').textContent = hhmmss(last.at) + ' · ' + processes + ' process' + (processes === 1 ? '' : 'es') +
    ' · sparklines: last ' + Math.round(rows.length / 60 * 10) / 10 + ' min';
  $('sparks').replaceChildren(...columns.map((c) => {
    const vals = rows.map(c.f);
    const v = vals[vals.length - 1];
    return el('div', { class: 'spark' + (c.hot(v) ? ' hot' : ''), 'data-col': c.k },
      el('div', { class: 'k' }, c.k), el('div', { class: 'v' }, fmt(v)), spark(vals));
  }));
  const head = $('live-table').tHead;
  if (!head.rows.length) head.append(el('tr', {}, el('th', {}, 'time'), ...columns.map((c) => el('th', {}, c.k))));
  const body = $('live-table').tBodies[0];
  body.replaceChildren(...rows.slice(-15).reverse().map((s) => el('tr', {},
    el('td', {}, hhmmss(s.at)),
    ...columns.map((c) => { const v = c.f(s); return el('td', { class: c.hot(v) ? 'hot' : '' }, fmt(v)); }))));
  const plats = Object.entries(last.sessions.by_platform || {}).sort();
  $('platforms').replaceChildren(...(plats.length ? plats.map(([p, n]) => el('li', { 'data-platform': p }, p + ': ' + n))
    : [el('li', { class: 'muted' }, 'no sessions')]));
}

function renderProcesses(v) {
  const sel = $('live-process');
  const want = ['', ...v.processes.map((p) => p.process)];
  const have = [...sel.options].map((o) => o.value);
  if (want.join('|') === have.join('|')) return;
  const cur = sel.value;
  sel.replaceChildren(...want.map((p) => el('option', { value: p }, p || 'cluster')));
  sel.value = want.includes(cur) ? cur : '';
}

async function pollLive() {
  if (!state || !state.live) return;
  try {
    const v = await api('GET', 'api/live/cluster');
    if (views.length && views[views.length - 1].at === v.at) return;
    views.push(v);
    if (views.length > keep) views = views.slice(-keep);
    renderProcesses(v);
    renderLive();
  } catch (e) {
    $('live-status').textContent = 'live table unavailable: ' + e.message;
  }
}

// ---- wiring ----

$('kick-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = $('kick-user').value.trim();
  act('Kick user ' + user + ': every live session gets Kick(kicked) and closes; clients do not reconnect by themselves.',
    'api/kick', { user }, (r) => 'Kicked ' + r.sessions + ' session' + (r.sessions === 1 ? '' : 's') + ' of user ' + r.user_id);
});
$('logout').addEventListener('click', async () => {
  try { await api('POST', 'logout'); } catch (e) { /* reloads anyway */ }
  location.reload();
});
$('live-process').addEventListener('change', renderLive);

refresh().then(pollLive);
setInterval(refresh, 2000);
setInterval(pollLive, 1000);
