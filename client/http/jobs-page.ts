// The jobs page served at `/` and `/jobs`: one self-contained HTML document (inline CSS and JS, nothing fetched but our
// own API) listing the signed-in user's jobs with live progress, pause/resume/cancel, and a link to each job's page.
// Progress is pushed: each unfinished job's event stream (GET /api/v1/jobs/{id}/events) is read with fetch, so the
// bearer header goes with it (EventSource cannot send one); a job without a stream is polled, as every job was before.
// Every server string reaches the DOM through textContent; a hash-pinned CSP blocks anything injected anyway.

import { createHash } from 'node:crypto';
import { CONTROLLABLE_FROM, FINAL_STATUSES } from '../../common/jobs';
import { PARSE_EVENT_SCRIPT } from './event-stream-script';

const STYLE = `
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 980px; padding: 16px; color: #1f2328; background: #f6f8fa; }
  header { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; justify-content: space-between; }
  h1 { font-size: 20px; margin: 0; }
  form { display: flex; gap: 6px; align-items: center; }
  input { width: 260px; padding: 4px 6px; font: inherit; }
  button { font: inherit; padding: 3px 10px; border: 1px solid #afb8c1; border-radius: 6px; background: #fff; cursor: pointer; }
  button:disabled { opacity: .45; cursor: default; }
  #notice { margin: 12px 0; padding: 8px 12px; border-radius: 6px; background: #ddf4ff; border: 1px solid #54aeff; white-space: pre-wrap; }
  #notice.error { background: #ffebe9; border-color: #ff8182; }
  [hidden] { display: none !important; }
  ul { list-style: none; padding: 0; margin: 12px 0; display: grid; gap: 10px; }
  li { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 14px; }
  .head, .stats, .actions { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: baseline; }
  .type { font-weight: 600; }
  .id, .meta { color: #656d76; font-size: 12px; overflow-wrap: anywhere; } .id { font-family: ui-monospace, monospace; }
  .badge { margin-left: auto; padding: 0 8px; border-radius: 10px; background: #eaeef2; font-size: 12px; }
  .track { flex: 1; min-width: 200px; height: 12px; background: #eaeef2; border-radius: 6px; overflow: hidden; }
  .fill { height: 100%; width: 0; background: #2da44e; transition: width .4s; }
  .stats, .line { margin-top: 6px; } .line { overflow-wrap: anywhere; } .error-text { color: #cf222e; }
  .actions { margin-top: 8px; gap: 6px; }
  [data-status=paused] .fill { background: #bf8700; } [data-status=paused] .badge { background: #fff8c5; }
  [data-status=failed] .fill, [data-status=cancelled] .fill { background: #8c959f; }
  [data-status=failed] .badge { background: #ffebe9; } [data-status=completed] .badge { background: #dafbe1; } [data-status=running] .badge { background: #ddf4ff; }
`;

// Plain ES2020 without template literals, so this TypeScript template string needs no escaping; the statuses
// come from common/jobs.ts, the same ones the API decides by.
const SCRIPT = `
(function () {
  'use strict';
  var KEY = 'synapse-jobs-token';
  var FINISHED = ${JSON.stringify(FINAL_STATUSES)};
  var ACTIONS = ${JSON.stringify(CONTROLLABLE_FROM)};
  var rows = new Map();   // job id -> { el, parts, job }
  var busy = new Set();   // job ids with a button request in flight
  var token = null, timer = null, generation = 0, pollFailed = false;
  // Job id -> its event stream: { controller, latest (the newest status it brought), lastId, retryAt (after a failure) }.
  var streams = new Map();
  // A browser opens at most 6 connections to one server over HTTP/1.1: streams leave room for the list and the buttons.
  var MAX_STREAMS = 4;
  // A job whose stream failed is polled, and its stream tried again this much later.
  var STREAM_RETRY_MS = 10000;
  var $ = function (id) { return document.getElementById(id); };

  function node(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text !== undefined) el.textContent = text;
    return el;
  }
  function notify(text, isError) {
    var n = $('notice');
    n.textContent = text || ''; n.className = isError ? 'error' : ''; n.hidden = !text;
  }

  async function api(method, path) {
    var res = await fetch(path, { method: method, headers: { authorization: 'Bearer ' + token }, cache: 'no-store' });
    var body = await res.json().catch(function () { return null; });
    if (res.ok) return body;
    // An RFC 9457 problem: code names the refusal, detail says it for this request.
    var e = body || {};
    throw Object.assign(new Error((e.code || 'HTTP ' + res.status) + ': ' + (e.detail || e.title || res.statusText)), { status: res.status });
  }

  function eta(seconds) {
    var s = Math.max(0, Math.round(seconds));
    return typeof seconds !== 'number' ? '' : 'ETA ' + (s >= 60 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : s + ' s');
  }
  function describe(metadata) {
    return Object.keys(metadata || {}).map(function (k) {
      var v = metadata[k];
      return k + ': ' + (typeof v === 'string' ? v : JSON.stringify(v));
    }).join(' · ').slice(0, 400);
  }

  function makeRow(id) {
    var p = {};
    var el = node('li', { 'data-job-id': id });
    var head = el.appendChild(node('div', { class: 'head' }));
    p.type = head.appendChild(node('span', { class: 'type' }));
    // The job's own page: results, charts, timings, usage, its Temporal link (client/http/job-detail-page.ts).
    head.appendChild(node('a', { class: 'id', href: '/jobs/' + encodeURIComponent(id), 'data-role': 'detail-link', title: 'Open the job page' }, id));
    p.status = head.appendChild(node('span', { class: 'badge', 'data-role': 'status' }));
    var stats = el.appendChild(node('div', { class: 'stats' }));
    p.bar = stats.appendChild(node('div', { class: 'track', 'data-role': 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-label': 'progress of job ' + id }));
    p.fill = p.bar.appendChild(node('div', { class: 'fill' }));
    p.pct = stats.appendChild(node('span', { 'data-role': 'percentage' }));
    var steps = stats.appendChild(node('span'));
    p.done = steps.appendChild(node('span', { 'data-role': 'completed-steps' }));
    p.total = steps.appendChild(node('span'));
    p.failed = stats.appendChild(node('span', { 'data-role': 'failed-steps' }));
    p.eta = stats.appendChild(node('span', { 'data-role': 'eta' }));
    p.step = el.appendChild(node('div', { class: 'line', 'data-role': 'current-step' }));
    p.message = el.appendChild(node('div', { class: 'line', 'data-role': 'message' }));
    p.error = el.appendChild(node('div', { class: 'line error-text', 'data-role': 'error' }));
    p.meta = el.appendChild(node('div', { class: 'line meta', 'data-role': 'metadata' }));
    var actions = el.appendChild(node('div', { class: 'actions' }));
    p.buttons = Object.keys(ACTIONS).map(function (action) {
      var b = actions.appendChild(node('button', { type: 'button', 'data-action': action }, action[0].toUpperCase() + action.slice(1)));
      b.addEventListener('click', function () { act(id, action); });
      return b;
    });
    var row = { el: el, parts: p, job: null };
    rows.set(id, row);
    return row;
  }

  function update(row, job) {
    var p = row.parts, pct = Math.max(0, Math.min(100, Number(job.progress_percentage) || 0));
    row.job = job;
    row.el.setAttribute('data-status', job.status);
    p.type.textContent = job.job_type;
    p.status.textContent = job.status;
    p.bar.setAttribute('aria-valuenow', String(pct));
    p.fill.style.width = pct + '%';
    p.pct.textContent = pct + '%';
    p.done.textContent = String(job.completed_steps || 0);
    p.total.textContent = ' / ' + (job.total_steps === null ? '?' : job.total_steps) + ' steps';
    p.failed.textContent = job.failed_steps ? job.failed_steps + ' failed' : '';
    p.eta.textContent = job.status === 'running' ? eta(job.eta_seconds) : '';  // a paused job's ETA means nothing
    p.step.textContent = job.current_step || '';
    p.message.textContent = job.message || '';
    p.error.textContent = job.error || '';
    p.meta.textContent = describe(job.metadata);
    p.buttons.forEach(function (b) {
      b.disabled = busy.has(job.job_id) || ACTIONS[b.getAttribute('data-action')].indexOf(job.status) < 0;
    });
  }

  function render(jobs) {
    var list = $('jobs'), seen = new Set();
    jobs.forEach(function (job, i) {
      seen.add(job.job_id);
      var row = rows.get(job.job_id) || makeRow(job.job_id);
      update(row, job);
      if (list.children[i] !== row.el) list.insertBefore(row.el, list.children[i] || null);
    });
    rows.forEach(function (row, id) { if (!seen.has(id)) { row.el.remove(); rows.delete(id); } });
    $('empty').hidden = jobs.length > 0;
  }

  // parseEvent(block): one text/event-stream block's event (event-stream-script.ts).${PARSE_EVENT_SCRIPT}

  // Follows one job's event stream, showing each status as it comes; reconnects (with Last-Event-ID, so nothing goes
  // backwards) when the server ends it early; on a failure the job is polled again and the stream retried later.
  async function follow(id, gen) {
    var s = { controller: new AbortController(), latest: null, lastId: null, retryAt: 0 };
    streams.set(id, s);
    try {
      for (;;) {
        var headers = { authorization: 'Bearer ' + token, accept: 'text/event-stream' };
        if (s.lastId) headers['last-event-id'] = s.lastId;
        var res = await fetch('/api/v1/jobs/' + encodeURIComponent(id) + '/events', { headers: headers, cache: 'no-store', signal: s.controller.signal });
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = '', end;
        for (;;) {
          var chunk = await reader.read();
          if (chunk.done) break;
          buffer += decoder.decode(chunk.value, { stream: true }).replace(/\\r\\n/g, '\\n');
          while ((end = buffer.indexOf('\\n\\n')) >= 0) {
            var ev = parseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (!ev || (ev.event !== 'status' && ev.event !== 'final')) continue;
            if (ev.id) s.lastId = ev.id;
            s.latest = JSON.parse(ev.data.join('\\n'));
            var row = rows.get(id);
            if (gen === generation && row) update(row, s.latest);
            if (ev.event === 'final') return;
          }
        }
        if (gen !== generation || streams.get(id) !== s) return;
      }
    } catch (e) {
      if (s.controller.signal.aborted) return;
      s.latest = null;
      s.retryAt = Date.now() + STREAM_RETRY_MS;
    }
  }

  // Streams for the first MAX_STREAMS unfinished jobs listed; none for jobs that finished or left the list.
  function followJobs(jobs, gen) {
    var wanted = new Set(jobs.filter(function (job) { return FINISHED.indexOf(job.status) < 0; }).slice(0, MAX_STREAMS).map(function (job) { return job.job_id; }));
    streams.forEach(function (s, id) {
      if (!wanted.has(id)) { s.controller.abort(); streams.delete(id); }
    });
    wanted.forEach(function (id) {
      var s = streams.get(id);
      if (!s || (s.retryAt && Date.now() >= s.retryAt)) follow(id, gen);
    });
  }
  function closeStreams() {
    streams.forEach(function (s) { s.controller.abort(); });
    streams.clear();
  }

  // One round at a time (list, then the status of unfinished jobs: from their stream, or polled when they have none),
  // the next a second after it ends, so a slow server never piles requests up; rendering once per round keeps a
  // stale list from moving bars back.
  async function poll(gen) {
    try {
      var list = (await api('GET', '/api/v1/jobs')).jobs;
      var jobs = await Promise.all(list.map(function (job) {
        if (FINISHED.indexOf(job.status) >= 0) return job;
        var s = streams.get(job.job_id);
        if (s && s.latest) return s.latest;
        return api('GET', '/api/v1/jobs/' + encodeURIComponent(job.job_id) + '/status').catch(function () { return job; });
      }));
      if (gen !== generation) return;
      render(jobs);
      followJobs(jobs, gen);
      if (pollFailed) notify('');
      pollFailed = false;
    } catch (e) {
      if (gen !== generation) return;
      if (e.status === 401) return signOut('Sign-in failed (' + e.message + '). Paste a valid token.');
      pollFailed = true;
      notify('Could not load jobs: ' + e.message, true);
    }
    timer = setTimeout(function () { poll(gen); }, 1000);
  }

  async function act(id, action) {
    var row = rows.get(id);
    busy.add(id);
    if (row && row.job) update(row, row.job);
    try {
      var job = await api('POST', '/api/v1/jobs/' + encodeURIComponent(id) + '/' + action);
      notify('');
      if (row) row.job = job;
    } catch (e) {
      notify('Could not ' + action + ' job ' + id + ': ' + e.message, true);
    } finally {
      busy.delete(id);
      if (row && row.job && rows.get(id) === row) update(row, row.job);
    }
  }

  function subjectOf(jwt) {
    try {
      var bytes = Uint8Array.from(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')), function (c) { return c.charCodeAt(0); });
      return String(JSON.parse(new TextDecoder().decode(bytes)).sub || '?');
    } catch (e) { return '?'; }
  }

  function signIn(t) {
    token = t;
    sessionStorage.setItem(KEY, t);
    $('who').textContent = 'Signed in as ' + subjectOf(t);
    $('signout').hidden = false;
    restart();
  }
  function signOut(text) {
    token = null;
    sessionStorage.removeItem(KEY);
    $('who').textContent = 'Not signed in';
    $('signout').hidden = true;
    restart();
    notify(text || '', Boolean(text));
  }
  function restart() {
    generation++;
    clearTimeout(timer);
    closeStreams();
    rows.forEach(function (row) { row.el.remove(); });
    rows.clear();
    $('empty').hidden = true;
    notify('');
    if (token) poll(generation);
  }

  $('signin').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('token').value.trim();
    $('token').value = '';
    if (t) signIn(t);
  });
  $('signout').addEventListener('click', function () { signOut(); });

  // A token handed over in the fragment never reaches a server; take it out of the address bar and history.
  var fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  var saved = fromHash || sessionStorage.getItem(KEY);
  if (saved) signIn(saved); else signOut();
})();
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

// Only our own script and style run, and only our origin is reached: injected markup could do nothing.
const CSP = `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'`;
/** The same policy for a response header, where frame-ancestors also works (a meta tag cannot stop framing). */
export const JOBS_PAGE_CSP = `${CSP}; frame-ancestors 'none'`;

export const JOBS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="referrer" content="no-referrer">
<title>Synapse Jobs</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Synapse Jobs</h1>
  <span id="who"></span>
  <form id="signin" autocomplete="off">
    <input id="token" type="password" placeholder="Paste a bearer token (JWT)" aria-label="Bearer token">
    <button type="submit">Sign in</button>
    <button type="button" id="signout" hidden>Sign out</button>
  </form>
</header>
<div id="notice" data-role="notice" role="alert" hidden></div>
<p id="empty" hidden>No jobs yet.</p>
<ul id="jobs" aria-live="off"></ul>
<script>${SCRIPT}</script>
</body>
</html>
`;
