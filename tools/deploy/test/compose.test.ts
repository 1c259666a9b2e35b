/**
 * The compose deployment, run for real: compose/docker-compose.yml under a Docker engine of its own
 * (tools/deploy/docker/engine.ts, inside a network namespace), with the project's images built from
 * its own Dockerfiles and stand-ins for the third-party ones (tools/deploy/docker/images.ts), and an
 * override file that changes only those stand-ins' `image:`. Then the operator guide's procedures,
 * against the running containers: health, the purchase journey through nginx, the storefront at `/`
 * and the canary's browser journey (npm run canary), logs, nodetool and
 * cqlsh, backup and restore, a restart, traces in Jaeger, the alert drill to a fake Telegram, rolling
 * updates (one that succeeds, one that must roll back), and a clean stop.
 *
 * The tests run in order and share one stack: each is one procedure of docs/runbook.md.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { storefrontCsp } from '../../../gateway/nginx';
import { images as published, replicaByName, replicasOf, serviceReplicas } from '@product-store/deploy';
import { startDockerEngine, type DockerEngine, type ExecResult } from '../docker/engine';
import { buildImages, type BuiltImages } from '../docker/images';
import type { JourneyResult } from '../journey';

const repoRoot = join(__dirname, '..', '..', '..');
const composeFile = join(repoRoot, 'compose', 'docker-compose.yml');
// docker-compose prefers the shell's variables to the env file's: the stack must get the env file's.
for (const [, name] of readFileSync(composeFile, 'utf8').matchAll(/\$\{([A-Z_][A-Z0-9_]*)[:}?-]/g)) delete process.env[name];
const services = ['backend', 'cart-service', 'order-service', 'user-service'] as const;
/** Every compose service that runs a service: `backend`, `backend-2`, ... */
const replicas = (service: (typeof services)[number]) => replicasOf(service).map((r) => r.name);
const allReplicas = services.flatMap(replicas);
const gateway = 'http://127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The token signing key pair (ES256, the deployment's default), on one line each as .env.example asks.
const signingKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const oneLine = (pem: string) => pem.trim().replace(/\n/g, '\\n');

// The operator's secrets, made up for this run: .env.example with every placeholder replaced.
const secrets = {
  JWT_PRIVATE_KEY: oneLine(signingKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
  JWT_PUBLIC_KEYS: oneLine(signingKeys.publicKey.export({ type: 'spki', format: 'pem' }) as string),
  INTERNAL_TOKEN_CART_SERVICE: randomBytes(32).toString('hex'),
  INTERNAL_TOKEN_ORDER_SERVICE: randomBytes(32).toString('hex'),
  CASSANDRA_PASSWORD_BACKEND: randomBytes(18).toString('base64url'),
  CASSANDRA_PASSWORD_CART_SERVICE: randomBytes(18).toString('base64url'),
  CASSANDRA_PASSWORD_ORDER_SERVICE: randomBytes(18).toString('base64url'),
  // A quote, which the migration step must write into CQL as a doubled quote.
  CASSANDRA_PASSWORD_USER_SERVICE: `it's-${randomBytes(12).toString('hex')}`,
  // Leading '-', as 1 in 64 random base64url passwords have: cqlsh's `-p VALUE` took it for an option
  // (the scripts and the runbook pass --password=VALUE).
  CASSANDRA_PASSWORD: `-${randomBytes(18).toString('base64url')}`,
  ADMIN_PASSWORD: `admin-${randomBytes(12).toString('hex')}`,
  GRAFANA_ADMIN_PASSWORD: randomBytes(12).toString('hex'),
  TELEGRAM_BOT_TOKEN: `7${randomBytes(4).readUInt32BE(0)}:${randomBytes(26).toString('base64url')}`,
  TELEGRAM_CHAT_ID: '-1001234567890',
};
const adminEmail = 'admin@example.com';

let engine: DockerEngine;
let built: BuiltImages;
let work: string;
let envFile: string;
let letsencryptExisted: boolean;
let journey: JourneyResult;

/** Runs in the engine's namespace, from the repository root. */
const sh = (command: string[], options: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}) =>
  engine.exec(command, { cwd: repoRoot, timeoutMs: 5 * 60_000, ...options });
/** docker-compose with the deployment's file, the stand-ins' override and the test's env file. */
const compose = (args: string[], options: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}) =>
  sh(['docker-compose', '-f', composeFile, '-f', built.overrideFile, '--env-file', envFile, ...args], options);
const ok = (result: ExecResult, what: string) => {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
};

/** HTTP from inside the namespace (published ports listen there): status, headers (lower-case names) and body. */
async function http(
  url: string,
  options: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  // A 20 s deadline on the request, and a timer that keeps the helper alive until it has answered: a fetch
  // whose connection vanished (nginx restarting behind Docker's published port) was once left pending
  // with nothing keeping Node up, and the helper exited 0 having printed nothing.
  const script = `const alive = setTimeout(() => {}, 25000); const done = (o) => { clearTimeout(alive); process.stdout.write(JSON.stringify(o)); }; fetch(process.argv[1], { ...JSON.parse(process.argv[2]), signal: AbortSignal.timeout(20000) }).then(async (r) => done({ status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() })).catch((e) => done({ status: 0, headers: {}, body: String(e) }))`;
  const init = {
    method: options.method ?? 'GET',
    headers: {
      ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  };
  const printed = ok(await sh([process.execPath, '-e', script, url, JSON.stringify(init)], { timeoutMs: 30_000 }), `HTTP ${url}`);
  // Nothing printed is no answer (status 0), as a refused connection is: callers that wait retry it.
  const out = printed.trim() ? JSON.parse(printed) : { status: 0, headers: {}, body: `no answer from ${url} (the helper printed nothing)` };
  let body: any = out.body;
  try {
    body = JSON.parse(out.body);
  } catch {
    // not JSON
  }
  return { status: out.status, headers: out.headers, body };
}

async function containerId(service: string): Promise<string> {
  return ok(await compose(['ps', '-q', service]), `ps ${service}`).trim();
}

async function inspect(id: string, format: string): Promise<string> {
  return ok(await engine.docker(['inspect', '--format', format, id]), `inspect ${id}`).trim();
}

/** Every long-running container healthy (or, for one without a healthcheck, running); the ones that are not, otherwise. */
async function unhealthy(): Promise<string[]> {
  const ids = ok(await compose(['ps', '-q']), 'ps').split('\n').filter(Boolean);
  const states = await Promise.all(
    ids.map(async (id) => inspect(id, '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}')),
  );
  return states.filter((s) => {
    const [name, status, health, exit] = s.split(' ');
    if (name === 'grafana-volume-init' || name.endsWith('-migrate')) return !(status === 'exited' && exit === '0');
    return !(status === 'running' && (health === 'healthy' || health === 'none'));
  });
}

async function waitHealthy(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left: string[] = [];
  while (Date.now() < deadline) {
    left = await unhealthy();
    if (left.length === 0) return;
    await sleep(3000);
  }
  const logs = await compose(['logs', '--tail=30']);
  throw new Error(`not healthy after ${timeoutMs / 1000} s: ${left.join(', ')}\n${logs.stdout.slice(-6000)}`);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(2000);
  }
}

async function runJourney(): Promise<JourneyResult> {
  const run = await sh([process.execPath, '--import', 'tsx', join(repoRoot, 'tools', 'deploy', 'journey.ts'), '--url', gateway, '--admin-email', adminEmail, '--admin-password', secrets.ADMIN_PASSWORD], {
    timeoutMs: 120_000,
  });
  if (run.code !== 0) throw new Error(`the purchase journey failed: ${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

test.before(async () => {
  letsencryptExisted = existsSync('/etc/letsencrypt');
  engine = await startDockerEngine();
  built = await buildImages(engine, { registry: published.registry, tag: published.tag });
  work = mkdtempSync(join(tmpdir(), 'ps-compose-'));
  envFile = join(work, '.env.production');
  const example = readFileSync(join(repoRoot, 'compose', '.env.example'), 'utf8');
  const values: Record<string, string> = { ...secrets, TELEGRAM_API_URL: built.telegramApiUrl };
  writeFileSync(
    envFile,
    example
      .split('\n')
      .map((line) => {
        const name = /^([A-Z_][A-Z0-9_]*)=/.exec(line)?.[1];
        return name && name in values ? `${name}=${values[name]}` : line;
      })
      .join('\n'),
    { mode: 0o600 },
  );
  // Leftovers of an interrupted run (the engine's images and volumes are kept between runs).
  await engine.docker(['rm', '-f', built.telegramContainer]);
  await compose(['down', '-v', '--remove-orphans'], { timeoutMs: 120_000 });
  const up = await compose(['up', '-d', '--no-build'], { timeoutMs: 10 * 60_000 });
  if (up.code !== 0) {
    // A one-shot migration step that failed says why only in its log.
    const steps = await compose(['logs', '--no-color', '--tail=40', ...services.map((s) => `${s}-migrate`)]);
    throw new Error(`docker-compose up -d failed (exit ${up.code}):\n${up.stdout}\n${up.stderr}\nmigration steps:\n${steps.stdout.slice(-8000)}`);
  }
});

test.after.always(async () => {
  if (engine) {
    await engine.docker(['rm', '-f', built?.telegramContainer ?? 'ps-fake-telegram']).catch(() => undefined);
    if (built) await compose(['down', '-v', '--remove-orphans'], { timeoutMs: 180_000 }).catch(() => undefined);
    await engine.stop();
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('docker-compose up -d: every container becomes healthy, the one-shot volume init exits 0', async (t) => {
  await waitHealthy(8 * 60_000);
  t.deepEqual(await unhealthy(), []);
  // The migration steps retry what a Cassandra that has just come up refuses: say what, when they did.
  const steps = await compose(['logs', '--no-color', ...services.map((s) => `${s}-migrate`)]);
  for (const line of steps.stdout.split('\n').filter((l) => l.includes('trying again'))) t.log(line.slice(0, 400));
  const ps = ok(await compose(['ps']), 'ps');
  for (const name of [...services, 'cassandra', 'nginx', 'storefront', 'nginx-exporter', 'prometheus', 'alertmanager', 'grafana', 'jaeger']) t.regex(ps, new RegExp(`compose_${name}_1 .*\\(healthy\\)`), name);
});

test.serial('the bind mounts create nothing on the host: nginx reads certbot\'s folder from the checkout, no /etc/letsencrypt appears', async (t) => {
  const mounts: Array<{ Source: string; Destination: string }> = JSON.parse(await inspect(await containerId('nginx'), '{{json .Mounts}}'));
  const certs = mounts.find((m) => m.Destination === '/etc/letsencrypt');
  t.is(certs?.Source, join(repoRoot, 'compose', 'certbot', 'conf'));
  t.true(mounts.every((m) => !m.Source.startsWith('/etc/')), JSON.stringify(mounts));
  t.is(existsSync('/etc/letsencrypt'), letsencryptExisted);
});

test.serial('scripts/health_check.sh: Nginx+Backend, Prometheus, Alertmanager, Grafana and Jaeger answer', async (t) => {
  const run = await sh(['bash', 'scripts/health_check.sh']);
  t.is(run.code, 0, run.stdout + run.stderr);
  for (const name of ['Nginx+Backend', 'Prometheus', 'Alertmanager', 'Grafana', 'Jaeger']) t.regex(run.stdout, new RegExp(`OK +${name.replace('+', '\\+')}`));
});

test.serial('the purchase journey through the nginx container: admin creates a product, a customer buys it', async (t) => {
  journey = await runJourney();
  t.truthy(journey.orderId);
  // The gateway keeps its promises: internal and operational paths are not routed.
  t.is((await http(`${gateway}/metrics`)).status, 404);
  t.is((await http(`${gateway}/internal/products/${journey.productId}`)).status, 404);
  t.is((await http(`${gateway}/products?limit=1`)).status, 200);
});

test.serial("the storefront at / through the nginx container: index.html with the strict CSP, its assets, the gateway's refusals", async (t) => {
  const index = await http(`${gateway}/`);
  t.is(index.status, 200);
  t.is(index.headers['content-security-policy'], storefrontCsp, 'one CSP, the storefront\'s (the upstream\'s copy is hidden)');
  t.is(index.headers['x-frame-options'], 'DENY');
  t.is(index.headers['cache-control'], 'no-cache');
  t.regex(index.headers['content-type'] ?? '', /^text\/html/);
  const html = String(index.body);
  const script = /src="\/(assets\/app-[^"]+\.js)"/.exec(html)?.[1];
  const style = /href="\/(assets\/style-[^"]+\.css)"/.exec(html)?.[1];
  t.truthy(script, html.slice(0, 500));
  t.truthy(style, html.slice(0, 500));
  const asset = await http(`${gateway}/${script}`, { headers: { 'Accept-Encoding': 'gzip' } });
  t.is(asset.status, 200);
  t.regex(asset.headers['content-type'] ?? '', /javascript/);
  t.regex(asset.headers['cache-control'] ?? '', /immutable/);
  t.is(asset.headers['content-security-policy'], storefrontCsp);
  t.is((await http(`${gateway}/${style}`)).status, 200);
  // The API keeps its own CSP; what the storefront has no file for is the gateway's problem+json 404.
  const products = await http(`${gateway}/products?limit=1`);
  t.is(products.status, 200);
  t.is(products.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
  for (const path of ['/metrics', '/ready', '/internal/carts/x', '/assets/', '/nothing-here', '/assets/..%2Fproducts']) {
    const answer = await http(`${gateway}${path}`);
    t.is(answer.status, 404, path);
    t.regex(answer.headers['content-type'] ?? '', /^application\/problem\+json/, path);
  }
  const post = await http(`${gateway}/`, { method: 'POST', body: {} });
  t.is(post.status, 405, 'a static page takes no POST');
  t.is(post.headers.allow, 'GET, HEAD');
  t.regex(post.headers['content-type'] ?? '', /^application\/problem\+json/);

  // The storefront container as the cluster runs its pods: non-root, read-only, and its own nginx
  // sends the CSP (the cluster's Ingress adds none).
  const id = await containerId('storefront');
  t.is(await inspect(id, '{{.Config.User}}'), '101:101');
  t.is(await inspect(id, '{{.HostConfig.ReadonlyRootfs}}'), 'true');
  const direct = await compose(['exec', '-T', 'nginx', 'wget', '-S', '-O', '/dev/null', 'http://storefront:8080/']);
  t.is(direct.code, 0, direct.stderr);
  const csp = /^\s*Content-Security-Policy: (.*)$/im.exec(direct.stderr + direct.stdout)?.[1]?.trim();
  t.is(csp, storefrontCsp, direct.stderr);
});

test.serial('the canary (npm run canary) against the compose gateway: its browser journey passes in Chromium', async (t) => {
  // Chromium runs in the engine's namespace, where the published port listens, as the journey does.
  const run = await sh([process.execPath, '--import', 'tsx', join(repoRoot, 'storefront', 'canary.ts'), '--url', gateway, '--screenshots', join(work, 'canary')], {
    env: { CANARY_ADMIN_EMAIL: adminEmail, CANARY_ADMIN_PASSWORD: secrets.ADMIN_PASSWORD },
    timeoutMs: 4 * 60_000,
  });
  t.log(run.stdout.trim().split('\n').slice(-3).join('\n'));
  t.is(run.code, 0, `${run.stdout}\n${run.stderr}`);
  t.regex(run.stdout, /\[canary\] passed: \d+ steps, order \S+ placed and cancelled/);
  t.regex(run.stdout, /ok +admin: create a product/);
  t.regex(run.stdout, /ok +no Content-Security-Policy violation/);
  t.true(existsSync(join(work, 'canary', 'catalog.png')), 'a screenshot of the catalog');
});

test.serial('Prometheus scrapes every target of the stack', async (t) => {
  const targets = await waitFor('every Prometheus target up', 120_000, async () => {
    const res = await http('http://127.0.0.1:9090/api/v1/targets?state=active');
    const active: Array<{ labels: { job: string }; health: string; lastError: string }> = res.body?.data?.activeTargets ?? [];
    return active.length > 0 && active.every((a) => a.health === 'up') ? active : undefined;
  });
  const jobs = new Set(targets.map((a) => a.labels.job));
  for (const job of [...services, 'cassandra', 'nginx', 'prometheus', 'alertmanager']) t.true(jobs.has(job), job);
  // One target per replica (the service name resolves to all of them), so counters never mix.
  for (const job of services) t.is(targets.filter((a) => a.labels.job === job).length, serviceReplicas, `${job}: a target per replica`);
});

test.serial('docker-compose logs backend: JSON lines, the start and the journey\'s requests with their request ids', async (t) => {
  const logs = ok(await compose(['logs', '--no-color', 'backend']), 'logs backend');
  const entries = logs
    .split('\n')
    .map((l) => l.replace(/^[^|{]*\|\s?/, '').trim())
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string; service?: string; path?: string; request_id?: string });
  const sample = logs.split('\n').slice(0, 8).join('\n');
  t.true(entries.length > 0, sample);
  t.true(entries.every((e) => typeof e.level === 'string' && e.service === 'backend'), sample);
  t.true(entries.some((e) => e.msg === 'listening'), sample);
  const journeyRequests = entries.filter((e) => e.msg === 'request' && e.path === `/products/${journey.productId}`);
  t.true(journeyRequests.length > 0, sample);
  t.true(journeyRequests.every((e) => typeof e.request_id === 'string' && e.request_id.length > 0));
});

test.serial('docker-compose exec cassandra: nodetool status shows the node Up/Normal, cqlsh lists the keyspace', async (t) => {
  const status = ok(await compose(['exec', '-T', 'cassandra', 'nodetool', 'status']), 'nodetool status');
  t.regex(status, /Datacenter: datacenter1/);
  const id = ok(await compose(['ps', '-q', 'cassandra']), 'ps cassandra').trim();
  const ip = (await inspect(id, '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')).trim();
  t.regex(status, new RegExp(`^UN\\s+${ip.replace(/\./g, '\\.')}\\s`, 'm'), `the node listens on its container's address ${ip}`);
  const keyspaces = await compose(['exec', '-T', 'cassandra', 'cqlsh', '-u', 'cassandra', `--password=${secrets.CASSANDRA_PASSWORD}`, '-e', 'DESCRIBE KEYSPACES;']);
  t.is(keyspaces.code, 0, keyspaces.stderr);
  t.regex(keyspaces.stdout, /product_store/);
  const local = ok(await compose(['exec', '-T', 'cassandra', 'cqlsh', '-u', 'cassandra', `--password=${secrets.CASSANDRA_PASSWORD}`, '-e', 'SELECT cluster_name, data_center FROM system.local;']), 'cqlsh system.local');
  t.regex(local, /product-store\s+\|\s+datacenter1/);
  const refused = await compose(['exec', '-T', 'cassandra', 'cqlsh', '-u', 'cassandra', '--password=cassandra', '-e', 'SELECT now() FROM system.local;']);
  t.not(refused.code, 0, 'the default password no longer works');
});

test.serial("secrets: each service logs in to Cassandra as its own role, which reads its own tables only and changes no schema", async (t) => {
  const role = (service: string) => service.replace(/-/g, '_');
  const passwordOf = (service: string) => secrets[`CASSANDRA_PASSWORD_${service.toUpperCase().replace(/-/g, '_')}` as keyof typeof secrets];
  for (const service of allReplicas) {
    const env = (await inspect(await containerId(service), '{{range .Config.Env}}{{println .}}{{end}}')).split('\n');
    const owner = replicaByName(service)!.service;
    t.true(env.includes(`CASSANDRA_USERNAME=${role(owner)}`), `${service} logs in as ${role(owner)}`);
    t.false(env.some((e) => e.startsWith(`CASSANDRA_PASSWORD=${secrets.CASSANDRA_PASSWORD}`)), `${service} holds the superuser's password`);
    t.is(env.some((e) => /^JWT_PRIVATE_KEY=./.test(e)), owner === 'user-service', `${service}: only user-service holds the signing key`);
  }
  const users = ok(await compose(['exec', '-T', 'cassandra', 'cqlsh', '-u', 'cassandra', `--password=${secrets.CASSANDRA_PASSWORD}`, '-e', 'LIST ROLES;']), 'LIST ROLES');
  for (const service of services) t.regex(users, new RegExp(`^\\s*${role(service)}\\s*\\|\\s*False`, 'm'), `${role(service)}: a role, not a superuser`);
  const asRole = (service: string, cql: string) =>
    compose(['exec', '-T', 'cassandra', 'cqlsh', '-u', role(service), `--password=${passwordOf(service)}`, '-e', cql]);
  const own: Record<string, string> = { backend: 'products', 'cart-service': 'cart_items', 'order-service': 'orders', 'user-service': 'users' };
  for (const service of services) {
    const read = await asRole(service, `SELECT * FROM product_store.${own[service]} LIMIT 1;`);
    t.is(read.code, 0, `${service} reads its ${own[service]}: ${read.stderr}`);
    for (const [other, table] of Object.entries(own)) {
      if (other === service) continue;
      const refused = await asRole(service, `SELECT * FROM product_store.${table} LIMIT 1;`);
      t.not(refused.code, 0, `${service} reads ${other}'s ${table}`);
      t.regex(refused.stderr + refused.stdout, /Unauthorized|has no SELECT permission/, `${service} on ${table}`);
    }
  }
  const ddl = await asRole('backend', 'CREATE TABLE product_store.intruder (id int PRIMARY KEY);');
  t.not(ddl.code, 0, 'a service role creates no table');
  const drop = await asRole('order-service', 'DROP TABLE product_store.products;');
  t.not(drop.code, 0, 'a service role drops no table');
});

test.serial("secrets: user-service alone signs (ES256); a caller's internal credential opens only the endpoints it needs", async (t) => {
  const login = await http(`${gateway}/auth/login`, { method: 'POST', body: { email: adminEmail, password: secrets.ADMIN_PASSWORD } });
  const header = JSON.parse(Buffer.from(String(login.body.access_token).split('.')[0], 'base64url').toString('utf8'));
  t.is(header.alg, 'ES256');
  t.is(typeof header.kid, 'string');
  // From inside cart-service's container, with its own credential: backend's product lookup (its
  // endpoint) is allowed, the reservation endpoints (order-service's) are 403, no credential is 401.
  const fromCart = async (path: string, token?: string) => {
    const script =
      `fetch(process.argv[1], { method: 'POST', headers: { 'Content-Type': 'application/json', ...(process.argv[2] ? { 'X-Internal-Token': process.argv[2] } : {}) }, body: process.argv[3] })` +
      `.then(async (r) => process.stdout.write(r.status + ' ' + (await r.text())), (e) => process.stdout.write('0 ' + e))`;
    const body = path.endsWith('lookup') ? JSON.stringify({ product_ids: [journey.productId] }) : JSON.stringify({ reservation_id: '00000000-0000-4000-8000-000000000000', lines: [{ product_id: journey.productId, quantity: 1 }] });
    const out = ok(await compose(['exec', '-T', 'cart-service', 'node', '-e', script, `http://backend:8000${path}`, token ?? '', body]), `POST ${path}`);
    return { status: Number(out.split(' ')[0]), body: out.slice(out.indexOf(' ') + 1) };
  };
  t.is((await fromCart('/internal/products/lookup', secrets.INTERNAL_TOKEN_CART_SERVICE)).status, 200);
  const refused = await fromCart('/internal/reservations', secrets.INTERNAL_TOKEN_CART_SERVICE);
  t.is(refused.status, 403, refused.body);
  t.regex(refused.body, /INTERNAL_CALLER_FORBIDDEN/);
  t.is((await fromCart('/internal/products/lookup')).status, 401);
});

test.serial('a checkout is one trace in Jaeger, found by service and operation as the guide searches', async (t) => {
  t.is((await http(`${gateway}/products?limit=5`)).status, 200);
  const search = async (service: string, operation: string) =>
    waitFor(`a ${service} trace of ${operation}`, 60_000, async () => {
      const res = await http(`http://127.0.0.1:16686/api/traces?service=${encodeURIComponent(service)}&operation=${encodeURIComponent(operation)}&lookback=1h&limit=20`);
      const traces: Array<{ spans: Array<{ operationName: string; processID: string }>; processes: Record<string, { serviceName: string }> }> = res.body?.data ?? [];
      return traces.length ? traces : undefined;
    });
  t.true((await search('backend', 'GET /products')).length > 0);
  const checkouts = await search('order-service', 'POST /orders');
  const traced = new Set(checkouts.flatMap((trace) => Object.values(trace.processes).map((p) => p.serviceName)));
  t.true(traced.has('order-service') && traced.has('cart-service') && traced.has('backend'), [...traced].join(', '));
});

test.serial('backup and restore with the scripts: a product deleted after the backup is back after the restore', async (t) => {
  const env = { COMPOSE_ENV_FILE: envFile, BACKUP_DIR: join(work, 'backups') };
  const backup = await sh(['bash', 'scripts/cassandra-backup.sh'], { env });
  t.is(backup.code, 0, backup.stdout + backup.stderr);
  const archive = backup.stdout.trim().split('\n').pop()!;
  t.true(existsSync(archive), archive);

  const login = await http(`${gateway}/auth/login`, { method: 'POST', body: { email: adminEmail, password: secrets.ADMIN_PASSWORD } });
  const admin = login.body.access_token as string;
  t.is((await http(`${gateway}/products/${journey.productId}`, { method: 'DELETE', token: admin })).status, 204);
  t.is((await http(`${gateway}/products/${journey.productId}`)).status, 404);

  ok(await compose(['stop', ...allReplicas]), 'stop the services');
  const restore = await sh(['bash', 'scripts/cassandra-restore.sh', archive, '--force'], { env, timeoutMs: 10 * 60_000 });
  t.is(restore.code, 0, restore.stdout + restore.stderr);
  ok(await compose(['start', ...allReplicas]), 'start the services');
  await waitHealthy(4 * 60_000);
  ok(await compose(['exec', '-T', 'nginx', 'nginx', '-s', 'reload']), 'reload nginx');
  const back = await waitFor('the restored product through the gateway', 60_000, async () => {
    const res = await http(`${gateway}/products/${journey.productId}`);
    return res.status === 200 ? res.body : undefined;
  });
  t.is(back.stock, 3);
});

test.serial('docker-compose restart backend: healthy again, the gateway serves the catalog', async (t) => {
  ok(await compose(['restart', 'backend']), 'restart backend');
  await waitHealthy(3 * 60_000);
  const res = await waitFor('the catalog through the gateway', 60_000, async () => {
    const r = await http(`${gateway}/products?limit=1`);
    return r.status === 200 ? r : undefined;
  });
  t.is(res.status, 200);
});

test.serial('the storefront stopped: nginx still restarts and serves the API, `/` is the gateway\'s 502; the storefront back, `/` serves without a reload', async (t) => {
  ok(await compose(['stop', 'storefront']), 'stop storefront');
  try {
    // nginx no longer needs the storefront's name to load (it asks Docker's DNS per request).
    ok(await compose(['restart', 'nginx']), 'restart nginx');
    const health = await waitFor('/health through the restarted gateway', 60_000, async () => {
      const r = await http(`${gateway}/health`);
      return r.status === 200 ? r : undefined;
    });
    t.is(health.status, 200);
    t.is((await http(`${gateway}/products?limit=1`)).status, 200);
    const missing = await http(`${gateway}/`);
    t.is(missing.status, 502);
    t.regex(missing.headers['content-type'], /^application\/problem\+json/);
    t.is(missing.body.code, 'SERVICE_UNAVAILABLE');
  } finally {
    ok(await compose(['start', 'storefront']), 'start storefront');
  }
  // Found again once Docker's DNS has it and nginx's cached answer expired (valid=10s): no reload here.
  const page = await waitFor('/ through the gateway once the storefront is back', 90_000, async () => {
    const r = await http(`${gateway}/`);
    return r.status === 200 ? r : undefined;
  });
  t.regex(page.headers['content-type'], /^text\/html/);
  await waitHealthy(2 * 60_000);
});

test.serial("nginx reads the checkout's current nginx.conf: a file replaced on the host (a new inode, as git checkout writes) is what the container sees, and a reload takes it", async (t) => {
  const file = join(repoRoot, 'compose', 'nginx', 'nginx.conf');
  const inContainer = '/etc/nginx/product-store/nginx.conf';
  const inode = async () => ok(await compose(['exec', '-T', 'nginx', 'stat', '-c', '%i', inContainer]), 'stat in the container').trim();
  const before = await inode();
  // The same bytes in a new file renamed over the old one: nothing about the configuration changes
  // (other tests read this committed file), only the inode, which a single-file bind mount would pin.
  const content = readFileSync(file);
  const next = `${file}.replacing`;
  writeFileSync(next, content);
  renameSync(next, file);
  const after = String(statSync(file).ino);
  t.not(after, before);
  t.is(await inode(), after, 'the container sees the new file');
  ok(await compose(['exec', '-T', 'nginx', 'nginx', '-c', inContainer, '-s', 'reload']), 'reload');
  const health = await waitFor('/health after the reload', 30_000, async () => {
    const r = await http(`${gateway}/health`);
    return r.status === 200 ? r : undefined;
  });
  t.is(health.status, 200);
});

test.serial('the alert drill: cart-service stopped (both replicas), ServiceDown reaches the fake Telegram; the bot token is in no log', async (t) => {
  ok(await compose(['stop', ...replicas('cart-service')]), 'stop cart-service');
  // Telegram is unreachable at first: Alertmanager's failed sends are where old versions logged the token.
  await waitFor('a failed Telegram send in Alertmanager\'s log', 240_000, async () => {
    const logs = await compose(['logs', '--no-color', 'alertmanager']);
    return /Notify attempt failed|notify retry canceled|Error on notify/i.test(logs.stdout) ? true : undefined;
  });
  ok(await engine.docker(['run', '-d', '--name', built.telegramContainer, '--network', 'compose_backend-net', '--network-alias', built.telegramHost, built.images.telegram]), 'start the fake Telegram');
  const messages = await waitFor('a ServiceDown message at the fake Telegram', 240_000, async () => {
    const res = await engine.docker(['exec', built.telegramContainer, ...built.telegramMessagesCommand]);
    if (res.code !== 0) return undefined;
    const received: Array<{ token: string; body: { chat_id: number; text: string } }> = JSON.parse(res.stdout || '[]');
    return received.some((m) => /ServiceDown/.test(m.body.text) && /cart-service/.test(m.body.text)) ? received : undefined;
  });
  t.true(messages.every((m) => m.token === secrets.TELEGRAM_BOT_TOKEN), 'sent with the configured bot');
  t.true(messages.every((m) => String(m.body.chat_id) === secrets.TELEGRAM_CHAT_ID));

  const ids = ok(await compose(['ps', '-q']), 'ps').split('\n').filter(Boolean);
  for (const id of ids) {
    const logs = await engine.docker(['logs', id]);
    const name = await inspect(id, '{{.Name}}');
    t.false(`${logs.stdout}${logs.stderr}`.includes(secrets.TELEGRAM_BOT_TOKEN.split(':')[1]), `the bot token is in the log of ${name}`);
  }
  ok(await compose(['start', ...replicas('cart-service')]), 'start cart-service');
  // The fake Telegram leaves the project's network, or `docker-compose down` could not remove it.
  ok(await engine.docker(['rm', '-f', built.telegramContainer]), 'remove the fake Telegram');
  await waitHealthy(3 * 60_000);
  ok(await compose(['exec', '-T', 'nginx', 'nginx', '-s', 'reload']), 'reload nginx');
});

/** The services' warnings and errors and nginx's error lines of the last `seconds`, for a failure's message. */
async function updateWarnings(seconds: number): Promise<string> {
  const names = [...services.flatMap((s) => replicas(s)), 'nginx'];
  const lines: string[] = [];
  for (const name of names) {
    const logs = await engine.docker(['logs', '--since', `${seconds}s`, await containerId(name)]);
    for (const line of `${logs.stdout}\n${logs.stderr}`.split('\n')) {
      if (/"level":"(warn|error)"|\[(error|crit|alert)\]/.test(line)) lines.push(line.slice(0, 400));
    }
  }
  return lines.length ? `\nwarnings and errors logged meanwhile (${lines.length}, the last 30):\n${lines.slice(-30).join('\n')}` : '\nno warning or error logged meanwhile';
}

test.serial('scripts/rolling-update.sh under load: a new image of backend is rolled out to both replicas with no error at the gateway', async (t) => {
  const current = `${published.registry}/backend:${published.tag}`;
  const next = `${published.tag}-next`;
  ok(await engine.docker(['build', '-t', `${published.registry}/backend:${next}`, '-'], { input: `FROM ${current}\nLABEL org.opencontainers.image.version=${next}\n` }), 'build the next image');
  const before = await inspect(await containerId('backend'), '{{.Image}}');
  // Customers all along (the guide's "Zero Downtime"): the load generator inside the engine's
  // namespace, from one client address, under nginx's per-address limits.
  const loadJson = join(work, 'rolling-update-load.json');
  const load = sh(
    [process.execPath, '--import', 'tsx', join(repoRoot, 'tools', 'load', 'cli.ts'), '--url', gateway, '--rate', '15', '--duration', '75s', '--customers', '4',
      '--admin-email', adminEmail, '--admin-password', secrets.ADMIN_PASSWORD, '--products', '4', '--json', loadJson],
    { timeoutMs: 4 * 60_000 },
  );
  const updateStarted = Date.now();
  await sleep(10_000);
  const run = await sh(['bash', 'scripts/rolling-update.sh', 'backend'], { env: { COMPOSE_ENV_FILE: envFile, IMAGE_TAG: next, PULL: 'false', GATEWAY_URL: gateway, HEALTH_TIMEOUT: '180' }, timeoutMs: 6 * 60_000 });
  const loaded = await load;
  t.is(run.code, 0, run.stdout + run.stderr);
  for (const name of replicas('backend')) t.is(await inspect(await containerId(name), '{{.Config.Image}}'), `${published.registry}/backend:${next}`, name);
  t.not(await inspect(await containerId('backend'), '{{.Image}}'), before);
  t.true(existsSync(loadJson), `the load generator wrote no summary: ${loaded.stderr.slice(-2000)}`);
  const summary = JSON.parse(readFileSync(loadJson, 'utf8')) as { sent: number; errors: number; byStatus: Record<string, number>; byOperation?: Record<string, { byStatus: Record<string, number> }> };
  // Which operations met what, beyond 2xx: where a failure came from (add, checkout, ...).
  const failedByOperation = Object.fromEntries(
    Object.entries(summary.byOperation ?? {})
      .map(([op, stats]) => [op, Object.fromEntries(Object.entries(stats.byStatus).filter(([status]) => !/^2\d\d$/.test(status)))] as const)
      .filter(([, statuses]) => Object.keys(statuses).length > 0),
  );
  t.log(`${summary.sent} requests during the update; statuses ${JSON.stringify(summary.byStatus)}`);
  t.true(summary.sent > 300, `${summary.sent} requests`);
  // Where a failure came from, beyond its operation: what the services warned of while it ran (a
  // dependency unavailable and why, a database error), and nginx's own errors.
  const warnings = summary.errors === 0 ? '' : await updateWarnings(Math.ceil((Date.now() - updateStarted) / 1000) + 5).catch((err: Error) => `\n(the services' warnings could not be read: ${err.message})`);
  t.is(summary.errors, 0, `requests failed during the rolling update: ${JSON.stringify(summary.byStatus)}; by operation ${JSON.stringify(failedByOperation)}${warnings}`);
});

test.serial('scripts/rolling-update.sh: a broken image is rolled back, and the image that ran before serves again', async (t) => {
  const serving = await inspect(await containerId('backend'), '{{.Image}}');
  const broken = `${published.tag}-broken`;
  const base = `${published.registry}/backend:${published.tag}`;
  ok(
    await engine.docker(['build', '-t', `${published.registry}/backend:${broken}`, '-'], { input: `FROM ${base}\nCMD ["node", "-e", "console.error('broken on purpose'); process.exit(1)"]\n` }),
    'build the broken image',
  );
  const run = await sh(['bash', 'scripts/rolling-update.sh', 'backend'], { env: { COMPOSE_ENV_FILE: envFile, IMAGE_TAG: broken, PULL: 'false', GATEWAY_URL: gateway, HEALTH_TIMEOUT: '60' }, timeoutMs: 6 * 60_000 });
  t.is(run.code, 1, run.stdout + run.stderr);
  t.regex(run.stdout, /rolled back to its previous image/);
  t.is(await inspect(await containerId('backend'), '{{.Image}}'), serving, 'the image that ran before');
  t.is(await inspect(await containerId('backend-2'), '{{.Image}}'), serving, 'the next replica was not touched');
  await waitHealthy(3 * 60_000);
  t.is((await http(`${gateway}/products/${journey.productId}`)).status, 200);
});

test.serial('docker-compose stop, then down: every service exits 0, none is killed', async (t) => {
  const ids = ok(await compose(['ps', '-q']), 'ps').split('\n').filter(Boolean);
  ok(await compose(['stop'], { timeoutMs: 5 * 60_000 }), 'docker-compose stop');
  const exits = Object.fromEntries(await Promise.all(ids.map(async (id) => (await inspect(id, '{{index .Config.Labels "com.docker.compose.service"}} {{.State.ExitCode}}')).split(' '))));
  for (const service of services) t.is(exits[service], '0', `${service} exit code`);
  for (const [name, code] of Object.entries(exits)) t.not(code, '137', `${name} was killed after the stop timeout`);
  // What the services' starts and stops used to leave in the logs.
  const cassandraLog = ok(await compose(['logs', '--no-color', 'cassandra']), 'logs cassandra');
  t.false(/prepared unqa?ualified statement/i.test(cassandraLog), 'Cassandra logs no prepared-unqualified-statement errors');
  const orderLog = ok(await compose(['logs', '--no-color', 'order-service']), 'logs order-service');
  t.false(/after shutdown|Socket was closed/i.test(orderLog), 'order-service stops without database errors');
  ok(await compose(['down', '-v'], { timeoutMs: 5 * 60_000 }), 'docker-compose down');
  t.is(ok(await compose(['ps', '-q']), 'ps').trim(), '');
});
