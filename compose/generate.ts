/**
 * The single-host production deployment: renders compose/docker-compose.yml and compose/.env.example
 * from the deployment spec (deploy/, `@product-store/deploy`), which the Kubernetes charts read too.
 *
 *   node --import tsx compose/generate.ts
 *
 * Both outputs are committed; tools/compose/test/compose.test.ts fails when they drift from this
 * renderer. What only compose needs (which HTTP client each image has for its healthcheck, start-up
 * order, what is published on the host, networks) is decided here, per component; a component of
 * the spec without a decision here stops the renderer.
 */
import { writeFileSync } from 'node:fs';
import { basename, join, posix, relative, resolve } from 'node:path';
import { Document, isMap, isScalar, isSeq, visit, type Pair, type Scalar } from 'yaml';
import { cassandraPasswordKey, component, components, configDefaults, defaultText, fixedSettings, kitSettings, optionalSecretKeys, secretKeys, serviceSettings, type Setting, type Settings, type Component, type EnvSource, type Probe, gatewayLimits, images, infrastructure, internalCallers, internalTokenVariable, replicaByName, replicasOf, serviceRole, services as serviceSpecs, type Replica } from '@product-store/deploy';
import { composeTarget, trustedProxiesFile } from '../gateway/nginx';

const composeDir = __dirname;
const repoRoot = resolve(composeDir, '..');

/** The file operators copy .env.example to and pass with --env-file. */
export const envFileName = '.env.production';
/** Compose file format 2.4: what docker-compose 1.29 and Compose v2 both read (see compose/README.md). */
const fileFormat = '2.4';

// --- interpolation ------------------------------------------------------------------------------

/** An operator setting: `${NAME:-default}`. */
const setting = (name: string, fallback: string) => `\${${name}:-${fallback}}`;
/** A secret: compose refuses to run without it. */
const required = (name: string) => `\${${name}:?${name} must be set in ${envFileName}}`;
/** A fixed value, with `$` escaped from interpolation. */
const literal = (value: string) => value.replace(/\$/g, '$$$$');

function environmentValue(source: EnvSource): string {
  if ('secret' in source) return source.optional ? setting(source.secret, '') : required(source.secret);
  if ('config' in source) return setting(source.config, literal(source.default));
  return literal(source.value);
}

// --- what only compose decides ------------------------------------------------------------------

/** The nginx configurations next to this file: NGINX_CONF picks one (nginx-tls.conf turns TLS on). */
const nginxConfig = component('nginx').configFiles[0];
const trustedProxiesScript = component('nginx').configFiles.find((f) => f.source === 'gateway/trusted-proxies.sh')!;
/**
 * The folder of nginx configurations is mounted whole (not the one file): a `git checkout` replaces a
 * file with a new one (a new inode), which a single-file bind mount never shows, so `nginx -s reload`
 * would reread the old configuration for good. A folder mount shows the checkout's current files.
 */
const nginxConfigDir = posix.dirname(nginxConfig.mountPath);
/** The file nginx starts with (-c), picked by NGINX_CONF in the mounted folder; the includes are absolute paths. */
const nginxConfigPath = `${nginxConfigDir}/${setting('NGINX_CONF', basename(nginxConfig.source))}`;
const tlsTarget = composeTarget({ tls: true });
/** Where nginx reads certbot's folder; the certificates' symbolic links point inside it, so it is mounted whole. */
const letsencryptDir = tlsTarget.tls!.certificate.split('/').slice(0, 3).join('/');
/**
 * The folder mounted there: by default an empty one of the checkout (compose/certbot/conf), so that
 * Docker never creates /etc/letsencrypt on a host that has no certificate; TLS_CERTS_DIR names the
 * host's certbot folder (/etc/letsencrypt) once a certificate exists.
 */
const certbotConfig = 'certbot/conf';
/** The certbot webroot on the host, next to this file. */
const certbotWebroot = 'certbot/www';

/** Settings that exist only in compose, with their defaults. */
export const composeSettings: Record<string, { default: string; description: string }> = {
  IMAGE_REGISTRY: { default: images.registry, description: "where the project's own images come from" },
  IMAGE_TAG: { default: images.tag, description: "the release of the project's own images" },
  NGINX_PORT: { default: String(infrastructure.nginx.port), description: 'public HTTP port of the host' },
  NGINX_SSL_PORT: { default: String(infrastructure.nginx.tlsPort), description: 'public HTTPS port of the host' },
  NGINX_CONF: { default: basename(nginxConfig.source), description: 'nginx.conf (HTTP only) or nginx-tls.conf (HTTPS, after the certificate exists)' },
  TLS_CERTS_DIR: { default: `./${certbotConfig}`, description: "certbot's folder, mounted at /etc/letsencrypt: set /etc/letsencrypt once certbot has a certificate there" },
  ...loadSettings(),
};

// --- the load generator (profile `load`) --------------------------------------------------------

/** The profile that holds the load generator: `docker-compose --profile load run --rm load`. */
export const loadProfile = 'load';
export const loadService = 'load';

/**
 * The load container has one address on its network, and nginx limits each client address
 * (gatewayLimits: 50 requests/s on the API, 30 sign-ins/min with a burst of 10). So the profile's
 * defaults stay under those limits: 80 % of the API rate, and few enough customers that their
 * sign-ups and sign-ins (two each, plus the admin's) fit in the burst. More load: scale the service
 * (`--scale load=N`, one address per container) or run `npm run load` with --source-addresses on a
 * machine where the gateway sees the client addresses (the local stack). The gateway trusts no
 * forwarding header, and this does not ask it to.
 */
function loadSettings(): Record<string, { default: string; description: string }> {
  return {
    LOAD_RATE: {
      default: String(Math.floor(gatewayLimits.apiRatePerSecond * 0.8)),
      description: `requests/s of one load container (profile load); nginx allows ${gatewayLimits.apiRatePerSecond}/s per client address, and a container has one: scale the service for more`,
    },
    LOAD_DURATION: { default: '60s', description: 'how long the load container runs (30s, 10m, 1h)' },
    LOAD_CUSTOMERS: {
      default: String(Math.floor((gatewayLimits.authBurst - 1) / 2)),
      description: `virtual customers of one load container: each signs up and in once through /auth, limited to ${gatewayLimits.authRatePerMinute}/min per address (burst ${gatewayLimits.authBurst})`,
    },
    LOAD_BUDGET: { default: 'status5xx=0,dropped=0', description: 'the budgets the load container exits 1 on, comma-separated (also p99<250ms, errors<0.1%, rps>=18: quote a value with < or > in a file a shell reads)' },
  };
}

type HttpClient = 'node' | 'wget' | 'curl';
type Condition = 'service_healthy' | 'service_started' | 'service_completed_successfully';

interface ComposeTraits {
  /** How the healthcheck asks the spec's probe: the HTTP client the image ships. */
  probeWith?: HttpClient;
  /** Which of the spec's probes the healthcheck asks. @default readiness */
  probe?: 'liveness' | 'readiness';
  /** For an image without an HTTP client: the command that tells it is healthy. */
  exec?: string[];
  execTimeout?: string;
  startPeriod: string;
  /** False where the image writes outside its volumes (said in `note`). */
  readOnly: boolean;
  /** The spec's port published on 127.0.0.1 of the host (for the guide's health check and SSH tunnels). */
  localPort?: string;
  dependsOn?: Record<string, Condition>;
  /** What the container needs beyond the spec, for this compose file alone. */
  extra?: (c: Component) => Partial<ComposeService>;
  note?: string;
}

/** A service's migration step (spec `migrate`): the one-shot compose service `<name>-migrate`. */
export const migrateServiceName = (name: string) => `${name}-migrate`;

const serviceDependencies: Record<string, string[]> = {
  backend: ['cassandra'],
  'cart-service': ['cassandra', 'backend'],
  'order-service': ['cassandra', 'backend', 'cart-service'],
  'user-service': ['cassandra'],
};
const healthy = (names: string[]): Record<string, Condition> => Object.fromEntries(names.map((n) => [n, 'service_healthy']));

/** Grafana's data volume is mounted where its image has no directory, so Docker creates it owned by root. */
const grafanaVolumeInit = 'grafana-volume-init';

function traitsOf(c: Component): ComposeTraits {
  if (c.role === 'service') {
    return {
      probeWith: 'node',
      startPeriod: '30s',
      readOnly: true,
      dependsOn: { [migrateServiceName(c.name)]: 'service_completed_successfully', ...healthy(serviceDependencies[c.name]) },
      note: 'healthy once /ready answers, i.e. when it reaches Cassandra (as its own role, after its migration step)',
      // SIGTERM: new connections are refused at once, idle ones closed after nginx's keep-alive
      // (1.5 s), in-flight requests may take SHUTDOWN_TIMEOUT_MS (8 s), then the database client
      // closes and the last traces get at most 2.5 s: more than Docker's default 10 s before SIGKILL.
      extra: () => ({ stop_grace_period: '15s' }),
    };
  }
  const traits: Record<string, ComposeTraits> = {
    cassandra: {
      exec: ['/usr/local/bin/cassandra-healthcheck'],
      // nodetool starts a JVM.
      execTimeout: '30s',
      startPeriod: '180s',
      readOnly: false,
      note:
        'writable root filesystem: the entrypoint rewrites /etc/cassandra at every start and Cassandra keeps its logs in /var/log/cassandra;\n' +
        'healthy when nodetool reports the node Up/Normal and the superuser password is CASSANDRA_PASSWORD (images/cassandra)',
      extra: () => ({
        // tini reaps the entrypoint's background password job and passes SIGTERM on.
        init: true,
        // Cassandra drains (flushes memtables) on SIGTERM.
        stop_grace_period: '2m',
        ulimits: { nofile: { soft: 100000, hard: 100000 } },
      }),
    },
    nginx: {
      probeWith: 'wget',
      // /health on the HTTP port only redirects to HTTPS with nginx-tls.conf: ask stub_status, the same in both.
      probe: 'liveness',
      startPeriod: '10s',
      readOnly: true,
      // Every replica: nginx resolves each service's name to the addresses of those running when it
      // loads (and refuses to start on a name that resolves to nothing). Not the storefront's health:
      // nginx asks Docker's DNS for it per request (gateway/nginx.ts composeTarget), so a missing or
      // unhealthy storefront costs `/` alone (the gateway's 502), never the API.
      dependsOn: { ...healthy(serviceSpecs.flatMap((s) => replicasOf(s.name).map((r) => r.name))), storefront: 'service_started' },
      note: 'the only container published on every interface; NGINX_CONF picks its configuration',
      extra: () => ({
        ports: [
          `${setting('NGINX_PORT', composeSettings.NGINX_PORT.default)}:${portOf(component('nginx'), 'http')}`,
          `${setting('NGINX_SSL_PORT', composeSettings.NGINX_SSL_PORT.default)}:${portOf(component('nginx'), 'https')}`,
        ],
        volumes: [`${setting('TLS_CERTS_DIR', composeSettings.TLS_CERTS_DIR.default)}:${letsencryptDir}:ro`, `./${certbotWebroot}:${tlsTarget.acmeWebroot}:ro`],
        // TRUSTED_PROXIES into the file nginx.conf includes, then nginx on the file NGINX_CONF picks in
        // the mounted folder (nginxConfigPath): a reload rereads that path, whatever a checkout did to it.
        command: ['/bin/sh', '-c', `sh ${trustedProxiesScript.mountPath} ${trustedProxiesFile} && exec nginx -c ${nginxConfigPath} -g 'daemon off;'`],
      }),
    },
    storefront: {
      // nginx-unprivileged: busybox wget (the stand-in of the deploy tests: GNU wget).
      probeWith: 'wget',
      startPeriod: '10s',
      readOnly: true,
      note: "the storefront's static files (images/storefront, built from this checkout); nginx proxies `/` to it, nothing else reaches it",
    },
    'nginx-exporter': {
      // The image is FROM scratch: no shell, no HTTP client. Prometheus' `up{job="nginx"}` watches its /metrics.
      exec: ['/usr/bin/nginx-prometheus-exporter', '--version'],
      startPeriod: '10s',
      readOnly: true,
      dependsOn: healthy(['nginx']),
      note: 'an image without a shell: the healthcheck can only run its binary; Prometheus scrapes /metrics',
    },
    prometheus: {
      probeWith: 'wget',
      startPeriod: '30s',
      readOnly: true,
      localPort: 'http',
      extra: (p) => ({ volumes: [`./prometheus/prometheus.yml:${flagValue(p, '--config.file')}:ro`] }),
    },
    alertmanager: {
      probeWith: 'wget',
      startPeriod: '20s',
      readOnly: true,
      localPort: 'http',
      note: 'renders the Telegram token and chat id into its configuration on /tmp at start (monitoring/alertmanager/render.sh)',
      extra: alertmanagerStart,
    },
    grafana: {
      probeWith: 'curl',
      startPeriod: '60s',
      readOnly: true,
      localPort: 'http',
      dependsOn: { [grafanaVolumeInit]: 'service_completed_successfully', ...healthy(['prometheus']) },
    },
    jaeger: {
      probeWith: 'wget',
      startPeriod: '20s',
      readOnly: true,
      localPort: 'ui',
      note: 'traces in memory (MEMORY_MAX_TRACES): they are gone after a restart',
    },
  };
  const found = traits[c.name];
  if (!found) throw new Error(`compose/generate.ts has no compose decisions for the component ${c.name}`);
  return found;
}

function portOf(c: Component, name: string): number {
  const port = c.ports.find((p) => p.name === name);
  if (!port) throw new Error(`${c.name} has no port named ${name}`);
  return port.port;
}

function flagValue(c: Component, flag: string): string {
  const arg = (c.args ?? []).find((a) => a.startsWith(`${flag}=`));
  if (!arg) throw new Error(`${c.name} has no ${flag} argument`);
  return arg.slice(flag.length + 1);
}

/** Alertmanager starts through render.sh, which writes the configuration with the Telegram settings to /tmp. */
function alertmanagerStart(c: Component): Partial<ComposeService> {
  const source = (suffix: string) => {
    const file = c.configFiles.find((f) => f.source.endsWith(suffix));
    if (!file) throw new Error(`alertmanager has no configuration file ${suffix}`);
    return file.mountPath;
  };
  const rendered = '/tmp/alertmanager/alertmanager.yml';
  const [data] = c.data;
  return {
    entrypoint: ['/bin/sh', '-c'],
    command: [
      `sh ${source('render.sh')} ${source('alertmanager.yml')} ${rendered} && ` +
        // One instance: no cluster gossip port.
        `exec /bin/alertmanager --config.file=${rendered} --storage.path=${data.mountPath} --cluster.listen-address=`,
    ],
  };
}

// --- rendering ----------------------------------------------------------------------------------

interface HealthCheck {
  test: string[];
  interval: string;
  timeout: string;
  retries: number;
  start_period: string;
}

interface ComposeService {
  image: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  user: string;
  read_only?: boolean;
  tmpfs?: string[];
  init?: boolean;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  network_mode?: string;
  networks?: string[] | Record<string, { aliases: string[] }>;
  depends_on?: Record<string, { condition: Condition }>;
  healthcheck?: HealthCheck;
  restart: string;
  stop_grace_period?: string;
  mem_limit: string;
  mem_reservation?: string;
  cpus: number;
  cpu_shares?: number;
  ulimits?: Record<string, { soft: number; hard: number }>;
  profiles?: string[];
  cap_drop: string[];
  cap_add?: string[];
  security_opt: string[];
  logging: { driver: string; options: Record<string, string> };
}

const frontendNet = 'frontend-net';
const backendNet = 'backend-net';
const logging = { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '5' } };
const hardening = { cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'] };
/** On /tmp of a read-only container: small, and counted in the container's memory. */
const tmpDir = '/tmp:size=64m';

/** Kubernetes quantities (`384Mi`, `3Gi`) as Docker sizes (binary units). */
function dockerSize(quantity: string): string {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!match) throw new Error(`unsupported memory quantity ${quantity}`);
  return `${match[1]}${match[2] === 'Mi' ? 'm' : 'g'}`;
}

/** Kubernetes CPU (`2`, `500m`) as a number of CPUs. */
function cpuCount(quantity: string): number {
  const match = /^(\d+)(m?)$/.exec(quantity);
  if (!match) throw new Error(`unsupported CPU quantity ${quantity}`);
  return match[2] ? Number(match[1]) / 1000 : Number(match[1]);
}

/** A CPU request as a relative weight, as the kubelet turns it into cgroup shares. */
function cpuShares(quantity: string): number {
  return Math.max(2, Math.round(cpuCount(quantity) * 1024));
}

/** A repository file as compose sees it: relative to this folder. */
function fromCompose(repoPath: string): string {
  const path = relative(composeDir, join(repoRoot, repoPath)).split(/[\\/]/).join(posix.sep);
  return path.startsWith('..') ? path : `./${path}`;
}

/** The project's own images: the registry and tag are operator settings whose defaults are the spec's image. */
function imageOf(c: Component): string {
  if (c.image !== `${images.registry}/${c.name}:${images.tag}`) return c.image;
  return `${setting('IMAGE_REGISTRY', images.registry)}/${c.name}:${setting('IMAGE_TAG', images.tag)}`;
}

function buildOf(c: Component): ComposeService['build'] {
  if (c.role === 'service') return { context: '..', dockerfile: 'Dockerfile', args: { SERVICE: c.name, PORT: String(portOf(c, 'http')) } };
  if (c.name === 'cassandra') return { context: '../images/cassandra' };
  // From the repository root: the image builds the storefront with the repository's own build.
  if (c.name === 'storefront') return { context: '..', dockerfile: 'images/storefront/Dockerfile' };
  return undefined;
}

function healthcheckOf(c: Component, traits: ComposeTraits): HealthCheck {
  const timing = { interval: '15s', timeout: '5s', retries: 5, start_period: traits.startPeriod };
  if (traits.exec) return { test: ['CMD', ...traits.exec], ...timing, timeout: traits.execTimeout ?? timing.timeout };
  const probe: Probe | undefined = traits.probe === 'liveness' ? c.liveness : c.readiness;
  if (!probe || !traits.probeWith) throw new Error(`${c.name}: no probe and no exec check for its healthcheck`);
  const url = `http://127.0.0.1:${probe.port}${probe.path}`;
  const test = {
    node: ['CMD', 'node', '-e', `fetch('${url}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
    wget: ['CMD', 'wget', '-q', '-O', '/dev/null', url],
    curl: ['CMD', 'curl', '-fsS', '-o', '/dev/null', url],
  }[traits.probeWith];
  return { test, ...timing };
}

function configMounts(c: Component): string[] {
  return c.configFiles.map((f) => {
    // The nginx configurations: their folder (nginxConfigDir), NGINX_CONF picks the file in the command.
    if (f === nginxConfig) return `${posix.dirname(fromCompose(f.source))}:${nginxConfigDir}:ro`;
    return `${fromCompose(f.source)}:${f.mountPath}:ro`;
  });
}

function serviceOf(c: Component): ComposeService {
  const traits = traitsOf(c);
  const extra = traits.extra?.(c) ?? {};
  const environment = {
    ...Object.fromEntries(Object.entries(c.env).map(([name, source]) => [name, environmentValue(source)])),
    ...extra.environment,
  };
  const ports = [...(extra.ports ?? []), ...(traits.localPort ? [`127.0.0.1:${portOf(c, traits.localPort)}:${portOf(c, traits.localPort)}`] : [])];
  const volumes = [...c.data.map((d) => `${d.name}:${d.mountPath}`), ...configMounts(c), ...(extra.volumes ?? [])];
  return {
    image: imageOf(c),
    build: buildOf(c),
    user: `${c.user}:${c.user}`,
    read_only: traits.readOnly || undefined,
    tmpfs: traits.readOnly ? [tmpDir] : undefined,
    init: extra.init,
    entrypoint: extra.entrypoint,
    command: extra.command ?? c.args,
    environment: Object.keys(environment).length ? environment : undefined,
    ports: ports.length ? ports : undefined,
    volumes: volumes.length ? volumes : undefined,
    // Containers that publish a port (among them Alertmanager, which also reaches Telegram) are on frontend-net too.
    networks: ports.length ? [backendNet, frontendNet] : [backendNet],
    depends_on: traits.dependsOn ? Object.fromEntries(Object.entries(traits.dependsOn).map(([name, condition]) => [name, { condition }])) : undefined,
    healthcheck: healthcheckOf(c, traits),
    restart: 'unless-stopped',
    stop_grace_period: extra.stop_grace_period,
    mem_limit: dockerSize(c.resources.memory.limit),
    mem_reservation: dockerSize(c.resources.memory.request),
    cpus: cpuCount(c.resources.cpu.limit),
    cpu_shares: cpuShares(c.resources.cpu.request),
    ulimits: extra.ulimits,
    ...hardening,
    logging,
  };
}

/**
 * A service's second (third...) replica: the same container as the first, which keeps the service's
 * name, with that name as a network alias. So the name stands for every replica: nginx makes a server
 * of each address it resolves to (gateway/nginx.ts), and the other services' calls (BACKEND_URL,
 * CART_SERVICE_URL) go to any replica, Node trying the next address when one refuses. Its image is
 * the first replica's (built once, there); scripts/rolling-update.sh recreates one replica at a time.
 */
function replicaServiceOf(c: Component, replica: Replica): ComposeService {
  if (replica.index === 1) return serviceOf(c);
  return { ...serviceOf(c), build: undefined, networks: { [backendNet]: { aliases: [c.name] } } };
}

/** A one-shot job before Grafana: gives its data volume to Grafana's user (Kubernetes does this with fsGroup). */
function grafanaVolumeInitService(): ComposeService {
  const grafana = component('grafana');
  const [data] = grafana.data;
  return {
    image: grafana.image,
    user: '0:0',
    read_only: true,
    entrypoint: ['chown', '-R', `${grafana.user}:${grafana.user}`, data.mountPath],
    volumes: [`${data.name}:${data.mountPath}`],
    network_mode: 'none',
    restart: 'no',
    mem_limit: '32m',
    cpus: 0.1,
    cap_drop: ['ALL'],
    cap_add: ['CHOWN'],
    security_opt: hardening.security_opt,
    logging,
  };
}

/**
 * A service's migration step, one-shot before its replicas: its image with `main.js migrate`, logged
 * in to Cassandra as the superuser, which the service itself never gets (services/kit/src/database-roles.ts).
 * scripts/rolling-update.sh runs it (`docker-compose run --rm`) before it updates the service.
 */
function migrateServiceOf(c: Component): ComposeService {
  if (!c.migrate) throw new Error(`${c.name} has no migration step`);
  const service = serviceOf(c);
  return {
    image: service.image,
    user: service.user,
    read_only: true,
    tmpfs: [tmpDir],
    command: c.migrate.command,
    environment: Object.fromEntries(Object.entries(c.migrate.env).map(([name, source]) => [name, environmentValue(source)])),
    networks: [backendNet],
    depends_on: { cassandra: { condition: 'service_healthy' } },
    restart: 'no',
    mem_limit: service.mem_limit,
    cpus: service.cpus,
    ...hardening,
    logging,
  };
}

/**
 * The load generator (tools/load, image images/load/Dockerfile) against nginx by its name, as an
 * outside client: on frontend-net only. One-shot: it runs for LOAD_DURATION, prints its summary and
 * exits 0, or 1 when LOAD_BUDGET is missed. As admin it creates its own products and deletes them
 * afterwards (--cleanup); its customers' accounts and orders stay.
 */
function loadServiceOf(): ComposeService {
  const nginx = component('nginx');
  const users = component('user-service');
  const fromUserService = (name: string) => {
    const source = users.env[name];
    if (!source) throw new Error(`user-service has no ${name}`);
    return environmentValue(source);
  };
  const flag = (name: string) => setting(name, composeSettings[name].default);
  return {
    image: `${setting('IMAGE_REGISTRY', images.registry)}/${loadService}:${setting('IMAGE_TAG', images.tag)}`,
    build: { context: '..', dockerfile: 'images/load/Dockerfile' },
    profiles: [loadProfile],
    user: '10001:10001',
    read_only: true,
    tmpfs: [tmpDir],
    command: [
      '--url', `http://nginx:${portOf(nginx, 'http')}`,
      '--rate', flag('LOAD_RATE'),
      '--duration', flag('LOAD_DURATION'),
      '--customers', flag('LOAD_CUSTOMERS'),
      '--budget', flag('LOAD_BUDGET'),
      '--cleanup',
    ],
    // The admin account user-service ensures: the generator reads ADMIN_EMAIL / ADMIN_PASSWORD.
    environment: { ADMIN_EMAIL: fromUserService('ADMIN_EMAIL'), ADMIN_PASSWORD: fromUserService('ADMIN_PASSWORD') },
    networks: [frontendNet],
    depends_on: { nginx: { condition: 'service_healthy' } },
    restart: 'no',
    mem_limit: '256m',
    cpus: 1,
    ...hardening,
    logging,
  };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function composeModel(): { version: string; services: Record<string, ComposeService>; networks: object; volumes: object } {
  const services: Record<string, ComposeService> = {};
  for (const c of components) {
    if (c.role === 'service') {
      for (const replica of replicasOf(c.name as Replica['service'])) services[replica.name] = withoutUndefined(replicaServiceOf(c, replica));
      services[migrateServiceName(c.name)] = withoutUndefined(migrateServiceOf(c));
      continue;
    }
    services[c.name] = withoutUndefined(serviceOf(c));
    if (c.name === 'grafana') services[grafanaVolumeInit] = withoutUndefined(grafanaVolumeInitService());
  }
  services[loadService] = withoutUndefined(loadServiceOf());
  return {
    version: fileFormat,
    services,
    networks: {
      // No route out: the services, Cassandra and the exporter talk only to each other.
      [backendNet]: { internal: true },
      // The published ports, and Alertmanager's way to Telegram.
      [frontendNet]: {},
    },
    volumes: Object.fromEntries(components.flatMap((c) => c.data.map((d) => [d.name, {}]))),
  };
}

/** Plain scalars that a YAML 1.1 reader (PyYAML) resolves to something other than a string. */
const yaml11NonString = new RegExp(
  [
    '^(?:y|Y|n|N|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$',
    '^(?:~|null|Null|NULL|)$',
    '^[-+]?(?:0b[0-1_]+|0[0-7_]+|0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)$',
    '^(?:[-+]?[0-9][0-9_]*\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$',
    '^\\d{4}-\\d\\d?-\\d\\d?',
  ].join('|'),
);

export function renderCompose(): string {
  const doc = new Document(composeModel(), { version: '1.1', aliasDuplicateObjects: false });
  doc.commentBefore =
    ' Generated by compose/generate.ts from deploy/src/components.ts: do not edit by hand.\n' +
    ` Run from this folder: cp .env.example ${envFileName}, fill in every secret, then\n` +
    `   docker-compose --env-file ${envFileName} up -d\n` +
    ' See compose/README.md.';
  const servicesNode = doc.get('services', true);
  if (!isMap(servicesNode)) throw new Error('services is not a map');
  for (const pair of servicesNode.items as Array<Pair<Scalar<string>>>) {
    const name = pair.key.value;
    const replica = replicaByName(name);
    const note = replica && replica.index > 1
      ? `replica ${replica.index} of ${replica.service}: the same container, on backend-net under the alias ${replica.service} too, so that name\n` +
        `reaches every replica (nginx, the other services); scripts/rolling-update.sh updates one replica at a time`
      : name.endsWith('-migrate')
      ? `one-shot before ${name.slice(0, -'-migrate'.length)}: its migrations, its Cassandra role and the role's grants, as the superuser\n` +
        '(docs/runbook.md "Secrets"); exits 0, and again at every `up` (nothing to do then but the grants)'
      : name === grafanaVolumeInit
      ? 'one-shot, as root with only CAP_CHOWN and no network: the one container not run as its component user'
      : name === loadService
        ? `profile ${loadProfile} only (docker-compose --profile ${loadProfile} run --rm ${loadService}): the load generator, one-shot, against nginx by name;\n` +
          `one client address per container, so its defaults stay under nginx's per-address limits (README "Load testing")`
        : traitsOf(component(name)).note;
    if (note) pair.key.commentBefore = note.split('\n').map((line) => ` ${line}`).join('\n');
  }
  // docker-compose 1.x reads YAML 1.1: quote every string that it would take for a boolean, a number
  // (`no`, base-60 `1:20`) or null, and the port mappings whatever they are.
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'ports' && isSeq(pair.value)) {
        for (const item of pair.value.items) if (isScalar(item)) item.type = 'QUOTE_DOUBLE';
      }
    },
    Scalar(_, scalar) {
      if (typeof scalar.value === 'string' && yaml11NonString.test(scalar.value)) scalar.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString({ lineWidth: 0 });
}

// --- .env.example -------------------------------------------------------------------------------

/** What the operator guide's .env lists but this stack does not read: kept so a guide-shaped file works. */
export const guideOnlyVariables: Record<string, { value: string; why: string }> = {
  PROMETHEUS_HOST: { value: 'prometheus', why: 'informational: Prometheus is the compose service `prometheus`' },
  PROMETHEUS_PORT: { value: String(infrastructure.prometheus.port), why: 'informational: published on 127.0.0.1 of the host' },
  JAEGER_ENDPOINT: { value: 'http://jaeger:14268/api/traces', why: `unused: the services send OTLP/HTTP to jaeger:${infrastructure.jaeger.otlpHttpPort} (OTEL_EXPORTER_OTLP_ENDPOINT)` },
  JAEGER_AGENT_HOST: { value: 'jaeger', why: 'unused: no Jaeger agent (Thrift) in this stack' },
  JAEGER_AGENT_PORT: { value: '6831', why: 'unused: no Jaeger agent (Thrift) in this stack' },
};

/** The operator guide's .env, in its order. */
export const guideVariables = [
  'ENVIRONMENT', 'DEBUG',
  'JWT_SECRET_KEY', 'JWT_ALGORITHM', 'JWT_EXPIRATION_MINUTES',
  'CASSANDRA_HOST', 'CASSANDRA_PORT', 'CASSANDRA_KEYSPACE', 'CASSANDRA_PASSWORD',
  'PROMETHEUS_HOST', 'PROMETHEUS_PORT', 'GRAFANA_ADMIN_PASSWORD',
  'TELEGRAM_BOT_TOKEN', 'TELEGRAM_CHAT_ID',
  'JAEGER_ENDPOINT', 'JAEGER_AGENT_HOST', 'JAEGER_AGENT_PORT',
  'NGINX_PORT', 'NGINX_SSL_PORT',
] as const;

/** The placeholder of every secret: too short for the services' production checks, refused by the Cassandra image and render.sh. */
export const secretPlaceholder = 'change-me';

const secretHelp: Record<string, string> = {
  JWT_SECRET_KEY: 'HS256 only (JWT_ALGORITHM=HS256, the operator guide\'s mode): HMAC key for the tokens, at least 32 bytes; generate one with: openssl rand -base64 48',
  JWT_PRIVATE_KEY:
    'ES256 only: user-service\'s signing key, P-256 PEM on one line (newlines as \\n); generate with:\n' +
    '#   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out jwt-private.pem && awk \'{printf "%s\\\\n", $0}\' jwt-private.pem',
  JWT_PUBLIC_KEYS:
    'ES256 only (public, not secret): the public key(s) tokens are verified with, PEM on one line (newlines as \\n); during a key rotation\n' +
    '#   the new and the previous one, concatenated; from: openssl pkey -in jwt-private.pem -pubout | awk \'{printf "%s\\\\n", $0}\'',
  ...Object.fromEntries(
    internalCallers.map((caller) => [
      internalTokenVariable(caller),
      `${caller}'s own credential for the internal endpoints it calls, at least 32 bytes, different from the others; generate one with: openssl rand -hex 32`,
    ]),
  ),
  CASSANDRA_PASSWORD:
    "password of Cassandra's `cassandra` superuser, set on the first start; only Cassandra, the migration steps (<service>-migrate) and the backup scripts use it;\n" +
    '#   generate one with: openssl rand -base64 24',
  ...Object.fromEntries(
    serviceSpecs.map((s) => [
      cassandraPasswordKey(s.name),
      `password of ${s.name}'s own Cassandra role \`${serviceRole(s.name)}\` (its tables only), set by ${migrateServiceName(s.name)}; at least 16 characters: openssl rand -base64 24`,
    ]),
  ),
  GRAFANA_ADMIN_PASSWORD: "Grafana's `admin` password",
  TELEGRAM_BOT_TOKEN: "the bot's token from @BotFather: <digits>:<letters, digits, _ or ->",
  TELEGRAM_CHAT_ID: 'the chat the alerts go to, an integer (groups and channels are negative, e.g. -1001234567890)',
  ADMIN_PASSWORD: "the shop's first administrator (ADMIN_EMAIL), at least 12 characters",
};

/** What a setting of the spec needs said next to it. */
const settingHelp: Record<string, string> = {
  TRUSTED_PROXIES:
    'addresses or CIDRs of the load balancers in front of nginx, comma-separated (e.g. 10.0.0.0/8); empty: none, nginx ignores X-Forwarded-For\n' +
    '#   and limits each connecting address. Only a proxy that overwrites or appends X-Forwarded-For may be listed (README, "Configuration")',
  CASSANDRA_COMMITLOG_SYNC:
    'group (default) or batch: a write is acknowledged once its commit log is on disk; periodic: acknowledged at once, fsync every\n' +
    '#   CASSANDRA_COMMITLOG_SYNC_PERIOD, so a crash of this single node loses up to that much (docs/runbook.md, "Durability")',
  JWT_ALGORITHM: 'ES256: user-service alone signs (JWT_PRIVATE_KEY), the others verify (JWT_PUBLIC_KEYS); HS256/HS384/HS512: every service holds JWT_SECRET_KEY',
};

/**
 * A section of .env.example. `declared`: each setting's comment is its declaration's description (the
 * kit's services/kit/src/settings.ts, a service's services/<service>/src/settings.ts).
 */
interface EnvSection {
  title: string;
  names: string[];
  declared?: true;
}

/** The declaration of a setting of the kit or of any service. */
function declarationOf(name: string): Setting | undefined {
  return (kitSettings as Settings)[name] ?? Object.values(serviceSettings).find((own) => name in own)?.[name];
}

/** The settings a service declares for itself that no earlier section places (user-service's are with the security ones). */
const ownSettingsSections = (placed: Set<string>): EnvSection[] =>
  serviceSpecs
    .map((s) => ({ title: `${s.name} (services/${s.name}/src/settings.ts)`, names: Object.keys(serviceSettings[s.name]).filter((name) => !placed.has(name)), declared: true as const }))
    .filter((section) => section.names.length);

const sections: EnvSection[] = [
  { title: 'Basics', names: ['ENVIRONMENT', 'DEBUG', 'LOG_LEVEL'] },
  {
    title: 'Security (docs/runbook.md, "Secrets": what each service holds and how to rotate it)',
    names: ['JWT_ALGORITHM', 'JWT_PRIVATE_KEY', 'JWT_PUBLIC_KEYS', 'JWT_SECRET_KEY', 'JWT_EXPIRATION_MINUTES', ...internalCallers.map(internalTokenVariable), 'ADMIN_EMAIL', 'ADMIN_PASSWORD'],
  },
  {
    title: 'Database',
    names: ['CASSANDRA_HOST', 'CASSANDRA_PORT', 'CASSANDRA_KEYSPACE', 'CASSANDRA_PASSWORD', ...serviceSpecs.map((s) => cassandraPasswordKey(s.name)), 'CASSANDRA_DATACENTER', 'CASSANDRA_REPLICATION_FACTOR', 'CASSANDRA_CLUSTER_NAME', 'CASSANDRA_MAX_HEAP_SIZE', 'CASSANDRA_HEAP_NEWSIZE', 'CASSANDRA_COMMITLOG_SYNC', 'CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW', 'CASSANDRA_COMMITLOG_SYNC_PERIOD'],
  },
  { title: 'Monitoring', names: ['PROMETHEUS_HOST', 'PROMETHEUS_PORT', 'GRAFANA_ADMIN_PASSWORD'] },
  { title: 'Alerts', names: ['TELEGRAM_BOT_TOKEN', 'TELEGRAM_CHAT_ID', 'TELEGRAM_API_URL'] },
  { title: 'Tracing', names: ['JAEGER_ENDPOINT', 'JAEGER_AGENT_HOST', 'JAEGER_AGENT_PORT'] },
  { title: 'Nginx', names: ['NGINX_PORT', 'NGINX_SSL_PORT', 'NGINX_CONF', 'TLS_CERTS_DIR', 'TRUSTED_PROXIES'] },
  { title: 'Images', names: ['IMAGE_REGISTRY', 'IMAGE_TAG'] },
  // SHUTDOWN_TIMEOUT_MS is written commented (fixedSettings says why).
  { title: 'Timeouts of every service (docs/runbook.md)', names: ['CASSANDRA_REQUEST_TIMEOUT_MS', 'SERVICE_CALL_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS', 'SHUTDOWN_TIMEOUT_MS'], declared: true },
  { title: 'Load testing (docker-compose --profile load run --rm load)', names: Object.keys(loadSettings()) },
];

/** Every variable .env.example holds: the spec's settings and secrets, compose's own settings, the guide's list. */
export function envExampleVariables(): string[] {
  return [...new Set([...secretKeys, ...Object.keys(configDefaults), ...Object.keys(composeSettings), ...guideVariables])];
}

export function renderEnvExample(): string {
  const placed = new Set(sections.flatMap((s) => s.names));
  const own = ownSettingsSections(placed);
  for (const name of own.flatMap((s) => s.names)) placed.add(name);
  const unplaced = envExampleVariables().filter((name) => !placed.has(name));
  const all: EnvSection[] = [...sections, ...own, ...(unplaced.length ? [{ title: 'Other settings', names: unplaced }] : [])];
  const lines = [
    '# Generated by compose/generate.ts from deploy/src/components.ts: do not edit by hand.',
    `# Copy to ${envFileName} (never committed: .gitignore holds it), replace every "${secretPlaceholder}",`,
    `# then run: docker-compose --env-file ${envFileName} up -d`,
    '# Settings have working defaults; compose refuses to start while a secret is missing.',
  ];
  for (const section of all) {
    lines.push('', `# === ${section.title} ===`);
    for (const name of section.names) {
      if (optionalSecretKeys.includes(name)) {
        lines.push(`# Secret (one mode only): ${secretHelp[name] ?? 'no default'}`, `${name}=`);
      } else if (secretKeys.includes(name)) {
        lines.push(`# Secret (required): ${secretHelp[name] ?? 'no default'}`, `${name}=${secretPlaceholder}`);
      } else if (name in configDefaults) {
        const help = settingHelp[name] ?? (section.declared && declarationOf(name)?.description);
        if (help) lines.push(`# ${help}`);
        lines.push(`${name}=${configDefaults[name]}`);
      } else if (name in fixedSettings) {
        // Declared, read by the services, but not this stack's to change: shown, commented.
        const declaration = declarationOf(name);
        if (!declaration) throw new Error(`.env.example: ${name} is declared nowhere`);
        lines.push(`# ${declaration.description}; not set by this stack: ${fixedSettings[name]}`, `# ${name}=${defaultText(declaration)}`);
      } else if (name in composeSettings) {
        lines.push(`# ${composeSettings[name].description}`, `${name}=${composeSettings[name].default}`);
      } else if (name in guideOnlyVariables) {
        lines.push(`# ${guideOnlyVariables[name].why}`, `${name}=${guideOnlyVariables[name].value}`);
      } else {
        throw new Error(`.env.example: nothing known about ${name}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

export const outputs: Array<{ path: string; render: () => string }> = [
  { path: 'compose/docker-compose.yml', render: renderCompose },
  { path: 'compose/.env.example', render: renderEnvExample },
];

if (require.main === module) {
  for (const output of outputs) {
    writeFileSync(join(repoRoot, output.path), output.render());
    process.stdout.write(`wrote ${output.path}\n`);
  }
}
