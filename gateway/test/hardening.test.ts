/**
 * The gateway's edges against the real nginx, configured as gateway/nginx.ts renders it, in front of
 * the kit's Koa app (without a database) standing in for every service: nginx's own answers are
 * problem+json like the services'; paths that nginx would normalize but pass on as sent, and a
 * client's X-Internal-Token, never reach a service; the rate limits count the client behind a trusted
 * proxy (TRUSTED_PROXIES) and nobody else's X-Forwarded-For; the services read the one address their
 * gateway forwards only when the setting is on.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Router from '@koa/router';
import test from 'ava';
import { Testing } from 'cdk8s';
import { createApp, problems, startService, createLogger, createMetrics, parseTrustedProxies } from '@product-store/kit';
import { gatewayLimits, services, type ServiceName } from '@product-store/deploy';
import { freePort, waitForHttp, startProcess, type ManagedProcess } from '../../tools/stack/processes';
import { IngressChart } from '../../charts/ingress';
import { composeTarget, ingressSnippet, refusedPath, renderNginx, type GatewayTarget } from '../nginx';
import { exchange } from './raw-http';

const repoRoot = join(__dirname, '..', '..');

/** What a stand-in service saw of one request. */
interface Seen {
  path: string;
  ip: string;
  forwardedFor?: string;
  internalToken?: string;
}

interface Upstream {
  port: number;
  seen: Seen[];
  server: Server;
}

/** The kit's app with routes at the public paths the tests use and an internal one, recording what reaches it. */
async function startUpstream(trustedProxies: string[]): Promise<Upstream> {
  const seen: Seen[] = [];
  const router = new Router();
  const echo = (ctx: import('koa').Context) => {
    ctx.body = { ip: ctx.ip };
  };
  router.get('/cart', echo);
  router.post('/auth/login', echo);
  router.get('/products', echo);
  router.get('/products/db-down', () => {
    // What a replica answers while Cassandra is away: the kit's 503 with Retry-After.
    throw Object.assign(new Error('All host(s) tried for query failed'), { name: 'NoHostAvailableError' });
  });
  router.get('/products/:id', echo);
  // As cart-service's: reached without the services' token, it answers 401 (the issue's symptom).
  router.get('/internal/carts/:user_id', () => {
    throw problems.unauthorized('Internal endpoints are for the services of the stack.').withCode('INTERNAL_TOKEN_REQUIRED');
  });
  const http = createApp({ service: 'cart-service', log: createLogger({ level: 'error' }), metrics: createMetrics('cart-service'), router, readinessCheck: async () => undefined, trustedProxies });
  http.app.middleware.unshift(async (ctx, next) => {
    seen.push({ path: ctx.url, ip: ctx.ip, forwardedFor: ctx.get('X-Forwarded-For') || undefined, internalToken: ctx.get('X-Internal-Token') || undefined });
    await next();
  });
  const server = createServer(http.app.callback());
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, seen, server };
}

interface Gateway {
  port: number;
  internalPort: number;
  nginx: ManagedProcess;
}

const work = mkdtempSync(join(tmpdir(), 'gateway-hardening-'));
const nginxLog: string[] = [];
const closedPort = { port: 0 };

/** nginx in front of one stand-in for every service but order-service, whose address refuses connections. */
async function startGateway(name: string, upstream: Upstream, trustedProxies?: GatewayTarget['trustedProxies']): Promise<Gateway> {
  const dir = join(work, name);
  mkdirSync(join(dir, 'temp'), { recursive: true });
  const port = await freePort();
  const internal = new Map<ServiceName, number>();
  for (const s of services) internal.set(s.name, await freePort());
  const config = renderNginx({
    listen: port,
    statusListen: `127.0.0.1:${await freePort()}`,
    upstream: (service: ServiceName) => `127.0.0.1:${service === 'order-service' ? closedPort.port : upstream.port}`,
    internalListen: (service) => `127.0.0.1:${internal.get(service)}`,
    accessLog: join(dir, 'access.log'),
    errorLog: 'stderr',
    pidFile: join(dir, 'nginx.pid'),
    tempDir: join(dir, 'temp'),
    trustedProxies,
  })
    .replace(/listen (\d+);/g, 'listen 127.0.0.1:$1;')
    // The sign-in bucket refills once a minute here, not every 2 s: what these tests see of it (the
    // burst, then 429) must not depend on how fast this machine sends the requests.
    .replace(`zone=auth:10m rate=${gatewayLimits.authRatePerMinute}r/m;`, 'zone=auth:10m rate=1r/m;');
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  const nginx = startProcess(`nginx-${name}`, 'nginx', ['-c', file, '-p', dir, '-g', 'daemon off;'], { sink: (_, line) => nginxLog.push(line) });
  await waitForHttp(nginx, `http://127.0.0.1:${port}/products`);
  return { port, internalPort: internal.get('cart-service')!, nginx };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request as written, on its own connection (no client normalizes or refuses anything). */
async function raw(port: number, text: string, localAddress = '127.0.0.1'): Promise<Answer> {
  const answer = await exchange(port, text, localAddress);
  return { status: answer.status, headers: Object.fromEntries(answer.headerLines), body: answer.body };
}

/** A request with a path sent exactly as given. */
function send(port: number, method: string, path: string, options: { headers?: Record<string, string>; localAddress?: string } = {}): Promise<Answer> {
  const headers = Object.entries({ Host: 'shop.example', Connection: 'close', ...options.headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return raw(port, `${method} ${path} HTTP/1.1\r\n${headers}\r\n`, options.localAddress);
}

/** The body of a problem+json answer, checked against the services' shape (services/kit/src/errors.ts). */
function problem(t: import('ava').ExecutionContext, answer: Answer, status: number, code: string): Record<string, unknown> {
  t.is(answer.status, status, answer.body);
  t.is(answer.headers['content-type'], 'application/problem+json', `${status}: ${answer.body}`);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  t.deepEqual(Object.keys(body).sort(), ['code', 'detail', 'status', 'title', 'type']);
  t.like(body, { status, code, type: `https://product-store.dev/problems/${code.toLowerCase().replace(/_/g, '-')}` });
  return body;
}

let plainUpstream: Upstream;
let trustingUpstream: Upstream;
let plain: Gateway;
let trusting: Gateway;
const trustedFile = join(work, 'trusted-proxies.conf');

test.before(async () => {
  closedPort.port = await freePort();
  plainUpstream = await startUpstream([]);
  trustingUpstream = await startUpstream(['127.0.0.2']);
  plain = await startGateway('plain', plainUpstream);
  // As compose runs it: gateway/trusted-proxies.sh writes the file nginx.conf includes.
  const script = spawnSync('sh', [join(repoRoot, 'gateway', 'trusted-proxies.sh'), trustedFile], { env: { PATH: process.env.PATH, TRUSTED_PROXIES: '127.0.0.2, 10.9.9.0/24' }, encoding: 'utf8' });
  if (script.status !== 0) throw new Error(script.stderr);
  // The include as compose writes it: a pattern (gateway/nginx.ts composeTarget).
  trusting = await startGateway('trusting', trustingUpstream, { include: join(work, 'trusted-proxies*.conf') });
});

test.after.always(async () => {
  await plain?.nginx.stop();
  await trusting?.nginx.stop();
  for (const u of [plainUpstream, trustingUpstream]) {
    u?.server.closeAllConnections();
    u?.server.close();
  }
  rmSync(work, { recursive: true, force: true });
});

test.serial('paths nginx would normalize into a public route but pass on as sent never reach a service: 404 problem+json', async (t) => {
  const sneaky = [
    '/internal/carts/..%2F..%2Fcart',
    '/internal/carts/..%2f..%2fcart',
    '/internal/carts/%2e%2e/%2e%2e/cart',
    '/internal/carts/%2E%2E%2F%2E%2E%2Fcart',
    '/internal/carts/x/..%2F..%2F..%2Fcart',
    '/internal/carts/x/../../../cart',
    '/internal/carts/x/./../../../cart',
    '/cart/..%2Finternal/carts/x',
    '/cart%2F..%2F..%2Finternal%2Fcarts%2Fx',
    '//internal/carts/x',
    '/cart//..//internal/carts/x',
    '/cart;/../internal/carts/x',
    '/cart/..;/internal/carts/x',
    '/products;jsessionid=1',
    '/products/..%5Cinternal',
    '/products/x\\..\\..\\internal',
    '/internal/carts/..%2F..%2Fcart?limit=1',
  ];
  for (const path of sneaky) {
    const answer = await send(plain.port, 'GET', path);
    // nginx itself refuses with 400 a path whose dot segments climb above the root.
    if (answer.status === 400) problem(t, answer, 400, 'BAD_REQUEST');
    else problem(t, answer, 404, 'NOT_FOUND');
    t.truthy(answer.headers['x-request-id'], path);
  }
  t.deepEqual(plainUpstream.seen.filter((s) => sneaky.includes(s.path)), [], 'no service saw any of them');
  t.deepEqual(plainUpstream.seen.filter((s) => s.path.startsWith('/internal')), []);

  // The same pattern as the renderer's, on the paths above and on ones that must pass.
  const pattern = new RegExp(refusedPath, 'i');
  for (const path of sneaky) t.true(pattern.test(path), path);
  const fine = ['/cart', '/products/5b0c2e4a-2f4e-4b8a-9c57-0d5c7b2b8a11', '/products?cursor=a%2Fb%2e..&limit=5', '/products/.well', '/orders/x/cancel'];
  for (const path of fine) t.false(pattern.test(path), path);

  // Public paths still reach their service, queries included.
  for (const path of ['/cart', '/products?cursor=a%2Fb%2e..&limit=5', '/products/5b0c2e4a-2f4e-4b8a-9c57-0d5c7b2b8a11']) {
    t.is((await send(plain.port, 'GET', path)).status, 200, path);
    t.true(plainUpstream.seen.some((s) => s.path === path), path);
  }
});

test.serial("a client's X-Internal-Token never reaches a service; the services' own calls (the internal listener) keep theirs", async (t) => {
  const before = plainUpstream.seen.length;
  t.is((await send(plain.port, 'GET', '/cart', { headers: { 'X-Internal-Token': 'guessed-or-stolen', 'x-internal-token': 'again' } })).status, 200);
  const [publicCall] = plainUpstream.seen.slice(before);
  t.is(publicCall.internalToken, undefined);
  t.is((await send(plain.internalPort, 'GET', '/cart', { headers: { 'X-Internal-Token': 'the-services-token' } })).status, 200);
  t.is(plainUpstream.seen.at(-1)!.internalToken, 'the-services-token');
});

test.serial("nginx's own refusals are problem+json like the services', 405 with Allow", async (t) => {
  // 400: HTTP/1.1 without Host.
  problem(t, await raw(plain.port, 'GET /products HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 'BAD_REQUEST');
  // 414: a request line over large_client_header_buffers.
  problem(t, await send(plain.port, 'GET', `/products/${'a'.repeat(10_000)}`), 414, 'URI_TOO_LONG');
  // nginx's 494 (a header over the buffers) as 431.
  problem(t, await send(plain.port, 'GET', '/products', { headers: { 'X-Big': 'a'.repeat(10_000) } }), 431, 'REQUEST_HEADER_TOO_LARGE');
  // 413: a body over the limit.
  const big = await raw(plain.port, `POST /auth/login HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${gatewayLimits.maxBodyKilobytes * 1024 + 1}\r\n\r\n${'x'.repeat(gatewayLimits.maxBodyKilobytes * 1024 + 1)}`, '127.0.0.9');
  problem(t, big, 413, 'PAYLOAD_TOO_LARGE');
  // 404: what the gateway does not route.
  for (const path of ['/metrics', '/ready', '/internal/carts/x', '/nope']) problem(t, await send(plain.port, 'GET', path), 404, 'NOT_FOUND');

  // TRACE, refused by nginx on every path: 405 with what the path allows, or 404 where nothing is routed.
  const trace = await send(plain.port, 'TRACE', '/products');
  t.is(problem(t, trace, 405, 'METHOD_NOT_ALLOWED').detail, 'Allowed: GET, HEAD, POST.');
  t.is(trace.headers.allow, 'GET, HEAD, POST');
  t.is((await send(plain.port, 'TRACE', '/products/5b0c2e4a-2f4e-4b8a-9c57-0d5c7b2b8a11')).headers.allow, 'GET, HEAD, PATCH, DELETE');
  t.is((await send(plain.port, 'TRACE', '/orders/x/cancel')).headers.allow, 'POST');
  problem(t, await send(plain.port, 'TRACE', '/internal/carts/x'), 404, 'NOT_FOUND');
  // The gateway's own GET-only paths.
  for (const [method, path] of [['POST', '/health'], ['DELETE', '/openapi.json']]) {
    const answer = await send(plain.port, method, path, { headers: { 'Content-Length': '0' } });
    problem(t, answer, 405, 'METHOD_NOT_ALLOWED');
    t.is(answer.headers.allow, 'GET, HEAD', path);
  }
  t.false(plainUpstream.seen.some((s) => s.path === '/ready'), 'no refused method reached backend');
});

test.serial("nginx's own 502 is problem+json with Retry-After; a service's own 503 passes through untouched", async (t) => {
  const down = await send(plain.port, 'GET', '/orders');
  problem(t, down, 502, 'SERVICE_UNAVAILABLE');
  t.is(down.headers['retry-after'], '1');
  const own = await send(plain.port, 'GET', '/products/db-down');
  problem(t, own, 503, 'DATABASE_UNAVAILABLE');
  t.is(own.headers['retry-after'], '1');
});

/** POST /auth/login until nginx limits it (at most twice the burst): the answers' statuses and the last answer. */
async function exhaust(port: number, localAddress: string, forwardedFor: (i: number) => string | undefined): Promise<{ statuses: number[]; last: Answer }> {
  const statuses: number[] = [];
  let last: Answer | undefined;
  for (let i = 0; i < gatewayLimits.authBurst * 2 && last?.status !== 429; i++) {
    const xff = forwardedFor(i);
    last = await send(port, 'POST', '/auth/login', { localAddress, headers: { 'Content-Length': '0', ...(xff ? { 'X-Forwarded-For': xff } : {}) } });
    statuses.push(last.status);
  }
  return { statuses, last: last! };
}

test.serial('without trusted proxies a forged X-Forwarded-For changes neither the rate-limit bucket nor the address the service sees', async (t) => {
  const { statuses, last } = await exhaust(plain.port, '127.0.0.5', (i) => `198.51.100.${i + 1}`);
  problem(t, last, 429, 'RATE_LIMITED');
  t.is(last.headers['retry-after'], String(Math.ceil(60 / gatewayLimits.authRatePerMinute)), 'a sign-in every 2 s');
  t.true(statuses.filter((s) => s === 200).length <= gatewayLimits.authBurst + 1, statuses.join(' '));
  const again = await send(plain.port, 'POST', '/auth/login', { localAddress: '127.0.0.5', headers: { 'Content-Length': '0', 'X-Forwarded-For': '198.51.100.200' } });
  t.is(again.status, 429, 'another forged address is the same client');

  // The services trust no forwarding header without TRUSTED_PROXIES: ctx.ip is their peer, nginx.
  t.is((await send(plain.port, 'GET', '/products', { localAddress: '127.0.0.6', headers: { 'X-Forwarded-For': '198.51.100.7' } })).status, 200);
  const seen = plainUpstream.seen.at(-1)!;
  t.is(seen.ip, '127.0.0.1');
  t.is(seen.forwardedFor, '127.0.0.6', "nginx replaces the client's X-Forwarded-For with the address it saw");
  // ... even when called directly.
  const direct = JSON.parse((await send(plainUpstream.port, 'GET', '/products', { headers: { 'X-Forwarded-For': '198.51.100.8' } })).body) as { ip: string };
  t.is(direct.ip, '127.0.0.1');
  // The api limit answers 1 s.
  t.is(String(Math.ceil(1 / gatewayLimits.apiRatePerSecond)), '1');
});

test.serial('behind a trusted proxy (TRUSTED_PROXIES) every client has its own bucket, and the service sees the client', async (t) => {
  const behind = (client: string) => (i: number) => (i % 2 ? client : `203.0.113.250, ${client}`);
  const first = await exhaust(trusting.port, '127.0.0.2', behind('203.0.113.1'));
  problem(t, first.last, 429, 'RATE_LIMITED');
  // A second client behind the same proxy is not limited by the first.
  const second = await send(trusting.port, 'POST', '/auth/login', { localAddress: '127.0.0.2', headers: { 'Content-Length': '0', 'X-Forwarded-For': '203.0.113.2' } });
  t.is(second.status, 200);
  t.is(JSON.parse(second.body).ip, '203.0.113.2', 'the service reads the address nginx forwards');
  t.is(trustingUpstream.seen.at(-1)!.forwardedFor, '203.0.113.2');
  // The access log names both: the client the limits counted and the proxy that connected.
  const logged = readFileSync(join(work, 'trusting', 'access.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  t.like(logged.at(-1), { remote_addr: '203.0.113.2', peer: '127.0.0.2', uri: '/auth/login' });
  // The first client cannot escape by prepending an address: the proxy's is the rightmost untrusted one.
  const escape = await send(trusting.port, 'POST', '/auth/login', { localAddress: '127.0.0.2', headers: { 'Content-Length': '0', 'X-Forwarded-For': '192.0.2.99, 203.0.113.1' } });
  t.is(escape.status, 429);
  // Through a chain of trusted proxies (10.9.9.0/24 too), the client is still the one before them.
  const chain = await send(trusting.port, 'POST', '/auth/login', { localAddress: '127.0.0.2', headers: { 'Content-Length': '0', 'X-Forwarded-For': '203.0.113.3, 10.9.9.4' } });
  t.is(JSON.parse(chain.body).ip, '203.0.113.3');

  // Anyone else's X-Forwarded-For is ignored, by nginx and so by the service.
  const untrusted = await send(trusting.port, 'GET', '/products', { localAddress: '127.0.0.3', headers: { 'X-Forwarded-For': '203.0.113.9' } });
  t.is(JSON.parse(untrusted.body).ip, '127.0.0.3');
  const limited = await exhaust(trusting.port, '127.0.0.4', (i) => `203.0.113.${100 + i}`);
  t.is(limited.last.status, 429, 'forged addresses from an untrusted peer share its bucket');

  // The service trusts one hop, its gateway's: a longer forged list directly at its port gives the last entry only.
  const direct = JSON.parse((await send(trustingUpstream.port, 'GET', '/products', { headers: { 'X-Forwarded-For': '192.0.2.1, 127.0.0.77' } })).body) as { ip: string };
  t.is(direct.ip, '127.0.0.77');
});

test.serial('TRUSTED_PROXIES: the services and gateway/trusted-proxies.sh accept addresses and CIDRs and refuse anything else', async (t) => {
  t.deepEqual(parseTrustedProxies(' 10.0.0.0/8, 192.168.1.2 fd00::/8 '), { proxies: ['10.0.0.0/8', '192.168.1.2', 'fd00::/8'], problems: [] });
  t.deepEqual(parseTrustedProxies(''), { proxies: [], problems: [] });
  t.deepEqual(parseTrustedProxies(undefined), { proxies: [], problems: [] });
  for (const bad of ['10.0.0.0/33', 'proxy.example', '1.2.3.4;', '*', 'fd00::/129', '10.0.0.1/8/1']) {
    t.is(parseTrustedProxies(bad).problems.length, 1, bad);
  }
  const script = join(repoRoot, 'gateway', 'trusted-proxies.sh');
  const out = join(work, 'script-check.conf');
  const run = (value: string) => spawnSync('sh', [script, out], { cwd: work, env: { PATH: process.env.PATH, TRUSTED_PROXIES: value }, encoding: 'utf8' });
  t.is(run('10.0.0.0/8,192.168.1.2  fd00::/8').status, 0);
  t.is(readFileSync(out, 'utf8'), 'set_real_ip_from 10.0.0.0/8;\nset_real_ip_from 192.168.1.2;\nset_real_ip_from fd00::/8;\n');
  t.is(run('').status, 0);
  t.is(readFileSync(out, 'utf8'), '', 'empty: nobody is trusted');
  for (const bad of ['1.2.3.4;include /etc/passwd', 'proxy.example', '*']) t.not(run(bad).status, 0, bad);

  // The compose configuration includes the file (a pattern: nginx starts without it) and replaces the client's headers.
  // A service with a bad value refuses to start, naming it, before it touches the database.
  const refused = await t.throwsAsync(startService({ name: 'backend', migrations: [], routes: () => new Router() }, { env: { TRUSTED_PROXIES: '10.0.0.0/8, proxy.example' } }));
  t.regex(refused!.message, /TRUSTED_PROXIES: "proxy\.example" is not an IP address or CIDR/);

  const compose = renderNginx(composeTarget({ tls: false }));
  t.regex(compose, /include \/tmp\/trusted-proxies\*\.conf;/);
  t.regex(compose, /real_ip_header X-Forwarded-For;\s+real_ip_recursive on;/);
  t.notRegex(compose, /set_real_ip_from/, 'off by default');
  t.notRegex(compose, /proxy_add_x_forwarded_for/);
});

test.serial("the cluster's opt-in snippet (charts/ingress.ts `snippets`), in a location as ingress-nginx places it, refuses the same paths and drops the token", async (t) => {
  const manifests = (props: ConstructorParameters<typeof IngressChart>[2]) => Testing.synth(new IngressChart(Testing.app({ outdir: tmpdir() }), 'test', props));
  const snippetOf = (m: { metadata: { annotations?: Record<string, string> } }) => m.metadata.annotations?.['nginx.ingress.kubernetes.io/configuration-snippet'];
  t.true(manifests({}).every((m) => snippetOf(m) === undefined), 'off by default: a default controller refuses snippets');
  const opted = manifests({ snippets: true });
  t.true(opted.length >= 4);
  t.true(opted.every((m) => snippetOf(m) === ingressSnippet()), 'on every Ingress');

  // A location of a real nginx holding the snippet, as the controller writes one: proxy_pass without a URI.
  const dir = join(work, 'ingress');
  mkdirSync(join(dir, 'temp'), { recursive: true });
  const port = await freePort();
  const indented = ingressSnippet().split('\n').map((l) => `            ${l}`).join('\n');
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'pid nginx.pid;',
      'error_log stderr warn;',
      'events {}',
      'http {',
      `    access_log off;`,
      ...['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'].map((d) => `    ${d} ${join(dir, 'temp', d)};`),
      '    server {',
      `        listen 127.0.0.1:${port};`,
      '        location = /cart {',
      '            proxy_set_header Host $host;',
      indented,
      `            proxy_pass http://127.0.0.1:${plainUpstream.port};`,
      '        }',
      '    }',
      '}',
    ].join('\n'),
  );
  const nginx = startProcess('nginx-ingress-snippet', 'nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;'], { sink: (_, line) => nginxLog.push(line) });
  try {
    await waitForHttp(nginx, `http://127.0.0.1:${port}/cart`);
    const before = plainUpstream.seen.length;
    t.is((await send(port, 'GET', '/internal/carts/..%2F..%2Fcart')).status, 404);
    t.is((await send(port, 'GET', '/internal/carts/%2e%2e/%2e%2e/cart')).status, 404);
    t.is((await send(port, 'GET', '/cart', { headers: { 'X-Internal-Token': 'guessed' } })).status, 200);
    const reached = plainUpstream.seen.slice(before);
    t.deepEqual(reached.map((s) => [s.path, s.internalToken]), [['/cart', undefined]]);
  } finally {
    await nginx.stop();
  }
});
