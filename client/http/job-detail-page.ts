// The job page served at `/jobs/{id}`: one job's state, timings, LLM usage and cost, its family's results as tables
// and a chart (chart.js, served by this server at CHART_ASSET_PATH, no CDN), and its Temporal Web UI link. Every
// server string reaches the DOM through textContent; a CSP of our own origin plus hash-pinned inline code blocks the rest.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FINAL_STATUSES } from '../../common/jobs';
import { PARSE_EVENT_SCRIPT } from './event-stream-script';

/** Where the page loads chart.js from: this server (client/http/server.ts serves chartAsset() there). */
export const CHART_ASSET_PATH = '/assets/chart.umd.min.js';

export interface ChartAsset {
  body: Buffer;
  /** Subresource integrity of the file, so the page runs exactly the chart.js it was built with. */
  integrity: string;
  /** The asset's address with its content hash, so a long cache never serves an older chart.js to a newer page. */
  url: string;
}

let asset: ChartAsset | undefined;

/**
 * chart.js's UMD build from node_modules, read once. Its package exports only its entry points, so the file is found
 * beside the CommonJS entry (dist/chart.cjs), which resolves from the sources and from a production build alike.
 */
export function chartAsset(): ChartAsset {
  if (!asset) {
    const body = readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'));
    const version = createHash('sha256').update(body).digest('hex').slice(0, 16);
    asset = {
      body,
      integrity: `sha384-${createHash('sha384').update(body).digest('base64')}`,
      url: `${CHART_ASSET_PATH}?v=${version}`,
    };
  }
  return asset;
}

const STYLE = `
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1060px; padding: 16px; color: #1f2328; background: #f6f8fa; }
  header { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: baseline; }
  h1 { font-size: 20px; margin: 0; } h2 { font-size: 16px; margin: 0 0 8px; }
  a { color: #0969da; }
  #who { margin-left: auto; color: #656d76; }
  #notice { margin: 12px 0; padding: 8px 12px; border-radius: 6px; background: #ffebe9; border: 1px solid #ff8182; white-space: pre-wrap; }
  [hidden] { display: none !important; }
  section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 14px; margin: 12px 0; }
  .head { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: baseline; }
  .type { font-weight: 600; } .id { color: #656d76; font: 12px ui-monospace, monospace; overflow-wrap: anywhere; }
  .badge { margin-left: auto; padding: 0 8px; border-radius: 10px; background: #eaeef2; font-size: 12px; }
  [data-status=completed] .badge { background: #dafbe1; } [data-status=running] .badge { background: #ddf4ff; }
  [data-status=failed] .badge { background: #ffebe9; } [data-status=paused] .badge { background: #fff8c5; }
  .track { height: 10px; margin: 8px 0; background: #eaeef2; border-radius: 5px; overflow: hidden; }
  .fill { height: 100%; width: 0; background: #2da44e; }
  dl { display: grid; grid-template-columns: repeat(4, auto 1fr); gap: 2px 10px; margin: 8px 0; }
  dt { color: #656d76; } dd { margin: 0; }
  .line { margin-top: 4px; overflow-wrap: anywhere; } .error-text { color: #cf222e; }
  .chart { position: relative; height: 300px; margin: 8px 0; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 8px; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td ul { margin: 0; padding-left: 16px; } .muted { color: #656d76; }
`;

// Plain ES2020 without template literals, so this TypeScript template string needs no escaping; the final statuses
// come from common/jobs.ts, the same ones the API decides by.
const SCRIPT = `
(function () {
  'use strict';
  var KEY = 'synapse-jobs-token';
  var FINISHED = ${JSON.stringify(FINAL_STATUSES)};
  // Results read whole family tables: while the job runs they are read again at most this often, and once at its end.
  var RESULTS_EVERY_MS = 5000;
  var token = null, stopFollowing = null, chart = null;
  var results = { at: 0, steps: -1, final: false, loading: false };
  var jobId = decodeURIComponent(location.pathname.split('/').pop() || '');
  var $ = function (role) { return document.querySelector('[data-role="' + role + '"]'); };

  function node(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }
  function notify(text) { var n = $('notice'); n.textContent = text || ''; n.hidden = !text; }

  async function api(path) {
    var res = await fetch(path, { headers: { authorization: 'Bearer ' + token }, cache: 'no-store' });
    var body = await res.json().catch(function () { return null; });
    if (res.ok) return body;
    var e = body || {};
    throw Object.assign(new Error((e.code || 'HTTP ' + res.status) + ': ' + (e.detail || e.title || res.statusText)), { status: res.status });
  }
  var jobPath = function (tail) { return '/api/v1/jobs/' + encodeURIComponent(jobId) + (tail || ''); };

  // --- formatting -------------------------------------------------------------------------------------------------
  function pct(rate) { return rate === null || rate === undefined ? '–' : (rate * 100).toFixed(2) + ' %'; }
  function when(iso) { return iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '–'; }
  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function count(n) { return Number(n).toLocaleString('en-US'); }

  // --- status -----------------------------------------------------------------------------------------------------
  function renderStatus(job) {
    var pctDone = Math.max(0, Math.min(100, Number(job.progress_percentage) || 0));
    document.body.setAttribute('data-status', job.status);
    $('job-type').textContent = job.job_type;
    $('status').textContent = job.status;
    $('progress').setAttribute('aria-valuenow', String(pctDone));
    $('progress-fill').style.width = pctDone + '%';
    $('steps').textContent = (job.completed_steps || 0) + ' / ' + (job.total_steps === null ? '?' : job.total_steps) + ' steps' + (job.failed_steps ? ', ' + job.failed_steps + ' failed' : '');
    $('created-at').textContent = when(job.created_at);
    $('started-at').textContent = when(job.started_at);
    $('completed-at').textContent = when(job.completed_at);
    var from = job.started_at || job.created_at;
    var to = job.completed_at ? Date.parse(job.completed_at) : (FINISHED.indexOf(job.status) >= 0 ? Date.parse(job.updated_at) : Date.now());
    var duration = to - Date.parse(from);
    $('duration').textContent = span(duration);
    $('duration').setAttribute('data-value', String(Math.round(duration)));
    var usage = job.llm_usage || { calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0, costUsd: null };
    $('llm-calls').textContent = count(usage.calls) + (usage.cachedCalls ? ' (' + count(usage.cachedCalls) + ' cached)' : '');
    $('llm-tokens').textContent = count(usage.promptTokens) + ' prompt + ' + count(usage.completionTokens) + ' completion';
    $('llm-cost').textContent = usage.costUsd === null ? 'no price configured' : '$' + usage.costUsd.toFixed(4);
    $('llm-cost').setAttribute('data-value', usage.costUsd === null ? '' : String(usage.costUsd));
    $('message').textContent = job.message || '';
    $('error').textContent = job.error || '';
  }

  // parseEvent(block): one text/event-stream block's event (event-stream-script.ts).${PARSE_EVENT_SCRIPT}

  // Pushed first: the job's event stream (GET /api/v1/jobs/{id}/events, read with fetch so the bearer header goes with
  // it), reconnecting with Last-Event-ID when the server ends it early so nothing goes backwards. When the stream
  // cannot be had (an old server, a proxy that buffers, a refusal), the status is polled once a second instead, and a
  // refusal reaches onError from there. Either way onStatus sees every status up to the final one.
  function follow(onStatus, onError) {
    var stopped = false, timer = null, controller = new AbortController(), lastId = null;
    async function tick() {
      var final = false;
      try {
        var job = await api(jobPath('/status'));
        if (stopped) return;
        onStatus(job);
        final = FINISHED.indexOf(job.status) >= 0;
      } catch (e) {
        if (stopped) return;
        if (onError(e) === false) return;
      }
      if (!final) timer = setTimeout(tick, 1000);
    }
    async function stream() {
      try {
        for (;;) {
          var headers = { authorization: 'Bearer ' + token, accept: 'text/event-stream' };
          if (lastId) headers['last-event-id'] = lastId;
          var res = await fetch(jobPath('/events'), { headers: headers, cache: 'no-store', signal: controller.signal });
          if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
          var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = '', end;
          for (;;) {
            var chunk = await reader.read();
            if (chunk.done) break;
            buffer += decoder.decode(chunk.value, { stream: true }).split('\\r\\n').join('\\n');
            while ((end = buffer.indexOf('\\n\\n')) >= 0) {
              var ev = parseEvent(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
              if (!ev || (ev.event !== 'status' && ev.event !== 'final')) continue;
              if (ev.id) lastId = ev.id;
              if (stopped) return;
              onStatus(JSON.parse(ev.data.join('\\n')));
              if (ev.event === 'final') return;
            }
          }
        }
      } catch (e) {
        if (!stopped) tick();
      }
    }
    stream();
    return function () { stopped = true; clearTimeout(timer); controller.abort(); };
  }

  function onStatus(job) {
    renderStatus(job);
    notify('');
    var final = FINISHED.indexOf(job.status) >= 0;
    var steps = job.completed_steps || 0;
    var due = final ? !results.final : steps !== results.steps && Date.now() - results.at >= RESULTS_EVERY_MS;
    if (due && !results.loading) loadResults(final, steps);
  }
  function onError(e) {
    if (e.status === 401) { notify('Sign-in failed (' + e.message + '). Sign in again on the jobs page.'); return false; }
    if (e.status === 404 || e.status === 400) { notify('No such job: ' + e.message); return false; }
    notify('Could not load the job: ' + e.message);
    return true;
  }

  // --- results ----------------------------------------------------------------------------------------------------
  async function loadResults(final, steps) {
    results.loading = true;
    try {
      var answer = await api(jobPath('/results'));
      results.at = Date.now(); results.steps = steps; results.final = final;
      renderResults(answer);
    } catch (e) {
      notify('Could not load the results: ' + e.message);
    } finally {
      results.loading = false;
    }
  }

  function table(headers, rows) {
    var t = node('table'), head = t.appendChild(node('thead')).appendChild(node('tr')), body = t.appendChild(node('tbody'));
    headers.forEach(function (h) { head.appendChild(node('th', h.num ? { class: 'num' } : {}, h.label)); });
    rows.forEach(function (r) {
      var tr = body.appendChild(node('tr', r.attrs));
      r.cells.forEach(function (c, i) {
        var td = tr.appendChild(node('td', Object.assign(headers[i].num ? { class: 'num' } : {}, c.attrs || {})));
        if (c.el) td.appendChild(c.el); else td.textContent = c.text === null || c.text === undefined ? '–' : String(c.text);
      });
    });
    return t;
  }
  var cell = function (text, attrs) { return { text: text, attrs: attrs }; };
  var rate = function (r, role) { return cell(pct(r), { 'data-role': role, 'data-value': r === null ? '' : String(r) }); };
  function more(list, what) {
    return list.truncated ? node('p', { class: 'muted' }, 'The first ' + list.items.length + ' of ' + count(list.total) + ' ' + what + '.') : null;
  }

  // A stratum's key is the JSON array of its columns' values: shown as the values, a null as (null).
  function stratumLabel(key) {
    try {
      var values = JSON.parse(key);
      if (Array.isArray(values)) return values.map(function (v) { return v === null ? '(null)' : String(v); }).join(' / ');
    } catch (e) { /* not JSON: shown as it is */ }
    return key;
  }

  var COLOURS = { pass: '#2da44e', fail: '#cf222e', error: '#8c959f', high: '#cf222e', medium: '#bf8700', low: '#2da44e', blue: '#0969da', grey: '#8c959f' };

  var FAMILIES = {
    profiling: function (r) {
      var items = r.attributes.items;
      // Pass rates near 100 % would all look full from 0: the axis starts a little under the lowest one instead.
      var lowest = Math.min.apply(null, items.map(function (a) { return a.pass_rate === null ? 100 : a.pass_rate * 100; }).concat([100]));
      var from = Math.max(0, Math.floor(lowest - Math.max(1, (100 - lowest) / 4)));
      return {
        summary: 'Overall pass rate ' + pct(r.overall_pass_rate) + ' over ' + count(r.attributes.total) + ' attributes' + (r.rules_job_id !== jobId ? ' (rules of job ' + r.rules_job_id + ')' : '') + '.',
        chart: {
          type: 'bar',
          data: { labels: items.map(function (a) { return a.attribute; }), datasets: [{ label: 'pass rate per attribute (%)', data: items.map(function (a) { return a.pass_rate === null ? null : a.pass_rate * 100; }), backgroundColor: COLOURS.pass }] },
          options: { scales: { y: { min: from, max: 100, title: { display: true, text: '% rows passing' + (from > 0 ? ' (axis from ' + from + ' %)' : '') } } } },
        },
        detail: [table(
          [{ label: 'Attribute' }, { label: 'Rules generated' }, { label: 'Rows checked', num: true }, { label: 'Rows failing', num: true }, { label: 'Pass rate', num: true }, { label: 'Rules' }],
          items.map(function (a) {
            var rules = node('ul', { 'data-role': 'rules' });
            a.rules.forEach(function (rule) {
              var text = '#' + rule.rule_index + ' ' + (rule.kind || '?') + ' [' + rule.severity + '] ' + rule.description + ' — ' + (rule.error ? 'could not run: ' + rule.error : pct(rule.pass_rate));
              rules.appendChild(node('li', { 'data-rule-index': String(rule.rule_index), 'data-value': rule.pass_rate === null ? '' : String(rule.pass_rate) }, text));
            });
            return {
              attrs: { 'data-attribute': a.attribute },
              cells: [cell(a.attribute), cell(a.status === 'failed' ? 'failed: ' + (a.failure_reason || '') : String(a.rules_count), { 'data-role': 'rules-count' }), cell(count(a.checked_rows), { 'data-role': 'checked', 'data-value': String(a.checked_rows) }), cell(count(a.failed_rows), { 'data-role': 'failed', 'data-value': String(a.failed_rows) }), rate(a.pass_rate, 'pass-rate'), { el: rules }],
            };
          }),
        ), more(r.attributes, 'attributes')],
      };
    },
    test_execution: function (r) {
      var items = r.test_cases.items;
      return {
        summary: count(r.counts.pass) + ' passed · ' + count(r.counts.fail) + ' failed · ' + count(r.counts.error) + ' could not run',
        chart: {
          type: 'bar',
          data: {
            labels: items.map(function (t) { return t.test_case_id; }),
            datasets: [
              { label: 'records passing', data: items.map(function (t) { return t.checked_records - t.failed_records; }), backgroundColor: COLOURS.pass },
              { label: 'records failing', data: items.map(function (t) { return t.failed_records; }), backgroundColor: COLOURS.fail },
            ],
          },
          options: { indexAxis: 'y', scales: { x: { stacked: true }, y: { stacked: true } } },
        },
        detail: [table(
          [{ label: 'Test case' }, { label: 'Attribute' }, { label: 'Description' }, { label: 'Outcome' }, { label: 'Records checked', num: true }, { label: 'Records failing', num: true }],
          items.map(function (t) {
            return {
              attrs: { 'data-test-case': t.test_case_id, 'data-outcome': t.status },
              cells: [cell(t.test_case_id), cell(t.attribute), cell(t.description), cell(t.status + (t.error ? ': ' + t.error : '') + (t.carried_over_from ? ' (carried over)' : ''), { 'data-role': 'outcome' }), cell(count(t.checked_records), { 'data-role': 'checked', 'data-value': String(t.checked_records) }), cell(count(t.failed_records), { 'data-role': 'failed', 'data-value': String(t.failed_records) })],
            };
          }),
        ), more(r.test_cases, 'test cases')],
      };
    },
    sampling: function (r) {
      var items = r.strata.items, plan = r.plan;
      return {
        summary: plan ? 'Sample of ' + count(plan.sample_size) + ' from ' + count(plan.population) + ' records (' + (plan.confidence_level * 100) + ' % confidence, ±' + (plan.margin_of_error * 100) + ' %, ' + plan.allocation + ' allocation); chosen: ' + count(r.sampled.random) + ' at random, ' + count(r.sampled.edge_cases) + ' edge cases.' : 'No sample plan yet.',
        chart: {
          type: 'bar',
          data: {
            labels: items.map(function (s) { return stratumLabel(s.stratum); }),
            datasets: [
              { label: 'stratum population', data: items.map(function (s) { return s.population; }), backgroundColor: COLOURS.grey, yAxisID: 'y' },
              { label: 'records sampled', data: items.map(function (s) { return s.selected; }), backgroundColor: COLOURS.blue, yAxisID: 'y1' },
            ],
          },
          options: { scales: { y: { position: 'left', title: { display: true, text: 'population' } }, y1: { position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: 'sampled' } } } },
        },
        detail: [table(
          [{ label: 'Stratum' }, { label: 'Population', num: true }, { label: 'Allocated', num: true }, { label: 'Sampled', num: true }],
          items.map(function (s) {
            return { attrs: { 'data-stratum': s.stratum }, cells: [cell(stratumLabel(s.stratum)), cell(count(s.population), { 'data-role': 'population', 'data-value': String(s.population) }), cell(count(s.allocated), { 'data-role': 'allocated', 'data-value': String(s.allocated) }), cell(count(s.selected), { 'data-role': 'selected', 'data-value': String(s.selected) })] };
          }),
        ), more(r.strata, 'strata')],
      };
    },
    scoping: function (r) {
      var items = r.assessments.items, c = r.counts;
      return {
        summary: count(c.assessed) + ' attributes assessed (' + c.high + ' high, ' + c.medium + ' medium, ' + c.low + ' low risk), ' + count(c.in_scope) + ' in scope, ' + c.failed + ' failed; tests chosen: ' + r.chosen_tests.length + '.',
        chart: {
          type: 'bar',
          data: { labels: items.map(function (a) { return a.attribute; }), datasets: [{ label: 'risk score', data: items.map(function (a) { return a.score; }), backgroundColor: items.map(function (a) { return COLOURS[a.risk] || COLOURS.grey; }) }] },
          options: { plugins: { legend: { display: false } }, scales: { y: { min: 0, max: 100, title: { display: true, text: 'risk score (red high · amber medium · green low)' } } } },
        },
        detail: [
          node('h2', {}, 'Tests chosen'),
          table(
            [{ label: 'Test' }, { label: 'Cost', num: true }, { label: 'Applies to', num: true }, { label: 'Covers (high risk)' }],
            r.chosen_tests.map(function (t) { return { attrs: { 'data-test-kind': t.test_kind }, cells: [cell(t.test_kind), cell(t.cost, { 'data-role': 'cost' }), cell(t.applies_to), cell(t.covers.join(', '))] }; }),
          ),
          node('h2', {}, 'Assessments'),
          table(
            [{ label: 'Attribute' }, { label: 'Risk' }, { label: 'Score', num: true }, { label: 'In scope' }, { label: 'Recommended tests' }],
            items.map(function (a) {
              return { attrs: { 'data-attribute': a.attribute }, cells: [cell(a.attribute), cell(a.status === 'failed' ? 'failed: ' + (a.failure_reason || '') : a.risk, { 'data-role': 'risk' }), cell(a.score, { 'data-role': 'score', 'data-value': a.score === null ? '' : String(a.score) }), cell(a.in_scope === null ? null : a.in_scope ? 'yes' : 'no', { 'data-role': 'in-scope' }), cell(a.recommended_tests.join(', '))] };
            }),
          ),
          more(r.assessments, 'assessments'),
        ],
      };
    },
    planning: function (r) {
      var generation = r.chunks !== null, c = r.counts;
      var labels = generation ? ['chunks read', 'chunks failed'] : ['mapped', 'failed', 'accepted (kept)'];
      var data = generation ? [r.chunks.completed, r.chunks.failed] : [c.mapped, c.failed, c.skipped_accepted];
      return {
        summary: generation
          ? count(r.chunks.completed) + ' chunks read, ' + count(r.chunks.failed) + ' failed; ' + count(r.chunks.candidates) + ' candidates merged into ' + count(r.elements.total) + ' plan data elements.'
          : count(c.mapped) + ' PDEs mapped · ' + count(c.failed) + ' failed · ' + count(c.skipped_accepted) + ' kept as a person accepted them',
        chart: { type: 'bar', data: { labels: labels, datasets: [{ label: generation ? 'chunks' : 'PDEs', data: data, backgroundColor: generation ? [COLOURS.pass, COLOURS.fail] : [COLOURS.pass, COLOURS.fail, COLOURS.blue] }] }, options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } },
        detail: generation
          ? [table([{ label: 'PDE' }, { label: 'Name' }, { label: 'Data type' }], r.elements.items.map(function (e) { return { attrs: { 'data-pde-id': String(e.pde_id) }, cells: [cell(e.pde_id), cell(e.name), cell(e.data_type)] }; })), more(r.elements, 'plan data elements')]
          : [table([{ label: 'PDE' }, { label: 'Name' }, { label: 'Outcome' }, { label: 'Classification' }, { label: 'Reason' }], r.mappings.items.map(function (m) { return { attrs: { 'data-pde-id': String(m.pde_id), 'data-outcome': m.outcome }, cells: [cell(m.pde_id), cell(m.name), cell(m.outcome, { 'data-role': 'outcome' }), cell(m.classification), cell(m.failure_reason)] }; })), more(r.mappings, 'PDEs')],
      };
    },
  };

  function draw(config) {
    if (typeof Chart === 'undefined') return;  // the tables still show every number
    config.options = Object.assign({ animation: false, maintainAspectRatio: false, responsive: true }, config.options);
    if (chart && chart.config.type === config.type) {
      chart.data = config.data;
      chart.options = config.options;
      chart.update();
    } else {
      if (chart) chart.destroy();
      chart = new Chart($('chart'), config);
    }
  }

  function renderResults(answer) {
    var link = $('temporal-link');
    // Only an http(s) address becomes a link: the address comes from configuration, never from a job.
    if (/^https?:[/][/]/.test(answer.temporal_ui_url)) { link.setAttribute('href', answer.temporal_ui_url); link.hidden = false; }
    var r = answer.results;
    $('results').hidden = false;
    if (!r || !FAMILIES[r.family]) { $('results-summary').textContent = 'This job type keeps no results here.'; $('chart-box').hidden = true; return; }
    document.body.setAttribute('data-family', r.family);
    var view = FAMILIES[r.family](r);
    $('results-summary').textContent = view.summary;
    $('chart-box').hidden = view.chart.data.labels.length === 0;
    draw(view.chart);
    $('results-detail').replaceChildren.apply($('results-detail'), view.detail.filter(Boolean));
    document.body.setAttribute('data-results', results.final ? 'final' : 'partial');
  }

  // --- sign-in ----------------------------------------------------------------------------------------------------
  function subjectOf(jwt) {
    try {
      var bytes = Uint8Array.from(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')), function (c) { return c.charCodeAt(0); });
      return String(JSON.parse(new TextDecoder().decode(bytes)).sub || '?');
    } catch (e) { return '?'; }
  }

  $('job-id').textContent = jobId;
  document.title = 'Job ' + jobId + ' · Synapse Jobs';
  // A token handed over in the fragment never reaches a server; take it out of the address bar and history.
  var fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  if (fromHash) sessionStorage.setItem(KEY, fromHash);
  token = fromHash || sessionStorage.getItem(KEY);
  if (!token) { $('who').textContent = 'Not signed in'; notify('Sign in on the jobs page first.'); return; }
  $('who').textContent = 'Signed in as ' + subjectOf(token);
  stopFollowing = follow(onStatus, onError);
  window.addEventListener('pagehide', function () { stopFollowing(); });
})();
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

// chart.js from our own origin (pinned by its integrity) and our own inline script and style; only our API is reached.
const CSP = `default-src 'none'; script-src 'self' ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'`;
/** The same policy for a response header, where frame-ancestors also works (a meta tag cannot stop framing). */
export const JOB_DETAIL_PAGE_CSP = `${CSP}; frame-ancestors 'none'`;

let html: string | undefined;

/** The page, the same for every job (the script reads the job id from the address); built once. */
export function jobDetailPageHtml(): string {
  const chart = chartAsset();
  html ??= `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="referrer" content="no-referrer">
<title>Job · Synapse Jobs</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <a href="/jobs" data-role="back">← All jobs</a>
  <h1>Job</h1>
  <span id="who" data-role="who"></span>
</header>
<div id="notice" data-role="notice" role="alert" hidden></div>
<section data-role="summary">
  <div class="head">
    <span class="type" data-role="job-type"></span>
    <span class="id" data-role="job-id"></span>
    <span class="badge" data-role="status"></span>
  </div>
  <div class="track" data-role="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-label="progress"><div class="fill" data-role="progress-fill"></div></div>
  <div data-role="steps"></div>
  <dl>
    <dt>Created</dt><dd data-role="created-at"></dd>
    <dt>Started</dt><dd data-role="started-at"></dd>
    <dt>Completed</dt><dd data-role="completed-at"></dd>
    <dt>Duration</dt><dd data-role="duration"></dd>
    <dt>LLM calls</dt><dd data-role="llm-calls"></dd>
    <dt>Tokens</dt><dd data-role="llm-tokens"></dd>
    <dt>LLM cost</dt><dd data-role="llm-cost"></dd>
    <dt>Temporal</dt><dd><a data-role="temporal-link" target="_blank" rel="noopener noreferrer" hidden>Open in the Temporal Web UI</a></dd>
  </dl>
  <div class="line" data-role="message"></div>
  <div class="line error-text" data-role="error"></div>
</section>
<section data-role="results" hidden>
  <h2>Results</h2>
  <div data-role="results-summary"></div>
  <div class="chart" data-role="chart-box"><canvas data-role="chart" role="img" aria-label="results chart"></canvas></div>
  <div data-role="results-detail"></div>
</section>
<script src="${chart.url}" integrity="${chart.integrity}"></script>
<script>${SCRIPT}</script>
</body>
</html>
`;
  return html;
}
