/**
 * The kit's drain (services/kit/src/drain.ts) against the real nginx, configured as gateway/nginx.ts
 * renders it: two replicas of a service (the kit's Koa app, without a database) under GETs and POSTs
 * through nginx while they stop and start in turn; and, step by step, the drain's side of the
 * contract with nginx. nginx retries a GET that meets a closed connection, never a POST it has sent,
 * so a replica must never close a connection nginx may be sending a request on.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Router from '@koa/router';
import test from 'ava';
import { createApp, drainServer, createLogger, createMetrics } from '@product-store/kit';
import { gatewayUpstream } from '@product-store/deploy';
import { freePort, waitForHttp, startProcess, type ManagedProcess } from '../../tools/stack/processes';
import { renderNginx } from '../nginx';

interface Replica {
  port: number;
  server: Server;
  stop(): Promise<void>;
}

async function startReplica(port: number): Promise<Replica> {
  const router = new Router();
  let created = 0;
  router.get('/products', async (ctx) => {
    await sleep(2);
    ctx.body = { items: [] };
  });
  router.get('/products/db-down', () => {
    // What a replica answers while Cassandra is away: the kit's 503 with Retry-After.
    throw Object.assign(new Error('All host(s) tried for query failed'), { name: 'NoHostAvailableError' });
  });
  router.post('/products', async (ctx) => {
    await sleep(2);
    ctx.status = 201;
    ctx.body = { id: ++created };
  });
  const http = createApp({ service: 'backend', log: createLogger({ level: 'error' }), metrics: createMetrics('backend'), router, readinessCheck: async () => undefined });
  const server = createServer(http.app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    server,
    /** What startService's stop() does with its server. */
    async stop() {
      http.markDraining();
      await drainServer(server, {
        idleGraceMs: gatewayUpstream.keepaliveTimeoutSeconds * 1000 + gatewayUpstream.drainMarginMs,
        timeoutMs: 8000,
      });
    },
  };
}

let nginx: ManagedProcess;
let gateway: string;
let work: string;
const replicas: Replica[] = [];
const nginxLog: string[] = [];

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'drain-test-'));
  for (let i = 0; i < 2; i++) replicas.push(await startReplica(await freePort()));
  const port = await freePort();
  mkdirSync(join(work, 'temp'));
  const config = join(work, 'nginx.conf');
  writeFileSync(
    config,
    renderNginx({
      listen: port,
      statusListen: `127.0.0.1:${await freePort()}`,
      upstream: () => replicas.map((r) => `127.0.0.1:${r.port}`),
      accessLog: join(work, 'access.log'),
      errorLog: 'stderr',
      pidFile: join(work, 'nginx.pid'),
      tempDir: join(work, 'temp'),
    }).replace(/listen (\d+);/g, 'listen 127.0.0.1:$1;'),
  );
  nginx = startProcess('nginx', 'nginx', ['-c', config, '-p', work, '-g', 'daemon off;'], { sink: (_, line) => nginxLog.push(line) });
  gateway = `http://127.0.0.1:${port}`;
  await waitForHttp(nginx, `${gateway}/products`);
});

test.after.always(async () => {
  await nginx?.stop();
  for (const r of replicas) r.server.closeAllConnections();
  for (const r of replicas) r.server.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('replicas stopped and started in turn under GETs and POSTs through nginx: every answer 2xx', async (t) => {
  t.timeout(120_000);
  // 200 requests/s from 7 addresses (under 30/s each, nginx allows 50/s per address), half of them POSTs.
  const rate = 200;
  const addresses = Array.from({ length: Math.ceil(rate / 30) }, (_, i) => `127.0.1.${i + 1}`);
  const agents = addresses.map(() => new Agent({ keepAlive: true, maxSockets: 8 }));
  const statuses = new Map<string, number>();
  const failures: string[] = [];
  let sent = 0;
  const pending = new Set<Promise<void>>();
  const started = Date.now();
  const send = (i: number) =>
    new Promise<void>((resolve) => {
      const method = i % 2 ? 'POST' : 'GET';
      const body = method === 'POST' ? '{"name":"x"}' : undefined;
      const count = (what: string) => {
        statuses.set(`${method} ${what}`, (statuses.get(`${method} ${what}`) ?? 0) + 1);
        if (what !== (method === 'POST' ? '201' : '200')) failures.push(`${((Date.now() - started) / 1000).toFixed(2)} s ${method} → ${what}`);
        resolve();
      };
      const req = request(
        { host: '127.0.0.1', port: new URL(gateway).port, path: '/products', method, agent: agents[i % agents.length], localAddress: addresses[i % addresses.length], timeout: 10_000, headers: body ? { 'Content-Type': 'application/json' } : {} },
        (res) => {
          res.resume();
          res.on('end', () => count(String(res.statusCode)));
          res.on('error', (err) => count(err.message));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => count((err as NodeJS.ErrnoException).code ?? err.message));
      req.end(body);
    });
  // Open loop: each tick sends every request due by now, so a busy machine's late timers do not thin the load.
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) * rate) / 1000);
    while (sent < due) {
      const done = send(sent++);
      pending.add(done);
      void done.then(() => pending.delete(done));
    }
  }, 1000 / rate);

  const stops: string[] = [];
  try {
    await sleep(1500);
    for (let round = 0; round < 4; round++) {
      const index = round % replicas.length;
      const at = Date.now();
      await replicas[index].stop();
      stops.push(`${Date.now() - at} ms`);
      replicas[index] = await startReplica(replicas[index].port);
      // nginx tries a replica it saw fail again after fail_timeout: the next one goes down once this one is back.
      await sleep(gatewayUpstream.failTimeoutSeconds * 1000 + 1000);
    }
  } finally {
    clearInterval(timer);
    await Promise.all(pending);
    for (const agent of agents) agent.destroy();
  }
  t.log(`${sent} requests in ${((Date.now() - started) / 1000).toFixed(0)} s: ${[...statuses].map(([k, v]) => `${k} ${v}`).join(', ')}; drains took ${stops.join(', ')}`);
  t.deepEqual(failures, [], nginxLog.filter((l) => /error|upstream/.test(l)).slice(0, 20).join('\n'));
  t.true(sent >= rate * 14, `${sent} requests`);
});

test.serial('a draining replica refuses new connections at once, answers a request on a kept-alive connection with Connection: close, and closes an idle one only after nginx would have', async (t) => {
  const replica = await startReplica(await freePort());
  const port = replica.port;
  const call = (agent: Agent, method: 'GET' | 'POST') =>
    new Promise<{ status?: number; connection?: string; reused: boolean }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/products', method, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });
  // Two kept-alive connections, as nginx holds them: one gets a request during the drain, one stays idle.
  const used = new Agent({ keepAlive: true, maxSockets: 1 });
  const idle = new Agent({ keepAlive: true, maxSockets: 1 });
  t.is((await call(used, 'GET')).status, 200);
  t.is((await call(idle, 'GET')).status, 200);
  const idleSocket = Object.values(idle.freeSockets)[0]![0];
  const idleClosed = new Promise<number>((resolve) => idleSocket.once('close', () => resolve(Date.now())));

  const stopping = replica.stop();
  const started = Date.now();
  const refused = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  t.is(refused, 'ECONNREFUSED', 'a new connection is refused at once: nginx sends the request elsewhere, even a POST');

  // Within nginx's keepalive_timeout, nginx may still send a request on a connection it holds.
  await sleep(gatewayUpstream.keepaliveTimeoutSeconds * 500);
  const late = await call(used, 'POST');
  t.deepEqual(late, { status: 201, connection: 'close', reused: true }, 'served on the kept-alive connection, which the answer closes');

  await stopping;
  const idleFor = (await idleClosed) - started;
  t.true(idleFor >= gatewayUpstream.keepaliveTimeoutSeconds * 1000, `the idle connection was closed ${idleFor} ms after the stop began`);
  used.destroy();
  idle.destroy();
});

test.serial("a replica's own 503 (the database is away) reaches the client with its Retry-After, and marks no replica failed", async (t) => {
  // Retrying a 503 on the other replica meets the same database, and marks both failed: nginx would
  // then answer its own 502, without Retry-After, to everything for fail_timeout.
  const answers: string[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`${gateway}/products/db-down`);
    const body = (await res.json()) as { code?: string };
    answers.push(`${res.status} ${body.code} ${res.headers.get('retry-after')}`);
  }
  t.deepEqual(answers, Array.from({ length: 10 }, () => '503 DATABASE_UNAVAILABLE 1'));
  const after = await fetch(`${gateway}/products`);
  t.is(after.status, 200, 'both replicas still serve');
});
