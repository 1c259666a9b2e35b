import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import Router from '@koa/router';
import { z } from 'zod';
import { createApp, createAuth, createLogger, createMetrics, developmentInternalToken, problems, readJson } from '../src';
import { errors as driverErrors } from 'cassandra-driver';
import { call, internalHeadersOf, tokenFor } from '../testing';

const lines: string[] = [];
let server: Server;
let base: string;
let ready = true;

test.before(async () => {
  const router = new Router();
  // As backend: its internal endpoints, with the credentials of its two callers.
  const auth = createAuth({
    service: 'backend',
    jwt: { secret: 'development-only-secret-change-me-0123456789', algorithm: 'HS256', expirationMinutes: 5, publicKeys: [] },
    internalTokens: { 'cart-service': developmentInternalToken('cart-service'), 'order-service': developmentInternalToken('order-service') },
  });
  router.post('/echo', async (ctx) => {
    ctx.body = await readJson(ctx, z.strictObject({ name: z.string().min(1), count: z.number().int().optional() }));
  });
  router.get('/items/:id', (ctx) => {
    ctx.body = { id: ctx.params.id };
  });
  router.get('/conflict', () => {
    throw problems.conflict('OUT_OF_STOCK', 'short', { product_ids: ['a'] });
  });
  router.get('/boom', () => {
    throw new Error('secret driver detail at line 42');
  });
  router.get('/db-down', () => {
    throw Object.assign(new Error('All host(s) tried for query failed'), { name: 'NoHostAvailableError' });
  });
  router.get('/socket-closed', () => {
    // What cassandra-driver's Connection rejects in-flight queries with when its socket closes.
    throw Object.assign(new (driverErrors.DriverError as unknown as new (message: string) => Error)('Socket was closed'), { isSocketError: true });
  });
  router.get('/admin', auth.requireAdmin, (ctx) => {
    ctx.body = { ok: true };
  });
  router.post('/internal/products/lookup', auth.requireInternal, (ctx) => {
    ctx.body = { caller: ctx.state.internalCaller };
  });
  router.post('/internal/reservations/:id/release', auth.requireInternal, (ctx) => {
    ctx.body = { caller: ctx.state.internalCaller };
  });
  router.post('/internal/undeclared', auth.requireInternal, (ctx) => {
    ctx.body = { ok: true };
  });
  const { app } = createApp({
    service: 'test',
    log: createLogger({ level: 'info', sink: (line) => lines.push(line) }),
    metrics: createMetrics('test'),
    readinessCheck: async () => {
      if (!ready) throw new Error('database down');
    },
    router,
  });
  server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(() => server?.close());

const isProblem = (t: import('ava').ExecutionContext, res: { status: number; headers: Headers; body: any }, status: number, code: string) => {
  t.is(res.status, status);
  t.regex(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
  t.is(res.body.status, status);
  t.is(res.body.code, code);
  t.truthy(res.body.title);
  t.truthy(res.body.type);
  t.truthy(res.body.detail);
};

test('a valid body is accepted and every response has a request id', async (t) => {
  const res = await call(base, '/echo', { method: 'POST', body: { name: 'x', count: 2 } });
  t.is(res.status, 200);
  t.deepEqual(res.body, { name: 'x', count: 2 });
  t.regex(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

test("a sane client request id is kept, a hostile one replaced", async (t) => {
  const kept = await call(base, '/items/1', { headers: { 'X-Request-Id': 'client-abc-123' } });
  t.is(kept.headers.get('x-request-id'), 'client-abc-123');
  const replaced = await call(base, '/items/1', { headers: { 'X-Request-Id': 'bad id; with spaces' } });
  t.not(replaced.headers.get('x-request-id'), 'bad id; with spaces');
  t.true(lines.some((l) => JSON.parse(l).request_id === 'client-abc-123'));
});

test('unknown fields are rejected with their path', async (t) => {
  const res = await call(base, '/echo', { method: 'POST', body: { name: 'x', role: 'admin' } });
  isProblem(t, res, 400, 'VALIDATION_FAILED');
  t.deepEqual(res.body.errors, [{ path: 'role', message: 'role: unknown field' }]);
});

test('wrong types are a validation failure, not a 500', async (t) => {
  const res = await call(base, '/echo', { method: 'POST', body: { name: '', count: 'two' } });
  isProblem(t, res, 400, 'VALIDATION_FAILED');
  t.deepEqual(res.body.errors.map((e: { path: string }) => e.path).sort(), ['count', 'name']);
});

test('a JSON array or null body is a validation failure', async (t) => {
  isProblem(t, await call(base, '/echo', { method: 'POST', rawBody: '[1,2]' }), 400, 'VALIDATION_FAILED');
  isProblem(t, await call(base, '/echo', { method: 'POST', rawBody: 'null' }), 400, 'VALIDATION_FAILED');
});

test('malformed JSON is 400', async (t) => {
  isProblem(t, await call(base, '/echo', { method: 'POST', rawBody: '{"name": ' }), 400, 'MALFORMED_JSON');
});

test('another content type is 415', async (t) => {
  isProblem(t, await call(base, '/echo', { method: 'POST', rawBody: 'name=x', contentType: 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
});

test('a body over 64 KiB is 413', async (t) => {
  isProblem(t, await call(base, '/echo', { method: 'POST', body: { name: 'x'.repeat(70 * 1024) } }), 413, 'PAYLOAD_TOO_LARGE');
});

test('a problem keeps its extra members', async (t) => {
  const res = await call(base, '/conflict');
  isProblem(t, res, 409, 'OUT_OF_STOCK');
  t.deepEqual(res.body.product_ids, ['a']);
});

test('an unexpected error is a bare 500: no message, no stack; the log has both', async (t) => {
  const res = await call(base, '/boom');
  isProblem(t, res, 500, 'INTERNAL_ERROR');
  t.false(res.text.includes('secret driver detail'));
  t.false(res.text.includes('at '));
  const logged = lines.map((l) => JSON.parse(l)).find((e) => e.msg === 'unhandled error');
  t.truthy(logged);
  t.regex(logged.err.stack, /secret driver detail/);
});

test('a database that cannot answer is 503 with Retry-After', async (t) => {
  const res = await call(base, '/db-down');
  isProblem(t, res, 503, 'DATABASE_UNAVAILABLE');
  t.is(res.headers.get('retry-after'), '1');
  t.false(res.text.includes('All host'));
});

test('a query whose connection dropped is 503 with Retry-After, not a 500', async (t) => {
  const res = await call(base, '/socket-closed');
  isProblem(t, res, 503, 'DATABASE_UNAVAILABLE');
  t.is(res.headers.get('retry-after'), '1');
  t.false(res.text.includes('Socket was closed'));
});

test('unknown routes are 404 and wrong methods 405 problems', async (t) => {
  isProblem(t, await call(base, '/nothing-here'), 404, 'NOT_FOUND');
  const res = await call(base, '/items/1', { method: 'DELETE' });
  isProblem(t, res, 405, 'METHOD_NOT_ALLOWED');
  t.regex(res.headers.get('allow') ?? '', /GET/);
});

test('admin routes: 401 without a token, 403 for a customer, 200 for an admin', async (t) => {
  const anonymous = await call(base, '/admin');
  isProblem(t, anonymous, 401, 'UNAUTHORIZED');
  t.regex(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
  isProblem(t, await call(base, '/admin', { headers: { Authorization: 'Basic abc' } }), 401, 'UNAUTHORIZED');
  isProblem(t, await call(base, '/admin', { token: tokenFor('customer') }), 403, 'FORBIDDEN');
  t.is((await call(base, '/admin', { token: tokenFor('admin') })).status, 200);
});

test('the Bearer scheme is case-insensitive', async (t) => {
  const token = tokenFor('admin');
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    t.is((await call(base, '/admin', { headers: { Authorization: `${scheme} ${token}` } })).status, 200, scheme);
  }
  isProblem(t, await call(base, '/admin', { headers: { Authorization: `Bearer${token}` } }), 401, 'UNAUTHORIZED');
});

test('health, readiness and metrics', async (t) => {
  t.deepEqual((await call(base, '/health')).body, { status: 'ok' });
  t.is((await call(base, '/ready')).status, 200);
  ready = false;
  t.is((await call(base, '/ready')).status, 503);
  ready = true;
  await call(base, '/items/42');
  const metrics = await call(base, '/metrics');
  t.is(metrics.status, 200);
  t.regex(metrics.text, /http_request_duration_seconds_bucket\{[^}]*method="GET",route="\/items\/:id",status_code="200"\}/);
  t.false(metrics.text.includes('route="/items/42"'));
  t.regex(metrics.text, /route="unmatched",status_code="404"/);
  t.regex(metrics.text, /process_cpu_seconds_total/);
  t.regex(metrics.text, /nodejs_eventloop_lag_seconds/);
});

test('internal endpoints need a calling service\'s own credential, not a user token', async (t) => {
  const lookup = (options: Parameters<typeof call>[2] = {}) => call(base, '/internal/products/lookup', { method: 'POST', body: {}, ...options });
  isProblem(t, await lookup(), 401, 'INTERNAL_TOKEN_REQUIRED');
  isProblem(t, await lookup({ token: tokenFor('admin') }), 401, 'INTERNAL_TOKEN_REQUIRED');
  isProblem(t, await lookup({ headers: { 'X-Internal-Token': 'guess' } }), 401, 'INTERNAL_TOKEN_REQUIRED');
  // A credential this service does not hold (user-service calls nothing) is unknown.
  isProblem(t, await lookup({ headers: { 'X-Internal-Token': developmentInternalToken('user-service') } }), 401, 'INTERNAL_TOKEN_REQUIRED');
  const ok = await lookup({ headers: internalHeadersOf('cart-service') });
  t.is(ok.status, 200);
  t.deepEqual(ok.body, { caller: 'cart-service' });
});

test('an internal endpoint is a 404 for a request that came through a public proxy (X-Forwarded-Host), even with a valid credential', async (t) => {
  // What the cluster's ingress-nginx (snippets off: it passes a client's X-Internal-Token on) or the
  // gateway's public servers forward: their X-Forwarded-Host says the request came from outside.
  const lookup = (headers: Record<string, string>) => call(base, '/internal/products/lookup', { method: 'POST', body: {}, headers });
  isProblem(t, await lookup({ ...internalHeadersOf('cart-service'), 'X-Forwarded-Host': 'shop.example.com', 'X-Forwarded-For': '203.0.113.9' }), 404, 'NOT_FOUND');
  isProblem(t, await lookup({ 'X-Forwarded-Host': 'shop.example.com' }), 404, 'NOT_FOUND');
  // A service's own call (direct, or through the gateway's internal listeners, which set X-Forwarded-For only) still works.
  t.is((await lookup({ ...internalHeadersOf('cart-service'), 'X-Forwarded-For': '127.0.0.1' })).status, 200);
});

test("a caller's credential is refused, 403, on an internal endpoint it does not need", async (t) => {
  // order-service never looks products up; cart-service never releases stock.
  isProblem(t, await call(base, '/internal/products/lookup', { method: 'POST', body: {}, headers: internalHeadersOf('order-service') }), 403, 'INTERNAL_CALLER_FORBIDDEN');
  const release = `/internal/reservations/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/release`;
  isProblem(t, await call(base, release, { method: 'POST', body: {}, headers: internalHeadersOf('cart-service') }), 403, 'INTERNAL_CALLER_FORBIDDEN');
  t.deepEqual((await call(base, release, { method: 'POST', body: {}, headers: internalHeadersOf('order-service') })).body, { caller: 'order-service' });
  // An internal route the topology does not list is closed to every caller.
  for (const caller of ['cart-service', 'order-service'] as const) {
    isProblem(t, await call(base, '/internal/undeclared', { method: 'POST', body: {}, headers: internalHeadersOf(caller) }), 403, 'INTERNAL_CALLER_FORBIDDEN');
  }
});
