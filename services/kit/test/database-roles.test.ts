/**
 * The pieces of the per-service Cassandra roles that run without authentication (the test Cassandra
 * has none): which tables a role gets, the migration step, and a start that leaves a current schema
 * alone. The roles themselves, logins and refusals, are checked on the compose deployment
 * (tools/deploy/test/compose.test.ts), where Cassandra runs with PasswordAuthenticator.
 */
import test from 'ava';
import { backend as backendService } from '../../backend/src/service';
import { cartService } from '../../cart-service/src/service';
import { orderService } from '../../order-service/src/service';
import { userService } from '../../user-service/src/service';
import { createClient, createLogger, loadConfig, roleStatements, runMigrationStep, schemaIsCurrent, serviceRole, tablesOf, type Migration } from '../src';
import { dropKeyspace, testKeyspace } from '../testing';

const definitions = [backendService, cartService, orderService, userService];

test("each service's role gets its own tables, and no table is two services'", (t) => {
  const owner = new Map<string, string>();
  for (const d of definitions) {
    const tables = tablesOf(d.migrations);
    t.true(tables.length > 0, d.name);
    for (const table of tables) {
      t.false(owner.has(table), `${table}: ${owner.get(table)} and ${d.name}`);
      owner.set(table, d.name);
    }
  }
  for (const table of ['products', 'product_stock']) t.true(tablesOf(backendService.migrations).includes(table), table);
  t.is(serviceRole('cart-service'), 'cart_service');
  t.deepEqual(roleStatements('ks', 'user-service', userService.migrations), [
    'GRANT SELECT, MODIFY ON TABLE ks.users TO user_service',
    'GRANT SELECT, MODIFY ON TABLE ks.users_by_email TO user_service',
    'GRANT SELECT ON TABLE ks.schema_migrations TO user_service',
  ]);
  // Only SELECT and MODIFY: no DDL, no AUTHORIZE, nothing on the keyspace as a whole.
  for (const d of definitions) for (const s of roleStatements('ks', d.name, d.migrations)) t.regex(s, /^GRANT (SELECT, MODIFY|SELECT) ON TABLE ks\.\w+ TO \w+$/);
});

test('the migration step applies the schema; a start then finds it current and a missing migration is noticed', async (t) => {
  const keyspace = testKeyspace();
  const config = loadConfig('backend', { ...process.env, CASSANDRA_KEYSPACE: keyspace, ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256' }, { secrets: false });
  const client = createClient(config.cassandra);
  try {
    await client.connect();
    t.false(await schemaIsCurrent(client, keyspace, 'backend', backendService.migrations), 'no keyspace yet');
    // Without CASSANDRA_SERVICE_PASSWORD: schema only (this Cassandra has no roles).
    await runMigrationStep(config, 'backend', backendService.migrations, createLogger({ level: 'error' }));
    t.true(await schemaIsCurrent(client, keyspace, 'backend', backendService.migrations));
    t.false(await schemaIsCurrent(client, keyspace, 'cart-service', cartService.migrations), "another service's migrations are not applied");
    const later: Migration[] = [...backendService.migrations, { version: 999, name: 'later', statements: ['CREATE TABLE IF NOT EXISTS later (id int PRIMARY KEY)'] }];
    t.false(await schemaIsCurrent(client, keyspace, 'backend', later));
  } finally {
    await client.shutdown();
    await dropKeyspace(keyspace);
  }
});

test('the migration step reads neither token keys nor internal credentials', (t) => {
  t.notThrows(() => loadConfig('order-service', { ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256' }, { secrets: false }));
  t.throws(() => loadConfig('order-service', { ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256' }));
});
