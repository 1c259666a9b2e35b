/**
 * The cluster's Cassandra by default: three nodes, one per host, the keyspace created at replication
 * factor 3 (compose keeps one node at 1), fresh nodes bootstrapping one at a time, one node down at a
 * time. Checked on the committed k8s/ (what `kubectl apply -f k8s/` creates), and the init container
 * `join-in-turn` run with bash against real listening sockets.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { joinInTurnScript, replaceProcedure } from '../cassandra';
import { CLUSTER_CASSANDRA_NODES, CONFIG_NAME, clusterConfigDefaults, component, configDefaults } from '@product-store/deploy';
import { repoRoot } from '../lib/config-files';
import { docs, ofKind, type Doc } from './manifests';

const statefulSet = ofKind('StatefulSet').find((s) => s.metadata.name === 'cassandra') as Doc;
const pod = statefulSet.spec.template;
const cqlPort = component('cassandra').ports.find((p) => p.name === 'cql')!.port;

test('three Cassandra nodes, and the cluster creates the keyspace at replication factor 3; compose at 1', (t) => {
  t.is(CLUSTER_CASSANDRA_NODES, 3);
  t.is(statefulSet.spec.replicas, 3);
  const settings = ofKind('ConfigMap').find((m) => m.metadata.name === CONFIG_NAME);
  t.is(settings?.data.CASSANDRA_REPLICATION_FACTOR, '3');
  t.is(clusterConfigDefaults.CASSANDRA_REPLICATION_FACTOR, String(statefulSet.spec.replicas));
  // The single host: its one node, replication factor 1 (the env file and the compose file).
  t.is(configDefaults.CASSANDRA_REPLICATION_FACTOR, '1');
  t.regex(readFileSync(join(repoRoot, 'compose/.env.example'), 'utf8'), /^CASSANDRA_REPLICATION_FACTOR=1$/m);
  t.regex(readFileSync(join(repoRoot, 'compose/docker-compose.yml'), 'utf8'), /CASSANDRA_REPLICATION_FACTOR: \$\{CASSANDRA_REPLICATION_FACTOR:-1\}/);
  // Every service and its migration step (which creates the keyspace) read the ConfigMap's key.
  const services = ofKind('Deployment').filter((d) => d.spec.template.spec.initContainers?.some((c: Doc) => c.name === 'migrate'));
  t.is(services.length, 4);
  for (const d of services) {
    for (const c of [...d.spec.template.spec.initContainers, ...d.spec.template.spec.containers]) {
      const rf = (c.env ?? []).find((e: Doc) => e.name === 'CASSANDRA_REPLICATION_FACTOR');
      t.deepEqual(rf?.valueFrom, { configMapKeyRef: { name: CONFIG_NAME, key: 'CASSANDRA_REPLICATION_FACTOR' } }, `${d.metadata.name} ${c.name}`);
    }
  }
});

test('never two Cassandra nodes on one host (required anti-affinity), spread over zones where there are some', (t) => {
  const terms = pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  t.is(terms?.length, 1);
  t.is(terms[0].topologyKey, 'kubernetes.io/hostname');
  // The term selects the StatefulSet's own pods (and nothing wider: its selector's labels).
  t.deepEqual(terms[0].labelSelector, { matchLabels: statefulSet.spec.selector.matchLabels });
  for (const [k, v] of Object.entries(terms[0].labelSelector.matchLabels)) t.is(pod.metadata.labels[k], v);
  t.is(pod.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution, undefined);
  t.deepEqual(
    pod.spec.topologySpreadConstraints.map((c: Doc) => `${c.topologyKey} ${c.whenUnsatisfiable}`),
    ['topology.kubernetes.io/zone ScheduleAnyway'],
  );
});

test('pods start in parallel; a fresh node waits for the one before it (join-in-turn), before Cassandra starts', (t) => {
  t.is(statefulSet.spec.podManagementPolicy, 'Parallel');
  const inits = pod.spec.initContainers.map((c: Doc) => c.name);
  t.deepEqual(inits, ['copy-config', 'join-in-turn']);
  const join = pod.spec.initContainers[1];
  // The nodes' names in the headless Service (the seed's is node 0's), the CQL port, and the node's
  // own data volume (has it run before?), read only.
  const nodeAddressFormat = 'cassandra-%d.cassandra.product-store.svc.cluster.local';
  const seed = pod.spec.containers[0].env.find((e: Doc) => e.name === 'CASSANDRA_SEEDS').value;
  t.is(nodeAddressFormat.replace('%d', '0'), seed);
  const data = pod.spec.containers[0].volumeMounts.find((m: Doc) => m.name === 'cassandra-data');
  t.deepEqual(join.command, ['bash', '-c', joinInTurnScript({ nodeAddressFormat, cqlPort, dataDir: data.mountPath, nodes: statefulSet.spec.replicas })]);
  t.deepEqual(join.volumeMounts, [{ name: 'cassandra-data', mountPath: data.mountPath, readOnly: true }]);
  // No variables of its own: the pod's environment is the one compose's Cassandra has.
  t.is(join.env, undefined);
});

test('one Cassandra node down at a time (the disruption budget)', (t) => {
  const budget = docs.find((d) => d.kind === 'PodDisruptionBudget' && d.metadata.name === 'cassandra');
  t.is(budget?.spec.maxUnavailable, 1);
  t.is(budget?.spec.minAvailable, undefined);
  t.deepEqual(budget?.spec.selector, statefulSet.spec.selector);
  // With three replicas, two stay up: a quorum of every row's replicas.
  t.true(statefulSet.spec.replicas - budget?.spec.maxUnavailable >= Math.floor(Number(clusterConfigDefaults.CASSANDRA_REPLICATION_FACTOR) / 2) + 1);
});

// --- join-in-turn, run --------------------------------------------------------------------------

interface Run {
  readonly output: () => string;
  readonly exited: () => boolean;
  readonly done: Promise<number>;
  stop(): void;
}

/** The script under bash, as the init container runs it (its host name the pod's); node N's address is 127.0.N.1 (all loopback). */
function runJoinInTurn(podName: string, dataDir: string, port: number, env: Record<string, string> = {}): Run {
  const child = spawn('bash', ['-c', joinInTurnScript({ nodeAddressFormat: '127.0.%d.1', cqlPort: port, dataDir, nodes: 3 })], {
    env: { PATH: process.env.PATH, HOSTNAME: podName, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exited = false;
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  // 'close': the output is all read ('exit' may come before the last of it).
  const done = new Promise<number>((resolve) =>
    child.on('close', (code) => {
      exited = true;
      resolve(code ?? -1);
    }),
  );
  return { output: () => output, exited: () => exited, done, stop: () => child.kill('SIGKILL') };
}

function listen(host: string, port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 30_000; !condition(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

let dir: string;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'product-store-join-in-turn-'));
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** A free port on 127.0.0.1, 127.0.1.1 and 127.0.2.1 (nodes 0 to 2), with nothing listening on it. */
async function freePort(): Promise<number> {
  for (;;) {
    const server = await listen('127.0.0.1');
    const { port } = server.address() as { port: number };
    await close(server);
    let free = true;
    for (const host of ['127.0.1.1', '127.0.2.1']) {
      const other = await listen(host, port).catch(() => undefined);
      if (other) await close(other);
      else free = false;
    }
    if (free) return port;
  }
}

test('join-in-turn: the seed (node 0) and a node that has run before go on at once, nothing listening', async (t) => {
  const port = await freePort();
  const fresh = join(dir, 'fresh-seed');
  mkdirSync(fresh);
  const seed = runJoinInTurn('cassandra-0', fresh, port);
  t.is(await seed.done, 0, seed.output());
  t.regex(seed.output(), /cassandra-0: the seed/);

  const ran = join(dir, 'has-run');
  mkdirSync(join(ran, 'data', 'system'), { recursive: true });
  const restarted = runJoinInTurn('cassandra-2', ran, port);
  t.is(await restarted.done, 0, restarted.output());
  t.regex(restarted.output(), /cassandra-2: it has run before/);
});

test('join-in-turn: a fresh node 2 waits for node 1 (not the seed) to answer CQL, then goes on', async (t) => {
  const port = await freePort();
  const fresh = join(dir, 'fresh-2');
  // A new volume may hold lost+found; that is not data.
  mkdirSync(join(fresh, 'lost+found'), { recursive: true });
  // The seed answers all along: node 2 must still wait for node 1.
  const seed = await listen('127.0.0.1', port);
  const run = runJoinInTurn('cassandra-2', fresh, port);
  try {
    await until(() => /waiting for 127\.0\.1\.1 to answer CQL on port/.test(run.output()) || run.exited(), 'its first attempt');
    t.false(run.exited(), run.output());
    const previous = await listen('127.0.1.1', port);
    try {
      t.is(await run.done, 0);
      t.regex(run.output(), /cassandra-2: 127\.0\.1\.1 answers CQL: bootstrapping now/);
    } finally {
      await close(previous);
    }
  } finally {
    run.stop();
    await close(seed);
  }
});

test('join-in-turn: node 0 without data while another node answers CQL (its volume lost) stops, pointing at the replace procedure; REPLACE_ADDRESS lets it go on', async (t) => {
  const port = await freePort();
  const lost = join(dir, 'lost-seed');
  mkdirSync(join(lost, 'lost+found'), { recursive: true });
  // Nodes 1 and 2 run; node 2 alone would do (every other node is asked, not only node 1).
  const node2 = await listen('127.0.2.1', port);
  try {
    const run = runJoinInTurn('cassandra-0', lost, port);
    t.is(await run.done, 1, run.output());
    t.regex(run.output(), /cassandra-0: no data, but 127\.0\.2\.1 answers CQL: this node's volume was lost/);
    t.true(run.output().includes(replaceProcedure), run.output());
    t.false(/the seed of a fresh cluster/.test(run.output()));
    // The replace procedure: the lost node's old address on this container; Cassandra replaces it.
    const replacing = runJoinInTurn('cassandra-0', lost, port, { REPLACE_ADDRESS: '10.1.2.3' });
    t.is(await replacing.done, 0, replacing.output());
    t.regex(replacing.output(), /replacing the lost node 10\.1\.2\.3/);
  } finally {
    await close(node2);
  }
  // A node 0 with its data is a restart: it goes on whoever answers.
  const ran = join(dir, 'seed-has-run');
  mkdirSync(join(ran, 'data', 'system'), { recursive: true });
  const node1 = await listen('127.0.1.1', port);
  try {
    const restarted = runJoinInTurn('cassandra-0', ran, port);
    t.is(await restarted.done, 0, restarted.output());
    t.regex(restarted.output(), /cassandra-0: it has run before/);
  } finally {
    await close(node1);
  }
});
