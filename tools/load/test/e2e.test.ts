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
import { dropKeyspace, testKeyspace } from '@product-store/kit/testing';
import { freeStackPorts, startLocalStack, type RunningStack } from '../../stack/stack';
import { runLoad, type LoadSummary } from '../generator';
import { assertShopInvariants } from './invariants';

const keyspace = testKeyspace('load');
const admin = { email: 'admin@example.com', password: 'load-test-admin-password' };
const logs: string[] = [];
let stack: RunningStack;
let dataDir: string;

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'product-store-load-'));
  stack = await startLocalStack({
    dataDir,
    env: { ...process.env, ENVIRONMENT: 'test', LOG_LEVEL: 'warn', CASSANDRA_KEYSPACE: keyspace, ADMIN_EMAIL: admin.email, ADMIN_PASSWORD: admin.password },
    ports: await freeStackPorts(),
    sink: (name, line) => logs.push(`[${name}] ${line}`),
  });
  if (stack.missing.some((m) => m.component === 'nginx')) throw new Error('nginx is not installed: apt-get install -y nginx');
});

test.after.always(async () => {
  await stack?.stop();
  await dropKeyspace(keyspace).catch(() => undefined);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

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

  // Every acknowledged order is in its owner's list, once; one order per key; stock conserved.
  t.true(summary.orders.length > 0, 'some checkouts placed orders');
  await assertShopInvariants(t, gateway, summary, { exact: true });
});
