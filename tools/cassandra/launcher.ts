/**
 * Runs a real single-node Apache Cassandra as a child process, from the server jars on Maven Central.
 *
 * The jars are resolved once by Maven (pom.xml beside this file) into a cache outside the repo; the
 * node's configuration, data and logs live in a folder the launcher owns. When CASSANDRA_HOST names an
 * existing Cassandra, nothing is started and that one is used.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Client } from 'cassandra-driver';
import { durabilityFrom } from './durability';

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
   * The node's own address (listen_address and rpc_address; its JMX exporter listens there too), and
   * the seed it joins. A cluster on one machine gives each node a loopback address of its own
   * (127.0.0.N: all of 127/8 is loopback on Linux). @default 127.0.0.1, its own address as the seed
   */
  address?: string;
  seed?: string;
  /**
   * How long a starting node listens to gossip before it acts on the ring. Short by default (a lone
   * node, or an empty cluster's nodes); a node that bootstraps needs to have heard from its seed first,
   * else it stops with "Unable to contact any seeds". @default 100 ms
   */
  ringDelayMs?: number;
  /**
   * Top-level scalar settings of cassandra.yaml that replace the launcher's values or add to them,
   * e.g. `{ tombstone_failure_threshold: 100 }`. Cassandra 5.0 key names only (it rejects unknown keys).
   */
  yaml?: Record<string, string | number | boolean>;
  /**
   * Nodes of the project's own Cassandra (ensureCassandra): more than one starts a cluster on
   * 127.0.0.1 ... 127.0.0.N (startCassandraCluster). @default CASSANDRA_NODES or 1
   */
  nodes?: number;
  /** How long to wait for CQL to answer. @default 180 s */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface CassandraHandle {
  /** The (first) node's address. */
  host: string;
  /** Every node's address, comma-separated, as CASSANDRA_HOST takes them (one node: `host`). */
  contactPoints: string;
  port: number;
  /** Version reported by the node itself. */
  releaseVersion: string;
  /** Where its Prometheus metrics are (the JMX exporter), when known. */
  metricsPort?: number;
  /** True when this launcher started (or adopted) the process and stop() ends it. */
  owned: boolean;
  /**
   * How this launcher got it: started it; adopted one an earlier launcher left running (stop() ends
   * it); shared one another running launcher owns; or the external one CASSANDRA_HOST names.
   */
  origin: 'started' | 'adopted' | 'shared' | 'external';
  /** How long ensureCassandra took: a start-up time only when `origin` is `started`. */
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
    // CASSANDRA_HOST may list several nodes (the services' contact points): the first one answers here.
    const host = external.split(',')[0].trim();
    log(`using the existing Cassandra at ${external}:${port} (CASSANDRA_HOST)`);
    const releaseVersion = await waitForCql(host, port, options.startTimeoutMs ?? 60_000, () => undefined);
    // Its JMX exporter, where CASSANDRA_METRICS_PORT says (the launcher's default otherwise).
    const metricsPort = options.metricsPort ?? Number(process.env.CASSANDRA_METRICS_PORT || 7070);
    return { host, contactPoints: external, port, releaseVersion, metricsPort, owned: false, origin: 'external', startMs: Date.now() - started, stop: async () => undefined };
  }
  const nodes = options.nodes ?? Number(process.env.CASSANDRA_NODES || 1);
  if (nodes > 1) return startCassandraCluster({ ...options, nodes, port, log });
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

export function javaBinary(): string {
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
export function nodetoolCommand(args: string[], jmxPort: number | string = process.env.CASSANDRA_JMX_PORT || 7199): { command: string; args: string[] } {
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
      // Every node's JMX listens on 127.0.0.1 (a local JMX port), each on a port of its own.
      '-p', String(jmxPort),
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

/**
 * The node's cassandra.yaml. The commit log sync is the deployments' (durability.ts, from
 * CASSANDRA_COMMITLOG_SYNC and the deployment spec's defaults); `overrides` come last.
 */
export function renderConfig(
  dataDir: string,
  port: number,
  overrides?: Record<string, string | number | boolean>,
  env: Readonly<Record<string, string | undefined>> = process.env,
  node: { address: string; seed: string } = { address: '127.0.0.1', seed: '127.0.0.1' },
): string {
  const commitlog = Object.entries(durabilityFrom(env).yaml).map(([key, value]) => `${key}: ${value}`).join('\n');
  const yaml = `# Written by tools/cassandra/launcher.ts: a node of a development and test cluster.
cluster_name: product-store-local
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "${node.seed}:${port + 10}"
listen_address: ${node.address}
storage_port: ${port + 10}
rpc_address: ${node.address}
native_transport_port: ${port}
start_native_transport: true
data_file_directories:
  - ${join(dataDir, 'data')}
commitlog_directory: ${join(dataDir, 'commitlog')}
saved_caches_directory: ${join(dataDir, 'saved_caches')}
hints_directory: ${join(dataDir, 'hints')}
cdc_raw_directory: ${join(dataDir, 'cdc_raw')}
${commitlog}
auto_snapshot: false
disk_access_mode: standard
concurrent_compactors: 1
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
`;
  return mergeYaml(yaml, overrides);
}

function writeConfig(dataDir: string, port: number, overrides: Record<string, string | number | boolean> | undefined, node: { address: string; seed: string }): string {
  const conf = join(dataDir, 'conf');
  mkdirSync(conf, { recursive: true });
  const dirs = ['data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw', 'logs'].map((d) => join(dataDir, d));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  writeFileSync(join(conf, 'cassandra.yaml'), renderConfig(dataDir, port, overrides, process.env, node));
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
      const all = readFileSync(file, 'utf8').trimEnd().split('\n');
      const text = all.slice(-lines).join('\n');
      // Why it stopped is often an ERROR followed by many lines of a clean shutdown.
      const errors = all.flatMap((l, i) => (l.startsWith('ERROR') ? all.slice(i, i + 3) : [])).slice(-9);
      if (text) return `${errors.length ? `--- last errors in ${file} ---\n${errors.join('\n')}\n` : ''}--- last lines of ${file} ---\n${text}`;
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
    // Without a child of ours (an adopted node) there is nothing to race: a bare race would resolve at
    // once and spin without ever yielding to signals or timers.
    await (exited ? Promise.race([exited, sleep(200)]) : sleep(200));
  }
  log('Cassandra did not stop within 30 s; killing it');
  process.kill(pid, 'SIGKILL');
}

async function startLocalCassandra(options: CassandraOptions & { port: number; log: (line: string) => void }): Promise<CassandraHandle> {
  const { port, log } = options;
  const host = options.address ?? '127.0.0.1';
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
    return { host, contactPoints: host, port, releaseVersion, metricsPort: options.metricsPort ?? Number(process.env.CASSANDRA_METRICS_PORT || 7070), owned, origin: owned ? 'adopted' : 'shared', startMs: Date.now() - started, stop: owned ? () => stopPid(running.pid, undefined, log) : async () => undefined };
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
  const conf = writeConfig(dataDir, port, options.yaml, { address: host, seed: options.seed ?? host });
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
    `-Dcassandra.ring_delay_ms=${options.ringDelayMs ?? 100}`,
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
  log(`starting Cassandra ${cassandraVersion} on ${host}:${port} (pid ${child.pid}, data in ${dataDir}; commit log sync ${durabilityFrom().describe})`);

  const stop = () => stopPid(child.pid!, child, log);
  try {
    const releaseVersion = await waitForCql(host, port, timeoutMs, () =>
      child.exitCode !== null || child.signalCode !== null
        ? `Cassandra exited during start-up (code ${child.exitCode ?? child.signalCode})\n${logTail(dataDir)}`
        : undefined,
    );
    const startMs = Date.now() - started;
    log(`Cassandra ${releaseVersion} answers CQL on ${host}:${port} after ${(startMs / 1000).toFixed(1)} s`);
    return { host, contactPoints: host, port, releaseVersion, metricsPort, owned: true, origin: 'started', startMs, stop };
  } catch (err) {
    await stop();
    const message = (err as Error).message;
    throw new Error(message.includes('--- last lines') ? message : `${message}\n${logTail(dataDir)}`);
  }
}

/** A node of a cluster on this machine (startCassandraCluster). */
export interface ClusterNode {
  /** 1 ... N; node 1 is the seed. */
  index: number;
  /** 127.0.0.N: its listen, rpc (CQL, on the cluster's one port) and metrics address. */
  address: string;
  dataDir: string;
  /** Its local JMX port, on 127.0.0.1 (nodetool). */
  jmxPort: number;
  /** Its JMX exporter's port, on `address`. */
  metricsPort: number;
  /** The pid of its JVM while it runs. */
  pid(): number | undefined;
  running(): boolean;
  /**
   * Starts it (again) and waits until it answers CQL. `bootstrap`: a node joining a cluster that
   * already holds data streams its ranges first (auto_bootstrap, what a new StatefulSet pod does);
   * without it a fresh node joins at once, fine for an empty cluster started together. A node with data
   * of its own (restarted) rejoins either way.
   */
  start(options?: { bootstrap?: boolean }): Promise<void>;
  /** Stops it cleanly (SIGTERM, drained by Cassandra). */
  stop(): Promise<void>;
  /** Kills its JVM (SIGKILL, by pid) and waits until it is gone: a crash. */
  kill(): Promise<void>;
  /**
   * Runs nodetool against it; the output is stdout and stderr together. Asynchronous: nodetool is a
   * JVM that takes seconds to start on a busy machine, and a test that waits for it synchronously
   * stops its own load generator meanwhile (its timers fire late and its answers are read late).
   */
  nodetool(args: string[], timeoutMs?: number): Promise<{ status: number; output: string }>;
}

export interface CassandraCluster extends CassandraHandle {
  nodes: ClusterNode[];
}

export interface ClusterOptions extends Omit<CassandraOptions, 'dataDir' | 'address' | 'seed' | 'nodes'> {
  nodes: number;
  /** Holds node1/ ... nodeN/. @default CASSANDRA_DATA_DIR or <repo>/.data/cassandra-cluster */
  baseDir?: string;
  /** How many of the nodes to start now (the others wait for `start()`). @default nodes */
  startNodes?: number;
}

/** The address of node `index` (1-based): 127.0.0.N, all loopback on Linux without any setup. */
export const nodeAddress = (index: number) => `127.0.0.${index}`;

/** Evenly spread tokens (num_tokens 1 each): node i of n gets -2^63 + i * 2^64 / n. */
export function clusterTokens(nodes: number): string[] {
  return Array.from({ length: nodes }, (_, i) => (-(2n ** 63n) + (BigInt(i) * 2n ** 64n) / BigInt(nodes)).toString());
}

/** `nodetool status`'s node lines: state (UN, DN, UJ, ...) and address. */
export function parseNodetoolStatus(output: string): Array<{ state: string; address: string }> {
  return output
    .split('\n')
    .map((line) => /^([UD][NLJM])\s+(\d+\.\d+\.\d+\.\d+)\s/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ state: m[1], address: m[2] }));
}

/**
 * A cluster of `nodes` Cassandra nodes on this machine, one JVM each: node N on 127.0.0.N with its own
 * data folder (<baseDir>/nodeN), the same CQL and storage ports on every address, and its own JMX and
 * JMX-exporter ports (the given ones + N - 1). One data centre (`datacenter1`, SimpleSnitch), node 1
 * the seed, tokens spread evenly. The seed starts first; the others then start together, without
 * bootstrap (an empty cluster). Nodes left running by an earlier launcher are adopted or shared, as a
 * single node is. Heaps are small (CASSANDRA_HEAP, default 768M): three JVMs share this machine.
 */
export async function startCassandraCluster(options: ClusterOptions): Promise<CassandraCluster> {
  const log = options.log ?? defaultLog;
  const port = options.port ?? Number(process.env.CASSANDRA_PORT || 9042);
  const baseDir = resolve(options.baseDir ?? process.env.CASSANDRA_DATA_DIR ?? join(repoRoot, '.data', 'cassandra-cluster'));
  const jmxBase = options.jmxPort ?? Number(process.env.CASSANDRA_JMX_PORT || 7199);
  const metricsBase = options.metricsPort ?? Number(process.env.CASSANDRA_METRICS_PORT || 7070);
  const heap = options.heap ?? process.env.CASSANDRA_HEAP ?? '768M';
  const tokens = clusterTokens(options.nodes);
  const started = Date.now();
  const handles = new Map<number, CassandraHandle>();

  const nodes: ClusterNode[] = tokens.map((token, i) => {
    const index = i + 1;
    const address = nodeAddress(index);
    const dataDir = join(baseDir, `node${index}`);
    const jmxPort = jmxBase + i;
    const metricsPort = metricsBase + i;
    const pid = () => leftover(dataDir)?.pid;
    const node: ClusterNode = {
      index,
      address,
      dataDir,
      jmxPort,
      metricsPort,
      pid,
      running: () => pid() !== undefined,
      async start(startOptions = {}) {
        const handle = await startLocalCassandra({
          ...options,
          port,
          log: (line) => log(`node${index}: ${line}`),
          dataDir,
          address,
          seed: nodeAddress(1),
          heap,
          jmxPort,
          metricsPort,
          yaml: { initial_token: token, auto_bootstrap: index > 1 && Boolean(startOptions.bootstrap), ...options.yaml },
          ...(startOptions.bootstrap ? { ringDelayMs: 5000 } : {}),
        });
        handles.set(index, handle);
      },
      async stop() {
        await handles.get(index)?.stop();
        handles.delete(index);
      },
      async kill() {
        const victim = pid();
        if (victim === undefined) return;
        process.kill(victim, 'SIGKILL');
        while (pidAlive(victim)) await sleep(50);
        handles.delete(index);
      },
      nodetool(args, timeoutMs = 120_000) {
        const { command, args: argv } = nodetoolCommand(args, jmxPort);
        return new Promise((resolve) => {
          execFile(command, argv, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = (err as { code?: unknown } | null)?.code;
            resolve({ status: err ? (typeof code === 'number' ? code : 1) : 0, output: `${stdout ?? ''}${stderr ?? ''}` });
          });
        });
      },
    };
    return node;
  });

  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  const count = options.startNodes ?? options.nodes;
  try {
    await nodes[0].start();
    // Empty nodes join together: none streams anything, so none waits for another.
    await Promise.all(nodes.slice(1, count).map((n) => n.start()));
  } catch (err) {
    await stop();
    throw err;
  }
  const first = handles.get(1)!;
  const startMs = Date.now() - started;
  const origins = [...handles.values()].map((h) => h.origin);
  log(`${count} of ${options.nodes} nodes answer CQL after ${(startMs / 1000).toFixed(1)} s (${nodes.slice(0, count).map((n) => n.address).join(', ')} port ${port})`);
  return {
    host: first.host,
    contactPoints: nodes.map((n) => n.address).join(','),
    port,
    releaseVersion: first.releaseVersion,
    metricsPort: metricsBase,
    owned: [...handles.values()].some((h) => h.owned),
    origin: origins.every((o) => o === origins[0]) ? origins[0] : 'adopted',
    startMs,
    stop,
    nodes,
  };
}
