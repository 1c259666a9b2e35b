/**
 * The runbook's "Scaling Cassandra" procedure, executed on this machine: one node holding data at
 * replication factor 1, two nodes added one at a time (each bootstraps, as a new StatefulSet pod
 * does), the keyspace altered to replication factor 3, `nodetool repair -full` on every node; then every
 * node, as the only coordinator at consistency ONE, answers every row from its own copy, and
 * `nodetool status` shows three nodes up. Times are logged for the runbook, not asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Client, policies, types } from 'cassandra-driver';
import { freePort } from '../../stack/processes';
import { parseNodetoolStatus, startCassandraCluster, type CassandraCluster, type ClusterNode } from '../launcher';

const keyspace = 'scaling_drill';
const ROWS = 300;
let cluster: CassandraCluster | undefined;
let dataDir: string;

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, host, () => server.close(() => done(true)));
  });
}

/** A port free on 127.0.0.1-3 with `count` in a row free from it (and its + 10, the storage port, with `storage`). */
async function freePorts(count: number, storage = false): Promise<number> {
  for (;;) {
    const base = await freePort();
    const wanted = Array.from({ length: count }, (_, i) => base + i).concat(storage ? [base + 10] : []);
    const checks = await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3'].flatMap((h) => wanted.map((p) => bindable(h, p))));
    if (checks.every(Boolean)) return base;
  }
}

test.before(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'product-store-scaling-'));
});
test.after.always(async () => {
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Waits until `nodetool status` on `node` shows `count` nodes, all UN. */
async function upAndNormal(node: ClusterNode, count: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ring = parseNodetoolStatus((await node.nodetool(['status'])).output);
    if (ring.length === count && ring.every((n) => n.state === 'UN')) return;
    if (Date.now() > deadline) throw new Error(`nodetool status: ${JSON.stringify(ring)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function clientOf(node: ClusterNode, port: number): Client {
  const address = `${node.address}:${port}`;
  return new Client({
    contactPoints: [address],
    localDataCenter: 'datacenter1',
    policies: { loadBalancing: new policies.loadBalancing.AllowListPolicy(new policies.loadBalancing.RoundRobinPolicy(), [address]) },
    socketOptions: { readTimeout: 60_000 },
  });
}

test('one node with data at RF 1 -> three nodes at RF 3 (add nodes, ALTER KEYSPACE, repair): every node holds every row', async (t) => {
  t.timeout(6 * 60_000);
  const logs: string[] = [];
  const port = await freePorts(1, true);
  cluster = await startCassandraCluster({
    nodes: 3,
    startNodes: 1,
    port,
    baseDir: join(dataDir, 'cassandra'),
    jmxPort: await freePorts(3),
    metricsPort: await freePorts(3),
    heap: '512M',
    log: (line) => logs.push(line),
  });
  const [first, second, third] = cluster.nodes;
  const client = clientOf(first, port);
  try {
    // The single-node deployment: its keyspace at replication factor 1, with data.
    await client.execute(`CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 1}`);
    await client.execute(`CREATE TABLE ${keyspace}.items (id int PRIMARY KEY, v text)`);
    for (let i = 0; i < ROWS; i++) await client.execute(`INSERT INTO ${keyspace}.items (id, v) VALUES (?, ?)`, [i, `row ${i}`], { prepare: true, consistency: types.consistencies.localQuorum });

    // 1. Raise the StatefulSet's replicas: the new nodes join one at a time, each bootstrapping.
    for (const node of [second, third]) {
      const started = Date.now();
      await node.start({ bootstrap: true });
      // Cassandra refuses a bootstrap while another node still joins: wait until every node is Up/Normal.
      await upAndNormal(first, node.index);
      t.log(`node${node.index} bootstrapped and is UN after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const status = (await first.nodetool(['status'])).output;
    t.deepEqual(parseNodetoolStatus(status).map((n) => n.state), ['UN', 'UN', 'UN'], status);

    // 2. Three copies of every row from now on.
    await client.execute(`ALTER KEYSPACE ${keyspace} WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}`);
    // 3. Repair every node: the copies the new replication factor asks for are streamed to them.
    for (const node of cluster.nodes) {
      const started = Date.now();
      const repair = await node.nodetool(['repair', '-full', keyspace], 180_000);
      t.is(repair.status, 0, repair.output.slice(-2000));
      t.log(`nodetool repair -full on node${node.index}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    // Every node is now a replica of every row.
    t.deepEqual((await first.nodetool(['getendpoints', keyspace, 'items', '7'])).output.trim().split('\n').filter((l) => /^\d+\./.test(l)).sort(), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  } finally {
    await client.shutdown();
  }
  // 4. Verify: each node, the only coordinator, reads every row at ONE: its own copy first.
  for (const node of cluster.nodes) {
    const own = clientOf(node, port);
    try {
      const rows = (await own.execute(`SELECT id FROM ${keyspace}.items`, [], { prepare: true, consistency: types.consistencies.one, fetchSize: 1000 })).rows;
      t.is(rows.length, ROWS, `node${node.index} answers every row`);
    } finally {
      await own.shutdown();
    }
  }
});
