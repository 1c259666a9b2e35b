/**
 * The single-host deployment (compose/): the committed docker-compose.yml and .env.example are what
 * compose/generate.ts renders from the spec, docker-compose 1.29 accepts them, and the stack they
 * describe keeps the rules of the brief: healthchecks, limits, log rotation, non-root users, published
 * ports, start-up order, no secret in the file.
 *
 * Needs docker-compose on the PATH (no Docker engine: only `config` runs). Installed by
 * scripts/install-prerequisites.sh; without it the tests fail, they never skip.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { component, components, configDefaults, optionalSecretKeys, secretKeys, type Component, images, infrastructure, gatewayLimits, gatewayUpstream, replicaByName, replicasOf, services as serviceSpecs } from '@product-store/deploy';
import { composeSettings, envFileName, guideOnlyVariables, guideVariables, loadProfile, loadService, outputs, secretPlaceholder } from '../../../compose/generate';

const repoRoot = resolve(__dirname, '..', '..', '..');
const composeFile = 'compose/docker-compose.yml';
const envExample = 'compose/.env.example';
const rawCompose = readFileSync(join(repoRoot, composeFile), 'utf8');

/** The service names of the operator guide, plus the nginx exporter and Grafana's one-shot volume job. */
const guideServices = ['backend', 'cart-service', 'order-service', 'user-service', 'cassandra', 'nginx', 'prometheus', 'grafana', 'jaeger', 'alertmanager'];
/** The storefront's nginx (images/storefront), which the gateway proxies `/` to. */
const storefront = 'storefront';
/** Each service's migration step: one-shot, before its replicas. */
const migrateSteps = serviceSpecs.map((s) => `${s.name}-migrate`);
const extraServices = ['nginx-exporter', 'grafana-volume-init', storefront, ...migrateSteps];
/** The second (third...) replica of each service: a compose service of its own (topology `replicasOf`). */
const extraReplicas = serviceSpecs.flatMap((s) => replicasOf(s.name).slice(1).map((r) => r.name));
/** The spec's component a compose service runs: a replica runs its service's. */
const componentOf = (name: string) => component(replicaByName(name)?.service ?? name);
const oneShot = 'grafana-volume-init';
/** Services under a profile: not started by `up`, only on demand (the load generator). */
const profiled = [loadService];
const localOnly = ['prometheus', 'grafana', 'jaeger', 'alertmanager'];

/** The variables compose reads, out of the child's environment: a shell variable would win over the env file. */
const composeVariables = new Set([...rawCompose.matchAll(/\$\{([A-Z_][A-Z0-9_]*)[:}]/g)].map((m) => m[1]));
const cleanEnvironment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !composeVariables.has(name)));

function dockerCompose(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): SpawnSyncReturns<string> {
  const result = spawnSync('docker-compose', args, {
    cwd: options.cwd ?? repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...cleanEnvironment, ...options.env },
  });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('docker-compose is not installed: run scripts/install-prerequisites.sh (Debian: apt-get install docker-compose)');
  }
  if (result.error) throw result.error;
  return result;
}

interface ResolvedService {
  image: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  user?: string;
  read_only?: boolean;
  tmpfs?: string[];
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  ports?: Array<string | { published: number; target: number; host_ip?: string }>;
  volumes?: string[];
  networks?: Record<string, unknown>;
  network_mode?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean; interval?: string; start_period?: string };
  restart?: string;
  mem_limit?: string;
  mem_reservation?: string;
  cpus?: number;
  cap_drop?: string[];
  cap_add?: string[];
  logging?: { driver: string; options: Record<string, string> };
  profiles?: string[];
  stop_grace_period?: string;
}
interface Resolved {
  services: Record<string, ResolvedService>;
  networks: Record<string, { internal?: boolean } | null>;
  volumes: Record<string, unknown>;
}

/** `docker-compose config` with .env.example (and `env` over it): variables resolved, paths absolute, as Docker would get them. */
function composeConfig(env: Record<string, string> = {}): Resolved {
  const result = dockerCompose(['-f', composeFile, '--env-file', envExample, 'config'], { env });
  if (result.status !== 0) throw new Error(`docker-compose config failed:\n${result.stderr}`);
  return parse(result.stdout) as Resolved;
}
const resolved: Resolved = composeConfig();
const longRunning = Object.keys(resolved.services).filter((name) => name !== oneShot && !migrateSteps.includes(name) && !profiled.includes(name));

const envExampleText = readFileSync(join(repoRoot, envExample), 'utf8');
const envExampleValues: Record<string, string> = Object.fromEntries(
  envExampleText
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

const portNumber = (c: Component, name: string) => c.ports.find((p) => p.name === name)!.port;

/** A published port as `address:host port:container port` (docker-compose prints two forms). */
function published(port: NonNullable<ResolvedService['ports']>[number]): string {
  if (typeof port !== 'string') return `${port.host_ip ?? '0.0.0.0'}:${port.published}:${port.target}`;
  const parts = port.replace(/\/tcp$/, '').split(':');
  return parts.length === 3 ? parts.join(':') : `0.0.0.0:${parts.join(':')}`;
}


test('docker-compose 1.29 accepts the file with .env.example, run from the repository root', (t) => {
  const result = dockerCompose(['-f', composeFile, '--env-file', envExample, 'config', '-q']);
  t.is(result.status, 0, result.stderr);
  t.is(result.stderr.trim(), '', 'no warnings');
});

test('and run from compose/ as operators do (--env-file is relative to the working directory)', (t) => {
  const result = dockerCompose(['--env-file', '.env.example', 'config', '-q'], { cwd: join(repoRoot, 'compose') });
  t.is(result.status, 0, result.stderr);
});

test('the committed files are what compose/generate.ts renders (node --import tsx compose/generate.ts)', (t) => {
  for (const output of outputs) t.is(readFileSync(join(repoRoot, output.path), 'utf8'), output.render(), output.path);
});

test('no top-level name: key, which docker-compose 1.29 rejects', (t) => {
  t.false(/^name:/m.test(rawCompose));
});

test('read as YAML 1.1 (docker-compose 1.x), only the intended keys hold something other than a string', (t) => {
  const intended = new Set(['read_only', 'init', 'retries', 'cpus', 'cpu_shares', 'soft', 'hard', 'internal']);
  const walk = (value: unknown, key: string): void => {
    if (Array.isArray(value)) value.forEach((item) => walk(item, key));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
    else if (typeof value !== 'string') t.true(intended.has(key), `${key}: ${String(value)}`);
  };
  walk(parse(rawCompose, { version: '1.1' }), '');
});

test("the services are the operator guide's, plus the nginx exporter, the storefront, Grafana's volume job and the services' other replicas", (t) => {
  t.deepEqual(Object.keys(resolved.services).filter((name) => !profiled.includes(name)).sort(), [...guideServices, ...extraServices, ...extraReplicas].sort());
  t.deepEqual(extraReplicas, ['backend-2', 'cart-service-2', 'order-service-2', 'user-service-2']);
  t.deepEqual(Object.entries(resolved.services).filter(([, s]) => s.profiles).map(([name]) => name), profiled, 'only the load generator is under a profile');
  t.deepEqual(components.map((c) => c.name).sort(), [...guideServices, 'nginx-exporter', storefront].sort(), 'every component of the spec runs');
});

test('every long-running container has a healthcheck, a restart policy, memory and CPU limits and log rotation', (t) => {
  for (const name of longRunning) {
    const s = resolved.services[name];
    t.true((s.healthcheck?.test?.length ?? 0) > 1 && !s.healthcheck?.disable, `${name}: healthcheck`);
    t.is(s.restart, 'unless-stopped', `${name}: restart`);
    const c = componentOf(name);
    t.is(s.mem_limit, c.resources.memory.limit.replace(/^(\d+)Mi$/, '$1m').replace(/^(\d+)Gi$/, '$1g'), `${name}: memory limit from the spec`);
    t.is(s.mem_reservation, c.resources.memory.request.replace(/^(\d+)Mi$/, '$1m').replace(/^(\d+)Gi$/, '$1g'), `${name}: memory request from the spec`);
    const cpu = c.resources.cpu.limit.endsWith('m') ? Number(c.resources.cpu.limit.slice(0, -1)) / 1000 : Number(c.resources.cpu.limit);
    t.is(Number(s.cpus), cpu, `${name}: CPU limit from the spec`);
  }
  for (const [name, s] of Object.entries(resolved.services)) {
    t.deepEqual(s.logging, { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '5' } }, `${name}: log rotation`);
    t.truthy(s.mem_limit && s.cpus, `${name}: limits`);
  }
});

test("every long-running container runs as its component's numeric non-root user, without capabilities", (t) => {
  for (const name of longRunning) {
    const s = resolved.services[name];
    const user = componentOf(name).user;
    t.true(user > 0);
    t.is(s.user, `${user}:${user}`, name);
    t.deepEqual(s.cap_drop, ['ALL'], name);
    t.is(s.cap_add, undefined, name);
  }
});

test("each service's migration step: one-shot, its service's image and user, the superuser's password and its role's, no token key or internal credential", (t) => {
  for (const s of serviceSpecs) {
    const step = resolved.services[`${s.name}-migrate`];
    const service = resolved.services[s.name];
    t.is(step.restart, 'no', s.name);
    t.is(step.image, service.image, s.name);
    t.is(step.user, service.user, s.name);
    t.true(step.read_only, s.name);
    t.deepEqual(step.cap_drop, ['ALL'], s.name);
    t.deepEqual(step.command, ['node', '--enable-source-maps', 'dist/main.js', 'migrate'], s.name);
    const env = step.environment ?? {};
    t.is(env.CASSANDRA_USERNAME, 'cassandra', s.name);
    t.is(env.CASSANDRA_PASSWORD, secretPlaceholder, s.name);
    t.true('CASSANDRA_SERVICE_PASSWORD' in env, s.name);
    t.false(Object.keys(env).some((k) => /^JWT_|^INTERNAL_/.test(k)), `${s.name}: ${Object.keys(env).join(', ')}`);
    // The service itself logs in as its own role, never as the superuser.
    t.is(service.environment?.CASSANDRA_USERNAME, s.name.replace(/-/g, '_'), s.name);
    t.false(rawCompose.includes(`CASSANDRA_PASSWORD: \${CASSANDRA_PASSWORD:?`) && Object.entries(resolved.services).some(([n, x]) => !n.endsWith('-migrate') && n !== 'cassandra' && x.environment?.CASSANDRA_USERNAME === 'cassandra'), 'only Cassandra and the migration steps get the superuser');
  }
  t.false('JWT_PRIVATE_KEY' in (resolved.services.backend.environment ?? {}), 'only user-service holds the signing key');
  t.true('JWT_PRIVATE_KEY' in (resolved.services['user-service'].environment ?? {}));
});

test("Grafana's volume job is the one root container: one-shot, no network, only CAP_CHOWN, chown to Grafana's user", (t) => {
  const job = resolved.services[oneShot];
  const grafana = component('grafana');
  t.is(job.user, '0:0');
  t.is(job.restart, 'no');
  t.is(job.network_mode, 'none');
  t.deepEqual(job.cap_drop, ['ALL']);
  t.deepEqual(job.cap_add, ['CHOWN']);
  t.true(job.read_only);
  t.is(job.image, grafana.image);
  t.deepEqual(job.entrypoint, ['chown', '-R', `${grafana.user}:${grafana.user}`, grafana.data[0].mountPath]);
  t.deepEqual(job.volumes, [`${grafana.data[0].name}:${grafana.data[0].mountPath}:rw`]);
  t.is(resolved.services.grafana.depends_on?.[oneShot]?.condition, 'service_completed_successfully');
});

test('root filesystems are read-only with a /tmp tmpfs, except Cassandra (its entrypoint rewrites /etc/cassandra)', (t) => {
  for (const name of longRunning) {
    const s = resolved.services[name];
    if (name === 'cassandra') {
      t.falsy(s.read_only, name);
      continue;
    }
    t.true(s.read_only, name);
    t.true(s.tmpfs?.some((m) => m.split(':')[0] === '/tmp'), `${name}: /tmp`);
  }
});

test('only nginx publishes on every interface; Prometheus, Grafana, Jaeger and Alertmanager on 127.0.0.1 only; nothing else', (t) => {
  const nginx = component('nginx');
  t.deepEqual(resolved.services.nginx.ports?.map(published), [
    `0.0.0.0:${infrastructure.nginx.port}:${portNumber(nginx, 'http')}`,
    `0.0.0.0:${infrastructure.nginx.tlsPort}:${portNumber(nginx, 'https')}`,
  ]);
  const expected: Record<string, number> = {
    prometheus: portNumber(component('prometheus'), 'http'),
    grafana: portNumber(component('grafana'), 'http'),
    jaeger: portNumber(component('jaeger'), 'ui'),
    alertmanager: portNumber(component('alertmanager'), 'http'),
  };
  for (const [name, s] of Object.entries(resolved.services)) {
    if (name === 'nginx') continue;
    if (localOnly.includes(name)) t.deepEqual(s.ports?.map(published), [`127.0.0.1:${expected[name]}:${expected[name]}`], name);
    else t.is(s.ports, undefined, `${name} publishes nothing`);
  }
  // The raw file: the public ports are the operator's NGINX_PORT and NGINX_SSL_PORT.
  t.true(rawCompose.includes(`"\${NGINX_PORT:-${infrastructure.nginx.port}}:${portNumber(nginx, 'http')}"`));
  t.true(rawCompose.includes(`"\${NGINX_SSL_PORT:-${infrastructure.nginx.tlsPort}}:${portNumber(nginx, 'https')}"`));
});

test('start-up order: services after a healthy Cassandra (and the services they call), nginx after the services', (t) => {
  const conditions = (name: string) =>
    Object.fromEntries(Object.entries(resolved.services[name].depends_on ?? {}).map(([dep, { condition }]) => [dep, condition]));
  const healthy = (...names: string[]) => Object.fromEntries(names.map((n) => [n, 'service_healthy']));
  const migrated = (name: string) => ({ [`${name}-migrate`]: 'service_completed_successfully' });
  t.deepEqual(conditions('backend'), { ...healthy('cassandra'), ...migrated('backend') });
  t.deepEqual(conditions('user-service'), { ...healthy('cassandra'), ...migrated('user-service') });
  t.deepEqual(conditions('cart-service'), { ...healthy('cassandra', 'backend'), ...migrated('cart-service') });
  t.deepEqual(conditions('order-service'), { ...healthy('cassandra', 'backend', 'cart-service'), ...migrated('order-service') });
  for (const name of migrateSteps) t.deepEqual(conditions(name), healthy('cassandra'), name);
  for (const name of extraReplicas) t.deepEqual(conditions(name), conditions(replicaByName(name)!.service), `${name} starts as its first replica`);
  // Not the storefront's health: nginx looks its name up per request (a missing storefront costs `/` alone).
  t.deepEqual(conditions('nginx'), { ...healthy('backend', 'backend-2', 'cart-service', 'cart-service-2', 'order-service', 'order-service-2', 'user-service', 'user-service-2'), [storefront]: 'service_started' });
  t.deepEqual(conditions('nginx-exporter'), healthy('nginx'));
  t.deepEqual(conditions('grafana'), { ...healthy('prometheus'), [oneShot]: 'service_completed_successfully' });
  for (const name of ['cassandra', 'prometheus', 'alertmanager', 'jaeger', storefront]) t.deepEqual(conditions(name), {}, name);
});

test('healthchecks: services ask /ready (so they wait for Cassandra), the others the probes of the spec', (t) => {
  for (const c of components.filter((x) => x.role === 'service')) {
    const test = resolved.services[c.name].healthcheck!.test!;
    t.is(test[0], 'CMD');
    t.is(test[1], 'node');
    t.true(test[3].includes(`http://127.0.0.1:${c.readiness!.port}${c.readiness!.path}`), c.name);
  }
  const url = (name: string) => resolved.services[name].healthcheck!.test!.at(-1);
  t.is(url('nginx'), `http://127.0.0.1:${component('nginx').liveness!.port}${component('nginx').liveness!.path}`, 'stub_status answers with either configuration');
  for (const name of ['prometheus', 'alertmanager', 'grafana', 'jaeger', storefront]) {
    const probe = component(name).readiness!;
    t.is(url(name), `http://127.0.0.1:${probe.port}${probe.path}`, name);
  }
  t.deepEqual(resolved.services.cassandra.healthcheck!.test, ['CMD', '/usr/local/bin/cassandra-healthcheck']);
  t.deepEqual(resolved.services['nginx-exporter'].healthcheck!.test, ['CMD', '/usr/bin/nginx-prometheus-exporter', '--version']);
});

test("images: the spec's; the project's own from IMAGE_REGISTRY/IMAGE_TAG, built from this repository", (t) => {
  for (const c of components) t.is(resolved.services[c.name].image, c.image, c.name);
  for (const c of components.filter((x) => x.role === 'service')) {
    t.true(rawCompose.includes(`image: \${IMAGE_REGISTRY:-${images.registry}}/${c.name}:\${IMAGE_TAG:-${images.tag}}`), c.name);
    t.deepEqual(resolved.services[c.name].build, { context: repoRoot, dockerfile: 'Dockerfile', args: { SERVICE: c.name, PORT: String(portNumber(c, 'http')) } });
  }
  t.deepEqual(resolved.services.cassandra.build, { context: join(repoRoot, 'images', 'cassandra') });
  // The storefront from the repository root: its image builds the files with the repository's own build.
  t.true(rawCompose.includes(`image: \${IMAGE_REGISTRY:-${images.registry}}/${storefront}:\${IMAGE_TAG:-${images.tag}}`));
  t.deepEqual(resolved.services[storefront].build, { context: repoRoot, dockerfile: 'images/storefront/Dockerfile' });
  t.true(existsSync(join(repoRoot, 'images', 'storefront', 'Dockerfile')));
  t.true(existsSync(join(repoRoot, 'images', 'cassandra', 'Dockerfile')));
  t.true(existsSync(join(repoRoot, 'Dockerfile')));
});

test('environment: as in the spec, values fixed, settings with their defaults, secrets required', (t) => {
  for (const c of components) {
    const env = resolved.services[c.name].environment ?? {};
    for (const [name, source] of Object.entries(c.env)) {
      if ('value' in source) t.is(env[name], source.value, `${c.name} ${name}`);
      else if ('config' in source) t.is(env[name], source.default, `${c.name} ${name}`);
      else t.is(env[name], source.optional ? '' : secretPlaceholder, `${c.name} ${name}`);
      if ('secret' in source && source.optional) t.true(rawCompose.includes(`${name}: \${${source.secret}:-}`), `${c.name} ${name}`);
      else if ('secret' in source) t.true(rawCompose.includes(`${name}: \${${source.secret}:?${source.secret} must be set in ${envFileName}}`), `${c.name} ${name}`);
      if ('config' in source) t.true(rawCompose.includes(`${name}: \${${source.config}:-${source.default}}`), `${c.name} ${name}`);
    }
  }
});

test('no secret value in the compose file: every secret-like variable is required from the env file', (t) => {
  for (const [name, s] of Object.entries(resolved.services)) {
    for (const key of Object.keys(s.environment ?? {})) {
      if (/PASSWORD|SECRET|TOKEN|CHAT_ID|_KEY$/.test(key)) {
        // A secret only one JWT mode needs is optional in the file; the service refuses to start without the one its mode needs.
        const from = (k: string) => rawCompose.includes(`${key}: \${${k}:?`) || (optionalSecretKeys.includes(k) && rawCompose.includes(`${key}: \${${k}:-}`));
        t.true(secretKeys.some(from), `${name} ${key}`);
      }
    }
  }
  t.false(/\d{6,}:[A-Za-z0-9_-]{20,}/.test(rawCompose), 'no Telegram bot token');
  t.false(/(?<![\w/.-])[A-Za-z0-9+/]{32,}={0,2}(?![\w/.-])/.test(rawCompose), 'no long base64 string');
  for (const [, key, value] of rawCompose.matchAll(/^\s+([A-Za-z_]+):\s*(.+)$/gm)) {
    if (/password|secret|token/i.test(key)) t.true(value.startsWith('${'), `${key} is not a literal`);
  }
});

test('compose refuses to start without a secret, and says which', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'compose-env-'));
  try {
    const envFile = join(dir, 'env');
    writeFileSync(envFile, envExampleText.replace(/^INTERNAL_TOKEN_ORDER_SERVICE=.*$/m, ''));
    const result = dockerCompose(['-f', composeFile, '--env-file', envFile, 'config', '-q']);
    t.not(result.status, 0);
    t.true(result.stderr.includes(`INTERNAL_TOKEN_ORDER_SERVICE must be set in ${envFileName}`), result.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(".env.example holds every variable the compose file reads, the guide's list, and the spec's secrets and settings", (t) => {
  const referenced = [...rawCompose.matchAll(/\$\{([A-Z_][A-Z0-9_]*)[:}]/g)].map((m) => m[1]);
  for (const name of new Set(referenced)) t.true(name in envExampleValues, `${name} (compose file)`);
  for (const name of guideVariables) t.true(name in envExampleValues, `${name} (guide)`);
  for (const name of secretKeys) t.is(envExampleValues[name], optionalSecretKeys.includes(name) ? '' : secretPlaceholder, `${name} (secret)`);
  for (const [name, value] of Object.entries(configDefaults)) t.is(envExampleValues[name], value, `${name} (setting)`);
  for (const [name, { default: value }] of Object.entries(composeSettings)) t.is(envExampleValues[name], value, `${name} (compose setting)`);
  for (const name of ['IMAGE_REGISTRY', 'IMAGE_TAG', 'NGINX_CONF', 'ADMIN_EMAIL', 'ADMIN_PASSWORD']) t.true(name in envExampleValues, name);
  for (const name of Object.keys(guideOnlyVariables)) t.true(new RegExp(`^# (unused|informational)[^\n]*\n${name}=`, 'm').test(envExampleText), `${name} is marked`);
  t.true(envExampleText.includes('openssl rand -base64 48'), 'how to generate the JWT key');
  t.is(new Set(Object.keys(envExampleValues)).size, envExampleText.split('\n').filter((l) => /^[A-Z_]/.test(l)).length, 'no variable twice');
});

test('.env.production is git-ignored', (t) => {
  const ignored = readFileSync(join(repoRoot, '.gitignore'), 'utf8').split('\n').map((l) => l.trim());
  t.true(ignored.includes('.env.production') || ignored.includes('compose/.env.production'));
  t.true(ignored.includes('.env'), 'compose/.env (a link to .env.production) too');
});

test('every configuration file mounted from the repository exists, read-only; nginx.conf and nginx-tls.conf both', (t) => {
  // Folders, committed empty (.gitkeep), so Docker never creates a bind mount's source itself.
  const folders = new Set([join(repoRoot, 'compose', 'certbot', 'conf'), join(repoRoot, 'compose', 'certbot', 'www')]);
  for (const [name, s] of Object.entries(resolved.services)) {
    for (const volume of s.volumes ?? []) {
      const [source, , mode] = volume.split(':');
      if (!source.startsWith('/')) continue; // named volume
      t.is(mode, 'ro', `${name}: ${volume}`);
      if (folders.has(source)) {
        t.true(existsSync(join(source, '.gitkeep')), `${name}: ${source} is committed`);
        continue;
      }
      // The nginx configurations' folder: mounted whole, so a checkout's new files show (see below).
      if (source === join(repoRoot, 'compose', 'nginx')) continue;
      t.true(source.startsWith(repoRoot) && existsSync(source) && statSync(source).isFile(), `${name}: ${source}`);
    }
  }
  for (const conf of ['nginx.conf', 'nginx-tls.conf']) {
    // A variable of the shell wins over the env file's.
    const result = dockerCompose(['-f', composeFile, '--env-file', envExample, 'config'], { env: { NGINX_CONF: conf } });
    t.is(result.status, 0, result.stderr);
    const nginx = (parse(result.stdout) as Resolved).services.nginx;
    // The folder, never the file: a single-file bind mount keeps the inode it started with, and a
    // `git checkout` writes a new one, so `nginx -s reload` would reread the old configuration.
    t.true(nginx.volumes!.includes(`${join(repoRoot, 'compose', 'nginx')}:/etc/nginx/product-store:ro`), nginx.volumes!.join('\n'));
    t.false(nginx.volumes!.some((v) => /\.conf:/.test(v)), 'no nginx configuration mounted as a single file');
    // nginx starts on the file NGINX_CONF picks in it (-c), which a reload rereads.
    const start = nginx.command!.join(' ');
    t.true(start.includes(`nginx -c /etc/nginx/product-store/${conf} `), start);
    t.true(existsSync(join(repoRoot, 'compose', 'nginx', conf)), conf);
  }
});

test('the spec configuration files are mounted where the spec says, and Prometheus gets its compose scrape configuration', (t) => {
  for (const c of components) {
    const volumes = resolved.services[c.name].volumes ?? [];
    // The nginx configuration's folder is mounted whole (the test above).
    for (const file of c.configFiles) t.true(volumes.some((v) => v.endsWith(`:${file.mountPath}:ro`) || (c.name === 'nginx' && v.endsWith(`:${posix.dirname(file.mountPath)}:ro`))), `${c.name}: ${file.mountPath}`);
    for (const data of c.data) t.true(volumes.includes(`${data.name}:${data.mountPath}:rw`), `${c.name}: ${data.name}`);
  }
  t.true(resolved.services.prometheus.volumes!.includes(`${join(repoRoot, 'compose', 'prometheus', 'prometheus.yml')}:/etc/prometheus/prometheus.yml:ro`));
  t.deepEqual(Object.keys(resolved.volumes).sort(), components.flatMap((c) => c.data.map((d) => d.name)).sort());
  t.deepEqual(Object.keys(resolved.volumes).sort(), ['alertmanager-data', 'cassandra-data', 'grafana-data', 'prometheus-data']);
});

test('networks: backend-net has no way out; only the containers that publish a port are on frontend-net', (t) => {
  t.true(resolved.networks['backend-net']?.internal);
  t.falsy(resolved.networks['frontend-net']?.internal);
  for (const name of longRunning) {
    const networks = Object.keys(resolved.services[name].networks ?? {}).sort();
    t.deepEqual(networks, resolved.services[name].ports ? ['backend-net', 'frontend-net'] : ['backend-net'], name);
  }
});

test("Alertmanager's start renders the Telegram settings where its command reads them (render.sh, for real)", (t) => {
  const am = resolved.services.alertmanager;
  t.deepEqual(am.entrypoint, ['/bin/sh', '-c']);
  const [script] = am.command!;
  const [render, start] = script.split(' && ');
  t.regex(start, /^exec \/bin\/alertmanager --config\.file=\/tmp\/alertmanager\/alertmanager\.yml --storage\.path=\/alertmanager /);
  // The container's filesystem, under a temporary folder: the mounted files at their mount paths.
  const root = mkdtempSync(join(tmpdir(), 'alertmanager-'));
  try {
    for (const volume of am.volumes!) {
      const [source, target] = volume.split(':');
      if (!source.startsWith('/')) continue;
      mkdirSync(dirname(join(root, target)), { recursive: true });
      cpSync(source, join(root, target));
    }
    const command = render.replace(/(\/etc\/alertmanager|\/tmp)\//g, (m) => `${root}${m}`);
    const result = spawnSync('sh', ['-c', command], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, TELEGRAM_BOT_TOKEN: '123456:test-token_for-compose', TELEGRAM_CHAT_ID: '-1001234567890' },
    });
    t.is(result.status, 0, result.stderr);
    const rendered = readFileSync(join(root, 'tmp', 'alertmanager', 'alertmanager.yml'), 'utf8');
    t.true(rendered.includes('123456:test-token_for-compose'));
    t.true(existsSync(join(root, 'tmp', 'alertmanager', 'templates', 'telegram.tmpl')), 'templates next to the rendered file');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('TLS: the certificate paths of nginx-tls.conf and the ACME webroot are mounted read-only', (t) => {
  const tls = readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx-tls.conf'), 'utf8');
  const certificate = /ssl_certificate (\S+);/.exec(tls)![1];
  const webroot = /root (\S+);/.exec(tls)![1];
  const volumes = resolved.services.nginx.volumes!;
  t.true(certificate.startsWith('/etc/letsencrypt/'));
  // By default a folder of the checkout (Docker would otherwise create /etc/letsencrypt on the host);
  // TLS_CERTS_DIR=/etc/letsencrypt once certbot has a certificate there.
  t.true(volumes.includes(`${join(repoRoot, 'compose', 'certbot', 'conf')}:/etc/letsencrypt:ro`), volumes.join('\n'));
  t.false(volumes.some((v) => v.startsWith('/etc/letsencrypt:')));
  const withHostCerts = composeConfig({ TLS_CERTS_DIR: '/etc/letsencrypt' }).services.nginx.volumes!;
  t.true(withHostCerts.includes('/etc/letsencrypt:/etc/letsencrypt:ro'));
  t.true(volumes.includes(`${join(repoRoot, 'compose', 'certbot', 'www')}:${webroot}:ro`));
});

test('the load profile: a one-shot load generator, non-root, against nginx by name from outside the backend network, under the per-address limits', (t) => {
  const load = resolved.services[loadService];
  t.deepEqual(load.profiles, [loadProfile]);
  t.true(rawCompose.includes(`image: \${IMAGE_REGISTRY:-${images.registry}}/load:\${IMAGE_TAG:-${images.tag}}`));
  // Not the services' Dockerfile: the deploy test's image builder takes only those with build args.
  t.deepEqual(load.build, { context: repoRoot, dockerfile: 'images/load/Dockerfile' });
  t.true(existsSync(join(repoRoot, 'images', 'load', 'Dockerfile')));
  t.is(load.user, '10001:10001');
  t.deepEqual(load.cap_drop, ['ALL']);
  t.is(load.cap_add, undefined);
  t.true(load.read_only);
  t.is(load.restart, 'no');
  t.deepEqual(Object.keys(load.networks ?? {}), ['frontend-net'], 'a client from outside: not on backend-net');
  t.is(load.ports, undefined);
  t.is(load.depends_on?.nginx?.condition, 'service_healthy');
  const command = load.command!;
  const flag = (name: string) => command[command.indexOf(name) + 1];
  t.is(flag('--url'), `http://nginx:${portNumber(component('nginx'), 'http')}`);
  // One container is one client address for nginx.
  t.true(Number(flag('--rate')) < gatewayLimits.apiRatePerSecond, `--rate ${flag('--rate')}`);
  t.true(2 * Number(flag('--customers')) + 1 <= gatewayLimits.authBurst, 'sign-ups and sign-ins fit the /auth burst');
  t.true(command.includes('--budget'));
  t.is(load.environment?.ADMIN_PASSWORD, secretPlaceholder);
  t.true(rawCompose.includes('ADMIN_PASSWORD: ${ADMIN_PASSWORD:?'));
  // `up` leaves it out: the profile is off unless asked for.
  t.true(rawCompose.includes(`profiles:\n      - ${loadProfile}`));
});

test('two replicas of every service: the same container, the second under the service\'s name too, which nginx and the services use', (t) => {
  const nginxConf = readFileSync(join(repoRoot, 'compose', 'nginx', 'nginx.conf'), 'utf8');
  for (const spec of serviceSpecs) {
    const [first, ...others] = replicasOf(spec.name);
    t.is(first.name, spec.name, 'the first replica keeps the name every command and check uses');
    t.true(others.length >= 1, spec.name);
    const main = resolved.services[first.name];
    for (const replica of others) {
      const copy = resolved.services[replica.name];
      for (const key of ['image', 'user', 'environment', 'healthcheck', 'restart', 'stop_grace_period', 'mem_limit', 'cpus', 'read_only', 'depends_on'] as const) {
        t.deepEqual(copy[key as keyof ResolvedService], main[key as keyof ResolvedService], `${replica.name} ${key}`);
      }
      t.is(copy.build, undefined, `${replica.name} runs the image its first replica builds`);
      // The service's name resolves to every replica: nginx (one server line, every address) and BACKEND_URL / CART_SERVICE_URL.
      t.deepEqual(copy.networks, { 'backend-net': { aliases: [spec.name] } }, replica.name);
    }
    t.true(
      nginxConf.includes(`server ${spec.name}:${spec.port} max_fails=${gatewayUpstream.maxFails} fail_timeout=${gatewayUpstream.failTimeoutSeconds}s;`),
      `nginx reaches every replica of ${spec.name} by its name`,
    );
  }
  // Draining takes nginx's keep-alive, the in-flight requests and the trace flush: well within the grace period.
  t.true(Number(resolved.services.backend.stop_grace_period?.replace(/s$/, '')) * 1000 > gatewayUpstream.keepaliveTimeoutSeconds * 1000 + gatewayUpstream.drainMarginMs + 8000 + 2500);
});
