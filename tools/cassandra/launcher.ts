/**
 * Runs a real single-node Apache Cassandra as a child process, from the server jars on Maven Central.
 *
 * The jars are resolved once by Maven (pom.xml beside this file) into a cache outside the repo; the
 * node's configuration, data and logs live in a folder the launcher owns. When CASSANDRA_HOST names an
 * existing Cassandra, nothing is started and that one is used.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Client } from 'cassandra-driver';

const here = __dirname;
export const repoRoot = resolve(here, '..', '..');
const pomFile = join(here, 'pom.xml');

const pom = readFileSync(pomFile, 'utf8');
export const cassandraVersion = /<cassandra\.version>([^<]+)</.exec(pom)![1];
export const jmxExporterVersion = /<jmx\.exporter\.version>([^<]+)</.exec(pom)![1];
/** The JMX exporter's rules, shared with compose and the cluster manifests. */
export const jmxExporterConfig = join(repoRoot, 'monitoring', 'cassandra', 'jmx-exporter.yaml');

export interface CassandraOptions {
  /** Folder holding conf/, data/, logs/ and the pid file. @default CASSANDRA_DATA_DIR or <repo>/.data/cassandra */
  dataDir?: string;
  /** @default CASSANDRA_PORT or 9042 */
  port?: number;
  /** Heap size for the JVM. @default CASSANDRA_HEAP or 1G */
  heap?: string;
  /** Port of the Prometheus JMX exporter. @default CASSANDRA_METRICS_PORT or 7070 */
  metricsPort?: number;
  /** Local JMX port (nodetool). @default CASSANDRA_JMX_PORT or 7199 */
  jmxPort?: number;
  /**
   * Top-level scalar settings of cassandra.yaml that replace the launcher's values or add to them,
   * e.g. `{ tombstone_failure_threshold: 100 }`. Cassandra 5.0 key names only (it rejects unknown keys).
   */
  yaml?: Record<string, string | number | boolean>;
  /** How long to wait for CQL to answer. @default 180 s */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface CassandraHandle {
  host: string;
  port: number;
  /** Version reported by the node itself. */
  releaseVersion: string;
  /** Where its Prometheus metrics are (the JMX exporter), when known. */
  metricsPort?: number;
  /** True when this launcher started (or adopted) the process and stop() ends it. */
  owned: boolean;
  startMs: number;
  stop(): Promise<void>;
}

const defaultLog = (line: string) => process.stderr.write(`[cassandra] ${line}\n`);

/** Uses CASSANDRA_HOST when it is set, else starts (or adopts) the project's own node. */
export async function ensureCassandra(options: CassandraOptions = {}): Promise<CassandraHandle> {
  const log = options.log ?? defaultLog;
  const port = options.port ?? Number(process.env.CASSANDRA_PORT || 9042);
  const external = process.env.CASSANDRA_HOST;
  if (external) {
    const started = Date.now();
    log(`using the existing Cassandra at ${external}:${port} (CASSANDRA_HOST)`);
    const releaseVersion = await waitForCql(external, port, options.startTimeoutMs ?? 60_000, () => undefined);
    // Its JMX exporter, where CASSANDRA_METRICS_PORT says (the launcher's default otherwise).
    const metricsPort = options.metricsPort ?? Number(process.env.CASSANDRA_METRICS_PORT || 7070);
    return { host: external, port, releaseVersion, metricsPort, owned: false, startMs: Date.now() - started, stop: async () => undefined };
  }
  return startLocalCassandra({ ...options, port, log });
}

/**
 * Starts (or adopts) a node of its own on `dataDir`, whatever CASSANDRA_HOST says: for tests that need
 * a Cassandra configured differently (`yaml`) beside the shared one. Give it its own folder and ports.
 */
export async function startCassandra(options: CassandraOptions & { dataDir: string; port: number }): Promise<CassandraHandle> {
  return startLocalCassandra({ ...options, log: options.log ?? defaultLog });
}

/** Where the project caches heavy artifacts outside the repository: PRODUCT_STORE_CACHE, else $XDG_CACHE_HOME/product-store, else ~/.cache/product-store. */
export function cacheBase(): string {
  return process.env.PRODUCT_STORE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'product-store');
}

export function cacheDir(): string {
  return join(cacheBase(), `cassandra-${cassandraVersion}`);
}

/** Resolves the server's runtime classpath with Maven, once; later calls return the cached folder. */
function requireMaven(): void {
  const mvn = spawnSync('mvn', ['--version'], { encoding: 'utf8' });
  if (mvn.error || mvn.status !== 0) {
    throw new Error('Maven (mvn) is needed once to fetch the Cassandra jars from Maven Central: apt-get install -y maven');
  }
}

function mavenErrors(run: { stdout?: string | null; stderr?: string | null }): string {
  return `${run.stdout ?? ''}${run.stderr ?? ''}`.split('\n').filter((l) => l.includes('ERROR')).slice(-20).join('\n');
}

/** The Prometheus JMX exporter agent jar, fetched once into the cache. */
export function resolveJmxExporter(log: (line: string) => void = defaultLog): string {
  const jar = join(cacheDir(), 'agents', `jmx_prometheus_javaagent-${jmxExporterVersion}.jar`);
  if (existsSync(jar)) return jar;
  requireMaven();
  const staging = join(cacheDir(), `agents.partial-${process.pid}`);
  mkdirSync(dirname(jar), { recursive: true });
  log(`fetching the Prometheus JMX exporter ${jmxExporterVersion} with Maven (once)`);
  const run = spawnSync(
    'mvn',
    ['-B', '-q', '-f', pomFile, 'dependency:copy', `-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:${jmxExporterVersion}`, `-DoutputDirectory=${staging}`],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const fetched = join(staging, basename(jar));
  if (run.status !== 0 || !existsSync(fetched)) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`Maven could not fetch the JMX exporter (exit ${run.status}):\n${mavenErrors(run)}`);
  }
  // Renamed into place whole: a launcher running at the same time never sees half a jar.
  renameSync(fetched, jar);
  rmSync(staging, { recursive: true, force: true });
  return jar;
}

export function resolveJars(log: (line: string) => void = defaultLog): string {
  const lib = join(cacheDir(), 'lib');
  if (existsSync(join(lib, '.complete'))) return lib;
  requireMaven();
  // Per process: two launchers fetching at once (parallel test runs) must not delete each other's files.
  const staging = `${lib}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  log(`fetching cassandra-all ${cassandraVersion} and its dependencies with Maven into ${lib} (once)`);
  const run = spawnSync(
    'mvn',
    ['-B', '-q', '-f', pomFile, 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const jars = readdirSync(staging).filter((f) => f.endsWith('.jar'));
  if (run.status !== 0 || !jars.some((f) => f.startsWith('cassandra-all-'))) {
    throw new Error(`Maven could not resolve cassandra-all ${cassandraVersion} (exit ${run.status}):\n${mavenErrors(run)}`);
  }
  writeFileSync(join(staging, '.complete'), `${new Date().toISOString()}\n`);
  if (existsSync(join(lib, '.complete'))) {
    // Another launcher finished first: keep its copy.
    rmSync(staging, { recursive: true, force: true });
    return lib;
  }
  rmSync(lib, { recursive: true, force: true });
  try {
    renameSync(staging, lib);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(lib, '.complete'))) throw err;
  }
  return lib;
}

function javaBinary(): string {
  if (process.env.CASSANDRA_JAVA) return process.env.CASSANDRA_JAVA;
  const debianJdk17 = '/usr/lib/jvm/java-17-openjdk-amd64/bin/java';
  return existsSync(debianJdk17) ? debianJdk17 : 'java';
}

/** The JPMS flags of Cassandra 5.0's conf/jvm17-server.options, which the server needs on Java 17. */
const jvm17Flags = [
  '-Djdk.attach.allowAttachSelf=true',
  ...[
    'java.base/jdk.internal.misc', 'java.management.rmi/com.sun.jmx.remote.internal.rmi', 'java.rmi/sun.rmi.registry',
    'java.rmi/sun.rmi.server', 'java.sql/java.sql', 'java.base/java.lang.ref', 'jdk.unsupported/sun.misc',
    'jdk.compiler/com.sun.tools.javac.file', 'jdk.attach/sun.tools.attach', 'java.management/com.sun.jmx.remote.security',
  ].flatMap((pkg) => ['--add-exports', `${pkg}=ALL-UNNAMED`]),
  ...[
    'java.base/java.lang.module', 'java.base/jdk.internal.loader', 'java.base/jdk.internal.ref', 'java.base/jdk.internal.reflect',
    'java.base/jdk.internal.math', 'java.base/jdk.internal.module', 'java.base/jdk.internal.util.jar',
    'jdk.management/com.sun.management.internal', 'java.base/sun.nio.ch', 'java.base/java.io', 'java.base/java.lang.reflect',
    'jdk.compiler/com.sun.tools.javac', 'java.base/java.lang', 'java.base/java.util',
  ].flatMap((pkg) => ['--add-opens', `${pkg}=ALL-UNNAMED`]),
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dio.netty.allocator.useCacheForAllThreads=true',
  '-Dio.netty.allocator.maxOrder=11',
];

/** The `nodetool` of the project's Cassandra: the tool class from the same jars, over local JMX. */
export function nodetoolCommand(args: string[]): { command: string; args: string[] } {
  const lib = resolveJars(() => undefined);
  return {
    command: javaBinary(),
    args: [
      '-Xmx256m',
      ...jvm17Flags,
      '-cp', `${lib}/*`,
      '-Dlogback.configurationFile=logback-tools.xml',
      'org.apache.cassandra.tools.NodeTool',
      '-h', '127.0.0.1',
      '-p', process.env.CASSANDRA_JMX_PORT || '7199',
      ...args,
    ],
  };
}

/** A YAML scalar: numbers and booleans as they are, strings quoted. */
function yamlScalar(value: string | number | boolean): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Replaces the top-level keys of `yaml` named in `overrides` and appends the others. */
export function mergeYaml(yaml: string, overrides: Record<string, string | number | boolean> = {}): string {
  const pending = new Map(Object.entries(overrides));
  for (const key of pending.keys()) {
    if (!/^[a-z][a-z0-9_]*$/.test(key)) throw new Error(`cassandra.yaml override "${key}" is not a top-level key name`);
  }
  const lines = yaml.split('\n').map((line) => {
    const key = /^([a-z][a-z0-9_]*):(.*)$/.exec(line);
    if (!key || !pending.has(key[1])) return line;
    if (key[2].trim() === '') throw new Error(`cassandra.yaml override "${key[1]}" would replace a block; only scalar settings can be overridden`);
    const value = pending.get(key[1])!;
    pending.delete(key[1]);
    return `${key[1]}: ${yamlScalar(value)}`;
  });
  const added = [...pending].map(([key, value]) => `${key}: ${yamlScalar(value)}`);
  return `${lines.join('\n').trimEnd()}\n${added.length ? `${added.join('\n')}\n` : ''}`;
}

function writeConfig(dataDir: string, port: number, overrides?: Record<string, string | number | boolean>): string {
  const conf = join(dataDir, 'conf');
  mkdirSync(conf, { recursive: true });
  const dirs = ['data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw', 'logs'].map((d) => join(dataDir, d));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const yaml = `# Written by tools/cassandra/launcher.ts: a single-node development and test cluster.
cluster_name: product-store-local
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:${port + 10}"
listen_address: 127.0.0.1
storage_port: ${port + 10}
rpc_address: 127.0.0.1
native_transport_port: ${port}
start_native_transport: true
data_file_directories:
  - ${join(dataDir, 'data')}
commitlog_directory: ${join(dataDir, 'commitlog')}
saved_caches_directory: ${join(dataDir, 'saved_caches')}
hints_directory: ${join(dataDir, 'hints')}
cdc_raw_directory: ${join(dataDir, 'cdc_raw')}
commitlog_sync: periodic
commitlog_sync_period: 10s
auto_snapshot: false
disk_access_mode: standard
concurrent_compactors: 1
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
`;
  writeFileSync(join(conf, 'cassandra.yaml'), mergeYaml(yaml, overrides));
  writeFileSync(
    join(conf, 'logback.xml'),
    `<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${join(dataDir, 'logs', 'system.log')}</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${join(dataDir, 'logs', 'system.log.%i.zip')}</fileNamePattern>
      <minIndex>1</minIndex><maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy"><maxFileSize>20MB</maxFileSize></triggeringPolicy>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE" /></root>
</configuration>
`,
  );
  return conf;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A Cassandra of this data folder still running from an earlier launch, with the pid of the launcher
 * that started it (whose own process may have ended).
 */
function leftover(dataDir: string): { pid: number; launcherAlive: boolean } | undefined {
  const pidFile = join(dataDir, 'cassandra.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pid, launcher] = readFileSync(pidFile, 'utf8').trim().split(/\s+/).map(Number);
  if (!pid || !pidAlive(pid)) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('CassandraDaemon') || !cmdline.includes(dataDir)) return undefined;
  } catch {
    return undefined;
  }
  return { pid, launcherAlive: Boolean(launcher) && launcher !== process.pid && pidAlive(launcher) };
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); done(true); });
    socket.once('timeout', () => { socket.destroy(); done(false); });
    socket.once('error', () => done(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until CQL answers `SELECT release_version FROM system.local`; `failed` aborts the wait early. */
export async function waitForCql(host: string, port: number, timeoutMs: number, failed: () => string | undefined): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'port closed';
  while (Date.now() < deadline) {
    const reason = failed();
    if (reason) throw new Error(reason);
    if (await portOpen(host, port)) {
      const client = new Client({ contactPoints: [`${host}:${port}`], localDataCenter: 'datacenter1', socketOptions: { connectTimeout: 2000, readTimeout: 5000 } });
      try {
        await client.connect();
        const rs = await client.execute('SELECT release_version FROM system.local');
        return rs.first().get('release_version') as string;
      } catch (err) {
        lastError = (err as Error).message;
      } finally {
        await client.shutdown().catch(() => undefined);
      }
    }
    await sleep(500);
  }
  throw new Error(`Cassandra at ${host}:${port} did not answer CQL within ${Math.round(timeoutMs / 1000)} s (${lastError})`);
}

function logTail(dataDir: string, lines = 40): string {
  for (const file of [join(dataDir, 'logs', 'system.log'), join(dataDir, 'logs', 'stdout.log')]) {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      if (text) return `--- last lines of ${file} ---\n${text}`;
    }
  }
  return '(no Cassandra log was written)';
}

async function stopPid(pid: number, child: ChildProcess | undefined, log: (line: string) => void): Promise<void> {
  if (!pidAlive(pid)) return;
  log(`stopping Cassandra (pid ${pid})`);
  const exited = child ? new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r()))) : undefined;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited ? child!.exitCode !== null || child!.signalCode !== null : !pidAlive(pid)) return;
    await Promise.race([exited, sleep(200)]);
  }
  log('Cassandra did not stop within 30 s; killing it');
  process.kill(pid, 'SIGKILL');
}

async function startLocalCassandra(options: CassandraOptions & { port: number; log: (line: string) => void }): Promise<CassandraHandle> {
  const { port, log } = options;
  const host = '127.0.0.1';
  const dataDir = resolve(options.dataDir ?? process.env.CASSANDRA_DATA_DIR ?? join(repoRoot, '.data', 'cassandra'));
  const timeoutMs = options.startTimeoutMs ?? Number(process.env.CASSANDRA_START_TIMEOUT_MS || 180_000);
  const started = Date.now();
  mkdirSync(dataDir, { recursive: true });
  const pidFile = join(dataDir, 'cassandra.pid');

  const running = leftover(dataDir);
  if (running) {
    // Another launcher (e.g. `npm start`) still runs it: share it and leave it running. Otherwise it was
    // orphaned by a launcher that was killed: adopt it, and stop it when done.
    const owned = !running.launcherAlive;
    log(owned ? `adopting the Cassandra left running on this data folder (pid ${running.pid})` : `sharing the Cassandra another launcher runs (pid ${running.pid})`);
    const releaseVersion = await waitForCql(host, port, timeoutMs, () => (pidAlive(running.pid) ? undefined : `Cassandra (pid ${running.pid}) exited\n${logTail(dataDir)}`));
    if (owned) writeFileSync(pidFile, `${running.pid} ${process.pid}\n`);
    return { host, port, releaseVersion, metricsPort: options.metricsPort ?? Number(process.env.CASSANDRA_METRICS_PORT || 7070), owned, startMs: Date.now() - started, stop: owned ? () => stopPid(running.pid, undefined, log) : async () => undefined };
  }
  if (await portOpen(host, port)) {
    throw new Error(
      `port ${port} is already in use by another process. If it is a Cassandra you want to use, run with CASSANDRA_HOST=${host}; ` +
        'otherwise stop it or set CASSANDRA_PORT to a free port.',
    );
  }

  const lib = resolveJars(log);
  const exporter = resolveJmxExporter(log);
  const metricsPort = options.metricsPort ?? Number(process.env.CASSANDRA_METRICS_PORT || 7070);
  if (await portOpen(host, metricsPort)) throw new Error(`port ${metricsPort} (Cassandra's metrics) is in use; set CASSANDRA_METRICS_PORT to a free port`);
  const conf = writeConfig(dataDir, port, options.yaml);
  const jamm = readdirSync(lib).find((f) => /^jamm-.*\.jar$/.test(f));
  const heap = options.heap ?? process.env.CASSANDRA_HEAP ?? '1G';
  const args = [
    `-Xms${heap}`, `-Xmx${heap}`, '-Xss256k', '-XX:+UseG1GC', '-XX:+ParallelRefProcEnabled', '-XX:MaxGCPauseMillis=300',
    '-XX:+HeapDumpOnOutOfMemoryError', `-XX:HeapDumpPath=${dataDir}`,
    ...jvm17Flags,
    ...(jamm ? [`-javaagent:${join(lib, jamm)}`] : []),
    `-javaagent:${exporter}=${host}:${metricsPort}:${jmxExporterConfig}`,
    '-cp', `${conf}:${lib}/*`,
    `-Dcassandra.config=file://${join(conf, 'cassandra.yaml')}`,
    '-Dcassandra-foreground=yes',
    `-Dcassandra.storagedir=${dataDir}`,
    `-Dcassandra.logdir=${join(dataDir, 'logs')}`,
    `-Dlogback.configurationFile=${join(conf, 'logback.xml')}`,
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=100',
    `-Dcassandra.jmx.local.port=${options.jmxPort ?? (process.env.CASSANDRA_JMX_PORT || 7199)}`,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
  const stdoutFile = openSync(join(dataDir, 'logs', 'stdout.log'), 'w');
  // Its own process group: a Ctrl-C in the terminal reaches the launcher, which stops Cassandra last.
  const child = spawn(javaBinary(), args, { stdio: ['ignore', stdoutFile, stdoutFile], detached: true });
  closeSync(stdoutFile);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  await sleep(50);
  if (spawnError || !child.pid) throw new Error(`could not run Java (${javaBinary()}): ${spawnError?.message}. Install Java 17: apt-get install -y openjdk-17-jre-headless`);
  writeFileSync(pidFile, `${child.pid} ${process.pid}\n`);
  log(`starting Cassandra ${cassandraVersion} on ${host}:${port} (pid ${child.pid}, data in ${dataDir})`);

  const stop = () => stopPid(child.pid!, child, log);
  try {
    const releaseVersion = await waitForCql(host, port, timeoutMs, () =>
      child.exitCode !== null || child.signalCode !== null
        ? `Cassandra exited during start-up (code ${child.exitCode ?? child.signalCode})\n${logTail(dataDir)}`
        : undefined,
    );
    const startMs = Date.now() - started;
    log(`Cassandra ${releaseVersion} answers CQL on ${host}:${port} after ${(startMs / 1000).toFixed(1)} s`);
    return { host, port, releaseVersion, metricsPort, owned: true, startMs, stop };
  } catch (err) {
    await stop();
    const message = (err as Error).message;
    throw new Error(message.includes('--- last lines') ? message : `${message}\n${logTail(dataDir)}`);
  }
}
