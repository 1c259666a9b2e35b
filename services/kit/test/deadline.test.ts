/**
 * REQUEST_TIMEOUT_MS (src/deadline.ts): a request not done by its deadline is answered 503
 * REQUEST_TIMEOUT with Retry-After at once, its work goes on to its end (and is logged), the access
 * line and the histogram record the 503, and a request done in time is untouched.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import Router from '@koa/router';
import { createApp, createLogger, createMetrics, type Metrics } from '../src';
import { call } from '../testing';

const timeoutMs = 300;
const lines: Array<Record<string, any>> = [];
const finished: string[] = [];
let server: Server;
let base: string;
let metrics: Metrics;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  const router = new Router();
  router.get('/slow', async (ctx) => {
    await sleep(3 * timeoutMs);
    // Set after the client has its 503: must never reach it.
    ctx.status = 201;
    ctx.body = { late: true };
    finished.push('slow');
  });
  router.get('/slow-failure', async () => {
    await sleep(2 * timeoutMs);
    finished.push('slow-failure');
    throw new Error('late failure');
  });
  router.get('/in-time', async (ctx) => {
    await sleep(timeoutMs / 3);
    ctx.body = { ok: true };
  });
  metrics = createMetrics('deadline-test');
  const { app } = createApp({
    service: 'deadline-test',
    log: createLogger({ level: 'info', sink: (line) => lines.push(JSON.parse(line)) }),
    metrics,
    readinessCheck: async () => undefined,
    router,
    requestTimeoutMs: timeoutMs,
  });
  server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(() => server?.close());

async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await sleep(20);
  return check();
}

test.serial('past the deadline: 503 REQUEST_TIMEOUT with Retry-After at once; the work goes on to its end, and what it sets later never reaches the client', async (t) => {
  const started = Date.now();
  const res = await call(base, '/slow', { headers: { 'X-Request-Id': 'deadline-test-slow' } });
  const took = Date.now() - started;
  t.is(res.status, 503);
  t.regex(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  t.is(res.headers.get('retry-after'), '1');
  t.is(res.headers.get('x-request-id'), 'deadline-test-slow');
  t.like(res.body, { status: 503, code: 'REQUEST_TIMEOUT' });
  t.true(took >= timeoutMs && took < 3 * timeoutMs, `answered after ${took} ms`);
  t.deepEqual(finished, [], 'answered before the work ended');
  t.true(await eventually(() => finished.includes('slow')), 'the work went on to its end');
  const mine = () => lines.filter((l) => l.request_id === 'deadline-test-slow');
  t.true(await eventually(() => mine().some((l) => l.msg === 'request went on after its deadline')));
  const access = mine().find((l) => l.msg === 'request');
  t.like(access, { status: 503, route: '/slow' });
  t.true(mine().some((l) => l.msg === 'request deadline passed: answered 503' && l.timeout_ms === timeoutMs));
  const counted = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes('route="/slow"'));
  t.is(counted.length, 1, counted.join('\n'));
  t.regex(counted[0], /status(_code)?="503".* 1$/);
});

test.serial('work that fails after the deadline is logged, not sent, and the server goes on answering', async (t) => {
  const res = await call(base, '/slow-failure', { headers: { 'X-Request-Id': 'deadline-test-failure' } });
  t.is(res.status, 503);
  t.is(res.body.code, 'REQUEST_TIMEOUT');
  t.true(await eventually(() => finished.includes('slow-failure')));
  t.true(await eventually(() => lines.some((l) => l.msg === 'unhandled error' && String(l.err?.message).includes('late failure'))));
  t.is((await call(base, '/in-time')).status, 200);
});

test.serial('a request done before its deadline is answered as usual, and no deadline line is logged for it', async (t) => {
  const res = await call(base, '/in-time', { headers: { 'X-Request-Id': 'deadline-test-in-time' } });
  t.is(res.status, 200);
  t.deepEqual(res.body, { ok: true });
  await sleep(timeoutMs);
  t.deepEqual(lines.filter((l) => l.request_id === 'deadline-test-in-time').map((l) => l.msg), ['request']);
});
