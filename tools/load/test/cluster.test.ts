/**
 * The shop on a three-node Cassandra (127.0.0.1-3, the launcher's startCassandraCluster), keyspaces at
 * replication factor 3 with NetworkTopologyStrategy, the services at LOCAL_QUORUM / LOCAL_SERIAL, two
 * replicas of every service behind nginx: the local stack on a cluster of its own, on ports of its own.
 *
 * 1. Three nodes up (nodetool status), the keyspace replicated to all three, one schema on every node.
 * 2. Drill: one node killed (SIGKILL, by pid) under checkout load: checkouts keep succeeding while it is
 *    down, any failed request is counted (and may only be a retryable 503 or gateway error of a request
 *    in flight on the dead node), and no acknowledged order is lost; the node is started again, its
 *    missed writes arrive as hints, and `nodetool repair` (the runbook's step) leaves every node with
 *    every order.
 * 3. Drill: two nodes down (no quorum): the shop answers clean 503s with Retry-After (problem+json),
 *    never a 500, sells nothing it cannot record; once the nodes are back checkouts succeed again and,
 *    after the recovery window, the promises hold (stock conserved, every acknowledged order listed by
 *    its owner, one order per key, nothing held).
 *
 * One replica of each service killed under load is soak.test.ts's drill (the same stack, one node).
 * Tests assert invariants; times are logged for the runbook, never asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Client, policies, types } from 'cassandra-driver';
import { createClient, queryDefaults, loadConfig, createLogger, ensureKeyspace, kitSettings, migrate, type Migration } from '@product-store/kit';
import { testKeyspace } from '@product-store/kit/testing';
import { parseNodetoolStatus, startCassandraCluster, type CassandraCluster, type ClusterNode } from '../../cassandra/launcher';
import { freePort } from '../../stack/processes';
import { freeStackPorts, startLocalStack, type RunningStack } from '../../stack/stack';
import { runLoad, type LoadOptions, type LoadSummary, type RequestRecord } from '../generator';
import { assertShopInvariants, getJson } from './invariants';

const keyspace = testKeyspace('cluster');
const admin = { email: 'admin@example.com', password: 'cluster-test-admin-password' };
const CHECKOUT_TIMEOUT_MS = 5000;
const RECOVERY_INTERVAL_MS = 1000;
const RECOVERY_BOUND_MS = CHECKOUT_TIMEOUT_MS + 2 * RECOVERY_INTERVAL_MS;
/** The services' deadline for any request (the kit's default, REQUEST_TIMEOUT_MS), and the drills' clients' timeout past it. */
const requestTimeoutMs = kitSettings.REQUEST_TIMEOUT_MS.default;
const clientTimeoutMs = requestTimeoutMs + 3000;

const logs: string[] = [];
const unexpectedExits: string[] = [];
let cluster: CassandraCluster;
let stack: RunningStack;
let dataDir: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `port` can be bound on `host`. */
function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, host, () => server.close(() => done(true)));
  });
}

/** A port free on every given address, with `extra` free too (the storage port is CQL's + 10). */
async function freePortOn(hosts: string[], count = 1, offset = 0): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base + offset + count > 65535) continue;
    const checks = await Promise.all(hosts.flatMap((h) => Array.from({ length: count }, (_, i) => bindable(h, base + offset + i))));
    if (checks.every(Boolean)) return base;
  }
}

test.before(async (t) => {
  dataDir = mkdtempSync(join(tmpdir(), 'product-store-cluster-'));
  const addresses = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  // The CQL port on every address, and its storage port (+ 10); JMX on 127.0.0.1, three in a row.
  let port = await freePortOn(addresses);
  while (!(await bindable('127.0.0.1', port + 10)) || !(await bindable('127.0.0.2', port + 10)) || !(await bindable('127.0.0.3', port + 10))) port = await freePortOn(addresses);
  const started = Date.now();
  cluster = await startCassandraCluster({
    nodes: 3,
    port,
    baseDir: join(dataDir, 'cassandra'),
    jmxPort: await freePortOn(['127.0.0.1'], 3),
    metricsPort: await freePortOn(['127.0.0.1'], 3),
    heap: '640M',
    log: (line) => logs.push(`[cassandra] ${line}`),
  });
  t.log(`three nodes answered CQL after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  stack = await startLocalStack({
    dataDir,
    cassandra: cluster,
    env: {
      ...process.env,
      ENVIRONMENT: 'test',
      LOG_LEVEL: 'warn',
      CASSANDRA_KEYSPACE: keyspace,
      CASSANDRA_REPLICATION_FACTOR: '3',
      ADMIN_EMAIL: admin.email,
      ADMIN_PASSWORD: admin.password,
      CHECKOUT_TIMEOUT_MS: String(CHECKOUT_TIMEOUT_MS),
      CHECKOUT_RECOVERY_INTERVAL_MS: String(RECOVERY_INTERVAL_MS),
    },
    ports: await freeStackPorts(),
    withoutMonitoring: true,
    sink: (name, line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 2000) logs.splice(0, 1000);
    },
    onUnexpectedExit: (name, code) => unexpectedExits.push(`${name} exited with ${code}`),
  }).catch((err) => {
    t.log(logs.slice(-60).join('\n'));
    throw err;
  });
  if (stack.missing.some((m) => m.component === 'nginx')) throw new Error('nginx is not installed: apt-get install -y nginx');
  t.log(`cluster and stack up after ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.after.always(async () => {
  await stack?.stop();
  await cluster?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test.afterEach.always((t) => {
  if (!t.passed) t.log(logs.slice(-60).join('\n'));
});

/** A client whose only coordinator is `node`. */
function clientOf(node: ClusterNode): Client {
  return new Client({
    contactPoints: [`${node.address}:${cluster.port}`],
    localDataCenter: 'datacenter1',
    keyspace,
    policies: { loadBalancing: new policies.loadBalancing.AllowListPolicy(new policies.loadBalancing.RoundRobinPolicy(), [`${node.address}:${cluster.port}`]) },
    socketOptions: { readTimeout: 30_000 },
  });
}

/** Every node's view of the ring: address -> state (UN, DN, ...), as `nodetool status` prints it. */
async function ringAsSeenBy(node: ClusterNode): Promise<Record<string, string>> {
  const { status, output } = await node.nodetool(['status']);
  if (status !== 0) throw new Error(`nodetool status on node${node.index} failed: ${output}`);
  return Object.fromEntries(parseNodetoolStatus(output).map((n) => [n.address, n.state]));
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1000);
  }
}

function load(options: Partial<LoadOptions> & Pick<LoadOptions, 'durationMs'>, runId: string, addresses: string): Promise<LoadSummary> {
  return runLoad({
    url: stack.url('gateway'),
    rate: 15,
    customers: 12,
    sourceAddresses: addresses,
    admin,
    products: { count: 6, stock: 100_000 },
    recordLimit: 100_000,
    // Past the services' deadline (REQUEST_TIMEOUT_MS), by the gateway's and the machine's margin: every
    // request must be answered before the client gives up.
    timeoutMs: clientTimeoutMs,
    runId,
    seed: 11,
    // Checkout-heavy: many checkouts in flight when a node dies.
    mix: { browse: 2, view: 1, cart: 1, add: 4, checkout: 4 },
    ...options,
  });
}

const failures = (summary: LoadSummary) => (summary.records ?? []).filter((r) => (r.status < 200 || r.status >= 300) && !r.expected);
const describe = (records: RequestRecord[]) =>
  records.slice(0, 8).map((r) => `${r.op} ${r.method} ${r.route} ${r.status}${r.code ? ` ${r.code}` : ''}${r.error ? ` ${r.error}` : ''} at ${(r.sentAt / 1000).toFixed(1)} s (${r.latencyMs} ms)`);

function metricValue(page: string, name: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Waits until no order-service replica's last recovery pass saw unfinished work. */
async function recoveryDone(): Promise<number[]> {
  await sleep(RECOVERY_BOUND_MS);
  let backlogs: number[] = [];
  for (let i = 0; i < 30; i++) {
    backlogs = await Promise.all(
      stack.replicas('order-service').map(async (r) => metricValue(await (await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text(), 'checkout_recovery_backlog') ?? Number.NaN),
    );
    if (backlogs.every((b) => b === 0)) break;
    await sleep(RECOVERY_INTERVAL_MS);
  }
  return backlogs;
}

test.serial('three nodes up, the keyspace on all three (NetworkTopologyStrategy, RF 3), one schema, the services at LOCAL_QUORUM / LOCAL_SERIAL', async (t) => {
  const addresses = cluster.nodes.map((n) => n.address);
  for (const node of cluster.nodes) t.deepEqual(await ringAsSeenBy(node), Object.fromEntries(addresses.map((a) => [a, 'UN'])), `node${node.index}'s nodetool status`);
  const client = clientOf(cluster.nodes[0]);
  try {
    const ks = (await client.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace])).first();
    t.like(ks.get('replication'), { class: 'org.apache.cassandra.locator.NetworkTopologyStrategy', datacenter1: '3' });
    // Every replica of every service ran its migrations against three nodes: they agree on one schema.
    const versions = new Set<string>();
    versions.add(String((await client.execute('SELECT schema_version FROM system.local')).first().get('schema_version')));
    for (const row of (await client.execute('SELECT schema_version FROM system.peers')).rows) versions.add(String(row.get('schema_version')));
    t.is(versions.size, 1, `schema versions: ${[...versions].join(', ')}`);
  } finally {
    await client.shutdown();
  }
  t.is(queryDefaults.consistency, types.consistencies.localQuorum);
  t.is(queryDefaults.serialConsistency, types.consistencies.localSerial);
  t.deepEqual(unexpectedExits, []);
});

test.serial('replicas of three services migrating at once through three nodes: every one starts, on one schema', async (t) => {
  // What each service replica does at start-up (kit service.ts), six at once, each with every node as
  // a contact point: a statement right after an `IF NOT EXISTS` another replica's change made a no-op
  // here must find the table on whichever node coordinates it.
  const log = createLogger({ level: 'error' });
  const own = (service: string): Migration[] => [
    { version: 1, name: 'one', statements: [`CREATE TABLE IF NOT EXISTS ${service}_a (id int PRIMARY KEY, v text)`, `CREATE TABLE IF NOT EXISTS ${service}_b (id int PRIMARY KEY, v text)`] },
    { version: 2, name: 'two', statements: [`CREATE TABLE IF NOT EXISTS ${service}_c (id int PRIMARY KEY, v text)`] },
  ];
  for (let round = 1; round <= 2; round++) {
    const env = { ...process.env, CASSANDRA_HOST: cluster.contactPoints, CASSANDRA_PORT: String(cluster.port), CASSANDRA_KEYSPACE: `${keyspace}_m${round}`, CASSANDRA_REPLICATION_FACTOR: '3' };
    const config = loadConfig('backend', env).cassandra;
    const errors = (
      await Promise.all(
        ['alpha', 'beta', 'gamma', 'alpha', 'beta', 'gamma'].map(async (service) => {
          const bootstrap = createClient(config);
          const db = createClient(config, config.keyspace);
          try {
            await bootstrap.connect();
            await ensureKeyspace(bootstrap, config);
            await db.connect();
            await migrate(db, service, own(service), log);
            for (const table of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) await db.execute(`SELECT * FROM ${service}_${table} WHERE id = ?`, [i], { prepare: true });
            return undefined;
          } catch (err) {
            return `${service}: ${(err as Error).message}`;
          } finally {
            await bootstrap.shutdown().catch(() => undefined);
            await db.shutdown().catch(() => undefined);
          }
        }),
      )
    ).filter(Boolean);
    t.deepEqual(errors, [], `round ${round}`);
  }
});

test.serial('one node killed (SIGKILL) under checkout load: checkouts keep succeeding, no order lost; back with hints and repair, every node holds every order', async (t) => {
  t.timeout(4 * 60_000);
  const victim = cluster.nodes[2];
  const controller = new AbortController();
  let down = false;
  let placedWhileDown = 0;
  const running = load(
    {
      durationMs: 3 * 60_000,
      signal: controller.signal,
      // A customer retries a checkout that met a 503 under the same key a few times.
      checkoutRetries: 4,
      onRecord: (r) => {
        if (down && r.op === 'checkout' && r.status === 201) placedWhileDown++;
      },
    },
    'node-kill',
    '127.0.23.0/28',
  );
  let downMs = 0;
  const loadStarted = Date.now();
  let killedAtRun = Infinity;
  let restartAtRun = Infinity;
  let backAtRun = Infinity;
  try {
    await sleep(8000);
    const pid = victim.pid();
    t.truthy(pid);
    const killedAt = Date.now();
    await victim.kill();
    killedAtRun = Date.now() - loadStarted;
    down = true;
    t.log(`node${victim.index} (pid ${pid}) killed`);
    await waitFor('the others to see it down', async () => (await ringAsSeenBy(cluster.nodes[0]))[victim.address] === 'DN');
    // Checkouts go on with two of three replicas (a quorum).
    await sleep(10_000);
    const restarting = Date.now();
    restartAtRun = restarting - loadStarted;
    await victim.start();
    backAtRun = Date.now() - loadStarted;
    down = false;
    downMs = Date.now() - killedAt;
    t.log(`node${victim.index} answers CQL again ${((Date.now() - restarting) / 1000).toFixed(1)} s after its start (down ${(downMs / 1000).toFixed(1)} s)`);
    await waitFor('all three up again', async () => Object.values(await ringAsSeenBy(cluster.nodes[0])).filter((s) => s === 'UN').length === 3);
    await sleep(3000);
  } finally {
    controller.abort();
  }
  const summary = await running;
  const failed = failures(summary);
  t.log(`${summary.sent} requests, ${summary.orders.length} orders (${placedWhileDown} placed while the node was down), ${summary.checkouts.retries} checkout retries; ${failed.length} failed: ${JSON.stringify(describe(failed))}; statuses ${JSON.stringify(summary.byStatus)}`);
  // Counted by phase (the load's first seconds, while it signs customers in on this busy machine, have
  // shown a few 503s of their own, before any node went down).
  const phase = (r: RequestRecord) => (r.sentAt < killedAtRun ? 'before' : r.sentAt < restartAtRun ? 'down' : r.sentAt < backAtRun ? 'rejoining' : 'back');
  const byPhase = { before: 0, down: 0, rejoining: 0, back: 0 };
  for (const r of failed) byPhase[phase(r)]++;
  t.log(
    `failed requests by phase: ${JSON.stringify(byPhase)} (node down at ${(killedAtRun / 1000).toFixed(1)} s, restarted at ${(restartAtRun / 1000).toFixed(1)} s, ` +
      `serving at ${(backAtRun / 1000).toFixed(1)} s of the run); ${summary.checkouts.unresolved.length} checkouts unresolved after their retries (counted, not lost: the invariants below)`,
  );
  t.true(placedWhileDown > 0, 'checkouts succeeded while a node was down');
  // Every request gets an answer within its deadline (REQUEST_TIMEOUT_MS, then 503 REQUEST_TIMEOUT, its
  // work going on) and the client's timeout is past it: a request the client had to give up on is a
  // failure. (The "checkouts over 15 s" of 2 of 5 rehearsals on 2026-12-06 were this process's own:
  // nodetool ran synchronously and froze the load generator at each poll; docs/performance.md.)
  // Otherwise only retryable answers: never a 500.
  t.deepEqual(describe(failed.filter((r) => ![502, 503, 504].includes(r.status) && !(r.status === 409 && r.code === 'IDEMPOTENCY_IN_PROGRESS'))), []);
  t.is(summary.networkErrors, 0, 'every request got an answer');
  t.deepEqual(await recoveryDone(), [0, 0], 'no unfinished checkout left for recovery');
  const listed = await assertShopInvariants(t, stack.url('gateway'), summary, { exact: false });

  // The runbook's steps for a node back from an outage: its missed writes arrive as hints from the
  // others; `nodetool repair` then makes its replicas whole whatever hints missed.
  const hintsStarted = Date.now();
  await waitFor('the hints for the restarted node to be delivered', async () =>
    (await Promise.all(cluster.nodes.filter((n) => n !== victim).map((n) => n.nodetool(['listpendinghints'])))).every((r) => !r.output.includes(victim.address)),
  );
  t.log(`hints delivered ${((Date.now() - hintsStarted) / 1000).toFixed(1)} s after the checks`);
  const repairStarted = Date.now();
  const repair = await victim.nodetool(['repair', keyspace], 180_000);
  t.is(repair.status, 0, repair.output.slice(-2000));
  t.log(`nodetool repair ${keyspace} on node${victim.index}: ${((Date.now() - repairStarted) / 1000).toFixed(1)} s`);
  // Each node, as the only coordinator at consistency ONE, answers every order: a coordinator that is a
  // replica of every range (RF 3 on three nodes) reads its own copy first.
  for (const node of cluster.nodes) {
    const client = clientOf(node);
    try {
      const held = new Set<string>();
      let pageState: string | undefined;
      do {
        const rs = await client.execute('SELECT id FROM orders', [], { prepare: true, consistency: types.consistencies.one, fetchSize: 1000, pageState });
        for (const row of rs.rows) held.add(String(row.get('id')));
        pageState = rs.pageState ?? undefined;
      } while (pageState);
      const missing = [...listed.keys()].filter((id) => !held.has(id));
      t.deepEqual(missing.slice(0, 5), [], `node${node.index} lacks ${missing.length} of ${listed.size} orders`);
    } finally {
      await client.shutdown();
    }
  }
  t.deepEqual(unexpectedExits, []);
});

test.serial('two nodes down (no quorum): clean 503s with Retry-After, nothing oversold; checkouts succeed again once quorum returns', async (t) => {
  t.timeout(4 * 60_000);
  const [, second, third] = cluster.nodes;
  const controller = new AbortController();
  // Past nginx's proxy_read_timeout (30 s): every request gets the gateway's answer, whatever it is.
  const outage = load({ durationMs: 3 * 60_000, signal: controller.signal, timeoutMs: 35_000 }, 'quorum-lost', '127.0.24.0/28');
  const loadStarted = Date.now();
  const at = () => `${((Date.now() - loadStarted) / 1000).toFixed(1)} s`;
  const probes: Array<{ status: number; retryAfter: string | null; type: string | null }> = [];
  const gateway = stack.url('gateway');
  let productId = '';
  try {
    await sleep(6000);
    productId = (await getJson(`${gateway}/products?limit=1`)).items[0].id;
    await Promise.all([second.kill(), third.kill()]);
    t.log(`node2 and node3 killed at ${at()}`);
    await waitFor('node1 to see both down', async () => {
      const ring = await ringAsSeenBy(cluster.nodes[0]);
      return ring[second.address] === 'DN' && ring[third.address] === 'DN';
    });
    // What a client meets without a quorum: the answers of a read that needs one.
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${gateway}/products/${productId}`, { signal: AbortSignal.timeout(15_000) });
      probes.push({ status: res.status, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type') });
      await res.arrayBuffer();
      await sleep(500);
    }
    t.log(`restarting node2 and node3 at ${at()}`);
    await Promise.all([second.start(), third.start()]);
    t.log(`node2 and node3 answer CQL again at ${at()}`);
    await waitFor('all three up again', async () => Object.values(await ringAsSeenBy(cluster.nodes[0])).filter((s) => s === 'UN').length === 3);
  } finally {
    controller.abort();
  }
  const summary = await outage;
  const failed = failures(summary);
  // From its send to its answer (latencyMs starts at its schedule, so it also counts a customer's wait for its previous request).
  const slowRecords = (summary.records ?? []).filter((r) => r.endedAt - r.sentAt > clientTimeoutMs);
  const slow = slowRecords.length;
  t.log(`outage: ${summary.sent} requests, ${summary.orders.length} orders, ${summary.checkouts.retries} checkout retries, ${slow} took over ${clientTimeoutMs / 1000} s; ${failed.length} failed: ${JSON.stringify(describe(failed))}; statuses ${JSON.stringify(summary.byStatus)}; probes ${JSON.stringify(probes.map((p) => p.status))}`);
  t.true(probes.some((p) => p.status === 503), 'a read needing a quorum is refused while two nodes are down');
  for (const p of probes.filter((x) => x.status !== 200)) {
    t.is(p.status, 503);
    t.is(p.retryAfter, '1');
    t.regex(p.type ?? '', /application\/problem\+json/);
  }
  // No 500, no answer other than the retryable ones, and every request got one.
  t.deepEqual(describe(failed.filter((r) => ![502, 503, 504].includes(r.status) && !(r.status === 409 && r.code === 'IDEMPOTENCY_IN_PROGRESS'))), []);
  t.deepEqual(describe((summary.records ?? []).filter((r) => r.status === 0)), [], 'every request got an answer');
  t.deepEqual(slowRecords.map((r) => `${describe([r])[0]} sent→answered ${(r.endedAt - r.sentAt).toFixed(0)} ms, ${r.requestId}`), [], `every request answered within the services' deadline (${requestTimeoutMs} ms) and the margin`);

  // Quorum is back: reads first, then checkouts again, under a load of their own.
  const since = Date.now();
  await waitFor('a quorum read through the gateway', async () => (await fetch(`${gateway}/products/${productId}`)).status === 200, 60_000);
  t.log(`quorum reads answer again ${((Date.now() - since) / 1000).toFixed(1)} s after all three were up`);
  const after = await load({ durationMs: 15_000, timeoutMs: 35_000 }, 'quorum-back', '127.0.25.0/28');
  const failedAfter = failures(after);
  t.log(`after: ${after.sent} requests, ${after.orders.length} orders; ${failedAfter.length} failed: ${JSON.stringify(describe(failedAfter))}; statuses ${JSON.stringify(after.byStatus)}`);
  t.true(after.orders.length > 0, 'checkouts are placed again once quorum returns');
  t.deepEqual(describe(failedAfter.filter((r) => ![502, 503, 504].includes(r.status) && !(r.status === 409 && r.code === 'IDEMPOTENCY_IN_PROGRESS'))), []);

  // Nothing oversold, nothing lost, nothing held once recovery has had its window.
  t.deepEqual(await recoveryDone(), [0, 0], 'nothing left held after the recovery window');
  await assertShopInvariants(t, gateway, summary, { exact: false });
  await assertShopInvariants(t, gateway, after, { exact: false });
  t.deepEqual(unexpectedExits, []);
});
