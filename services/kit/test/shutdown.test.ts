import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { call, dropKeyspace, startTestService, testEnv } from '../testing';
import { slowService } from './fixtures/slow-service';

const keyspaces: string[] = [];
test.after.always(async () => {
  for (const ks of keyspaces) await dropKeyspace(ks);
});

/** The slow-service fixture as its own process (node flags first); resolves once it listens. */
async function startFixture(env: Record<string, string | undefined>, nodeFlags: string[] = []) {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join(__dirname, 'fixtures', 'slow-service.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"msg":"listening","port":(\d+)/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', () => reject(new Error(`service exited before listening:\n${buffered}`)));
  });
  return { child, exited, port };
}

test('stop(): readiness turns 503 at once, in-flight requests finish, new connections are refused', async (t) => {
  const env = testEnv();
  keyspaces.push(env.CASSANDRA_KEYSPACE!);
  const running = await startTestService(slowService, env);
  t.is((await call(running.url, '/ready')).status, 200);

  const inFlight = call(running.url, '/slow?ms=1500');
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  const stopped = running.stop();

  // The same app, reached without the closing listener, already reports not ready.
  const probe = createServer(running.http.app.callback());
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const ready = await call(`http://127.0.0.1:${(probe.address() as AddressInfo).port}`, '/ready');
  probe.close();
  t.is(ready.status, 503);
  t.deepEqual(ready.body, { status: 'shutting_down' });

  const slow = await inFlight;
  t.is(slow.status, 200);
  t.deepEqual(slow.body, { done: true });
  await stopped;
  t.true(Date.now() - started < 10_000);
  await t.throwsAsync(() => fetch(`${running.url}/health`));
});

test('SIGTERM: the process finishes its in-flight request and exits 0 within 10 s', async (t) => {
  const env = testEnv({ LOG_LEVEL: 'info' });
  keyspaces.push(env.CASSANDRA_KEYSPACE!);
  const { child, exited, port } = await startFixture(env);
  const base = `http://127.0.0.1:${port}`;
  const inFlight = call(base, '/slow?ms=2000');
  await new Promise((r) => setTimeout(r, 300));
  const signalled = Date.now();
  child.kill('SIGTERM');
  const slow = await inFlight;
  t.is(slow.status, 200);
  t.is(await exited, 0);
  t.true(Date.now() - signalled < 10_000);
});

test('SIGTERM with tracing on and a tracing backend that never answers: the service still exits 0 promptly', async (t) => {
  // A collector that accepts connections and then says nothing, as a stopped or unreachable Jaeger can.
  const sockets: Socket[] = [];
  const blackhole = createNetServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    blackhole.close();
  });
  const collector = `http://127.0.0.1:${(blackhole.address() as AddressInfo).port}`;
  const env = testEnv({ LOG_LEVEL: 'info', OTEL_EXPORTER_OTLP_ENDPOINT: collector, OTEL_SERVICE_NAME: 'backend' });
  keyspaces.push(env.CASSANDRA_KEYSPACE!);
  const { child, exited, port } = await startFixture(env, ['--require', 'tsx/cjs', '--require', join(__dirname, '..', 'src', 'instrumentation.ts')]);
  // Spans to flush: a few traced requests, the last one still buffered when the signal comes.
  for (let i = 0; i < 3; i++) t.is((await call(`http://127.0.0.1:${port}`, '/slow?ms=10')).status, 200);
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await call(`http://127.0.0.1:${port}`, '/slow?ms=10')).status, 200);
  const signalled = Date.now();
  child.kill('SIGTERM');
  t.is(await exited, 0);
  // Docker's default stop timeout is 10 s; the trace flush must give up well before it.
  t.true(Date.now() - signalled < 5_000, `took ${Date.now() - signalled} ms`);
});
