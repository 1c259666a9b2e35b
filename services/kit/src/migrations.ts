/**
 * Versioned CQL migrations, applied once at start-up. Each service owns its tables and numbers its
 * own versions; `schema_migrations` records what ran. A lease taken with a lightweight transaction
 * makes replicas that start together apply them one at a time; every statement is also written
 * `IF NOT EXISTS`, so a replica that lost its lease mid-way leaves nothing half-done for the next.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from 'cassandra-driver';
import type { Config } from './config';
import { conditional, idempotent } from './cassandra';
import type { Logger } from './logger';

export interface Migration {
  version: number;
  name: string;
  /** CQL statements, run in order; table names are unqualified (the keyspace is set on the client). */
  statements: string[];
}

const LEASE_SECONDS = 60;
/**
 * Schema changes wait for every node to agree; they take far longer than a query. They are sent
 * unprepared: preparing gains nothing for a statement run once, and Cassandra stores prepared DDL
 * without a keyspace, then logs an error each time a client with a keyspace runs it again.
 */
export const ddlOptions = { readTimeout: 30_000, prepare: false } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function ensureKeyspace(client: Client, config: Config['cassandra']): Promise<void> {
  await client.execute(
    `CREATE KEYSPACE IF NOT EXISTS ${config.keyspace} WITH replication = {'class': 'NetworkTopologyStrategy', '${config.localDataCenter}': ${config.replicationFactor}}`,
    [],
    ddlOptions,
  );
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${config.keyspace}.schema_migrations (service text, version int, name text, applied_at timestamp, PRIMARY KEY (service, version))`,
    [],
    ddlOptions,
  );
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${config.keyspace}.schema_leases (service text PRIMARY KEY, owner text)`,
    [],
    ddlOptions,
  );
}

export async function migrate(client: Client, service: string, migrations: readonly Migration[], log: Logger): Promise<number[]> {
  const versions = migrations.map((m) => m.version);
  if (new Set(versions).size !== versions.length || versions.some((v, i) => i > 0 && v <= versions[i - 1])) {
    throw new Error(`${service}: migration versions must be unique and increasing`);
  }
  const owner = randomUUID();
  const deadline = Date.now() + 3 * LEASE_SECONDS * 1000;
  for (;;) {
    const lease = await client.execute(
      `INSERT INTO schema_leases (service, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ${LEASE_SECONDS}`,
      [service, owner],
      conditional,
    );
    if (lease.wasApplied()) break;
    if (Date.now() > deadline) throw new Error(`${service}: another replica has held the migration lease for too long`);
    log.info('waiting for another replica to finish migrations', { service });
    await sleep(500 + Math.random() * 500);
  }
  try {
    const applied = new Set(
      (await client.execute('SELECT version FROM schema_migrations WHERE service = ?', [service], idempotent)).rows.map((r) => r.get('version') as number),
    );
    const ran: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      log.info('applying migration', { service, version: migration.version, name: migration.name });
      for (const statement of migration.statements) await client.execute(statement, [], ddlOptions);
      await client.execute(
        'INSERT INTO schema_migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)',
        [service, migration.version, migration.name, new Date()],
        idempotent,
      );
      ran.push(migration.version);
    }
    return ran;
  } finally {
    await client.execute('DELETE FROM schema_leases WHERE service = ? IF owner = ?', [service, owner], conditional).catch(() => undefined);
  }
}
