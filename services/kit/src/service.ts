/**
 * Running a service: configuration, logger, metrics, the Cassandra client and its migrations, the
 * HTTP server, and graceful shutdown. Each service passes only its name, migrations and routes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Router from '@koa/router';
import { createApp, type ServiceApp } from './app';
import { createAuth, type Auth } from './auth';
import { createClient, idempotent, type Client } from './cassandra';
import { ConfigError, loadConfig, type Config } from './config';
import { isUnauthorized, runMigrationStep, schemaIsCurrent } from './database-roles';
import { drainServer } from './drain';
import { createLogger, type Logger, type LogSink } from './logger';
import { createMetrics, type Metrics } from './metrics';
import { ensureKeyspace, migrate, type Migration } from './migrations';
import { openApiFor, wholeApi } from './openapi';
import { parseTrustedProxies } from './trusted-proxies';
import { gatewayUpstream, type ServiceName } from './topology';

export interface ServiceDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  db: Client;
  auth: Auth;
  /** Registers cleanup (e.g. closing clients) to run once the server has drained. */
  onStop(hook: () => void | Promise<void>): void;
}

export interface ServiceDefinition {
  name: ServiceName;
  migrations: readonly Migration[];
  /** Builds the service's routes (routes → domain → repository) from the shared dependencies. */
  routes(deps: ServiceDeps): Router | Promise<Router>;
  /** Problems with the service's own variables; any refuses the start like an invalid shared one. */
  checkConfig?(config: Config): string[];
  /** Work after the server listens (e.g. seeding, background recovery); its result is awaited. */
  afterStart?(deps: ServiceDeps): Promise<void>;
}

export interface RunningService {
  deps: ServiceDeps;
  server: Server;
  port: number;
  url: string;
  http: ServiceApp;
  /** The service's own routes (for introspection, e.g. checking them against the OpenAPI document). */
  router: Router;
  /**
   * Graceful stop: readiness 503 and no new connections at once, in-flight requests finish, kept-alive
   * connections close after their next answer or once nginx has dropped them (drain.ts), then the DB
   * client closes.
   */
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Readonly<Record<string, string | undefined>>;
  logSink?: LogSink;
}

/** Sends the spans still buffered, when tracing was loaded (see instrumentation.ts). */
function flushTraces(): Promise<void> {
  return (globalThis as { __productStoreTracing?: () => Promise<void> }).__productStoreTracing?.() ?? Promise.resolve();
}

async function connectDatabase(config: Config, log: Logger, definition: ServiceDefinition): Promise<Client> {
  // A current schema is left alone: a service's own Cassandra role may not change it (database-roles.ts).
  const notAllowed = (err: unknown) =>
    isUnauthorized(err)
      ? new Error(`the schema of ${definition.name} is not current and its Cassandra login may not change it: run its migration step first (main.js migrate, docs/runbook.md "Secrets")`)
      : err;
  const bootstrap = createClient(config.cassandra);
  let current: boolean;
  try {
    await bootstrap.connect();
    current = await schemaIsCurrent(bootstrap, config.cassandra.keyspace, definition.name, definition.migrations);
    if (!current) await ensureKeyspace(bootstrap, config.cassandra).catch((err) => Promise.reject(notAllowed(err)));
  } finally {
    await bootstrap.shutdown().catch(() => undefined);
  }
  const db = createClient(config.cassandra, config.cassandra.keyspace);
  await db.connect();
  if (!current) {
    try {
      await migrate(db, definition.name, definition.migrations, log);
    } catch (err) {
      await db.shutdown().catch(() => undefined);
      throw notAllowed(err);
    }
  }
  return db;
}

export async function startService(definition: ServiceDefinition, options: StartOptions = {}): Promise<RunningService> {
  const config = loadConfig(definition.name, options.env ?? process.env);
  const trusted = parseTrustedProxies(config.env.TRUSTED_PROXIES);
  const ownProblems = [...trusted.problems, ...(definition.checkConfig?.(config) ?? [])];
  if (ownProblems.length) throw new ConfigError(ownProblems);
  const log = createLogger({ level: config.logLevel, bindings: { service: definition.name }, sink: options.logSink });
  const metrics = createMetrics(definition.name);
  const db = await connectDatabase(config, log, definition);
  const stopHooks: Array<() => void | Promise<void>> = [];
  const deps: ServiceDeps = { config, log, metrics, db, auth: createAuth(config), onStop: (hook) => stopHooks.push(hook) };

  let router: Router;
  try {
    router = await definition.routes(deps);
  } catch (err) {
    await db.shutdown();
    throw err;
  }
  const http = createApp({
    service: definition.name,
    log,
    metrics,
    router,
    openapi: openApiFor(definition.name),
    openapiAll: wholeApi,
    trustedProxies: trusted.proxies,
    readinessCheck: async () => {
      await db.execute('SELECT release_version FROM system.local', [], { ...idempotent, readTimeout: 1000 });
    },
  });
  const server = createServer(http.app.callback());
  const connections = metrics.counter('http_server_connections_total', 'TCP connections accepted (few per request means keep-alive works)');
  server.on('connection', () => connections.inc());
  // Far longer than the gateway's upstream keep-alive (topology gatewayUpstream, 1 s) and the other
  // services' clients (1 s, service-client.ts): the client side always closes an idle connection, so
  // none sends a request on a socket Node is closing.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info('listening', { port, environment: config.environment });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('shutting down: readiness is now 503, new connections refused, finishing in-flight requests');
      http.markDraining();
      const drained = await drainServer(server, {
        idleGraceMs: gatewayUpstream.keepaliveTimeoutSeconds * 1000 + gatewayUpstream.drainMarginMs,
        timeoutMs: config.shutdownTimeoutMs,
      });
      if (drained === 'timeout') {
        log.warn('in-flight requests did not finish in time; their connections were closed', { timeout_ms: config.shutdownTimeoutMs });
      }
      for (const hook of stopHooks) await Promise.resolve(hook()).catch((err) => log.warn('a stop hook failed', { err }));
      await db.shutdown().catch((err) => log.warn('closing the database client failed', { err }));
      await flushTraces().catch((err) => log.warn('flushing traces failed', { err }));
      log.info('stopped');
    })());

  const running: RunningService = { deps, server, port, url: `http://127.0.0.1:${port}`, http, router, stop };
  if (definition.afterStart) {
    try {
      await definition.afterStart(deps);
    } catch (err) {
      await stop();
      throw err;
    }
  }
  return running;
}

/**
 * Entry point of a service process: starts it, stops gracefully on SIGTERM/SIGINT, exits 0.
 * `main.js migrate`: the migration step instead (database-roles.ts), then exits 0, or 1 on failure.
 */
export function runMain(definition: ServiceDefinition): void {
  if (process.argv[2] === 'migrate') {
    migrateMain(definition);
    return;
  }
  startService(definition).then(
    (running) => {
      const onSignal = (signal: NodeJS.Signals) => {
        running.deps.log.info('signal received', { signal });
        running.stop().then(
          () => process.exit(0),
          (err) => {
            running.deps.log.error('shutdown failed', { err });
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    },
    (err) => {
      const message = err instanceof ConfigError ? err.message : `start-up failed: ${(err as Error).message}`;
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', service: definition.name, msg: message })}\n`);
      process.exit(1);
    },
  );
}

function migrateMain(definition: ServiceDefinition): void {
  const fail = (message: string) => {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', service: definition.name, msg: message })}\n`);
    process.exit(1);
  };
  let config: Config;
  try {
    config = loadConfig(definition.name, process.env, { secrets: false });
  } catch (err) {
    fail((err as Error).message);
    return;
  }
  const log = createLogger({ level: config.logLevel, bindings: { service: definition.name, step: 'migrate' } });
  runMigrationStep(config, definition.name, definition.migrations, log).then(
    () => process.exit(0),
    (err) => fail(`migration step failed: ${(err as Error).message}`),
  );
}
