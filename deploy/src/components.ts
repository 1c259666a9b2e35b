/**
 * What runs in a deployment, component by component: image, user, ports, environment, probes,
 * configuration files, data volumes and resources. The compose file (compose/generate.ts) and the
 * cdk8s charts (charts/) are both built from this list, so the two deployments run the same stack;
 * a parity test compares their outputs.
 */
import { defaultText, kitSettings, type Settings } from '@product-store/kit/settings';
import { internalCredentialsOf, internalTokenVariable, serviceRole, serviceSpec, services, type ServiceName } from '@product-store/kit/topology';
import { settings as backendSettings } from '@product-store/backend/settings';
import { settings as orderServiceSettings } from '@product-store/order-service/settings';
import { settings as userServiceSettings } from '@product-store/user-service/settings';
import { imageOf, images } from './images';
import { infrastructure } from './infrastructure';

/** How an environment variable gets its value in a deployment. */
export type EnvSource =
  /** A fixed value, the same everywhere (e.g. another component's address). */
  | { value: string }
  /**
   * Operator configuration: compose `${NAME:-default}` from the env file; a key of the ConfigMap in a
   * cluster, holding `cluster` where the cluster's default differs from the single host's.
   */
  | { config: string; default: string; cluster?: string }
  /**
   * A secret: compose `${NAME:?}` from the env file (required); a key of the Secret in a cluster.
   * `optional`: a secret only one mode needs (JWT_SECRET_KEY for HS256, JWT_PRIVATE_KEY for ES256):
   * compose `${NAME:-}`, an optional key of the Secret; the service refuses to start without the one
   * its mode needs.
   */
  | { secret: string; optional?: true };

export interface Probe {
  path: string;
  port: number;
}

export interface ConfigFile {
  /** The file in this repository. */
  source: string;
  /** Where the component reads it. */
  mountPath: string;
}

export interface DataVolume {
  name: string;
  mountPath: string;
  /** Size of the persistent volume claim in a cluster. */
  size: string;
}

export interface Resources {
  cpu: { request: string; limit: string };
  memory: { request: string; limit: string };
}

export interface Component {
  name: string;
  /** Where compose and the cluster differ in what plays this role. */
  role: 'service' | 'database' | 'gateway' | 'frontend' | 'monitoring' | 'tracing';
  image: string;
  /** Numeric user the container runs as. */
  user: number;
  ports: Array<{ name: string; port: number }>;
  env: Record<string, EnvSource>;
  /** HTTP probes; a component without them declares an exec check in its chart and compose file. */
  liveness?: Probe;
  readiness?: Probe;
  configFiles: ConfigFile[];
  data: DataVolume[];
  resources: Resources;
  /** Arguments after the image's entrypoint. */
  args?: string[];
  /**
   * A service's migration step (services/kit/src/database-roles.ts), run to completion before the
   * service starts: compose's one-shot `<name>-migrate`, the cluster's init container `migrate`. It
   * alone holds the migration login (the superuser); the service logs in as its own role.
   */
  migrate?: { command: string[]; env: Record<string, EnvSource> };
}

/** The secret holding the password of a service's own Cassandra role: CASSANDRA_PASSWORD_CART_SERVICE. */
export const cassandraPasswordKey = (name: ServiceName) => `CASSANDRA_PASSWORD_${name.toUpperCase().replace(/-/g, '_')}`;

export const NAMESPACE = 'product-store';
/** The Secret (cluster) and the keys operators provide in .env.production (compose). */
export const SECRET_NAME = 'product-store-secrets';
export const CONFIG_NAME = 'product-store-config';
/**
 * Cassandra nodes in a cluster (the StatefulSet's replicas) and the replication factor the keyspace is
 * created with there: three copies, so LOCAL_QUORUM (two) holds with one node down. Compose runs one
 * node on one host, at replication factor 1.
 */
export const CLUSTER_CASSANDRA_NODES = 3;

/** Jaeger all-in-one's admin server: health check (and its own metrics). */
const jaegerAdminPort = 14269;
const grafanaDataPath = '/var/lib/grafana/data';

const secret = (name: string): EnvSource => ({ secret: name });
const optionalSecret = (name: string): EnvSource => ({ secret: name, optional: true });
const config = (name: string, value: string, cluster?: string): EnvSource => ({ config: name, default: value, ...(cluster === undefined ? {} : { cluster }) });

/**
 * The load balancers in front of the gateway (services/kit/src/trusted-proxies.ts): empty, none. The
 * compose nginx and the services read the one setting; in a cluster the services read it, and the
 * ingress-nginx controller needs the same addresses in its own ConfigMap (charts/README.md).
 */
const trustedProxies = config('TRUSTED_PROXIES', '');

/**
 * Each service's own settings (services/<service>/src/settings.ts), declared there once; the kit's
 * are `kitSettings`. A deployment gives a service every one it reads (serviceEnv).
 */
export const serviceSettings: Record<ServiceName, Settings> = {
  backend: backendSettings,
  'cart-service': {},
  'order-service': orderServiceSettings,
  'user-service': userServiceSettings,
};

/**
 * The declared settings a deployment does not give the services, and why: .env.example lists them,
 * commented, so an operator finds them where the others are.
 */
export const fixedSettings: Record<string, string> = {
  PORT: "each service's own (the image's PORT): nginx, the probes and the other services address it there",
  SHUTDOWN_TIMEOUT_MS:
    "the services' default (8000): compose's stop_grace_period (15 s) and the cluster's terminationGracePeriodSeconds (20 s) are timed against it, so it changes with them",
  CASSANDRA_SERVICE_PASSWORD: "the migration step's only: CASSANDRA_PASSWORD_<SERVICE>",
};

/** The kit's settings that only some services read; the others are not given them. */
const kitSettingReaders: Record<string, readonly ServiceName[]> = {
  BACKEND_URL: ['cart-service', 'order-service'],
  CART_SERVICE_URL: ['order-service'],
  // Only these call other services (services/kit/src/service-client.ts).
  SERVICE_CALL_TIMEOUT_MS: ['cart-service', 'order-service'],
  JWT_PRIVATE_KEY: ['user-service'],
  ...Object.fromEntries(services.map((s) => [internalTokenVariable(s.name), services.filter((holder) => internalCredentialsOf(holder.name).includes(s.name)).map((holder) => holder.name)])),
};

/** Whether a deployed service is given a declared setting (kit's or its own). */
export function givenTo(name: ServiceName, key: string): boolean {
  return !(key in fixedSettings) && (kitSettingReaders[key]?.includes(name) ?? true);
}

/** What every service reads (the kit's variables and its own), in a deployment. */
function serviceEnv(name: ServiceName): Record<string, EnvSource> {
  const env: Record<string, EnvSource> = {
    ENVIRONMENT: config('ENVIRONMENT', 'production'),
    DEBUG: config('DEBUG', 'false'),
    LOG_LEVEL: config('LOG_LEVEL', 'info'),
    // Reached by nginx and the other services over the container network: every interface of the
    // container (the kit's own default is loopback, for development machines).
    HOST: { value: '0.0.0.0' },
    CASSANDRA_HOST: config('CASSANDRA_HOST', 'cassandra'),
    CASSANDRA_PORT: config('CASSANDRA_PORT', String(infrastructure.cassandra.port)),
    CASSANDRA_KEYSPACE: config('CASSANDRA_KEYSPACE', 'product_store'),
    CASSANDRA_DATACENTER: config('CASSANDRA_DATACENTER', 'datacenter1'),
    // Its own role: SELECT and MODIFY on its own tables only (the migration step creates it).
    CASSANDRA_USERNAME: { value: serviceRole(name) },
    CASSANDRA_PASSWORD: secret(cassandraPasswordKey(name)),
    // Used when the keyspace is created: 1 on compose's single node, 3 on the cluster's three.
    CASSANDRA_REPLICATION_FACTOR: config('CASSANDRA_REPLICATION_FACTOR', '1', String(CLUSTER_CASSANDRA_NODES)),
    // ES256 by default: user-service alone signs (JWT_PRIVATE_KEY), the others verify with
    // JWT_PUBLIC_KEYS. HS256 with JWT_SECRET_KEY (the operator guide's .env) gives every service the key.
    JWT_ALGORITHM: config('JWT_ALGORITHM', 'ES256'),
    // Public, but kept with the secrets: the cluster's ConfigMap is rewritten by every `kubectl apply`.
    JWT_PUBLIC_KEYS: optionalSecret('JWT_PUBLIC_KEYS'),
    ...(name === 'user-service' ? { JWT_PRIVATE_KEY: optionalSecret('JWT_PRIVATE_KEY') } : {}),
    JWT_SECRET_KEY: optionalSecret('JWT_SECRET_KEY'),
    JWT_EXPIRATION_MINUTES: config('JWT_EXPIRATION_MINUTES', '30'),
    // Its own credential for the internal endpoints it calls and those of its callers, no other.
    ...Object.fromEntries(internalCredentialsOf(name).map((caller) => [internalTokenVariable(caller), secret(internalTokenVariable(caller))])),
    OTEL_EXPORTER_OTLP_ENDPOINT: { value: `http://jaeger:${infrastructure.jaeger.otlpHttpPort}` },
    OTEL_SERVICE_NAME: { value: name },
    TRUSTED_PROXIES: trustedProxies,
  };
  if (name === 'cart-service' || name === 'order-service') env.BACKEND_URL = { value: `http://backend:${serviceSpec('backend').port}` };
  if (name === 'order-service') env.CART_SERVICE_URL = { value: `http://cart-service:${serviceSpec('cart-service').port}` };
  if (name === 'user-service') {
    // A deployment's default (the declaration has none: no admin account ensured).
    env.ADMIN_EMAIL = config('ADMIN_EMAIL', 'admin@example.com');
    env.ADMIN_PASSWORD = secret('ADMIN_PASSWORD');
  }
  // Every other setting it reads, from its declaration: operator configuration with the declared
  // default (compose `${NAME:-default}`, a key of the ConfigMap), a secret from the secrets.
  for (const [key, setting] of Object.entries({ ...kitSettings, ...serviceSettings[name] })) {
    if (key in env || !givenTo(name, key)) continue;
    env[key] = setting.type === 'secret' ? secret(key) : config(key, defaultText(setting));
  }
  return env;
}

/** The migration step's environment: Cassandra as the superuser, the role's password to set; no token key, no internal credential. */
function migrateEnv(name: ServiceName): Record<string, EnvSource> {
  const env = serviceEnv(name);
  const keep = ['ENVIRONMENT', 'LOG_LEVEL', 'CASSANDRA_HOST', 'CASSANDRA_PORT', 'CASSANDRA_KEYSPACE', 'CASSANDRA_DATACENTER', 'CASSANDRA_REPLICATION_FACTOR'];
  return {
    ...Object.fromEntries(keep.map((k) => [k, env[k]])),
    CASSANDRA_USERNAME: { value: 'cassandra' },
    CASSANDRA_PASSWORD: secret('CASSANDRA_PASSWORD'),
    CASSANDRA_SERVICE_PASSWORD: secret(cassandraPasswordKey(name)),
  };
}

/** A component as the table below declares it: what it leaves out (env, files, data), it has none of. */
type Declared = Omit<Component, 'env' | 'configFiles' | 'data'> & Partial<Pick<Component, 'env' | 'configFiles' | 'data'>>;
const declare = (c: Declared): Component => ({ env: {}, configFiles: [], data: [], ...c });
/** Liveness and readiness probes on one port: one path, or one each. */
const httpProbes = (port: number, liveness: string, readiness = liveness): Pick<Component, 'liveness' | 'readiness'> => ({
  liveness: { path: liveness, port },
  readiness: { path: readiness, port },
});

const serviceComponents: Component[] = services.map((s) =>
  declare({
    name: s.name,
    role: 'service',
    image: imageOf(s.name),
    user: 10001,
    ports: [{ name: 'http', port: s.port }],
    env: serviceEnv(s.name),
    ...httpProbes(s.port, '/health', '/ready'),
    resources: { cpu: { request: '100m', limit: '1' }, memory: { request: '192Mi', limit: '384Mi' } },
    migrate: { command: ['node', '--enable-source-maps', 'dist/main.js', 'migrate'], env: migrateEnv(s.name) },
  }),
);

export const components: Component[] = [
  ...serviceComponents,
  declare({
    // The one database: one node in compose, a StatefulSet of CLUSTER_CASSANDRA_NODES in a cluster.
    name: 'cassandra',
    role: 'database',
    image: imageOf('cassandra'),
    user: 999,
    ports: [
      { name: 'cql', port: infrastructure.cassandra.port },
      { name: 'metrics', port: infrastructure.cassandra.metricsPort },
      // Gossip and streaming between nodes (storage_port): only a cluster of several nodes uses it.
      { name: 'intra-node', port: 7000 },
    ],
    env: {
      CASSANDRA_PASSWORD: secret('CASSANDRA_PASSWORD'),
      // The node every node joins the ring through: itself in compose; the cluster names its first pod.
      CASSANDRA_SEEDS: { value: 'cassandra' },
      CASSANDRA_CLUSTER_NAME: config('CASSANDRA_CLUSTER_NAME', 'product-store'),
      CASSANDRA_DC: config('CASSANDRA_DATACENTER', 'datacenter1'),
      MAX_HEAP_SIZE: config('CASSANDRA_MAX_HEAP_SIZE', '1G'),
      HEAP_NEWSIZE: config('CASSANDRA_HEAP_NEWSIZE', '256M'),
      // Durability of acknowledged writes (images/cassandra/set-durability.sh writes them into
      // cassandra.yaml; the local launcher reads the same defaults, tools/cassandra/durability.ts).
      // `group`: a write is acknowledged once the commit log holding it is on disk (fsync at most every
      // window), so a host crash loses no acknowledged order. Cassandra's own default, `periodic`
      // (fsync every 10 s), acknowledges before that; with one node, a crash loses up to the period.
      CASSANDRA_COMMITLOG_SYNC: config('CASSANDRA_COMMITLOG_SYNC', 'group'),
      CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW: config('CASSANDRA_COMMITLOG_SYNC_GROUP_WINDOW', '10ms'),
      CASSANDRA_COMMITLOG_SYNC_PERIOD: config('CASSANDRA_COMMITLOG_SYNC_PERIOD', '10s'),
    },
    configFiles: [{ source: 'monitoring/cassandra/jmx-exporter.yaml', mountPath: '/etc/cassandra-exporter/jmx-exporter.yaml' }],
    data: [{ name: 'cassandra-data', mountPath: '/var/lib/cassandra', size: '20Gi' }],
    resources: { cpu: { request: '1', limit: '2' }, memory: { request: '2Gi', limit: '3Gi' } },
  }),
  declare({
    // The only public entry in compose (the cluster's is ingress-nginx): routes, rate limits, TLS.
    name: 'nginx',
    role: 'gateway',
    image: images.thirdParty.nginx,
    user: 101,
    ports: [
      { name: 'http', port: infrastructure.nginx.containerPort },
      { name: 'https', port: infrastructure.nginx.containerTlsPort },
      { name: 'status', port: infrastructure.nginx.statusPort },
    ],
    env: { TRUSTED_PROXIES: trustedProxies },
    liveness: { path: '/stub_status', port: infrastructure.nginx.statusPort },
    readiness: { path: '/health', port: infrastructure.nginx.containerPort },
    configFiles: [
      // In a folder of its own: compose mounts the folder (its files change under a checkout) and
      // starts nginx with -c on the file NGINX_CONF picks there (compose/generate.ts).
      { source: 'compose/nginx/nginx.conf', mountPath: '/etc/nginx/product-store/nginx.conf' },
      // Writes TRUSTED_PROXIES into the file nginx.conf includes, before nginx starts.
      { source: 'gateway/trusted-proxies.sh', mountPath: '/etc/nginx/trusted-proxies.sh' },
    ],
    resources: { cpu: { request: '50m', limit: '1' }, memory: { request: '64Mi', limit: '128Mi' } },
  }),
  declare({
    // The storefront's static files in nginx-unprivileged (images/storefront): behind the compose
    // gateway, which proxies `/` to it, and behind the cluster's Ingress (`/`). Same image, same user
    // as the nginx image it is built on. The probe asks `/` (index.html): the files are there.
    name: 'storefront',
    role: 'frontend',
    image: imageOf('storefront'),
    user: 101,
    ports: [{ name: 'http', port: infrastructure.storefront.port }],
    ...httpProbes(infrastructure.storefront.port, '/'),
    resources: { cpu: { request: '10m', limit: '200m' }, memory: { request: '16Mi', limit: '64Mi' } },
  }),
  declare({
    // nginx's stub_status as Prometheus metrics.
    name: 'nginx-exporter',
    role: 'gateway',
    image: images.thirdParty.nginxExporter,
    user: 65534,
    ports: [{ name: 'metrics', port: infrastructure.nginxExporter.port }],
    ...httpProbes(infrastructure.nginxExporter.port, '/metrics'),
    resources: { cpu: { request: '10m', limit: '100m' }, memory: { request: '16Mi', limit: '64Mi' } },
    args: [`--nginx.scrape-uri=http://nginx:${infrastructure.nginx.statusPort}/stub_status`],
  }),
  declare({
    // Scrapes every replica and evaluates the alert rules (monitoring/prometheus).
    name: 'prometheus',
    role: 'monitoring',
    image: images.thirdParty.prometheus,
    user: 65534,
    ports: [{ name: 'http', port: infrastructure.prometheus.port }],
    ...httpProbes(infrastructure.prometheus.port, '/-/healthy', '/-/ready'),
    configFiles: [{ source: 'monitoring/prometheus/rules/product-store.rules.yml', mountPath: '/etc/prometheus/rules/product-store.rules.yml' }],
    data: [{ name: 'prometheus-data', mountPath: '/prometheus', size: '20Gi' }],
    resources: { cpu: { request: '250m', limit: '1' }, memory: { request: '512Mi', limit: '1Gi' } },
    args: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--storage.tsdb.retention.time=15d', '--web.enable-lifecycle'],
  }),
  declare({
    // Sends the alerts to Telegram (monitoring/alertmanager).
    name: 'alertmanager',
    role: 'monitoring',
    image: images.thirdParty.alertmanager,
    user: 65534,
    ports: [{ name: 'http', port: infrastructure.alertmanager.port }],
    env: {
      TELEGRAM_BOT_TOKEN: secret('TELEGRAM_BOT_TOKEN'),
      TELEGRAM_CHAT_ID: secret('TELEGRAM_CHAT_ID'),
      // Telegram's Bot API, or a relay where it is blocked (render.sh writes it into api_url).
      TELEGRAM_API_URL: config('TELEGRAM_API_URL', 'https://api.telegram.org'),
    },
    ...httpProbes(infrastructure.alertmanager.port, '/-/healthy', '/-/ready'),
    configFiles: [
      { source: 'monitoring/alertmanager/alertmanager.yml', mountPath: '/etc/alertmanager/source/alertmanager.yml' },
      { source: 'monitoring/alertmanager/templates/telegram.tmpl', mountPath: '/etc/alertmanager/source/templates/telegram.tmpl' },
      { source: 'monitoring/alertmanager/render.sh', mountPath: '/etc/alertmanager/source/render.sh' },
    ],
    data: [{ name: 'alertmanager-data', mountPath: '/alertmanager', size: '1Gi' }],
    resources: { cpu: { request: '50m', limit: '200m' }, memory: { request: '64Mi', limit: '128Mi' } },
  }),
  declare({
    // The provisioned dashboards (monitoring/grafana).
    name: 'grafana',
    role: 'monitoring',
    image: images.thirdParty.grafana,
    user: 472,
    ports: [{ name: 'http', port: infrastructure.grafana.port }],
    env: {
      GF_SECURITY_ADMIN_PASSWORD: secret('GRAFANA_ADMIN_PASSWORD'),
      // The image's default data path is /var/lib/grafana itself: point it at the data volume.
      GF_PATHS_DATA: { value: grafanaDataPath },
    },
    // /healthz answers while the web server runs; /api/health also queries Grafana's database.
    ...httpProbes(infrastructure.grafana.port, '/healthz', '/api/health'),
    configFiles: [
      { source: 'monitoring/grafana/grafana.ini', mountPath: '/etc/grafana/grafana.ini' },
      { source: 'monitoring/grafana/provisioning/datasources/datasources.yaml', mountPath: '/etc/grafana/provisioning/datasources/datasources.yaml' },
      { source: 'monitoring/grafana/provisioning/dashboards/dashboards.yaml', mountPath: '/etc/grafana/provisioning/dashboards/dashboards.yaml' },
      ...['system-overview', 'backend', 'cart-service', 'order-service', 'user-service', 'cassandra'].map((uid) => ({
        source: `monitoring/grafana/dashboards/${uid}.json`,
        mountPath: `/var/lib/grafana/dashboards/${uid}.json`,
      })),
    ],
    data: [{ name: 'grafana-data', mountPath: grafanaDataPath, size: '2Gi' }],
    resources: { cpu: { request: '100m', limit: '500m' }, memory: { request: '128Mi', limit: '512Mi' } },
  }),
  declare({
    // Takes the services' OTLP traces; in memory, so they last until it restarts.
    name: 'jaeger',
    role: 'tracing',
    image: images.thirdParty.jaeger,
    user: 10001,
    ports: [
      { name: 'ui', port: infrastructure.jaeger.uiPort },
      { name: 'otlp-http', port: infrastructure.jaeger.otlpHttpPort },
      { name: 'otlp-grpc', port: infrastructure.jaeger.otlpGrpcPort },
      { name: 'admin', port: jaegerAdminPort },
    ],
    env: { COLLECTOR_OTLP_ENABLED: { value: 'true' }, MEMORY_MAX_TRACES: { value: '50000' } },
    ...httpProbes(jaegerAdminPort, '/'),
    resources: { cpu: { request: '100m', limit: '500m' }, memory: { request: '256Mi', limit: '1Gi' } },
  }),
];

export function component(name: string): Component {
  const found = components.find((c) => c.name === name);
  if (!found) throw new Error(`unknown component ${name}`);
  return found;
}

/** Every secret key the stack reads: .env.example lists them; the cluster's Secret must hold them. */
export const secretKeys = [...new Set(components.flatMap((c) => Object.values(c.env).flatMap((e) => ('secret' in e ? [e.secret] : []))))].sort();

/** The secrets only one mode needs: optional keys of the Secret, empty in .env.example. */
export const optionalSecretKeys = [...new Set(components.flatMap((c) => Object.values(c.env).flatMap((e) => ('secret' in e && e.optional ? [e.secret] : []))))].sort();

/** Every operator setting with its default on a single host: .env.example holds them. */
export const configDefaults: Record<string, string> = Object.fromEntries(
  components.flatMap((c) => Object.values(c.env).flatMap((e) => ('config' in e ? [[e.config, e.default] as const] : []))).sort(([a], [b]) => a.localeCompare(b)),
);

/** Every operator setting with its cluster default (`cluster`, else the single host's): the cluster's ConfigMap holds them. */
export const clusterConfigDefaults: Record<string, string> = Object.fromEntries(
  components.flatMap((c) => Object.values(c.env).flatMap((e) => ('config' in e ? [[e.config, e.cluster ?? e.default] as const] : []))).sort(([a], [b]) => a.localeCompare(b)),
);
