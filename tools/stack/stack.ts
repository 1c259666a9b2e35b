/**
 * The local stack as plain processes, from the same configuration sources as compose and the
 * cluster: Cassandra, the four services (traced when an OTLP endpoint is set), nginx rendered from
 * the topology, the nginx exporter, Prometheus with the shared rules, and Alertmanager with the
 * shared routing and Telegram template. `npm start` and the end-to-end tests both use it.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { infrastructure, services, type ServiceName } from '../../services/kit/src/topology';
import { renderNginx } from '../../gateway/nginx';
import { renderPrometheus, type ScrapeJob } from '../../monitoring/prometheus/config';
import { ensureCassandra, repoRoot, type CassandraHandle } from '../cassandra/launcher';
import { consoleSink, startProcess, waitForHttp, which, type LineSink, type ManagedProcess } from './processes';

export interface StackPorts {
  services: Record<ServiceName, number>;
  gateway: number;
  nginxStatus: number;
  nginxExporter: number;
  prometheus: number;
  alertmanager: number;
}

export interface StackOptions {
  /** Folder for rendered configuration, Prometheus and Alertmanager data, and nginx's files. */
  dataDir: string;
  ports?: Partial<Omit<StackPorts, 'services'>> & { services?: Partial<Record<ServiceName, number>> };
  /** Environment of the services (the caller's variables plus any defaults). */
  env: NodeJS.ProcessEnv;
  sink?: LineSink;
  /** Skip the gateway and monitoring (services and Cassandra only). */
  servicesOnly?: boolean;
  prometheus?: { scrapeInterval?: string; evaluationInterval?: string; ruleFiles?: string[] };
  /** Telegram Bot API base URL for Alertmanager (a local stand-in); with it, a placeholder token is used. */
  telegramApiUrl?: string;
  /** Rewrites the rendered Alertmanager configuration (tests shorten its waits). */
  alertmanagerConfig?: (config: string) => string;
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
  url(component: ServiceName | 'gateway' | 'prometheus' | 'alertmanager'): string;
  stopService(name: ServiceName): Promise<void>;
  startService(name: ServiceName): Promise<void>;
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

export async function startLocalStack(options: StackOptions): Promise<RunningStack> {
  const sink = options.sink ?? consoleSink;
  const dataDir = options.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const ports: StackPorts = {
    services: Object.fromEntries(services.map((s) => [s.name, options.ports?.services?.[s.name] ?? s.port])) as Record<ServiceName, number>,
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

  const stop = async () => {
    for (const name of ['alertmanager', 'prometheus', 'nginx-exporter', 'nginx']) await stopProcess(name);
    await Promise.all(services.map((s) => stopProcess(s.name)));
    await cassandra?.stop();
  };

  const serviceEnv = (name: ServiceName): NodeJS.ProcessEnv => ({
    ...options.env,
    CASSANDRA_HOST: cassandra!.host,
    CASSANDRA_PORT: String(cassandra!.port),
    PORT: String(ports.services[name]),
    HOST: '127.0.0.1',
    OTEL_SERVICE_NAME: name,
    BACKEND_URL: `http://127.0.0.1:${ports.services.backend}`,
    CART_SERVICE_URL: `http://127.0.0.1:${ports.services['cart-service']}`,
  });
  const startService = async (name: ServiceName) => {
    const spec = services.find((s) => s.name === name)!;
    const main = join(repoRoot, 'services', spec.dir, 'src', 'main.ts');
    const instrumentation = join(repoRoot, 'services', 'kit', 'src', 'instrumentation.ts');
    const proc = startProcess(name, process.execPath, ['--require', 'tsx/cjs', '--require', instrumentation, main], { cwd: repoRoot, env: serviceEnv(name), sink });
    track(proc);
    await waitForHttp(proc, `http://127.0.0.1:${ports.services[name]}/ready`);
  };

  try {
    cassandra = await ensureCassandra({ log: (line) => sink('cassandra', line) });
    await Promise.all(services.map((s) => startService(s.name)));
    if (!options.servicesOnly) {
      await startGateway();
      await startMonitoring();
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
        upstream: (name) => `127.0.0.1:${ports.services[name]}`,
        accessLog: join(dir, 'access.log'),
        errorLog: 'stderr',
        pidFile: join(dir, 'nginx.pid'),
        tempDir: join(dir, 'temp'),
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
    const addresses: Record<ScrapeJob, string> = {
      ...(Object.fromEntries(services.map((s) => [s.name, `127.0.0.1:${ports.services[s.name]}`])) as Record<ServiceName, string>),
      nginx: `127.0.0.1:${ports.nginxExporter}`,
      cassandra: `${cassandra!.host}:${cassandra!.metricsPort ?? infrastructure.cassandra.metricsPort}`,
      prometheus: `127.0.0.1:${ports.prometheus}`,
      alertmanager: `127.0.0.1:${ports.alertmanager}`,
    };
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      renderPrometheus({
        environment: 'local',
        scrapeInterval: options.prometheus?.scrapeInterval ?? '15s',
        evaluationInterval: options.prometheus?.evaluationInterval ?? '15s',
        scrape: (job) => ({ address: addresses[job] }),
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
    stopService: (name) => stopProcess(name),
    startService,
    stop,
  };
}
