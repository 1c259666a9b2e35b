/**
 * The local stack end to end, with the real nginx, Prometheus, Alertmanager and nginx exporter from
 * Debian's packages, the services as processes (traced), a stand-in Telegram Bot API and an OTLP
 * receiver. Short scrape, evaluation and notification intervals keep the alert drill near a minute.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { call, dropKeyspace, testKeyspace, tokenFor, type CallResult } from '@product-store/kit/testing';
import { serviceReplicas, serviceSemiSpaceMb, services } from '@product-store/deploy';
import { repoRoot } from '../../cassandra/launcher';
import { defaultRuleFiles, freeStackPorts, startLocalStack, type RunningStack } from '../stack';
import { startTelegramSink, type TelegramMessage, type TelegramSink } from '../telegram-sink';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver';
import { parse as parseYaml } from 'yaml';
import { panelQueries } from '../../../monitoring/grafana/src';

const keyspace = testKeyspace('stack');
const messages: TelegramMessage[] = [];
const logs: string[] = [];
let stack: RunningStack;
let telegram: TelegramSink;
let otlp: OtlpReceiver;
const admin = tokenFor('admin');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The alert rules with ServiceDown's `for` shortened, so the drill fires within seconds. */
function drillRules(dir: string): string[] {
  return defaultRuleFiles().map((file) => {
    const rules = readFileSync(file, 'utf8').replace(/(alert: ServiceDown[\s\S]*?for: )\S+/, '$15s');
    const copy = join(dir, file.split('/').pop()!);
    writeFileSync(copy, rules);
    return copy;
  });
}

test.before(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'product-store-stack-'));
  telegram = await startTelegramSink((m) => messages.push(m));
  otlp = await startOtlpReceiver();
  stack = await startLocalStack({
    dataDir,
    env: {
      ...process.env,
      ENVIRONMENT: 'test',
      LOG_LEVEL: 'warn',
      CASSANDRA_KEYSPACE: keyspace,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      ADMIN_EMAIL: 'admin@example.com',
      ADMIN_PASSWORD: 'stack-test-admin-password',
    },
    ports: await freeStackPorts(),
    sink: (name, line) => logs.push(`[${name}] ${line}`),
    prometheus: { scrapeInterval: '1s', evaluationInterval: '1s', ruleFiles: drillRules(dataDir) },
    telegramApiUrl: telegram.url,
    alertmanagerConfig: (config) =>
      config.replace(/group_wait: \S+/g, 'group_wait: 1s').replace(/group_interval: \S+/g, 'group_interval: 2s').replace(/repeat_interval: \S+/g, 'repeat_interval: 1h'),
  });
});

test.after.always(async () => {
  await stack?.stop();
  await telegram?.close();
  await otlp?.close();
  await dropKeyspace(keyspace).catch(() => undefined);
});

const gateway = (path: string, options?: Parameters<typeof call>[2]) => call(stack.url('gateway'), path, options);
const fromNginx = (res: CallResult) => res.body?.detail === 'No such resource.';

test.serial('every binary of the stack is there (else the README says how to install it)', (t) => {
  t.deepEqual(stack.missing, []);
});

test.serial('the gateway routes every public path to its service', async (t) => {
  const health = await gateway('/health');
  t.is(health.status, 200);
  t.deepEqual(health.body, { status: 'ready' });
  const openapi = await gateway('/openapi.json');
  t.is(openapi.status, 200);
  t.deepEqual(openapi.body, JSON.parse(readFileSync(join(repoRoot, 'docs', 'openapi.json'), 'utf8')));
  t.is((await gateway('/products')).status, 200);
  const missing = await gateway(`/products/${randomUUID()}`);
  t.is(missing.status, 404);
  t.false(fromNginx(missing), 'answered by backend, not nginx');
  const email = `gateway-${Date.now()}@example.com`;
  t.is((await gateway('/auth/register', { method: 'POST', body: { email, password: 'gateway-password', name: 'G' } })).status, 201);
  const login = await gateway('/auth/login', { method: 'POST', body: { email, password: 'gateway-password' } });
  t.is(login.status, 200);
  t.is((await gateway('/users/me', { token: login.body.access_token })).status, 200);
  const id = randomUUID();
  const protectedPaths: Array<[string, string]> = [
    ['GET', '/cart'], ['POST', '/cart/items'], ['PUT', `/cart/items/${id}`], ['DELETE', `/cart/items/${id}`], ['DELETE', '/cart'],
    ['GET', '/orders'], ['POST', '/orders'], ['GET', `/orders/${id}`], ['POST', `/orders/${id}/cancel`],
    ['POST', '/products'], ['PATCH', `/products/${id}`], ['DELETE', `/products/${id}`],
  ];
  for (const [method, path] of protectedPaths) {
    const res = await gateway(path, { method, body: method === 'GET' || method === 'DELETE' ? undefined : {} });
    t.is(res.status, 401, `${method} ${path} reached its service`);
    t.regex(res.headers.get('www-authenticate') ?? '', /^Bearer/);
  }
});

test.serial('the gateway keeps /metrics, /ready and internal endpoints private: 404', async (t) => {
  for (const [method, path] of [
    ['GET', '/metrics'], ['GET', '/ready'], ['POST', '/internal/reservations'], ['POST', `/internal/reservations/${randomUUID()}/release`],
    ['POST', '/internal/products/lookup'], ['GET', `/internal/carts/${randomUUID()}`], ['GET', '/products/../internal/carts/x'],
    ['GET', '/products/%2e%2e/internal/carts/x'], ['GET', '/stub_status'],
  ]) {
    const res = await gateway(path, { method, body: method === 'POST' ? {} : undefined });
    t.is(res.status, 404, `${method} ${path}`);
    t.true(fromNginx(res), `${method} ${path} never reached a service`);
    t.regex(res.headers.get('content-type') ?? '', /problem\+json/);
  }
});

test.serial('security headers, request ids and gzip', async (t) => {
  for (let i = 0; i < 5; i++) await gateway('/products', { method: 'POST', token: admin, body: { name: `Gzip ${i}`, price_cents: 100, category: 'gzip', stock: 1 } });
  const res = await fetch(`${stack.url('gateway')}/products?limit=20`, { headers: { 'Accept-Encoding': 'gzip', 'X-Request-Id': 'gateway-test-request-1' } });
  t.is(res.headers.get('content-encoding'), 'gzip');
  t.is(res.headers.get('x-content-type-options'), 'nosniff');
  t.is(res.headers.get('x-frame-options'), 'DENY');
  t.truthy(res.headers.get('content-security-policy'));
  t.is(res.headers.get('x-request-id'), 'gateway-test-request-1');
  t.is(res.headers.get('server'), 'nginx', 'no version');
  await res.arrayBuffer();
});

test.serial('a body over 64 KiB is 413 at the gateway', async (t) => {
  const res = await gateway('/products', { method: 'POST', token: admin, body: { name: 'x', description: 'd'.repeat(70 * 1024), price_cents: 1, category: 'c', stock: 1 } });
  t.is(res.status, 413);
  t.is(res.body.code, 'PAYLOAD_TOO_LARGE');
});

test.serial('nginx reuses keep-alive connections to the services', async (t) => {
  const accepted = async () => {
    const text = (await call(stack.url('backend'), '/metrics')).text;
    return Number(/^http_server_connections_total\{[^}]*\} (\d+)/m.exec(text)?.[1]);
  };
  const before = await accepted();
  for (let i = 0; i < 40; i++) t.is((await gateway('/products?limit=1')).status, 200);
  const opened = (await accepted()) - before;
  t.true(opened <= 3, `40 requests through nginx opened ${opened} connections to backend`);
});

/** Traffic that touches every service, so the dashboards and rules have data. */
async function shopTraffic(): Promise<string> {
  const product = (await gateway('/products', { method: 'POST', token: admin, body: { name: 'Drill beans', price_cents: 900, category: 'drill', stock: 50 } })).body.id;
  const email = `traffic-${randomUUID()}@example.com`;
  await gateway('/auth/register', { method: 'POST', body: { email, password: 'traffic-password', name: 'T' } });
  const token = (await gateway('/auth/login', { method: 'POST', body: { email, password: 'traffic-password' } })).body.access_token;
  await gateway('/auth/login', { method: 'POST', body: { email, password: 'wrong-password' } });
  await gateway('/products?category=drill');
  await gateway(`/products/${product}`);
  await gateway('/cart/items', { method: 'POST', token, body: { product_id: product, quantity: 2 } });
  await gateway('/cart', { token });
  const order = await gateway('/orders', { method: 'POST', token, headers: { 'Idempotency-Key': randomUUID() } });
  await gateway(`/orders/${order.body.id}`, { token });
  await gateway('/orders', { method: 'POST', token, headers: { 'Idempotency-Key': randomUUID() } });
  await gateway(`/orders/${order.body.id}/cancel`, { method: 'POST', token });
  await gateway('/cart/items', { method: 'POST', token, body: { product_id: product, quantity: 2 } });
  await gateway(`/products/${product}`, { method: 'PATCH', token: admin, body: { stock: 1 } });
  await gateway('/orders', { method: 'POST', token, headers: { 'Idempotency-Key': randomUUID() } });
  return token;
}

test.serial('Prometheus scrapes every target of the stack', async (t) => {
  await shopTraffic();
  const targets = await eventually('every target up', async () => {
    const res = await call(stack.url('prometheus'), '/api/v1/targets');
    const active: Array<{ labels: { job: string }; health: string; lastError: string }> = res.body.data.activeTargets;
    return active.length === 4 + services.length * serviceReplicas && active.every((a) => a.health === 'up') ? active : undefined;
  }, 30_000);
  const jobs = targets.map((a) => a.labels.job);
  t.deepEqual([...new Set(jobs)].sort(), ['alertmanager', 'backend', 'cart-service', 'cassandra', 'nginx', 'order-service', 'prometheus', 'user-service']);
  for (const s of services) t.is(jobs.filter((j) => j === s.name).length, serviceReplicas, `${s.name}: one target per replica`);
  const up = await call(stack.url('prometheus'), `/api/v1/query?query=${encodeURIComponent('min(up)')}`);
  t.is(up.body.data.result[0].value[1], '1');
});

test.serial("every service process runs with the spec's V8 flags: its new space is one or two 8 MB semi-spaces, after traffic as at start", async (t) => {
  await shopTraffic();
  const query = encodeURIComponent('nodejs_heap_space_size_total_bytes{space="new"}');
  const sizes = await eventually('the new space of every replica', async () => {
    const res = await call(stack.url('prometheus'), `/api/v1/query?query=${query}`);
    const result: Array<{ metric: { job: string; instance: string }; value: [number, string] }> = res.body.data.result;
    return result.length === services.length * serviceReplicas ? result : undefined;
  }, 30_000);
  // V8 reports the new space as its semi-spaces in use: the flag's size, or twice it while both are
  // (V8 releases the idle one where little is allocated). V8's own sizing starts at 1 MB and grows to 32.
  const semiSpace = serviceSemiSpaceMb * 1024 * 1024;
  const unexpected = sizes.filter((r) => ![semiSpace, 2 * semiSpace].includes(Number(r.value[1])));
  t.deepEqual(unexpected.map((r) => `${r.metric.job} ${r.metric.instance}: ${r.value[1]} bytes`), []);
});

test.serial('one checkout through nginx is one trace across order-service, cart-service and backend', async (t) => {
  const product = (await gateway('/products', { method: 'POST', token: admin, body: { name: 'Traced', price_cents: 100, category: 'trace', stock: 5 } })).body.id;
  const user = tokenFor('customer');
  await gateway('/cart/items', { method: 'POST', token: user, body: { product_id: product, quantity: 1 } });
  await sleep(2500); // spans of earlier requests are exported within a second
  const earlier = otlp.spans.length;
  const placed = await gateway('/orders', { method: 'POST', token: user, headers: { 'Idempotency-Key': randomUUID() } });
  t.is(placed.status, 201);
  const checkout = await eventually(
    'the checkout span',
    async () => otlp.spans.slice(earlier).find((s) => s.service === 'order-service' && s.kind === 2 && s.name === 'POST /orders'),
    20_000,
  );
  // The calls may reach either replica of a service, whose spans are exported on their own schedule.
  const expected = ['order-service POST /orders', 'cart-service GET /internal/carts/:user_id', 'backend POST /internal/reservations', 'cart-service POST /internal/carts/:user_id/remove'];
  const serverSpansOf = (spans: typeof otlp.spans) => spans.filter((s) => s.kind === 2).map((s) => `${s.service} ${s.name}`);
  const trace = await eventually('the server spans of all three services', async () => {
    const spans = otlp.spans.filter((s) => s.traceId === checkout.traceId);
    return expected.every((name) => serverSpansOf(spans).includes(name)) ? spans : undefined;
  }, 20_000);
  const serverSpans = serverSpansOf(trace);
  for (const name of expected) t.true(serverSpans.includes(name), name);
  const cassandra = trace.filter((s) => s.scope.includes('cassandra'));
  t.true(cassandra.length > 0, 'Cassandra queries are spans');
  const ids = new Set(trace.map((s) => s.spanId));
  t.true(cassandra.every((s) => s.parentSpanId && ids.has(s.parentSpanId)), 'each Cassandra span is a child of a span of the checkout');
  t.true(new Set(cassandra.map((s) => s.service)).size >= 2);
});

test.serial('logins are rate-limited at the gateway: 429 after a burst', async (t) => {
  const statuses: number[] = [];
  for (let i = 0; i < 25; i++) {
    statuses.push((await gateway('/auth/login', { method: 'POST', body: { email: 'nobody@example.com', password: 'whatever-password' } })).status);
  }
  t.true(statuses.includes(401), 'the first ones reach user-service');
  t.true(statuses.includes(429), statuses.join(','));
  const limited = await gateway('/auth/register', { method: 'POST', body: { email: 'x@example.com', password: 'whatever-password', name: 'X' } });
  t.is(limited.status, 429);
  t.is(limited.body.code, 'RATE_LIMITED');
});

test.serial('scripts/health_check.sh passes on the running stack and fails when a part is down', (t) => {
  const env = {
    ...process.env,
    GATEWAY_URL: stack.url('gateway'),
    PROMETHEUS_URL: stack.url('prometheus'),
    ALERTMANAGER_URL: stack.url('alertmanager'),
    HEALTH_CHECK_SKIP: 'Grafana,Jaeger',
  };
  const ok = spawnSync('bash', [join(repoRoot, 'scripts', 'health_check.sh')], { env, encoding: 'utf8' });
  t.is(ok.status, 0, ok.stdout);
  t.regex(ok.stdout, /OK {5}Nginx\+Backend/);
  const down = spawnSync('bash', [join(repoRoot, 'scripts', 'health_check.sh')], { env: { ...env, PROMETHEUS_URL: 'http://127.0.0.1:9' }, encoding: 'utf8' });
  t.is(down.status, 1);
  t.regex(down.stdout, /FAILED Prometheus/);
});

test.serial('alert drill: a stopped service pages Telegram, and its return sends the resolved message', async (t) => {
  const mentions = (status: string) => messages.find((m) => m.text.includes('ServiceDown') && m.text.includes('cart-service') && m.text.toUpperCase().includes(status));
  await stack.stopService('cart-service');
  // Checkouts meanwhile fail with 503: the error-rate series the rules and dashboards use.
  const shopper = tokenFor('customer');
  for (let i = 0; i < 3; i++) t.is((await gateway('/orders', { method: 'POST', token: shopper, headers: { 'Idempotency-Key': randomUUID() } })).status, 503);
  const firing = await eventually('the ServiceDown message', async () => mentions('FIRING'), 60_000);
  t.is(firing.parse_mode, 'HTML');
  t.is(firing.chat_id, -1001234567890);
  await stack.startService('cart-service');
  const resolved = await eventually('the resolved message', async () => mentions('RESOLVED'), 60_000);
  t.truthy(resolved);
});

/** Metric selectors of a PromQL expression: `name{matchers}` with functions, keywords and label lists left out. */
function selectors(expr: string): string[] {
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  // Same length as expr: label lists and string contents blanked, so positions map back to expr.
  const masked = expr
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, (s) => ' '.repeat(s.length))
    .replace(/"(?:[^"\\]|\\.)*"/g, (s) => `"${'x'.repeat(s.length - 2)}"`);
  const found: string[] = [];
  for (const m of masked.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\{[^}]*\})?(\s*\()?/g)) {
    const at = m.index!;
    if (m[3] || keywords.has(m[1]) || (at > 0 && /[\w.]/.test(masked[at - 1]))) continue;
    found.push(expr.slice(at, at + m[1].length + (m[2]?.length ?? 0)).replace(/\s+/g, ' '));
  }
  return [...new Set(found)];
}

const prometheusQuery = async (query: string) => {
  const res = await call(stack.url('prometheus'), `/api/v1/query?query=${encodeURIComponent(query)}`);
  return { ok: res.status === 200 && res.body.status === 'success', error: res.body?.error as string | undefined, result: (res.body?.data?.result ?? []) as unknown[] };
};

test.serial('every alert rule and dashboard expression parses and has data in the live Prometheus', async (t) => {
  await shopTraffic();
  await sleep(3000);
  const rules = parseYaml(readFileSync(defaultRuleFiles()[0], 'utf8')).groups.flatMap((g: { rules: Array<{ alert?: string; record?: string; expr: string }> }) => g.rules);
  for (const rule of rules) {
    const parsed = await prometheusQuery(rule.expr);
    t.true(parsed.ok, `${rule.alert ?? rule.record}: ${parsed.error}`);
    for (const selector of selectors(rule.expr)) {
      const data = await prometheusQuery(`count(${selector})`);
      t.true(data.ok && data.result.length > 0, `${rule.alert ?? rule.record} uses ${selector}, which has no series`);
    }
  }
  const grafanaVariables = (expr: string) => expr.replace(/\$__rate_interval|\$__interval/g, '1m').replace(/\$__range/g, '1h');
  // A process's first garbage collection may not have happened yet (cart-service just restarted), and
  // recovery handles work only after a crash, which this traffic does not cause.
  const eventOnly = /nodejs_gc_duration_seconds|checkout_recovery_items_total/;
  for (const query of panelQueries()) {
    // Panels fall back to 0 where a series appears only after an event; the traffic above made those
    // events happen, so without the fallback they must still have data.
    const full = grafanaVariables(query.expr);
    const expr = eventOnly.test(full) ? full : full.replace(/\s+or on\(\) vector\(0\)\s*$/, '');
    const result = await prometheusQuery(expr);
    t.true(result.ok, `${query.dashboard} / ${query.panel}: ${result.error}`);
    // A panel that keeps only non-zero series ("... > 0") shows events this traffic does not cause
    // (tombstone warnings): it must parse, and may be empty.
    if (/>\s*0\s*$/.test(expr)) continue;
    t.true(result.result.length > 0, `${query.dashboard} / ${query.panel} has no data: ${expr}`);
  }
});
