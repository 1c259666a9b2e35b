import test from 'ava';
import { createClient, createLogger, ensureKeyspace, loadConfig, migrate, sharedTableId, type Migration } from '../src';
import { dropKeyspace, testKeyspace } from '../testing';

const keyspace = testKeyspace();
const config = loadConfig('backend', { ...process.env, CASSANDRA_KEYSPACE: keyspace });
const log = createLogger({ level: 'error' });
const migrations: Migration[] = [
  { version: 1, name: 'first table', statements: ['CREATE TABLE IF NOT EXISTS things (id int PRIMARY KEY, name text)'] },
  { version: 2, name: 'second table', statements: ['CREATE TABLE IF NOT EXISTS others (id int PRIMARY KEY)', "INSERT INTO things (id, name) VALUES (1, 'seed')"] },
];

test.after.always(() => dropKeyspace(keyspace));

/** One replica's start: the keyspace and the lease's table, then its migrations under the lease. */
async function start(keyspaceName: string, service: string, list: Migration[], options: { leaseSeconds?: number; logs?: string[]; slow?: { statement: string; ms: number } } = {}): Promise<number[]> {
  const own = loadConfig('backend', { ...process.env, CASSANDRA_KEYSPACE: keyspaceName });
  const bootstrap = createClient(own.cassandra);
  try {
    await bootstrap.connect();
    await ensureKeyspace(bootstrap, own.cassandra);
  } finally {
    await bootstrap.shutdown();
  }
  const client = createClient(own.cassandra, keyspaceName);
  // A schema change that takes as long as the test says (a slow cluster's schema agreement), whatever this machine's speed.
  const slow = options.slow;
  const execute = client.execute.bind(client) as (...args: unknown[]) => Promise<unknown>;
  if (slow) {
    (client as { execute: unknown }).execute = async (query: string, ...rest: unknown[]) => {
      if (query.includes(slow.statement)) await new Promise((resolve) => setTimeout(resolve, slow.ms));
      return execute(query, ...rest);
    };
  }
  const logger = options.logs ? createLogger({ level: 'info', sink: (line) => options.logs!.push(line) }) : log;
  try {
    await client.connect();
    return await migrate(client, service, list, logger, { leaseSeconds: options.leaseSeconds });
  } finally {
    await client.shutdown();
  }
}

test('replicas starting together on a fresh keyspace create it and apply each migration exactly once', async (t) => {
  const fresh = testKeyspace('fresh');
  t.teardown(() => dropKeyspace(fresh));
  const ran = await Promise.all([1, 2, 3, 4].map(() => start(fresh, 'backend', migrations)));
  t.deepEqual(ran.flat().sort(), [1, 2]);
  const client = createClient(config.cassandra, fresh);
  try {
    await client.connect();
    const recorded = await client.execute("SELECT version FROM schema_migrations WHERE service = 'backend'");
    t.deepEqual(recorded.rows.map((r) => r.get('version')), [1, 2]);
    t.is((await client.execute('SELECT name FROM things WHERE id = 1')).first().get('name'), 'seed');
    // The shared tables carry the ids every replica derives from their names.
    const tables = await client.execute('SELECT table_name, id FROM system_schema.tables WHERE keyspace_name = ?', [fresh]);
    const ids = Object.fromEntries(tables.rows.map((r) => [r.get('table_name'), String(r.get('id'))]));
    t.is(ids.schema_leases, sharedTableId(fresh, 'schema_leases'));
    t.is(ids.schema_migrations, sharedTableId(fresh, 'schema_migrations'));
  } finally {
    await client.shutdown();
  }
  t.deepEqual(await start(fresh, 'backend', migrations), [], 'a later start applies nothing');
});

test('a migration that outlasts the lease TTL keeps its lease: the replicas waiting never run it too', async (t) => {
  // A 6 s lease and a migration whose first schema change takes 9 s: longer than the TTL on any
  // machine. Its holder renews the lease meanwhile; without that, a waiting replica would take the
  // expired lease and apply the same migration a second time.
  const slow = testKeyspace('slowddl');
  t.teardown(() => dropKeyspace(slow));
  const long: Migration[] = [
    { version: 1, name: 'a slow table', statements: ['CREATE TABLE IF NOT EXISTS slow_0 (id int PRIMARY KEY, v text)', 'CREATE TABLE IF NOT EXISTS slow_1 (id int PRIMARY KEY)'] },
    { version: 2, name: 'another table', statements: ['CREATE TABLE IF NOT EXISTS slower_0 (id int PRIMARY KEY)'] },
  ];
  const logs: string[] = [];
  const startedAt = Date.now();
  const ran = await Promise.all([1, 2, 3].map(() => start(slow, 'cart-service', long, { leaseSeconds: 6, logs, slow: { statement: 'slow_0', ms: 9000 } })));
  t.log(`migrations took ${((Date.now() - startedAt) / 1000).toFixed(1)} s with a 6 s lease`);
  t.true(Date.now() - startedAt >= 9000, 'the slow statement outlasted the lease TTL');
  t.deepEqual(ran.flat().sort(), [1, 2], 'each migration applied by one replica only');
  const applying = logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'applying migration');
  t.deepEqual(applying.map((l) => l.version).sort(), [1, 2]);
});

test('versions must increase', async (t) => {
  const client = createClient(config.cassandra);
  await t.throwsAsync(() => migrate(client, 'x', [migrations[1], migrations[0]], log), { message: /unique and increasing/ });
});

test('schema statements are not prepared: Cassandra never sees a keyspace-less prepared statement run on a keyspace', async (t) => {
  // Prepared DDL is stored without a keyspace; executed again through a client that has one, Cassandra
  // logs "Tried to execute a prepared unqualified statement on a keyspace it was not prepared on".
  const table = `ddl_${keyspace.slice(-8)}`;
  const own: Migration[] = [{ version: 1, name: 'own table', statements: [`CREATE TABLE IF NOT EXISTS ${table} (id int PRIMARY KEY)`] }];
  const bootstrap = createClient(config.cassandra);
  await bootstrap.connect();
  await ensureKeyspace(bootstrap, config.cassandra);
  const client = createClient(config.cassandra, keyspace);
  try {
    await client.connect();
    await migrate(client, 'cart-service', own, log);
    const prepared = await bootstrap.execute('SELECT logged_keyspace, query_string FROM system.prepared_statements');
    const mine = prepared.rows.filter((r) => String(r.get('query_string')).includes(table) || String(r.get('query_string')).includes(`${keyspace}.schema_`));
    t.deepEqual(mine.map((r) => r.get('query_string')), []);
  } finally {
    await client.shutdown();
    await bootstrap.shutdown();
  }
});
