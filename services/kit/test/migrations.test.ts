import test from 'ava';
import { createClient, createLogger, ensureKeyspace, loadConfig, migrate, type Migration } from '../src';
import { dropKeyspace, testKeyspace } from '../testing';

const keyspace = testKeyspace();
const config = loadConfig('backend', { ...process.env, CASSANDRA_KEYSPACE: keyspace });
const log = createLogger({ level: 'error' });
const migrations: Migration[] = [
  { version: 1, name: 'first table', statements: ['CREATE TABLE IF NOT EXISTS things (id int PRIMARY KEY, name text)'] },
  { version: 2, name: 'second table', statements: ['CREATE TABLE IF NOT EXISTS others (id int PRIMARY KEY)', "INSERT INTO things (id, name) VALUES (1, 'seed')"] },
];

test.after.always(() => dropKeyspace(keyspace));

test('replicas starting together apply each migration exactly once', async (t) => {
  const bootstrap = createClient(config.cassandra);
  await bootstrap.connect();
  await ensureKeyspace(bootstrap, config.cassandra);
  await bootstrap.shutdown();

  const clients = [1, 2, 3].map(() => createClient(config.cassandra, keyspace));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    const ran = await Promise.all(clients.map((c) => migrate(c, 'backend', migrations, log)));
    t.deepEqual(ran.flat().sort(), [1, 2]);
    const recorded = await clients[0].execute("SELECT version FROM schema_migrations WHERE service = 'backend'");
    t.deepEqual(recorded.rows.map((r) => r.get('version')), [1, 2]);
    t.is((await clients[0].execute('SELECT name FROM things WHERE id = 1')).first().get('name'), 'seed');
    t.deepEqual(await migrate(clients[1], 'backend', migrations, log), [], 'a later start applies nothing');
  } finally {
    await Promise.all(clients.map((c) => c.shutdown()));
  }
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
