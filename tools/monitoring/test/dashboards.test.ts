/**
 * The Grafana dashboards (monitoring/grafana): the committed JSON is what the builder produces, the
 * dashboards hold the panels operators rely on, every query parses (promtool) and names only metrics
 * the stack exposes, and the provisioning files and grafana.ini wire it together.
 *
 * After changing monitoring/grafana/src, regenerate the JSON from the repository root with
 *   node --import tsx monitoring/grafana/generate.ts
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import test from 'ava';
// `yaml` is in node_modules as a dependency of the Nx tooling (not a direct dependency of this repo).
import { parse as parseYaml } from 'yaml';
import { dashboards, panelQueries, type Dashboard, type Panel } from '../../../monitoring/grafana/src';
import { dashboardPath, dashboardsDir, render } from '../../../monitoring/grafana/generate';
import { dashboard, q, row, stat, timeseries } from '../../../monitoring/grafana/src/builder';

const grafanaDir = join(__dirname, '..', '..', '..', 'monitoring', 'grafana');
const REGENERATE = 'run `node --import tsx monitoring/grafana/generate.ts` from the repository root and keep the result';

const SERVICES = ['backend', 'cart-service', 'order-service', 'user-service'] as const;
const TITLES: Record<string, string> = {
  'system-overview': 'System Overview',
  backend: 'Backend Metrics',
  'cart-service': 'Cart Service',
  'order-service': 'Order Service',
  'user-service': 'User Service',
  cassandra: 'Cassandra',
};

/** Every metric the stack really exposes (services via prom-client, nginx exporter, Cassandra JMX agent, Prometheus). */
const histogram = (name: string) => [`${name}_bucket`, `${name}_sum`, `${name}_count`];
const KNOWN_METRICS = new Set([
  'up',
  ...histogram('http_request_duration_seconds'),
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_memory_limit_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  ...histogram('nodejs_gc_duration_seconds'),
  'nodejs_active_handles',
  'process_start_time_seconds',
  'stock_reservations_total',
  'cart_items_added_total',
  'orders_placed_total',
  'orders_revenue_cents_total',
  'orders_cancelled_total',
  'checkout_failures_total',
  'checkout_recovery_backlog',
  'checkout_recovery_oldest_pending_seconds',
  'checkout_recovery_pass_reads',
  'checkout_recovery_pass_failures_total',
  'checkout_recovery_last_success_timestamp_seconds',
  'checkout_recovery_items_total',
  'user_logins_total',
  'user_registrations_total',
  'nginx_up',
  'nginx_connections_active',
  'nginx_connections_accepted',
  'nginx_connections_handled',
  'nginx_connections_reading',
  'nginx_connections_writing',
  'nginx_connections_waiting',
  'nginx_http_requests_total',
  'cassandra_client_requests_total',
  'cassandra_client_request_latency_seconds',
  'cassandra_client_request_errors_total',
  'cassandra_client_request_cas_contended_total',
  'cassandra_client_request_cas_contention',
  'cassandra_client_request_cas_unfinished_commits_total',
  'cassandra_client_request_cas_condition_not_met_total',
  'cassandra_client_request_cas_unknown_results_total',
  'cassandra_table_tombstones_scanned',
  'cassandra_table_tombstones_scanned_max',
  'cassandra_table_tombstone_failures_total',
  'cassandra_table_tombstone_warnings_total',
  'cassandra_storage_load_bytes',
  'cassandra_storage_exceptions_total',
  'cassandra_compaction_pending_tasks',
  'cassandra_connected_native_clients',
  'cassandra_dropped_messages_total',
  'jvm_memory_used_bytes',
  'jvm_memory_max_bytes',
  'jvm_gc_collection_seconds_count',
  'jvm_gc_collection_seconds_sum',
  'jvm_threads_current',
]);

/** Series that exist only after some event: a query over them must fall back to 0 so the panel has data. */
const EVENT_ONLY = [
  'stock_reservations_total',
  'cart_items_added_total',
  'orders_placed_total',
  'orders_revenue_cents_total',
  'orders_cancelled_total',
  'checkout_failures_total',
  'checkout_recovery_items_total',
  'user_logins_total',
  'user_registrations_total',
  'nodejs_gc_duration_seconds',
  'status_code=~"5.."',
];

const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const OPERATORS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

interface Selector {
  metric: string;
  matchers: string;
}

/** The vector selectors of a PromQL expression: metric names and their `{...}` matchers (a small scanner, enough for these queries). */
function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  const ident = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
  const number = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  let i = 0;
  while (i < expr.length) {
    const ch = expr[i];
    if (ch === '"') {
      i = expr.indexOf('"', i + 1) + 1;
      continue;
    }
    if (ch === '[' || ch === '{') {
      i = expr.indexOf(ch === '[' ? ']' : '}', i) + 1;
      continue;
    }
    if (/\d/.test(ch)) {
      number.lastIndex = i;
      number.exec(expr);
      i = number.lastIndex;
      continue;
    }
    ident.lastIndex = i;
    const m = ident.exec(expr);
    if (!m) {
      i += 1;
      continue;
    }
    const name = m[0];
    i = ident.lastIndex;
    let next = i;
    while (expr[next] === ' ') next += 1;
    if (GROUPING.has(name)) {
      if (expr[next] === '(') i = expr.indexOf(')', next) + 1;
      continue;
    }
    if (expr[next] === '(' || AGGREGATIONS.has(name) || OPERATORS.has(name)) continue;
    if (expr[next] === '{') {
      const end = expr.indexOf('}', next);
      found.push({ metric: name, matchers: expr.slice(next + 1, end) });
      i = end + 1;
    } else {
      found.push({ metric: name, matchers: '' });
    }
  }
  return found;
}

const queryPanels = (d: Dashboard): Panel[] => d.panels.filter((p): p is Panel => p.type !== 'row');
const exprs = (p: Panel): string => p.targets.map((t) => t.expr).join('\n');
const byUid = (uid: string): Dashboard => {
  const d = dashboards.find((x) => x.uid === uid);
  if (!d) throw new Error(`no dashboard with uid ${uid}`);
  return d;
};
/** The first panel of the dashboard whose title matches and whose queries contain every fragment. */
function panel(uid: string, title: RegExp, ...fragments: string[]): Panel | undefined {
  return queryPanels(byUid(uid)).find((p) => title.test(p.title) && fragments.every((f) => exprs(p).includes(f)));
}

function readIni(path: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = { '': {} };
  let current = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      current = header[1];
      sections[current] ??= {};
      continue;
    }
    const pair = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!pair) throw new Error(`${path}: cannot read line "${line}"`);
    sections[current][pair[1]] = pair[2];
  }
  return sections;
}

test('the committed dashboard JSON is what the builder generates', (t) => {
  for (const d of dashboards) {
    const path = dashboardPath(d.uid);
    t.true(existsSync(path), `${path} is missing: ${REGENERATE}`);
    if (existsSync(path)) t.is(readFileSync(path, 'utf8'), render(d), `${path} differs from the builder's output: ${REGENERATE}`);
  }
  const expected = dashboards.map((d) => `${d.uid}.json`).sort();
  const present = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')).sort();
  t.deepEqual(present, expected, `${dashboardsDir} holds JSON that no dashboard produces: ${REGENERATE}`);
});

test('the six dashboards exist with their titles and unique uids', (t) => {
  t.deepEqual(Object.fromEntries(dashboards.map((d) => [d.uid, d.title])), TITLES);
  t.is(new Set(dashboards.map((d) => d.uid)).size, dashboards.length, 'dashboard uids are unique');
  t.is(new Set(dashboards.map((d) => d.title)).size, dashboards.length, 'dashboard titles are unique');
});

test('every dashboard has the common settings', (t) => {
  for (const d of dashboards) {
    t.is(d.schemaVersion, 39, d.uid);
    t.is(typeof d.editable, 'boolean', d.uid);
    t.deepEqual(d.time, { from: 'now-1h', to: 'now' }, d.uid);
    t.is(d.refresh, '30s', d.uid);
    t.true(d.tags.includes('product-store'), d.uid);
    t.deepEqual(d.templating.list, [], `${d.uid}: no template variables (the datasource is fixed by uid)`);
  }
});

test('panel ids are unique and panels sit on the grid without overlapping', (t) => {
  for (const d of dashboards) {
    const ids = d.panels.map((p) => p.id);
    t.is(new Set(ids).size, ids.length, `${d.uid}: panel ids are unique`);
    for (const p of d.panels) {
      const { x, y, w, h } = p.gridPos;
      t.true(x >= 0 && w >= 1 && x + w <= 24 && y >= 0 && h >= 1, `${d.uid} "${p.title}": gridPos ${JSON.stringify(p.gridPos)} is off the 24-column grid`);
    }
    for (const [i, a] of d.panels.entries()) {
      for (const b of d.panels.slice(i + 1)) {
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        t.false(overlap, `${d.uid}: "${a.title}" and "${b.title}" overlap`);
      }
    }
  }
});

test('the builder lays rows out line by line and refuses a line that does not fill the 24 columns', (t) => {
  const panel = (w: number) => timeseries({ title: `w${w}`, description: 'd', unit: 'short', w, queries: [q('up')] });
  const d = dashboard({ uid: 'u', title: 'T', description: 'd', sections: [row('A', [stat({ title: 's', description: 'd', unit: 'short', w: 24, queries: [q('up')] })]), row('B', [panel(8), panel(16), panel(12), panel(12)])] });
  t.deepEqual(
    d.panels.map((p) => [p.id, p.title, p.gridPos]),
    [
      [1, 'A', { x: 0, y: 0, w: 24, h: 1 }],
      [2, 's', { x: 0, y: 1, w: 24, h: 4 }],
      [3, 'B', { x: 0, y: 5, w: 24, h: 1 }],
      [4, 'w8', { x: 0, y: 6, w: 8, h: 8 }],
      [5, 'w16', { x: 8, y: 6, w: 16, h: 8 }],
      [6, 'w12', { x: 0, y: 14, w: 12, h: 8 }],
      [7, 'w12', { x: 12, y: 14, w: 12, h: 8 }],
    ],
  );
  t.throws(() => dashboard({ uid: 'u', title: 'T', description: 'd', sections: [row('A', [panel(12), panel(8), panel(8)])] }), { message: /fill each line of 24 columns/ });
});

test('every panel has a unit, a description and at least one query, on a provisioned datasource', (t) => {
  const provisioned = parseYaml(readFileSync(join(grafanaDir, 'provisioning', 'datasources', 'datasources.yaml'), 'utf8'));
  const uids = new Map<string, string>(provisioned.datasources.map((ds: { uid: string; type: string }) => [ds.uid, ds.type]));
  for (const d of dashboards) {
    const panels = queryPanels(d);
    t.true(panels.length > 0, `${d.uid} has panels`);
    for (const p of panels) {
      const where = `${d.uid} "${p.title}"`;
      t.is(uids.get(p.datasource.uid), p.datasource.type, `${where}: datasource ${JSON.stringify(p.datasource)} is not provisioned`);
      t.true(p.targets.some((target) => target.expr.trim() !== ''), `${where} has a query`);
      for (const target of p.targets) {
        t.is(uids.get(target.datasource.uid), target.datasource.type, `${where} ${target.refId}: datasource ${JSON.stringify(target.datasource)} is not provisioned`);
      }
      t.is(new Set(p.targets.map((x) => x.refId)).size, p.targets.length, `${where}: refIds are unique`);
      t.truthy(p.fieldConfig.defaults.unit, `${where} has a unit`);
      t.truthy(p.description, `${where} has a description`);
    }
  }
});

test('panelQueries lists every panel query', (t) => {
  const queries = panelQueries();
  const count = dashboards.reduce((n, d) => n + queryPanels(d).reduce((m, p) => m + p.targets.length, 0), 0);
  t.is(queries.length, count);
  for (const d of dashboards) t.true(queries.some((x) => x.dashboard === d.uid), `${d.uid} has queries`);
  const keys = queries.map((x) => `${x.dashboard} / ${x.panel}`);
  t.is(new Set(keys).size, keys.length, `query names are unique: ${keys.filter((k, i) => keys.indexOf(k) !== i).join(', ')}`);
});

test('every service dashboard has RED panels by route', (t) => {
  for (const s of SERVICES) {
    const count = `http_request_duration_seconds_count{job="${s}"`;
    const rate = panel(s, /request rate/i, count, 'by (route)');
    t.is(rate?.fieldConfig.defaults.unit, 'reqps', `${s}: request rate by route (reqps)`);
    const errors = panel(s, /error/i, count, 'status_code=~"5.."', 'by (route)');
    t.is(errors?.fieldConfig.defaults.unit, 'percentunit', `${s}: 5xx ratio by route (percentunit)`);
    for (const quantile of ['0.5', '0.95', '0.99']) {
      const latency = panel(s, /latency/i, `histogram_quantile(${quantile}, sum by (le, route)`, `http_request_duration_seconds_bucket{job="${s}"`);
      t.is(latency?.fieldConfig.defaults.unit, 's', `${s}: latency quantile ${quantile} by route (s)`);
    }
  }
});

test('every service dashboard has runtime panels', (t) => {
  for (const s of SERVICES) {
    const j = `{job="${s}"}`;
    t.is(panel(s, /event loop/i, `nodejs_eventloop_lag_p99_seconds${j}`)?.fieldConfig.defaults.unit, 's', `${s}: event loop lag`);
    t.is(panel(s, /heap/i, `nodejs_heap_size_used_bytes${j}`, `nodejs_heap_size_total_bytes${j}`)?.fieldConfig.defaults.unit, 'bytes', `${s}: heap`);
    t.is(panel(s, /cpu/i, `rate(process_cpu_seconds_total${j}`)?.fieldConfig.defaults.unit, 'percentunit', `${s}: CPU`);
    t.is(panel(s, /resident/i, `process_resident_memory_bytes${j}`, `process_memory_limit_bytes${j}`)?.fieldConfig.defaults.unit, 'bytes', `${s}: memory vs limit`);
  }
});

test('the business panels exist', (t) => {
  for (const uid of ['system-overview', 'order-service']) {
    t.truthy(panel(uid, /orders per minute/i, 'orders_placed_total', '* 60'), `${uid}: orders per minute`);
    t.truthy(panel(uid, /revenue per minute/i, 'orders_revenue_cents_total', 'by (currency)', '/ 100'), `${uid}: revenue per minute by currency, in major units`);
  }
  t.truthy(panel('order-service', /cancel/i, 'orders_cancelled_total'), 'cancellations');
  t.truthy(panel('order-service', /checkout failures/i, 'checkout_failures_total', 'by (reason)'), 'checkout failures by reason');
  t.truthy(panel('order-service', /checkout latency/i, 'histogram_quantile(0.95', 'method="POST",route="/orders"'), 'checkout p95');
  t.truthy(panel('cart-service', /cart adds per minute/i, 'cart_items_added_total', '* 60'), 'cart adds per minute');
  t.truthy(panel('user-service', /login failures per minute/i, 'user_logins_total', 'outcome="failure"', '* 60'), 'login failures per minute');
  t.truthy(panel('user-service', /logins/i, 'user_logins_total', 'by (outcome)'), 'logins by outcome');
  t.truthy(panel('user-service', /registrations/i, 'user_registrations_total'), 'registrations');
  t.truthy(panel('backend', /stock reservations/i, 'stock_reservations_total', 'by (outcome)'), 'stock reservations by outcome');
});

test('the System Overview and Cassandra dashboards have their panels', (t) => {
  const o = 'system-overview';
  t.truthy(panel(o, /up/i, 'by (job) (up)'), 'up of every job');
  t.truthy(panel(o, /gateway requests/i, 'nginx_http_requests_total'), 'gateway requests');
  t.truthy(panel(o, /gateway connections/i, 'nginx_connections_active'), 'gateway connections');
  t.is(panel(o, /request rate by job/i, 'by (job)')?.fieldConfig.defaults.unit, 'reqps');
  t.is(panel(o, /error ratio.*by job/i, 'status_code=~"5.."', 'by (job)')?.fieldConfig.defaults.unit, 'percentunit');
  t.is(panel(o, /p95 by job/i, 'histogram_quantile(0.95, sum by (le, job)')?.fieldConfig.defaults.unit, 's');
  t.truthy(panel(o, /cassandra/i, 'up{job="cassandra"}'), 'Cassandra health');
  t.truthy(panel(o, /cassandra/i, 'cassandra_client_request_latency_seconds'), 'Cassandra latency');

  const c = 'cassandra';
  t.truthy(panel(c, /requests by operation/i, 'cassandra_client_requests_total', 'by (operation)'));
  t.truthy(panel(c, /latency/i, 'quantile="0.50"', 'quantile="0.99"', 'by (operation)'));
  t.truthy(panel(c, /errors by kind/i, 'cassandra_client_request_errors_total', 'by (error)'));
  t.is(panel(c, /storage load/i, 'cassandra_storage_load_bytes')?.fieldConfig.defaults.unit, 'bytes');
  t.truthy(panel(c, /pending compactions/i, 'cassandra_compaction_pending_tasks'));
  t.truthy(panel(c, /native clients/i, 'cassandra_connected_native_clients'));
  t.truthy(panel(c, /dropped/i, 'cassandra_dropped_messages_total'));
  t.truthy(panel(c, /heap/i, 'jvm_memory_used_bytes', 'area="heap"'));
  t.truthy(panel(c, /gc time/i, 'jvm_gc_collection_seconds_sum'));
  t.truthy(panel(c, /cpu/i, 'process_cpu_seconds_total{job="cassandra"}'));
});

test('the checkout recovery, lightweight transaction and tombstone panels exist', (t) => {
  const o = 'order-service';
  t.truthy(panel(o, /backlog/i, 'checkout_recovery_backlog'), 'recovery backlog');
  t.is(panel(o, /oldest pending/i, 'checkout_recovery_oldest_pending_seconds')?.fieldConfig.defaults.unit, 's');
  t.is(panel(o, /last completed pass/i, 'time() -', 'checkout_recovery_last_success_timestamp_seconds')?.fieldConfig.defaults.unit, 's');
  t.truthy(panel(o, /pass failures/i, 'checkout_recovery_pass_failures_total'), 'recovery pass failures');
  t.truthy(panel(o, /by outcome/i, 'checkout_recovery_items_total', 'by (outcome)'), 'recovered work by outcome');
  const c = 'cassandra';
  t.is(panel(c, /cas latency/i, 'cassandra_client_request_latency_seconds', 'operation=~"CASRead|CASWrite"', 'quantile="0.99"')?.fieldConfig.defaults.unit, 's');
  t.is(panel(c, /contended/i, 'cassandra_client_request_cas_contended_total', 'cassandra_client_requests_total')?.fieldConfig.defaults.unit, 'percentunit');
  t.truthy(panel(c, /contention/i, 'cassandra_client_request_cas_contention'), 'CAS contention quantiles');
  t.truthy(panel(c, /timeouts/i, 'error=~"Timeouts|Unavailables"', 'cassandra_client_request_cas_unknown_results_total'), 'CAS timeouts');
  t.truthy(panel(c, /tombstones scanned/i, 'cassandra_table_tombstones_scanned{', 'by (keyspace, table)'), 'tombstones scanned by table');
  t.truthy(panel(c, /tombstone warnings and failures/i, 'cassandra_table_tombstone_failures_total', 'cassandra_table_tombstone_warnings_total'), 'tombstone failures');
});

test('queries use only exposed metrics, on their own job', (t) => {
  t.deepEqual(
    selectors('sum by (le, route) (rate(a_b{job="x",route!~"/m|/h"}[$__rate_interval])) / on() max(c) or on() vector(0) * 60'),
    [
      { metric: 'a_b', matchers: 'job="x",route!~"/m|/h"' },
      { metric: 'c', matchers: '' },
    ],
    'the selector scanner itself',
  );
  for (const { dashboard, panel: title, expr } of panelQueries()) {
    const found = selectors(expr);
    t.true(found.length > 0, `${dashboard} / ${title}: no metric in ${expr}`);
    for (const s of found) {
      t.true(KNOWN_METRICS.has(s.metric), `${dashboard} / ${title}: ${s.metric} is not a metric the stack exposes`);
      if (dashboard !== 'system-overview') {
        t.true(s.matchers.split(',').includes(`job="${dashboard}"`), `${dashboard} / ${title}: ${s.metric} is not limited to job="${dashboard}"`);
      }
    }
  }
});

test('queries over series that appear only after an event fall back to 0', (t) => {
  for (const { dashboard, panel: title, expr } of panelQueries()) {
    if (EVENT_ONLY.some((fragment) => expr.includes(fragment)) && !expr.includes('histogram_quantile')) {
      t.true(expr.endsWith(' or on() vector(0)'), `${dashboard} / ${title} has no 0 fallback: ${expr}`);
    }
    t.false(/ or vector\(0\)/.test(expr) && /by \(/.test(expr), `${dashboard} / ${title}: a bare "or vector(0)" adds a 0 series next to labelled ones; use "or on() vector(0)"`);
  }
});

test('every query parses (promtool check rules)', (t) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    t.fail(`promtool is not available (${probe.error.message}): apt-get install prometheus`);
    return;
  }
  const values: Record<string, string> = { $__rate_interval: '1m', $__interval: '1m', $__range: '1h' };
  const rules = panelQueries().map(({ dashboard, expr }, i) => {
    const concrete = expr.replace(/\$__rate_interval|\$__interval|\$__range/g, (v) => values[v]);
    return { record: `grafana:${dashboard.replace(/[^a-zA-Z0-9_]/g, '_')}:q${i}`, expr: concrete };
  });
  for (const rule of rules) t.false(rule.expr.includes('$'), `an unknown Grafana variable is left in ${rule.expr}`);
  const dir = mkdtempSync(join(tmpdir(), 'grafana-queries-'));
  try {
    const file = join(dir, 'dashboard-queries.rules.yml');
    // JSON is YAML: no quoting questions for the expressions.
    writeFileSync(file, `${JSON.stringify({ groups: [{ name: 'grafana-dashboards', rules }] }, null, 2)}\n`);
    const result = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    t.is(result.status, 0, `promtool check rules failed:\n${result.stdout}${result.stderr}`);
    t.regex(result.stdout + result.stderr, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** One panel query with Grafana's variables made concrete, as promtool evaluates it. */
function concrete(dashboard: string, title: string): string {
  const found = panelQueries().find((x) => x.dashboard === dashboard && x.panel === title);
  if (!found) throw new Error(`no query "${dashboard} / ${title}"`);
  return found.expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h');
}

test('error ratios and event-only counters give 0 rather than no data (promtool test rules)', (t) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    t.fail(`promtool is not available (${probe.error.message}): apt-get install prometheus`);
    return;
  }
  // Counters rising by 15 every 15 s: 1 per second.
  const http = (route: string, status: string) => ({
    series: `http_request_duration_seconds_count{job="backend",instance="backend:8000",method="GET",route="${route}",status_code="${status}"}`,
    values: '0+15x20',
  });
  const at = (expr: string, samples: Array<{ labels: string; value: number }>) => ({ expr, eval_time: '4m', exp_samples: samples });
  const suite = {
    rule_files: [],
    evaluation_interval: '1m',
    tests: [
      {
        // No 5xx series at all, and no business counters yet.
        interval: '15s',
        input_series: [http('/metrics', '200'), http('/products', '200')],
        promql_expr_test: [
          at(concrete('backend', 'Error ratio (5xx) by route'), [
            { labels: '{route="/metrics"}', value: 0 },
            { labels: '{route="/products"}', value: 0 },
          ]),
          at(concrete('backend', 'Error ratio (5xx)'), [{ labels: '{}', value: 0 }]),
          at(concrete('backend', 'Requests'), [{ labels: '{}', value: 1 }]),
          at(concrete('backend', 'Stock reservations per minute by outcome'), [{ labels: '{}', value: 0 }]),
          at(concrete('order-service', 'Orders per minute'), [{ labels: '{}', value: 0 }]),
          at(concrete('order-service', 'Revenue per minute by currency'), [{ labels: '{}', value: 0 }]),
          at(concrete('order-service', 'Checkout failures per minute by reason'), [{ labels: '{}', value: 0 }]),
          at(concrete('user-service', 'Login failures per minute'), [{ labels: '{}', value: 0 }]),
        ],
      },
      {
        // Half of /products/:id fails; business counters moving: the fallback 0 must not appear beside them.
        interval: '15s',
        input_series: [
          http('/products', '200'),
          http('/products/:id', '200'),
          http('/products/:id', '500'),
          { series: 'stock_reservations_total{job="backend",instance="backend:8000",outcome="reserved"}', values: '0+15x20' },
          { series: 'orders_revenue_cents_total{job="order-service",instance="order-service:8002",currency="USD"}', values: '0+1500x20' },
        ],
        promql_expr_test: [
          at(concrete('backend', 'Error ratio (5xx) by route'), [
            { labels: '{route="/products"}', value: 0 },
            { labels: '{route="/products/:id"}', value: 0.5 },
          ]),
          at(concrete('backend', 'Stock reservations per minute by outcome'), [{ labels: '{outcome="reserved"}', value: 60 }]),
          at(concrete('order-service', 'Revenue per minute by currency'), [{ labels: '{currency="USD"}', value: 60 }]),
        ],
      },
    ],
  };
  const dir = mkdtempSync(join(tmpdir(), 'grafana-queries-'));
  try {
    const file = join(dir, 'dashboard-queries.test.yml');
    writeFileSync(file, `${JSON.stringify(suite, null, 2)}\n`);
    const result = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    t.is(result.status, 0, `promtool test rules failed:\n${result.stdout}${result.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('provisioning files point at the right places', (t) => {
  const { datasources } = parseYaml(readFileSync(join(grafanaDir, 'provisioning', 'datasources', 'datasources.yaml'), 'utf8'));
  const prometheus = datasources.find((ds: { uid: string }) => ds.uid === 'prometheus');
  t.like(prometheus, { type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
  t.like(datasources.find((ds: { uid: string }) => ds.uid === 'jaeger'), { type: 'jaeger', url: 'http://jaeger:16686' });
  t.is(datasources.filter((ds: { isDefault?: boolean }) => ds.isDefault).length, 1, 'one default datasource');
  for (const link of prometheus.jsonData?.exemplarTraceIdDestinations ?? []) {
    t.true(datasources.some((ds: { uid: string }) => ds.uid === link.datasourceUid), `exemplar link to ${link.datasourceUid}`);
  }

  const { providers } = parseYaml(readFileSync(join(grafanaDir, 'provisioning', 'dashboards', 'dashboards.yaml'), 'utf8'));
  t.is(providers.length, 1);
  t.like(providers[0], { type: 'file', folder: 'Product Store', allowUiUpdates: false, options: { path: '/var/lib/grafana/dashboards' } });

  const ini = readIni(join(grafanaDir, 'grafana.ini'));
  t.is(ini['auth.anonymous']?.enabled, 'false', 'anonymous access is off');
  t.is(ini.users?.allow_sign_up, 'false', 'sign-up is off');
  t.is(ini.security?.admin_user, 'admin');
  t.false('admin_password' in (ini.security ?? {}), 'the admin password comes from GF_SECURITY_ADMIN_PASSWORD, not the file');
  t.is(ini.analytics?.reporting_enabled, 'false');
  t.is(ini.analytics?.check_for_updates, 'false');
  const home = ini.dashboards?.default_home_dashboard_path;
  t.is(home, `${providers[0].options.path}/system-overview.json`, 'the home dashboard is the System Overview, from the provisioned folder');
  t.true(existsSync(join(dashboardsDir, basename(home ?? ''))), `${home} is generated`);
});
