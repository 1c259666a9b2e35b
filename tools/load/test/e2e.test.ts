/**
 * The load generator against the real local stack (Cassandra, the four services, nginx), on ports
 * of its own: a short run of the whole mix, then only invariants, never speeds: every request got a
 * status, no 5xx, no 429 (each customer has its own source address), every order a customer saw
 * acknowledged is in that customer's list, one order per Idempotency-Key, and for every product the
 * stock it started with = its stock now + what the orders hold.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { dropKeyspace, testKeyspace } from '../../../services/kit/testing';
import { services, type ServiceName } from '../../../services/kit/src/topology';
import { freePort } from '../../stack/processes';
import { startLocalStack, type RunningStack } from '../../stack/stack';
import { runLoad, type LoadSummary } from '../generator';

const keyspace = testKeyspace('load');
const admin = { email: 'admin@example.com', password: 'load-test-admin-password' };
const logs: string[] = [];
let stack: RunningStack;
let dataDir: string;

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'product-store-load-'));
  const servicePorts = Object.fromEntries(await Promise.all(services.map(async (s) => [s.name, await freePort()]))) as Record<ServiceName, number>;
  stack = await startLocalStack({
    dataDir,
    env: { ...process.env, ENVIRONMENT: 'test', LOG_LEVEL: 'warn', CASSANDRA_KEYSPACE: keyspace, ADMIN_EMAIL: admin.email, ADMIN_PASSWORD: admin.password },
    ports: {
      services: servicePorts,
      gateway: await freePort(),
      nginxStatus: await freePort(),
      nginxExporter: await freePort(),
      prometheus: await freePort(),
      alertmanager: await freePort(),
    },
    sink: (name, line) => logs.push(`[${name}] ${line}`),
  });
  if (stack.missing.some((m) => m.component === 'nginx')) throw new Error('nginx is not installed: apt-get install -y nginx');
});

test.after.always(async () => {
  await stack?.stop();
  await dropKeyspace(keyspace).catch(() => undefined);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function getJson(url: string, token?: string): Promise<any> {
  const res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(15_000) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Every order of a customer, from the API, page by page. */
async function ordersOf(gateway: string, token: string): Promise<Array<{ id: string; status: string; items: Array<{ product_id: string; quantity: number }> }>> {
  const all = [];
  let cursor: string | null = null;
  do {
    const page: any = await getJson(`${gateway}/orders?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

test('a short run of the whole mix through the gateway keeps every invariant', async (t) => {
  t.timeout(240_000);
  const gateway = stack.url('gateway');
  let summary: LoadSummary;
  try {
    summary = await runLoad({
      url: gateway,
      rate: 15,
      durationMs: 12_000,
      customers: 8,
      sourceAddresses: '127.0.12.0/28',
      admin,
      // Little stock, so that some checkouts meet OUT_OF_STOCK.
      products: { count: 4, stock: 2 },
      recordLimit: 10_000,
      timeoutMs: 20_000,
      seed: 9,
    });
  } catch (err) {
    t.log(logs.slice(-40).join('\n'));
    throw err;
  }
  t.log(`rps ${summary.rps}, p99 ${summary.latency.p99} ms, ${summary.orders.length} orders, ${summary.checkouts.outOfStock} out of stock, statuses ${JSON.stringify(summary.byStatus)}`);

  // Every arrival is accounted for, and every request got a status.
  t.is(summary.scheduled, 180);
  t.is(summary.dropped, 0);
  t.is(summary.networkErrors, 0);
  t.is(summary.records!.length, summary.sent + summary.followUps.sent);
  for (const r of summary.records!) t.true(r.status >= 200 && r.status < 600, `${r.requestId}: ${r.status} ${r.error ?? ''}`);
  t.is(Object.values(summary.byStatus).reduce((a, b) => a + b, 0), summary.sent);
  t.is(Object.values(summary.byOperation).reduce((a, s) => a + s.scheduled, 0), summary.scheduled);

  // No 5xx, and no 429: every customer came from an address of its own.
  const statuses = [...Object.keys(summary.byStatus), ...Object.keys(summary.followUps.byStatus)];
  t.false(statuses.some((s) => s.startsWith('5')), JSON.stringify(summary.byStatus));
  t.false(statuses.includes('429'), JSON.stringify(summary.byStatus));
  t.is(new Set(summary.customers.map((c) => c.sourceAddress)).size, 8);
  t.deepEqual(summary.checkouts.unresolved, []);
  // A 409 is the expected OUT_OF_STOCK of a checkout, not counted as an error.
  for (const r of summary.records!.filter((x) => x.status === 409)) t.like(r, { op: 'checkout', code: 'OUT_OF_STOCK', expected: true });
  t.is(summary.errors, 0);

  // Every acknowledged order is in its owner's list, once; one order per key.
  t.true(summary.orders.length > 0, 'some checkouts placed orders');
  t.is(new Set(summary.orders.map((o) => o.idempotencyKey)).size, summary.orders.length);
  t.is(new Set(summary.orders.map((o) => o.orderId)).size, summary.orders.length);
  const listed = new Map<string, { status: string; items: Array<{ product_id: string; quantity: number }> }>();
  for (const c of summary.customers) {
    for (const o of await ordersOf(gateway, c.token!)) listed.set(o.id, o);
    for (const o of summary.orders.filter((x) => x.customer === c.index)) t.true(listed.has(o.orderId), `order ${o.orderId} (key ${o.idempotencyKey}) is in ${c.email}'s list`);
  }
  t.is(listed.size, summary.orders.length, 'no order the customers did not see acknowledged');

  // Stock: what each product started with = its stock now + the quantities in (non-cancelled) orders.
  for (const p of summary.products) {
    const now = (await getJson(`${gateway}/products/${p.id}`)).stock as number;
    const ordered = [...listed.values()].filter((o) => o.status !== 'cancelled').flatMap((o) => o.items).filter((i) => i.product_id === p.id).reduce((a, i) => a + i.quantity, 0);
    t.true(now >= 0, `${p.id}: stock ${now}`);
    t.is(p.initialStock, now + ordered, `${p.id}: started with ${p.initialStock}, has ${now}, ordered ${ordered}`);
  }
});
