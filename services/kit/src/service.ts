/**
 * Running a service: configuration, logger, metrics, the Cassandra client and its migrations, the
 * HTTP server, its background workers, and graceful shutdown. Each service passes only its name,
 * migrations and routes (and, when it has any, the parts its routes and workers share, and its workers).
 *
 * Lifecycle: setup → routes → workers built → listening → afterStart → workers started. Stop: readiness
 * 503 → the server drains → the workers stop, each awaited → stop hooks → the database client closes.
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
import { kitSettings, parseSettings, type Settings, type SettingValues } from './settings';
import { parseTrustedProxies } from './trusted-proxies';
import { gatewayUpstream, type ServiceName } from './topology';

export interface ServiceDeps<Own extends Settings = Settings> {
  config: Config;
  /** The service's own settings (its definition's `settings`), parsed and validated at start-up. */
  settings: SettingValues<Own>;
  log: Logger;
  metrics: Metrics;
  db: Client;
  auth: Auth;
  /** Registers cleanup (e.g. closing clients) to run once the server has drained and the workers have stopped. */
  onStop(hook: () => void | Promise<void>): void;
}

/**
 * Background work of a service (order-service's recovery passes, backend's ledger compaction): what
 * runs outside any request. The kit starts it once the service is up, and at shutdown stops it and
 * awaits the work under way after the last request has finished and before the stop hooks and the
 * database client close, so that work never meets a closed client.
 */
export interface Worker {
  /** Names the worker in logs. */
  readonly name: string;
  /** Begins the work (a timer, a first pass); awaited, so it should not wait for the work itself. */
  start(): void | Promise<void>;
  /** Starts no new work; resolves once the work under way has ended. Called once, also after a failed start. */
  stop(): Promise<void>;
}

/**
 * What a service is. `Parts` is what its routes and workers share (one repository, one set of
 * clients), built once per start by `setup`; a service without workers needs neither.
 * (Methods, not function properties: a `ServiceDefinition<Parts>` is then usable as a `ServiceDefinition`.)
 */
export interface ServiceDefinition<Parts = unknown, Own extends Settings = Settings> {
  name: ServiceName;
  migrations: readonly Migration[];
  /**
   * The service's own settings (services/<service>/src/settings.ts), declared once: validated at
   * start-up with the kit's (a problem in either refuses the start, every problem listed), handed to
   * the service typed as `deps.settings`, and read by the deployment spec and the README's drift test.
   */
  settings?: Own;
  /** Builds what the routes and the workers share, from the shared dependencies; run before both. */
  setup?(deps: ServiceDeps<Own>): Parts | Promise<Parts>;
  /** Builds the service's routes (routes → domain → repository) from the shared dependencies. */
  routes(deps: ServiceDeps<Own>, parts: Parts): Router | Promise<Router>;
  /** The service's background work, started after `afterStart` and stopped before the database closes (see Worker). */
  workers?(deps: ServiceDeps<Own>, parts: Parts): Worker[];
  /** Work after the server listens (e.g. seeding), before the workers start; its result is awaited. */
  afterStart?(deps: ServiceDeps<Own>): Promise<void>;
}

export interface RunningService<Own extends Settings = Settings> {
  deps: ServiceDeps<Own>;
  server: Server;
  port: number;
  url: string;
  http: ServiceApp;
  /** The service's own routes (for introspection, e.g. checking them against the OpenAPI document). */
  router: Router;
  /**
   * Graceful stop: readiness 503 and no new connections at once, in-flight requests finish, kept-alive
   * connections close after their next answer or once nginx has dropped them (drain.ts), then the
   * workers stop (their work under way ends), then the stop hooks run and the DB client closes.
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

async function connectDatabase(config: Config, log: Logger, definition: Pick<ServiceDefinition, 'name' | 'migrations'>): Promise<Client> {
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

export async function startService<Parts, Own extends Settings = Settings>(definition: ServiceDefinition<Parts, Own>, options: StartOptions = {}): Promise<RunningService<Own>> {
  const env = options.env ?? process.env;
  // Every problem in one refusal: the service's own settings are read even when the kit's are refused.
  let config: Config | undefined;
  const problems: string[] = [];
  try {
    config = loadConfig(definition.name, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  // Its production rules apply in production even when a kit setting was refused.
  const environment = config?.environment ?? parseSettings({ ENVIRONMENT: kitSettings.ENVIRONMENT }, env).values.ENVIRONMENT;
  const own = parseSettings(definition.settings ?? ({} as Own), env, { environment });
  const trusted = parseTrustedProxies(config?.settings.TRUSTED_PROXIES);
  problems.push(...trusted.problems, ...own.problems);
  if (problems.length || !config) throw new ConfigError(problems);
  const log = createLogger({ level: config.logLevel, bindings: { service: definition.name }, sink: options.logSink });
  const metrics = createMetrics(definition.name);
  const db = await connectDatabase(config, log, definition);
  const stopHooks: Array<() => void | Promise<void>> = [];
  const deps: ServiceDeps<Own> = { config, settings: own.values, log, metrics, db, auth: createAuth(config), onStop: (hook) => stopHooks.push(hook) };

  let router: Router;
  let workers: Worker[];
  try {
    // Without a setup the service shares nothing: its routes and workers ignore `parts`.
    const parts = (await definition.setup?.(deps)) as Parts;
    router = await definition.routes(deps, parts);
    workers = definition.workers?.(deps, parts) ?? [];
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
    requestTimeoutMs: config.requestTimeoutMs,
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

  /** Workers whose start was called (a failed start too: its stop cleans up what it began). */
  const started: Worker[] = [];
  // Together: each ends its own work; one that fails to stop is logged and holds up nothing else.
  const stopWorkers = () =>
    Promise.all(
      started.map((worker) =>
        Promise.resolve()
          .then(() => worker.stop())
          .catch((err) => log.warn('a worker failed to stop', { worker: worker.name, err })),
      ),
    );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('shutting down: readiness is now 503, new connections refused, finishing in-flight requests');
      const stopBegan = Date.now();
      http.markDraining();
      const drained = await drainServer(server, {
        idleGraceMs: gatewayUpstream.keepaliveTimeoutSeconds * 1000 + gatewayUpstream.drainMarginMs,
        timeoutMs: config.shutdownTimeoutMs,
      });
      if (drained === 'timeout') {
        log.warn('in-flight requests did not finish in time; their connections were closed', { timeout_ms: config.shutdownTimeoutMs });
      }
      // Background work after the requests (both may use the clients the hooks close), before the database.
      // Bounded with the drain by one SHUTDOWN_TIMEOUT_MS (at least 1 s of it left for the workers): a pass
      // stuck on an unreachable database must not outlive the platform's grace period (SIGKILL next);
      // every step of that work is idempotent and resumed by the next start.
      const workersMs = Math.max(1000, config.shutdownTimeoutMs - (Date.now() - stopBegan));
      let bound: NodeJS.Timeout | undefined;
      const workersDone = await Promise.race([
        stopWorkers().then(() => 'stopped' as const),
        new Promise<'timeout'>((resolve) => (bound = setTimeout(() => resolve('timeout'), workersMs))),
      ]);
      clearTimeout(bound);
      if (workersDone === 'timeout') {
        log.warn('background work did not stop in time; the database client closes under it', { timeout_ms: workersMs, workers: started.map((w) => w.name) });
      }
      for (const hook of stopHooks) await Promise.resolve(hook()).catch((err) => log.warn('a stop hook failed', { err }));
      await db.shutdown().catch((err) => log.warn('closing the database client failed', { err }));
      await flushTraces().catch((err) => log.warn('flushing traces failed', { err }));
      log.info('stopped');
    })());

  const running: RunningService<Own> = { deps, server, port, url: `http://127.0.0.1:${port}`, http, router, stop };
  try {
    await definition.afterStart?.(deps);
    for (const worker of workers) {
      started.push(worker);
      await worker.start();
    }
  } catch (err) {
    await stop();
    throw err;
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
