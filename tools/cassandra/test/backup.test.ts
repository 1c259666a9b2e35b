/**
 * The backup and restore procedure against the project's own local Cassandra: write data, back up,
 * destroy the keyspace, restore, and the data is back (with its secondary index).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { call, dropKeyspace, internalHeaders, startTestService, testEnv, testKeyspace, tokenFor } from '@product-store/kit/testing';
import { createClient, loadConfig } from '@product-store/kit';
import { backend } from '../../../services/backend/src/service';
import { repoRoot } from '../launcher';

const keyspace = testKeyspace('backup');
const backups = mkdtempSync(join(tmpdir(), 'product-store-backups-'));
const script = (name: string, args: string[], extra: Record<string, string> = {}) =>
  spawnSync('bash', [join(repoRoot, 'scripts', name), ...args], {
    env: { ...process.env, CASSANDRA_KEYSPACE: keyspace, BACKUP_DIR: backups, ...extra },
    encoding: 'utf8',
  });

test.after.always(() => dropKeyspace(keyspace));

test('back up, destroy, restore: the catalog and its stock are back', async (t) => {
  const dataDir = join(process.env.CASSANDRA_DATA_DIR ?? join(repoRoot, '.data', 'cassandra'), 'data');
  t.true(existsSync(dataDir), `the local Cassandra's data (${dataDir}) must be on this machine`);
  const env = testEnv({ CASSANDRA_KEYSPACE: keyspace });
  const admin = tokenFor('admin');

  let service = await startTestService(backend, env);
  const created: any[] = [];
  for (const [name, category, stock] of [['Beans', 'coffee', 7], ['Tea', 'tea', 3], ['Cups', 'coffee', 12]] as const) {
    created.push((await call(service.url, '/products', { method: 'POST', token: admin, body: { name, price_cents: 500, category, stock } })).body);
  }
  await call(service.url, '/internal/reservations', { method: 'POST', body: { reservation_id: crypto.randomUUID(), lines: [{ product_id: created[0].id, quantity: 2 }] }, headers: internalHeaders });
  const before = (await call(service.url, '/products?limit=100')).body.items;
  t.is(before.length, 3);
  await service.stop();

  const backup = script('cassandra-backup.sh', ['--local']);
  t.is(backup.status, 0, `${backup.stdout}\n${backup.stderr}`);
  const archive = backup.stdout.trim().split('\n').pop()!;
  t.true(existsSync(archive), archive);

  const refused = script('cassandra-restore.sh', [archive, '--local']);
  t.is(refused.status, 1, 'an existing keyspace is not overwritten without --force');
  t.regex(refused.stderr, /exists/);

  await dropKeyspace(keyspace);
  const client = createClient(loadConfig('backend', env).cassandra);
  const gone = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace]);
  await client.shutdown();
  t.is(gone.rowLength, 0, 'the keyspace is destroyed');

  const restore = script('cassandra-restore.sh', [archive, '--local']);
  t.is(restore.status, 0, `${restore.stdout}\n${restore.stderr}`);

  service = await startTestService(backend, env);
  try {
    const after = (await call(service.url, '/products?limit=100')).body.items;
    t.deepEqual(after, before);
    t.is(after.find((p: { id: string }) => p.id === created[0].id).stock, 5, 'the stock ledger came back too');
    const coffee = (await call(service.url, '/products?category=coffee')).body.items;
    t.deepEqual(coffee.map((p: { name: string }) => p.name).sort(), ['Beans', 'Cups'], 'the category index works on restored data');
  } finally {
    await service.stop();
  }
});

test('retention keeps the newest archives', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'product-store-retention-'));
  for (let i = 0; i < 3; i++) {
    const run = script('cassandra-backup.sh', ['--local'], { BACKUP_DIR: dir, BACKUP_RETENTION: '2', CASSANDRA_KEYSPACE: 'system_auth' });
    t.is(run.status, 0, run.stderr);
    spawnSync('sleep', ['1.1']);
  }
  t.is(readdirSync(dir).filter((f) => f.endsWith('.tar.gz')).length, 2);
});
