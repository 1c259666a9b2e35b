/**
 * Versioned CQL migrations, applied once at start-up. Each service owns its tables and numbers its
 * own versions; `schema_migrations` records what ran. A lease taken with a lightweight transaction
 * makes replicas that start together apply them one at a time, and the lease outlives the DDL it
 * guards: its holder renews it while it works (a schema change waits for every node to agree, which
 * can take longer than any fixed TTL), and stops before its next statement if it ever lost it. Every
 * statement is also written `IF NOT EXISTS`, so a holder that died mid-way leaves nothing half-done for
 * the next.
 *
 * The lease lives in the keyspace, so the keyspace and the lease table are created before it
 * (ensureKeyspace); everything else, the shared `schema_migrations` table included, is created under
 * it. The two shared tables are created with an id derived from their name: replicas that create one
 * at the same moment through different coordinators then create the same table, where random ids
 * would give Cassandra two tables of one name that its nodes disagree on.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Client } from 'cassandra-driver';
import type { Config } from './config';
import { conditional, idempotent } from './cassandra';
import { isUnavailableError } from './errors';
import type { Logger } from './logger';

export interface Migration {
  version: number;
  name: string;
  /** CQL statements, run in order; table names are unqualified (the keyspace is set on the client). */
  statements: string[];
}

/** The lease's TTL: a holder that dies frees it after this long; a living one renews it every third of it. */
export const LEASE_SECONDS = 60;
/** How long a replica waits for others' migrations (a holder that renews its lease may hold it long). */
const WAIT_FOR_LEASE_MS = 10 * 60_000;
/**
 * Schema changes wait for every node to agree; they take far longer than a query. They are sent
 * unprepared: preparing gains nothing for a statement run once, and Cassandra stores prepared DDL
 * without a keyspace, then logs an error each time a client with a keyspace runs it again.
 */
export const ddlOptions = { readTimeout: 30_000, prepare: false } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The id of a shared table of the keyspace: the same in every replica (a name-based UUID). */
export function sharedTableId(keyspace: string, table: string): string {
  const hex = createHash('sha1').update(`product-store:${keyspace}.${table}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** How long a schema change may take to reach every node that is up. */
export const SCHEMA_AGREEMENT_TIMEOUT_MS = 60_000;

/**
 * Runs a schema statement, then waits until every node that is up holds the same schema. The driver's
 * own wait does not cover it: it waits only after a statement that changed the schema, so a
 * `... IF NOT EXISTS` that its coordinator found done (another replica's change had reached it) returns
 * at once while a node the change has not reached yet still lacks the table, and the next statement,
 * coordinated there, fails with "table ... does not exist" (seen on three nodes, replicas starting
 * together). Nor does comparing the versions one node gossips for its peers: right after a change that
 * node may not have heard of it from anyone, and all look alike. So each node is asked for its own.
 */
export async function schemaStatement(client: Client, statement: string, timeoutMs = SCHEMA_AGREEMENT_TIMEOUT_MS): Promise<void> {
  await client.execute(statement, [], ddlOptions);
  const deadline = Date.now() + timeoutMs;
  while (!(await nodesAgreeOnSchema(client))) {
    if (Date.now() > deadline) throw new Error(`the Cassandra nodes did not agree on the schema within ${timeoutMs / 1000} s after: ${statement.split('\n')[0]}`);
    await sleep(200);
  }
}

/** Whether every node the client sees up reports the same schema version of its own (system.local). */
export async function nodesAgreeOnSchema(client: Client): Promise<boolean> {
  const hosts = client.hosts.values().filter((host) => host.isUp());
  try {
    const versions = await Promise.all(
      hosts.map(async (host) => String((await client.execute('SELECT schema_version FROM system.local', [], { ...idempotent, host })).first().get('schema_version'))),
    );
    return new Set(versions).size <= 1;
  } catch {
    return false;
  }
}

/** The keyspace and the migration lease's table: what the lease needs before it can be taken. */
export async function ensureKeyspace(client: Client, config: Config['cassandra']): Promise<void> {
  await schemaStatement(
    client,
    `CREATE KEYSPACE IF NOT EXISTS ${config.keyspace} WITH replication = {'class': 'NetworkTopologyStrategy', '${config.localDataCenter}': ${config.replicationFactor}}`,
  );
  await schemaStatement(
    client,
    `CREATE TABLE IF NOT EXISTS ${config.keyspace}.schema_leases (service text PRIMARY KEY, owner text) WITH ID = ${sharedTableId(config.keyspace, 'schema_leases')}`,
  );
}

export interface MigrateOptions {
  /** The lease's TTL in seconds (tests shorten it). @default LEASE_SECONDS */
  leaseSeconds?: number;
}

/** A lease taken and renewed until released; `lost()` says whether it may have passed to another replica. */
async function takeLease(client: Client, service: string, log: Logger, ttl: number) {
  const owner = randomUUID();
  const deadline = Date.now() + WAIT_FOR_LEASE_MS;
  for (;;) {
    let lease;
    try {
      lease = await client.execute(
        `INSERT INTO schema_leases (service, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ${ttl}`,
        [service, owner],
        conditional,
      );
    } catch (err) {
      // Replicas starting together contend for the lease's Paxos round; on a loaded cluster one can
      // time out (seen on three nodes). Its outcome is unknown: the next attempt finds out.
      if (!isUnavailableError(err) || Date.now() > deadline) throw err;
      log.info('the migration lease could not be taken yet; trying again', { service, err: (err as Error).message });
      await sleep(500 + Math.random() * 500);
      continue;
    }
    // Applied, or already ours: an earlier attempt that timed out may have taken it.
    if (lease.wasApplied() || lease.first()?.get('owner') === owner) break;
    if (Date.now() > deadline) throw new Error(`${service}: another replica has held the migration lease for more than ${WAIT_FOR_LEASE_MS / 60_000} minutes`);
    log.info('waiting for another replica to finish migrations', { service });
    await sleep(500 + Math.random() * 500);
  }
  // Held until the TTL ends after the last renewal that Cassandra confirmed.
  let heldUntil = Date.now() + ttl * 1000;
  let lost = false;
  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    const started = Date.now();
    try {
      const renewed = await client.execute(`UPDATE schema_leases USING TTL ${ttl} SET owner = ? WHERE service = ? IF owner = ?`, [owner, service, owner], conditional);
      if (renewed.wasApplied()) heldUntil = started + ttl * 1000;
      else lost = true;
    } catch (err) {
      log.warn('could not renew the migration lease; trying again', { service, err });
    }
  };
  const timer = setInterval(() => {
    renewing = renewing.then(renew);
  }, (ttl * 1000) / 3);
  timer.unref?.();
  return {
    /** True once the lease may be another replica's: it was taken over, or no renewal succeeded in time. */
    lost: () => lost || Date.now() >= heldUntil - 1000,
    async release() {
      clearInterval(timer);
      await renewing;
      await client.execute('DELETE FROM schema_leases WHERE service = ? IF owner = ?', [service, owner], conditional).catch(() => undefined);
    },
  };
}

export async function migrate(client: Client, service: string, migrations: readonly Migration[], log: Logger, options: MigrateOptions = {}): Promise<number[]> {
  const versions = migrations.map((m) => m.version);
  if (new Set(versions).size !== versions.length || versions.some((v, i) => i > 0 && v <= versions[i - 1])) {
    throw new Error(`${service}: migration versions must be unique and increasing`);
  }
  const keyspace = client.keyspace;
  if (!keyspace) throw new Error(`${service}: migrate() needs a client connected to the keyspace`);
  const lease = await takeLease(client, service, log, options.leaseSeconds ?? LEASE_SECONDS);
  const ddl = async (statement: string) => {
    if (lease.lost()) throw new Error(`${service}: lost the migration lease (its renewals failed); another replica may be migrating, so this one stops`);
    // Under the lease until every node has it: the lease outlives the change's propagation too.
    await schemaStatement(client, statement);
  };
  try {
    await ddl(
      `CREATE TABLE IF NOT EXISTS schema_migrations (service text, version int, name text, applied_at timestamp, PRIMARY KEY (service, version)) WITH ID = ${sharedTableId(keyspace, 'schema_migrations')}`,
    );
    const applied = new Set(
      (await client.execute('SELECT version FROM schema_migrations WHERE service = ?', [service], idempotent)).rows.map((r) => r.get('version') as number),
    );
    const ran: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      log.info('applying migration', { service, version: migration.version, name: migration.name });
      for (const statement of migration.statements) await ddl(statement);
      if (lease.lost()) throw new Error(`${service}: lost the migration lease before recording migration ${migration.version}`);
      await client.execute(
        'INSERT INTO schema_migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)',
        [service, migration.version, migration.name, new Date()],
        idempotent,
      );
      ran.push(migration.version);
    }
    return ran;
  } finally {
    await lease.release();
  }
}
