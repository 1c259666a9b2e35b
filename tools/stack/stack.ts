/**
 * The local stack as plain processes, from the same configuration sources as compose and the
 * cluster: Cassandra, the four services (each as `serviceReplicas` processes, traced when an OTLP
 * endpoint is set), nginx rendered from the topology in front of the replicas, the nginx exporter,
 * Prometheus with the shared rules, and Alertmanager with the shared routing and Telegram template.
 * `npm start` and the end-to-end tests both use it.
 *
 * The replicas of a service share 127.0.0.1 on ports of their own (topology `replicasOf`); the
 * services reach each other through nginx's internal listeners (`localInternalPort`), so a call to
 * another service survives the restart of one of its replicas as a public request does.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { infrastructure, localInternalPort, replicasOf, serviceNodeFlags, serviceReplicas, services, type Replica, type ServiceName } from '@product-store/deploy';
import { renderNginx } from '../../gateway/nginx';
import { buildStorefront } from '../../storefront/build';
import { renderPrometheus, type ScrapeJob } from '../../monitoring/prometheus/config';
import { ensureCassandra, repoRoot, type CassandraHandle } from '../cassandra/launcher';
import { consoleSink, freePort, startProcess, waitForHttp, which, type LineSink, type ManagedProcess } from './processes';

export interface StackPorts {
  /** Each service's first replica (its own port by default: 8000 ... 8003). */
  services: Record<ServiceName, number>;
  /** Every replica of each service, the first one first. */
  replicas: Record<ServiceName, number[]>;
  /** nginx's listener for calls to each service from the others (without the gateway: none). */
  internal: Partial<Record<ServiceName, number>>;
  gateway: number;
  nginxStatus: number;
  nginxExporter: number;
  prometheus: number;
  alertmanager: number;
}

export interface StackOptions {
  /** Folder for rendered configuration, Prometheus and Alertmanager data, and nginx's files. */
  dataDir: string;
  /**
   * Ports; each one not given is the topology's. A service given one port (its first replica's) gets
   * free ports for its other replicas and its internal listener; a list gives every replica's.
   */
  ports?: Partial<Omit<StackPorts, 'services' | 'replicas' | 'internal'>> & {
    services?: Partial<Record<ServiceName, number | number[]>>;
    internal?: Partial<Record<ServiceName, number>>;
  };
  /**
   * Processes per service. @default serviceReplicas (topology) with the gateway, 1 with
   * `servicesOnly` (nothing would spread the requests over several).
   */
  replicas?: number;
  /** Environment of the services (the caller's variables plus any defaults). */
  env: NodeJS.ProcessEnv;
  sink?: LineSink;
  /** Skip the gateway and monitoring (services and Cassandra only). */
  servicesOnly?: boolean;
  /** Skip Prometheus, Alertmanager and the nginx exporter (Cassandra, the services and nginx only). */
  withoutMonitoring?: boolean;
  prometheus?: { scrapeInterval?: string; evaluationInterval?: string; ruleFiles?: string[] };
  /** Telegram Bot API base URL for Alertmanager (a local stand-in); with it, a placeholder token is used. */
  telegramApiUrl?: string;
  /** Rewrites the rendered Alertmanager configuration (tests shorten its waits). */
  alertmanagerConfig?: (config: string) => string;
  /**
   * Addresses nginx takes the client's address from X-Forwarded-For for (GatewayTarget.trustedProxies).
   * The browser tests trust 127.0.0.1, so that each browser context is a client of its own to the
   * gateway's rate limits.
   */
  trustedProxies?: readonly string[];
  /**
   * Cassandra nodes when the stack starts its own (ensureCassandra): 3 runs a cluster on 127.0.0.1-3,
   * and the services then create their keyspace with replication factor 3 (unless
   * CASSANDRA_REPLICATION_FACTOR says otherwise). @default CASSANDRA_NODES or 1
   */
  cassandraNodes?: number;
  /** A Cassandra (or cluster) the caller runs: used instead of starting one, and left running by stop(). */
  cassandra?: CassandraHandle;
  /** Called when a process ends that nobody asked to stop. */
  onUnexpectedExit?: (name: string, code: number | null) => void;
}

export interface Missing {
  component: string;
  install: string;
}

export interface RunningStack {
  cassandra: CassandraHandle;
  ports: StackPorts;
  missing: Missing[];
  /** A service's own URL is its first replica's. */
  url(component: ServiceName | 'gateway' | 'prometheus' | 'alertmanager'): string;
  /** The replicas of each service, with the ports this stack gave them. */
  replicas(name: ServiceName): Array<Replica & { port: number; url: string }>;
  /** Stops every replica of a service (the service is down), and starts them again. */
  stopService(name: ServiceName): Promise<void>;
  startService(name: ServiceName): Promise<void>;
  /** One replica, by its name (`backend`, `backend-2`): SIGTERM and wait for its exit; start and wait until ready. */
  stopReplica(name: string): Promise<void>;
  startReplica(name: string): Promise<void>;
  /** The process of a running replica. */
  process(name: string): ManagedProcess | undefined;
  stop(): Promise<void>;
}

const binaries = {
  nginx: { program: 'nginx', install: 'apt-get install -y nginx' },
  nginxExporter: { program: 'prometheus-nginx-exporter', install: 'apt-get install -y prometheus-nginx-exporter' },
  prometheus: { program: 'prometheus', install: 'apt-get install -y prometheus' },
  alertmanager: { program: 'prometheus-alertmanager', install: 'apt-get install -y prometheus-alertmanager' },
} as const;

export const defaultRuleFiles = () => [join(repoRoot, 'monitoring', 'prometheus', 'rules', 'product-store.rules.yml')];

/** The development placeholder for Alertmanager's Telegram receiver when no real bot is configured. */
const placeholderTelegram = { TELEGRAM_BOT_TOKEN: '1234567890:local-stack-placeholder-token', TELEGRAM_CHAT_ID: '-1001234567890' };

/** Free ports for every part of a stack (tests run a stack of their own beside `npm start`'s). */
export async function freeStackPorts(): Promise<NonNullable<StackOptions['ports']>> {
  return {
    services: Object.fromEntries(await Promise.all(services.map(async (s) => [s.name, await freePort()]))) as Record<ServiceName, number>,
    gateway: await freePort(),
    nginxStatus: await freePort(),
    nginxExporter: await freePort(),
    prometheus: await freePort(),
    alertmanager: await freePort(),
  };
}

export async function startLocalStack(options: StackOptions): Promise<RunningStack> {
  const sink = options.sink ?? consoleSink;
  const dataDir = options.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const withGateway = !options.servicesOnly;
  const replicaCount = options.replicas ?? (withGateway ? serviceReplicas : 1);
  if (replicaCount > 1 && !withGateway) throw new Error('several replicas of a service need the gateway in front of them');
  const replicaPorts = {} as Record<ServiceName, number[]>;
  const internalPorts: Partial<Record<ServiceName, number>> = {};
  for (const s of services) {
    const given = options.ports?.services?.[s.name];
    const placed = given !== undefined;
    const list = Array.isArray(given) ? [...given] : placed ? [given as number] : [];
    for (const r of replicasOf(s.name, replicaCount).slice(list.length)) list.push(placed ? await freePort() : r.localPort);
    replicaPorts[s.name] = list.slice(0, replicaCount);
    if (withGateway) internalPorts[s.name] = options.ports?.internal?.[s.name] ?? (placed ? await freePort() : localInternalPort(s.name));
  }
  const ports: StackPorts = {
    services: Object.fromEntries(services.map((s) => [s.name, replicaPorts[s.name][0]])) as Record<ServiceName, number>,
    replicas: replicaPorts,
    internal: internalPorts,
    gateway: options.ports?.gateway ?? infrastructure.nginx.localPort,
    nginxStatus: options.ports?.nginxStatus ?? infrastructure.nginx.statusPort,
    nginxExporter: options.ports?.nginxExporter ?? infrastructure.nginxExporter.port,
    prometheus: options.ports?.prometheus ?? infrastructure.prometheus.port,
    alertmanager: options.ports?.alertmanager ?? infrastructure.alertmanager.port,
  };
  const processes = new Map<string, ManagedProcess>();
  const stopping = new Set<string>();
  const track = (proc: ManagedProcess) => {
    processes.set(proc.name, proc);
    stopping.delete(proc.name);
    void proc.exited.then((code) => {
      if (!stopping.has(proc.name)) options.onUnexpectedExit?.(proc.name, code);
    });
    return proc;
  };
  const stopProcess = async (name: string) => {
    stopping.add(name);
    await processes.get(name)?.stop();
  };
  const missing: Missing[] = [];
  let cassandra: CassandraHandle | undefined;

  const replicaList = (name: ServiceName) => replicasOf(name, replicaCount).map((r, i) => ({ ...r, port: replicaPorts[name][i], url: `http://127.0.0.1:${replicaPorts[name][i]}` }));
  const replicaNamed = (name: string) => {
    const found = services.flatMap((s) => replicaList(s.name)).find((r) => r.name === name);
    if (!found) throw new Error(`no replica ${name} in this stack`);
    return found;
  };
  const allReplicas = () => services.flatMap((s) => replicaList(s.name));

  const stop = async () => {
    for (const name of ['alertmanager', 'prometheus', 'nginx-exporter', 'nginx']) await stopProcess(name);
    await Promise.all(allReplicas().map((r) => stopProcess(r.name)));
    if (!options.cassandra) await cassandra?.stop();
  };

  const clusterSize = () => cassandra!.contactPoints.split(',').length;
  /** Where a service reaches another: nginx's internal listener, or the only replica without a gateway. */
  const reach = (name: ServiceName) => `http://127.0.0.1:${internalPorts[name] ?? replicaPorts[name][0]}`;
  const serviceEnv = (replica: Replica & { port: number }): NodeJS.ProcessEnv => ({
    // On a cluster, every node holds every row unless the caller says otherwise.
    ...(clusterSize() > 1 ? { CASSANDRA_REPLICATION_FACTOR: String(Math.min(3, clusterSize())) } : {}),
    ...options.env,
    // Every node is a contact point: the services reach the cluster while any of them is up.
    CASSANDRA_HOST: cassandra!.contactPoints,
    CASSANDRA_PORT: String(cassandra!.port),
    PORT: String(replica.port),
    HOST: '127.0.0.1',
    OTEL_SERVICE_NAME: replica.service,
    BACKEND_URL: reach('backend'),
    CART_SERVICE_URL: reach('cart-service'),
  });
  const startReplica = async (name: string) => {
    const replica = replicaNamed(name);
    const spec = services.find((s) => s.name === replica.service)!;
    const main = join(repoRoot, 'services', spec.dir, 'src', 'main.ts');
    const instrumentation = join(repoRoot, 'services', 'kit', 'src', 'instrumentation.ts');
    const proc = startProcess(replica.name, process.execPath, [...serviceNodeFlags, '--require', 'tsx/cjs', '--require', instrumentation, main], { cwd: repoRoot, env: serviceEnv(replica), sink });
    track(proc);
    // Two minutes: on a loaded 2-core machine a test's stack starts eight service processes at once
    // (each compiles its TypeScript and runs its migrations) beside another test's stack.
    await waitForHttp(proc, `${replica.url}/ready`, 120_000);
  };
  const startService = async (name: ServiceName) => {
    await Promise.all(replicaList(name).map((r) => startReplica(r.name)));
  };

  try {
    cassandra = options.cassandra ?? (await ensureCassandra({ nodes: options.cassandraNodes, log: (line) => sink('cassandra', line) }));
    // The first replicas first: they run the migrations, which the others then find done.
    await Promise.all(services.map((s) => startReplica(s.name)));
    await Promise.all(allReplicas().filter((r) => r.index > 1).map((r) => startReplica(r.name)));
    if (withGateway) {
      await startGateway();
      if (!options.withoutMonitoring) await startMonitoring();
    }
  } catch (err) {
    await stop();
    throw err;
  }

  async function startGateway() {
    if (!which(binaries.nginx.program)) {
      missing.push({ component: 'nginx', install: binaries.nginx.install });
      return;
    }
    const dir = join(dataDir, 'nginx');
    mkdirSync(join(dir, 'temp'), { recursive: true });
    const config = join(dir, 'nginx.conf');
    writeFileSync(
      config,
      renderNginx({
        listen: ports.gateway,
        statusListen: `127.0.0.1:${ports.nginxStatus}`,
        upstream: (name) => replicaPorts[name].map((port) => `127.0.0.1:${port}`),
        internalListen: (name) => `127.0.0.1:${internalPorts[name]}`,
        accessLog: join(dir, 'access.log'),
        errorLog: 'stderr',
        pidFile: join(dir, 'nginx.pid'),
        tempDir: join(dir, 'temp'),
        // The storefront at `/`, built now if its sources changed since the last build.
        storefront: buildStorefront().dir,
        trustedProxies: options.trustedProxies,
      }),
    );
    const nginx = startProcess('nginx', binaries.nginx.program, ['-c', config, '-p', dir, '-g', 'daemon off;'], { sink });
    track(nginx);
    await waitForHttp(nginx, `http://127.0.0.1:${ports.gateway}/health`);

    if (!which(binaries.nginxExporter.program)) {
      missing.push({ component: 'nginx exporter', install: binaries.nginxExporter.install });
      return;
    }
    const exporter = startProcess(
      'nginx-exporter',
      binaries.nginxExporter.program,
      [`-nginx.scrape-uri=http://127.0.0.1:${ports.nginxStatus}/stub_status`, `-web.listen-address=127.0.0.1:${ports.nginxExporter}`],
      { sink },
    );
    track(exporter);
    await waitForHttp(exporter, `http://127.0.0.1:${ports.nginxExporter}/metrics`);
  }

  async function startMonitoring() {
    if (which(binaries.alertmanager.program)) {
      const dir = join(dataDir, 'alertmanager');
      mkdirSync(join(dir, 'data'), { recursive: true });
      const rendered = join(dir, 'alertmanager.yml');
      const telegram = options.telegramApiUrl || !options.env.TELEGRAM_BOT_TOKEN
        ? { ...placeholderTelegram, TELEGRAM_API_URL: options.telegramApiUrl ?? 'https://api.telegram.org' }
        : { TELEGRAM_BOT_TOKEN: options.env.TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID: options.env.TELEGRAM_CHAT_ID, TELEGRAM_API_URL: options.env.TELEGRAM_API_URL };
      const render = spawnSync('sh', [join(repoRoot, 'monitoring', 'alertmanager', 'render.sh'), join(repoRoot, 'monitoring', 'alertmanager', 'alertmanager.yml'), rendered], {
        env: { ...process.env, ...telegram },
        encoding: 'utf8',
      });
      if (render.status !== 0) throw new Error(`rendering the Alertmanager configuration failed: ${render.stderr}`);
      if (options.alertmanagerConfig) writeFileSync(rendered, options.alertmanagerConfig(readFileSync(rendered, 'utf8')));
      const alertmanager = startProcess(
        'alertmanager',
        binaries.alertmanager.program,
        [`--config.file=${rendered}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${ports.alertmanager}`, '--cluster.listen-address=', '--log.level=warn'],
        { sink },
      );
      track(alertmanager);
      await waitForHttp(alertmanager, `http://127.0.0.1:${ports.alertmanager}/-/ready`);
    } else missing.push({ component: 'Alertmanager', install: binaries.alertmanager.install });

    if (!which(binaries.prometheus.program)) {
      missing.push({ component: 'Prometheus', install: binaries.prometheus.install });
      return;
    }
    const dir = join(dataDir, 'prometheus');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const rules = join(dir, 'rules');
    mkdirSync(rules, { recursive: true });
    const ruleFiles = options.prometheus?.ruleFiles ?? defaultRuleFiles();
    for (const file of ruleFiles) cpSync(file, join(rules, file.split('/').pop()!));
    // Every replica of a service is a target of its job: counters of two processes never mix.
    const addresses: Record<ScrapeJob, string[]> = {
      ...(Object.fromEntries(services.map((s) => [s.name, ports.replicas[s.name].map((port) => `127.0.0.1:${port}`)])) as Record<ServiceName, string[]>),
      nginx: [`127.0.0.1:${ports.nginxExporter}`],
      // A cluster's nodes: node N's exporter on its own address and the first node's port + N - 1.
      cassandra: cassandra!.contactPoints.split(',').map((host, i) => `${host}:${(cassandra!.metricsPort ?? infrastructure.cassandra.metricsPort) + i}`),
      prometheus: [`127.0.0.1:${ports.prometheus}`],
      alertmanager: [`127.0.0.1:${ports.alertmanager}`],
    };
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      renderPrometheus({
        environment: 'local',
        scrapeInterval: options.prometheus?.scrapeInterval ?? '15s',
        evaluationInterval: options.prometheus?.evaluationInterval ?? '15s',
        scrape: (job) => ({ addresses: addresses[job] }),
        alertmanager: `127.0.0.1:${ports.alertmanager}`,
        ruleFiles: [join(rules, '*.yml')],
      }),
    );
    const prometheus = startProcess(
      'prometheus',
      binaries.prometheus.program,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${ports.prometheus}`, '--web.enable-lifecycle', '--log.level=warn'],
      { sink },
    );
    track(prometheus);
    await waitForHttp(prometheus, `http://127.0.0.1:${ports.prometheus}/-/ready`);
  }

  const urls: Record<string, string> = {
    gateway: `http://127.0.0.1:${ports.gateway}`,
    prometheus: `http://127.0.0.1:${ports.prometheus}`,
    alertmanager: `http://127.0.0.1:${ports.alertmanager}`,
  };
  return {
    cassandra,
    ports,
    missing,
    url: (component) => urls[component] ?? `http://127.0.0.1:${ports.services[component as ServiceName]}`,
    replicas: replicaList,
    stopService: async (name) => {
      await Promise.all(replicaList(name).map((r) => stopProcess(r.name)));
    },
    startService,
    stopReplica: (name) => stopProcess(replicaNamed(name).name),
    startReplica,
    process: (name) => {
      const proc = processes.get(name);
      return proc && !proc.done() ? proc : undefined;
    },
    stop,
  };
}
