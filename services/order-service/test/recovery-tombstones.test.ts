/**
 * Recovery keeps working however much work has finished: a Cassandra of the test's own fails any read
 * that scans more than 100 tombstones (warns past 50); the shop finishes more than ten times that many
 * checkouts, every one of which leaves its pending work finished behind it; then two checkouts crash
 * (one before, one after its commit point) and the service's own recovery passes must still complete
 * them, with no pass failing and no read of the recovery tables scanning tombstones.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createAuth, createClient, createLogger, createMetrics, loadConfig, types, type Client, type ServiceDeps } from '@product-store/kit';
import { startStack, tokenFor, type TestStack } from '@product-store/kit/testing';
import { startCassandra, type CassandraHandle } from '../../../tools/cassandra/launcher';
import { backend } from '../../backend/src/service';
import { cartService } from '../../cart-service/src/service';
import { createDependencies, type Dependencies } from '../src/clients';
import { priceLines, requestFingerprint } from '../src/orders';
import { OrderRepository } from '../src/repository';
import { orderService } from '../src/service';
import { shop } from './helpers';

const FAILURE_THRESHOLD = 100;
const FINISHED_CHECKOUTS = 10 * FAILURE_THRESHOLD + 50;
const TIMEOUT_MS = 3000;
// Its own node, folder and ports, beside the shared test Cassandra (9042, 7070, 7199).
const dataDir = process.env.TOMBSTONE_TEST_CASSANDRA_DIR ?? join(tmpdir(), 'product-store-order-tombstones');
const port = Number(process.env.TOMBSTONE_TEST_CASSANDRA_PORT || 19342);

let cassandra: CassandraHandle | undefined;
let stack: TestStack | undefined;
let db: Client | undefined;
const serviceLines: string[] = [];

test.before(async () => {
  cassandra = await startCassandra({
    dataDir,
    port,
    metricsPort: Number(process.env.TOMBSTONE_TEST_CASSANDRA_METRICS_PORT || 17370),
    jmxPort: Number(process.env.TOMBSTONE_TEST_CASSANDRA_JMX_PORT || 17499),
    heap: '768M',
    yaml: { tombstone_warn_threshold: FAILURE_THRESHOLD / 2, tombstone_failure_threshold: FAILURE_THRESHOLD },
    log: () => undefined,
  });
  // Every client of this file (the services, the test's own, the keyspace's drop) uses that node.
  process.env.CASSANDRA_HOST = cassandra.host;
  process.env.CASSANDRA_PORT = String(cassandra.port);
  stack = await startStack(
    [backend, cartService, orderService],
    { CHECKOUT_TIMEOUT_MS: String(TIMEOUT_MS), CHECKOUT_RECOVERY_INTERVAL_MS: '500', IDEMPOTENCY_WAIT_MS: '300', LOG_LEVEL: 'warn' },
    (service, line) => {
      if (service === 'order-service') serviceLines.push(line);
    },
  );
  const config = loadConfig('order-service', { ...stack.env, BACKEND_URL: stack.url('backend'), CART_SERVICE_URL: stack.url('cart-service') });
  db = createClient(config.cassandra, config.cassandra.keyspace);
  await db.connect();
});

test.after.always(async () => {
  await db?.shutdown();
  await stack?.stop();
  await cassandra?.stop();
  if (cassandra?.owned) rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: () => Promise<boolean>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await what()) return true;
    await sleep(250);
  }
  return what();
}

function metric(page: string, name: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test.serial('a crashed checkout is recovered after ten times the tombstone failure threshold of finished checkouts', async (t) => {
  t.timeout(5 * 60_000);
  const s = shop(stack!);
  const keyspace = stack!.env.CASSANDRA_KEYSPACE!;

  // Finished checkouts, each one a real purchase through the services.
  const products = await Promise.all(Array.from({ length: 8 }, (_, i) => s.product(1000, 500, `Beans ${i}`)));
  let placed = 0;
  const started = Date.now();
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: 12 }, async (_, worker) => {
      const user = tokenFor('customer');
      for (let i = worker; i < FINISHED_CHECKOUTS; i += 12) {
        await s.fill(user, [[products[i % products.length]!, 1]]);
        const res = await s.checkout(user);
        if (res.status === 201) placed++;
        else failures.push(`${res.status} ${res.text}`);
      }
    }),
  );
  t.log(`${placed} checkouts placed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.deepEqual(failures.slice(0, 5), []);
  t.is(placed, FINISHED_CHECKOUTS);
  await sleep(2000); // a few recovery passes over the finished work

  // Two checkouts crash, simulated as recovery.test.ts does: the steps a request runs, then nothing.
  const config = loadConfig('order-service', { ...stack!.env, BACKEND_URL: stack!.url('backend'), CART_SERVICE_URL: stack!.url('cart-service') });
  const serviceDeps: Omit<ServiceDeps, 'settings'> = { config, log: createLogger({ level: 'error' }), metrics: createMetrics('crashed-order-service'), db: db!, auth: createAuth(config), onStop: () => undefined };
  const crashedRepo = new OrderRepository(db!);
  const deps: Dependencies = createDependencies(serviceDeps);
  const reservedThenCrashed = async (userId: string) => {
    const orderId = types.TimeUuid.now().toString();
    const key = randomUUID();
    const lines = await deps.cartLines(userId);
    await crashedRepo.claimKey(userId, key, { request_hash: requestFingerprint(undefined), order_id: orderId, created_at: new Date() });
    const now = new Date();
    await crashedRepo.startCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'reserving', lines, created_at: now, updated_at: now });
    const reserved = await deps.reserve(orderId, lines);
    if (!reserved.ok) throw new Error('reservation failed');
    return { orderId, key, reserved };
  };
  const held = await s.product(10, 700, 'Held');
  const beforeCommitId = randomUUID();
  await s.fill(tokenFor('customer', beforeCommitId), [[held, 2]]);
  await reservedThenCrashed(beforeCommitId);
  const committed = await s.product(10, 700, 'Committed');
  const afterCommitId = randomUUID();
  const afterCommit = tokenFor('customer', afterCommitId);
  await s.fill(afterCommit, [[committed, 3]]);
  const crash = await reservedThenCrashed(afterCommitId);
  if (!crash.reserved.ok) throw new Error('unreachable');
  t.true(await crashedRepo.confirmCheckout(crash.orderId, priceLines(crash.reserved.lines)));
  t.is(await s.stockOf(held), 8);
  t.is(await s.stockOf(committed), 7);

  // The service's own passes (every 500 ms, after the 3 s timeout) must finish both.
  const released = await eventually(async () => (await s.stockOf(held)) === 10, 20_000);
  const cassandraLog = [join(dataDir, 'logs', 'system.log')].filter(existsSync).map((f) => readFileSync(f, 'utf8')).join('\n');
  const failedPasses = serviceLines.filter((l) => /recovery pass failed/.test(l));
  // This run's keyspace only: the node's folder may hold the log of an earlier run that was cut short.
  const overwhelmed = cassandraLog.split('\n').filter((l) => /TombstoneOverwhelming|Scanned over \d+ tombstones/.test(l) && l.includes(keyspace));
  t.log(`${failedPasses.length} failed recovery passes${failedPasses[0] ? `, first: ${failedPasses[0].slice(0, 300)}` : ''}`);
  t.log(`${overwhelmed.length} tombstone failures in Cassandra's log${overwhelmed[0] ? `, first: ${overwhelmed[0].slice(0, 300)}` : ''}`);
  t.true(released, 'the stock of the checkout that crashed before its commit point is released');
  const ordered = await eventually(async () => (await s.orders(`/orders/${crash.orderId}`, { token: afterCommit })).status === 200, 20_000);
  t.true(ordered, 'the checkout that crashed after its commit point becomes an order');
  t.is(await s.stockOf(committed), 7, 'reserved once');
  const replay = await s.checkout(afterCommit, crash.key);
  t.is(replay.status, 201, 'its key replays the order');

  // No pass failed, and no read of order-service's recovery tables came near a tombstone threshold.
  t.deepEqual(failedPasses.slice(0, 3), []);
  t.deepEqual(overwhelmed.slice(0, 3), []);
  const recoveryTables = new RegExp(`${keyspace}\\.(pending_work|work_\\w+)`);
  t.deepEqual(cassandraLog.split('\n').filter((l) => /tombstone/i.test(l) && recoveryTables.test(l)).slice(0, 3), [], 'recovery reads no tombstones');

  const warnings = cassandraLog.split('\n').filter((l) => /tombstone/i.test(l) && l.includes(keyspace));
  t.log(`${warnings.length} tombstone warnings in this keyspace${warnings[0] ? `, first: ${warnings[0].slice(0, 300)}` : ''}`);

  // What operators watch: no failed pass, nothing left, a recent success.
  let page = '';
  const drained = await eventually(async () => {
    page = (await s.orders('/metrics')).text;
    return metric(page, 'checkout_recovery_backlog') === 0;
  }, 5000);
  t.true(drained, 'the backlog the last pass saw is empty');
  t.is(metric(page, 'checkout_recovery_pass_failures_total'), 0);
  const lastSuccess = metric(page, 'checkout_recovery_last_success_timestamp_seconds');
  t.truthy(lastSuccess);
  t.true(Date.now() / 1000 - lastSuccess! < 10, 'a pass succeeded within the last seconds');
});

/** Starts work and finishes it at once, `count` times, `parallel` at a time. */
async function finishedWork(count: number, parallel: number, add: (orderId: string) => Promise<void>, finish: (orderId: string) => Promise<void>) {
  await Promise.all(
    Array.from({ length: parallel }, async (_, worker) => {
      for (let i = worker; i < count; i += parallel) {
        const orderId = types.TimeUuid.now().toString();
        await add(orderId);
        await finish(orderId);
      }
    }),
  );
}

// The cold paths: reads of a partition with more tombstones than Cassandra allows (which log errors in
// Cassandra's log, hence after the test above) are split until each part is under the limit.

test.serial("a crashed writer's slot full of finished work is still read, in parts", async (t) => {
  const repo = new OrderRepository(db!);
  const userId = randomUUID();
  const work = (orderId: string) => ({ order_id: orderId, kind: 'cancel' as const, user_id: userId, created_at: new Date() });
  // All in one 5-second slot of one writer: start just after a slot begins.
  while (Date.now() % 5000 > 200) await sleep(20);
  const slot = Math.floor(Date.now() / 5000);
  await finishedWork(2.5 * FAILURE_THRESHOLD, 16, (id) => repo.addWork(work(id)), (id) => repo.finishWork(work(id)));
  const crashed = work(types.TimeUuid.now().toString());
  await repo.addWork(crashed);
  t.is(Math.floor(Date.now() / 5000), slot, 'the finished work and the crashed item share a slot');

  const scan = await repo.pendingWork(new Date(Date.now() + 10_000), 48, 3000);
  t.deepEqual(scan.errors, []);
  t.deepEqual(scan.items.filter((w) => w.order_id === crashed.order_id).map((w) => w.kind), ['cancel']);
  t.log(`${scan.reads} reads for ${scan.items.length} pending items`);
  t.true(scan.reads > 10, 'the slot was read in parts (a whole read fails past the threshold)');
  await repo.finishWork(scan.items.find((w) => w.order_id === crashed.order_id)!);
});

test.serial('work left in the old hourly table (migration 1) by a previous release is still found, among its tombstones', async (t) => {
  const repo = new OrderRepository(db!);
  const userId = randomUUID();
  const now = new Date();
  const bucket = Number(now.toISOString().slice(0, 13).replace(/[-T]/g, ''));
  const legacy = (orderId: string) => [bucket, types.TimeUuid.fromString(orderId), 'cancel', types.Uuid.fromString(userId), now];
  // What the previous release wrote and deleted.
  await finishedWork(
    2.5 * FAILURE_THRESHOLD,
    16,
    (id) => db!.execute('INSERT INTO pending_work (bucket, order_id, kind, user_id, created_at) VALUES (?, ?, ?, ?, ?)', legacy(id), { prepare: true }).then(() => undefined),
    (id) => db!.execute('DELETE FROM pending_work WHERE bucket = ? AND order_id = ? AND kind = ?', legacy(id).slice(0, 3), { prepare: true }).then(() => undefined),
  );
  const left = types.TimeUuid.now().toString();
  await db!.execute('INSERT INTO pending_work (bucket, order_id, kind, user_id, created_at) VALUES (?, ?, ?, ?, ?)', legacy(left), { prepare: true });

  const scan = await repo.pendingWork(new Date(Date.now() + 10_000), 48, 3000);
  t.deepEqual(scan.errors, []);
  const found = scan.items.find((w) => w.order_id === left);
  t.truthy(found, 'found in pending_work');
  t.deepEqual(found?.source, { legacyBucket: bucket });
  await repo.finishWork(found!);
  const again = await repo.pendingWork(new Date(Date.now() + 10_000), 48, 3000);
  t.false(again.items.some((w) => w.order_id === left), 'finished: deleted from pending_work');
});
