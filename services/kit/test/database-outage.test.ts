/**
 * Drill: Cassandra is killed (SIGKILL) under load and started again on the same data, twice.
 *
 * A Cassandra of this test's own (its own folder and ports, whatever CASSANDRA_HOST says) and backend,
 * cart-service and order-service as real processes on it. A few clients browse, fill carts and check
 * out all along. What must hold:
 * - no service process exits;
 * - every answer is 2xx, 4xx, or 503 with Retry-After and problem+json: never a 500 or another 5xx;
 * - /ready answers 503 while Cassandra is down and 200 again within RECOVERY_BOUND_MS of its return,
 *   and so do the clients' requests;
 * - stock held without an order comes back within the checkout bound (CHECKOUT_TIMEOUT_MS plus one
 *   recovery interval, counted from Cassandra's return): initial stock = stock + ordered quantities.
 *
 * OUTAGE_CASSANDRA_DIR / OUTAGE_CASSANDRA_PORT / OUTAGE_CASSANDRA_METRICS_PORT / OUTAGE_CASSANDRA_JMX_PORT
 * move its Cassandra (the storage port is the CQL port + 10).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { startCassandra, repoRoot, type CassandraHandle } from '../../../tools/cassandra/launcher';
import { freePort, startProcess, waitForHttp, type ManagedProcess } from '../../../tools/stack/processes';
import { DEVELOPMENT_JWT_SECRET } from '../src';
import { call, tokenFor } from '../testing';

const dataDir = process.env.OUTAGE_CASSANDRA_DIR || '/tmp/ps-outage-cass';
const cqlPort = Number(process.env.OUTAGE_CASSANDRA_PORT || 19542);
const metricsPort = Number(process.env.OUTAGE_CASSANDRA_METRICS_PORT || 17570);
const jmxPort = Number(process.env.OUTAGE_CASSANDRA_JMX_PORT || 17699);

const OUTAGES = 2;
/** How long after Cassandra answers again the services must answer 2xx (and /ready 200). */
const RECOVERY_BOUND_MS = 30_000;
const CHECKOUT_TIMEOUT_MS = 5000;
const RECOVERY_INTERVAL_MS = 1000;
const CLIENTS = 4;
const INITIAL_STOCK = 100_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const names = ['backend', 'cart-service', 'order-service'] as const;
type Name = (typeof names)[number];

interface Answer {
  at: number;
  service: Name;
  what: string;
  status: number;
  retryAfter: string | null;
  contentType: string;
  text: string;
}

function startCassandraHere(): Promise<CassandraHandle> {
  return startCassandra({ dataDir, port: cqlPort, metricsPort, jmxPort, heap: process.env.CASSANDRA_HEAP ?? '768M', log: () => undefined });
}

function cassandraPid(): number {
  return Number(readFileSync(join(dataDir, 'cassandra.pid'), 'utf8').trim().split(/\s+/)[0]);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - started;
    await sleep(200);
  }
  throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
}

test('Cassandra killed and restarted under load: no process dies, no 500, back within the bound, no stock left held', async (t) => {
  t.timeout(8 * 60_000);
  let cassandra = await startCassandraHere();
  const processes = new Map<Name, ManagedProcess>();
  const exits: string[] = [];
  const output: string[] = [];
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()] as const))) as Record<Name, number>;
  const url = (name: Name) => `http://127.0.0.1:${ports[name]}`;
  const env = {
    ...process.env,
    ENVIRONMENT: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    CASSANDRA_HOST: '127.0.0.1',
    CASSANDRA_PORT: String(cqlPort),
    CASSANDRA_KEYSPACE: `outage_${randomBytes(5).toString('hex')}`,
    JWT_SECRET_KEY: DEVELOPMENT_JWT_SECRET,
    BACKEND_URL: url('backend'),
    CART_SERVICE_URL: url('cart-service'),
    CHECKOUT_TIMEOUT_MS: String(CHECKOUT_TIMEOUT_MS),
    CHECKOUT_RECOVERY_INTERVAL_MS: String(RECOVERY_INTERVAL_MS),
  };
  let stopping = false;
  try {
    for (const name of names) {
      const main = join(repoRoot, 'services', name, 'src', 'main.ts');
      const proc = startProcess(name, process.execPath, ['--require', 'tsx/cjs', main], {
        cwd: repoRoot,
        env: { ...env, PORT: String(ports[name]) },
        sink: (n, line) => output.push(`[${n}] ${line}`),
      });
      void proc.exited.then((code) => {
        if (!stopping) exits.push(`${name} exited with ${code}`);
      });
      processes.set(name, proc);
      await waitForHttp(proc, `${url(name)}/ready`, 90_000);
    }

    const admin = tokenFor('admin');
    const products: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(url('backend'), '/products', { method: 'POST', token: admin, body: { name: `Outage ${i}`, price_cents: 100, category: 'drill', stock: INITIAL_STOCK } });
      if (res.status !== 201) throw new Error(`creating a product: ${res.status} ${res.text}`);
      products.push(res.body.id);
    }

    // The load: a few clients, each its own user, browsing, filling the cart and checking out.
    const answers: Answer[] = [];
    const users = Array.from({ length: CLIENTS }, () => ({ id: randomUUID(), token: '' }));
    for (const u of users) u.token = tokenFor('customer', u.id);
    let loadOn = true;
    const request = async (service: Name, what: string, path: string, init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
      const headers: Record<string, string> = { ...init.headers };
      if (init.token) headers.Authorization = `Bearer ${init.token}`;
      if (init.body !== undefined) headers['Content-Type'] = 'application/json';
      const at = Date.now();
      try {
        const res = await fetch(`${url(service)}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), signal: AbortSignal.timeout(15_000) });
        const text = await res.text();
        answers.push({ at, service, what, status: res.status, retryAfter: res.headers.get('retry-after'), contentType: res.headers.get('content-type') ?? '', text: text.slice(0, 300) });
      } catch (err) {
        answers.push({ at, service, what, status: 0, retryAfter: null, contentType: '', text: String((err as Error).cause ?? err) });
      }
    };
    const client = async (user: { id: string; token: string }) => {
      for (let i = 0; loadOn; i++) {
        const product = products[i % products.length];
        await request('backend', 'GET /products/:id', `/products/${product}`);
        await request('cart-service', 'GET /cart', '/cart', { token: user.token });
        await request('cart-service', 'POST /cart/items', '/cart/items', { method: 'POST', token: user.token, body: { product_id: product, quantity: 1 } });
        if (i % 2 === 1) await request('order-service', 'POST /orders', '/orders', { method: 'POST', token: user.token, headers: { 'Idempotency-Key': randomUUID() } });
        await sleep(50);
      }
    };
    const load = Promise.all(users.map(client));

    const ready = async (name: Name) => (await fetch(`${url(name)}/ready`, { signal: AbortSignal.timeout(3000) })).status;
    const allReady = async (status: number) => (await Promise.all(names.map(ready))).every((s) => s === status);
    /** 2xx again from every service, for requests sent after `since`. */
    const answering = (since: number) => async () => names.every((n) => answers.some((a) => a.service === n && a.at > since && a.status >= 200 && a.status < 300));

    await sleep(3000);
    const recoveries: number[] = [];
    let back = 0;
    for (let outage = 1; outage <= OUTAGES; outage++) {
      const pid = cassandraPid();
      process.kill(pid, 'SIGKILL');
      t.log(`outage ${outage}: Cassandra (pid ${pid}) killed`);
      await waitFor(`/ready 503 on every service (outage ${outage})`, () => allReady(503), 15_000);
      await sleep(3000);
      t.true(await allReady(503), '/ready stays 503 while Cassandra is down');
      cassandra = await startCassandraHere();
      back = Date.now();
      t.log(`outage ${outage}: Cassandra answers again after ${(cassandra.startMs / 1000).toFixed(1)} s`);
      await waitFor(`/ready 200 on every service (outage ${outage})`, () => allReady(200), RECOVERY_BOUND_MS);
      const recovered = await waitFor(`2xx from every service (outage ${outage})`, answering(back), RECOVERY_BOUND_MS);
      recoveries.push(Date.now() - back);
      t.log(`outage ${outage}: /ready 200 and 2xx answers ${((Date.now() - back) / 1000).toFixed(1)} s after Cassandra's return (${recovered} ms after /ready)`);
      await sleep(3000);
    }
    loadOn = false;
    await load;

    // What the clients saw.
    const byStatus = new Map<string, number>();
    for (const a of answers) byStatus.set(`${a.what} ${a.status}`, (byStatus.get(`${a.what} ${a.status}`) ?? 0) + 1);
    t.log([...byStatus].map(([k, v]) => `${k}: ${v}`).join(', '));
    const serverErrors = answers.filter((a) => a.status === 0 || (a.status >= 500 && a.status !== 503));
    t.deepEqual(serverErrors.slice(0, 5).map((a) => `${a.what} → ${a.status} ${a.text}`), [], `${serverErrors.length} answers were 5xx other than 503, or no answer`);
    const bad503 = answers.filter((a) => a.status === 503 && (!a.retryAfter || !/^\d+$/.test(a.retryAfter) || !a.contentType.startsWith('application/problem+json')));
    t.deepEqual(bad503.slice(0, 5).map((a) => `${a.what} → Retry-After ${a.retryAfter}, ${a.contentType}`), [], `${bad503.length} 503s without Retry-After or problem+json`);
    t.true(answers.some((a) => a.status === 503), 'the outage was seen by the clients');
    t.true(answers.filter((a) => a.at > back && a.status >= 200 && a.status < 300).length > 0);

    // Stock held without an order is back within the checkout bound, counted from Cassandra's return.
    const boundMs = CHECKOUT_TIMEOUT_MS + RECOVERY_INTERVAL_MS;
    let mismatch = '';
    const settled = async () => {
      const ordered = new Map<string, number>();
      for (const u of users) {
        for (let cursor: string | null = null, first = true; first || cursor; first = false) {
          const res: { status: number; body: any } = await call(url('order-service'), `/orders?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token: u.token });
          if (res.status !== 200) throw new Error(`GET /orders: ${res.status}`);
          for (const order of res.body.items) {
            if (order.status === 'cancelled') continue;
            for (const item of order.items) ordered.set(item.product_id, (ordered.get(item.product_id) ?? 0) + item.quantity);
          }
          cursor = res.body.next_cursor;
        }
      }
      const lines: string[] = [];
      for (const id of products) {
        const stock = (await call(url('backend'), `/products/${id}`)).body.stock as number;
        if (stock + (ordered.get(id) ?? 0) !== INITIAL_STOCK) lines.push(`${id}: stock ${stock} + ordered ${ordered.get(id) ?? 0} != ${INITIAL_STOCK}`);
      }
      mismatch = lines.join('; ');
      return lines.length === 0;
    };
    const sinceBack = Date.now() - back;
    const waited = await waitFor('stock held without an order to come back', settled, Math.max(0, boundMs - sinceBack) + 10_000).catch(() => -1);
    t.true(waited >= 0, `stock still held ${((Date.now() - back) / 1000).toFixed(1)} s after Cassandra's return (bound ${boundMs / 1000} s + 10 s slack): ${mismatch}`);

    t.deepEqual(exits, [], `service processes exited:\n${output.filter((l) => /error|Error/.test(l)).slice(-30).join('\n')}`);
    t.true(recoveries.every((ms) => ms <= RECOVERY_BOUND_MS));
  } finally {
    stopping = true;
    await Promise.all([...processes.values()].map((p) => p.stop()));
    if (exits.length) t.log(output.slice(-60).join('\n'));
    await cassandra.stop();
  }
});
