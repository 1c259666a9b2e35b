/**
 * Each service logs in to Cassandra as a role of its own, allowed to read and write its own tables
 * and nothing else (no DDL, no other service's table). Schema changes need more: they run in a
 * separate step, before the service starts, as the privileged migration login (the superuser
 * `cassandra`):
 *
 *   node dist/main.js migrate      (compose: the one-shot `<service>-migrate`; cluster: the pod's init container)
 *
 * which creates the keyspace, applies the service's migrations, creates or updates the service's role
 * with CASSANDRA_SERVICE_PASSWORD, and grants it SELECT and MODIFY on the tables its migrations create
 * (read from them, so a new table is granted by the step that creates it) and SELECT on
 * schema_migrations (so that the service can check that its schema is current).
 *
 * A service whose schema is current starts without touching the schema, as any role may; one whose
 * schema is behind applies its migrations itself, as before, which works where its login may (the
 * local stack and the tests, without authentication) and otherwise stops with what to run.
 */
import type { Client } from 'cassandra-driver';
import { createClient, idempotent } from './cassandra';
import type { Config } from './config';
import type { Logger } from './logger';
import { ddlOptions, ensureKeyspace, migrate, type Migration } from './migrations';
import { serviceRole, type ServiceName } from './topology';

/** The tables a service's migrations create: the ones its role gets. */
export function tablesOf(migrations: readonly Migration[]): string[] {
  const tables = migrations.flatMap((m) => m.statements.flatMap((s) => [...s.matchAll(/^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\w+\.)?(\w+)/gi)].map((match) => match[1].toLowerCase())));
  return [...new Set(tables)];
}

const MIN_ROLE_PASSWORD = 16;

/** A CQL string literal. */
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** The grants of a service's role, in CQL (the migration step runs them; docs/runbook.md shows them). */
export function roleStatements(keyspace: string, service: ServiceName, migrations: readonly Migration[]): string[] {
  const role = serviceRole(service);
  return [
    ...tablesOf(migrations).map((table) => `GRANT SELECT, MODIFY ON TABLE ${keyspace}.${table} TO ${role}`),
    `GRANT SELECT ON TABLE ${keyspace}.schema_migrations TO ${role}`,
  ];
}

/** True when the keyspace exists and every migration of the service is recorded: nothing to change. */
export async function schemaIsCurrent(client: Client, keyspace: string, service: ServiceName, migrations: readonly Migration[]): Promise<boolean> {
  const found = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace], idempotent);
  if (found.rowLength === 0) return false;
  let applied: Set<number>;
  try {
    const rows = await client.execute(`SELECT version FROM ${keyspace}.schema_migrations WHERE service = ?`, [service], idempotent);
    applied = new Set(rows.rows.map((r) => r.get('version') as number));
  } catch {
    // No schema_migrations table yet (or no right to read it): the migration step has not run.
    return false;
  }
  return migrations.every((m) => applied.has(m.version));
}

/** Whether the role logs in with this password (any failure: no). */
async function canLogIn(config: Config, role: string, password: string): Promise<boolean> {
  const client = createClient({ ...config.cassandra, username: role, password });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}

/** A refusal of Cassandra's authorizer: the login may not do this. */
export const isUnauthorized = (err: unknown) => (err as { code?: number }).code === 0x2100 || /Unauthorized|has no \w+ permission/i.test((err as Error).message ?? '');

/**
 * The migration step of one service (`main.js migrate`): keyspace, migrations, the service's role
 * and its grants. Run with the migration login in CASSANDRA_USERNAME/CASSANDRA_PASSWORD.
 */
export async function runMigrationStep(config: Config, service: ServiceName, migrations: readonly Migration[], log: Logger, attempts = 6): Promise<void> {
  const password = config.settings.CASSANDRA_SERVICE_PASSWORD?.trim();
  if (password && config.environment === 'production' && (password.length < MIN_ROLE_PASSWORD || password.startsWith('change-me'))) {
    throw new Error(`the password of the role ${serviceRole(service)} must be at least ${MIN_ROLE_PASSWORD} characters and not the placeholder (openssl rand -base64 24)`);
  }
  // The steps of the four services start together on a Cassandra that has just come up, and nothing
  // restarts a one-shot step: a failure (schema disagreement, a timeout) is tried again, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      await migrationStep(config, service, migrations, log, password);
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      log.warn('migration step failed; trying again', { service, attempt, err: (err as Error).message });
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

async function migrationStep(config: Config, service: ServiceName, migrations: readonly Migration[], log: Logger, password: string | undefined): Promise<void> {
  const bootstrap = createClient(config.cassandra);
  try {
    await bootstrap.connect();
    await ensureKeyspace(bootstrap, config.cassandra);
  } finally {
    await bootstrap.shutdown().catch(() => undefined);
  }
  const db = createClient(config.cassandra, config.cassandra.keyspace);
  try {
    await db.connect();
    const ran = await migrate(db, service, migrations, log);
    log.info('migrations applied', { service, versions: ran });
    if (!password) {
      log.info('CASSANDRA_SERVICE_PASSWORD is not set: no role for the service (it logs in as CASSANDRA_USERNAME)', { service });
      return;
    }
    const role = serviceRole(service);
    // A new role is created; an existing one gets the password only when it changed (a rotation):
    // Cassandra refuses a second password change of a role within 5 s, and a step that runs at
    // every `up` has nothing to change.
    const exists = (await db.execute('SELECT role FROM system_auth.roles WHERE role = ?', [role], idempotent)).rowLength > 0;
    if (!exists) {
      await db.execute(`CREATE ROLE IF NOT EXISTS ${role} WITH PASSWORD = ${literal(password)} AND LOGIN = true AND SUPERUSER = false`, [], ddlOptions);
    } else if (!(await canLogIn(config, role, password))) {
      await db.execute(`ALTER ROLE ${role} WITH PASSWORD = ${literal(password)}`, [], ddlOptions);
      log.info('role password changed', { service, role });
    }
    for (const statement of roleStatements(config.cassandra.keyspace, service, migrations)) await db.execute(statement, [], ddlOptions);
    log.info('role ready', { service, role, tables: tablesOf(migrations) });
  } finally {
    await db.shutdown().catch(() => undefined);
  }
}
