/**
 * The storefront as compose and the cluster serve it, with the real nginx: the storefront image's own
 * nginx (renderStorefrontNginx, images/storefront/nginx.conf) on the built files, which is all the
 * cluster's Ingress has in front of them, and the compose gateway (composeTarget: `/` proxied to that
 * nginx) in front of it. Both answer as the local stack's gateway does with the files in a folder
 * (storefront/test): one strict CSP, the same headers and caching, problem+json for what has no file.
 */
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { buildStorefront } from '../../storefront/build';
import { freePort, startProcess, waitForHttp, type ManagedProcess } from '../../tools/stack/processes';
import { gatewayLimits } from '@product-store/deploy';
import { composeTarget, renderNginx, renderStorefrontNginx, storefrontCsp } from '../nginx';
import { exchange } from './raw-http';

const work = mkdtempSync(join(tmpdir(), 'gateway-storefront-'));
const logs: string[] = [];
const running: ManagedProcess[] = [];
let storefrontPort: number;
let gatewayPort: number;
let storefrontDir: string;

function startNginx(name: string, config: string, dir: string): ManagedProcess {
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  const nginx = startProcess(name, 'nginx', ['-c', file, '-p', dir, '-g', 'daemon off;'], { sink: (_, line) => logs.push(`[${name}] ${line}`) });
  running.push(nginx);
  return nginx;
}

test.before(async () => {
  const build = buildStorefront();
  storefrontDir = build.dir;
  // The image's nginx, on the built folder and a port of its own.
  const sfDir = join(work, 'storefront');
  mkdirSync(join(sfDir, 'temp'), { recursive: true });
  storefrontPort = await freePort();
  const storefront = startNginx(
    'nginx-storefront',
    renderStorefrontNginx({ listen: `127.0.0.1:${storefrontPort}`, root: build.dir, pidFile: join(sfDir, 'nginx.pid'), tempDir: join(sfDir, 'temp'), accessLog: join(sfDir, 'access.log') }),
    sfDir,
  );
  await waitForHttp(storefront, `http://127.0.0.1:${storefrontPort}/`);

  // The compose gateway, its upstreams on this machine: the services' address refuses connections.
  const gwDir = join(work, 'gateway');
  mkdirSync(join(gwDir, 'temp'), { recursive: true });
  gatewayPort = await freePort();
  const closed = await freePort();
  const target = composeTarget({ tls: false });
  const gateway = startNginx(
    'nginx-gateway',
    renderNginx({
      ...target,
      listen: gatewayPort,
      statusListen: `127.0.0.1:${await freePort()}`,
      upstream: () => `127.0.0.1:${closed}`,
      storefrontUpstream: `127.0.0.1:${storefrontPort}`,
      trustedProxies: undefined,
      accessLog: join(gwDir, 'access.log'),
      errorLog: 'stderr',
      pidFile: join(gwDir, 'nginx.pid'),
      tempDir: join(gwDir, 'temp'),
      acmeWebroot: undefined,
    }).replace(/listen (\d+);/g, 'listen 127.0.0.1:$1;'),
    gwDir,
  );
  await waitForHttp(gateway, `http://127.0.0.1:${gatewayPort}/`);
});

test.after.always(async () => {
  for (const p of running) await p.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Answer {
  status: number;
  /** Every header line, in order, names lower-cased: a header sent twice shows twice. */
  headers: Array<[string, string]>;
  body: string;
}

/** One request on its own connection, every header line kept (fetch would merge a repeated one). */
async function raw(port: number, method: string, path: string, extra: string[] = []): Promise<Answer> {
  const body = method === 'POST' ? '{}' : '';
  const answer = await exchange(port, [`${method} ${path} HTTP/1.1`, 'Host: shop.example.com', 'Connection: close', ...extra, ...(body ? [`Content-Length: ${body.length}`] : []), '', body].join('\r\n'));
  return { status: answer.status, headers: answer.headerLines, body: answer.body };
}

const all = (a: Answer, name: string) => a.headers.filter(([n]) => n === name).map(([, v]) => v);
const one = (a: Answer, name: string) => {
  const values = all(a, name);
  if (values.length !== 1) throw new Error(`${name}: ${values.length} values (${values.join(' | ')})`);
  return values[0];
};

for (const [where, port] of [
  ['the compose gateway (proxying / to the storefront image\'s nginx)', () => gatewayPort],
  ["the storefront image's nginx alone (what the cluster's Ingress passes on)", () => storefrontPort],
] as const) {
  test.serial(`${where}: index.html and its assets with one strict CSP and the security headers`, async (t) => {
    const index = await raw(port(), 'GET', '/');
    t.is(index.status, 200, index.body);
    t.is(one(index, 'content-security-policy'), storefrontCsp);
    t.is(one(index, 'x-frame-options'), 'DENY');
    t.is(one(index, 'x-content-type-options'), 'nosniff');
    t.is(one(index, 'referrer-policy'), 'no-referrer');
    t.is(one(index, 'cross-origin-resource-policy'), 'same-origin');
    t.is(one(index, 'cache-control'), 'no-cache');
    t.is(all(index, 'x-request-id').length, 1);
    t.is(all(index, 'server').join(), 'nginx', 'no version');
    const script = /src="\/(assets\/app-[^"]+\.js)"/.exec(index.body)?.[1];
    t.truthy(script, index.body);
    const asset = await raw(port(), 'GET', `/${script}`, ['Accept-Encoding: gzip']);
    t.is(asset.status, 200);
    t.regex(one(asset, 'content-type'), /javascript/);
    t.is(one(asset, 'content-encoding'), 'gzip');
    t.regex(one(asset, 'cache-control'), /immutable/);
    t.is(one(asset, 'content-security-policy'), storefrontCsp);
  });

  test.serial(`${where}: what names no file is a problem+json 404, a POST a problem+json 405`, async (t) => {
    for (const path of ['/metrics', '/ready', '/internal/carts/x', '/assets/', '/nothing-here', '/assets/..%2Fproducts']) {
      const answer = await raw(port(), 'GET', path);
      t.is(answer.status, 404, path);
      t.regex(one(answer, 'content-type'), /^application\/problem\+json/, path);
      t.is(JSON.parse(answer.body).code, 'NOT_FOUND', path);
      // nginx's own error page (the gateway's, not a proxied one): data, nothing may load from it.
      t.is(one(answer, 'content-security-policy'), "default-src 'none'; frame-ancestors 'none'", path);
    }
    const post = await raw(port(), 'POST', '/');
    t.is(post.status, 405);
    t.is(one(post, 'allow'), 'GET, HEAD');
    t.regex(one(post, 'content-type'), /^application\/problem\+json/);
    t.is(JSON.parse(post.body).code, 'METHOD_NOT_ALLOWED');
  });
}

test.serial('the compose gateway keeps the API its own: its routes reach the services, not the storefront', async (t) => {
  // The services' address refuses connections here: the gateway's 502, never the storefront's 404.
  const products = await raw(gatewayPort, 'GET', '/products');
  t.is(products.status, 502);
  t.is(one(products, 'content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
  t.is(JSON.parse(products.body).code, 'SERVICE_UNAVAILABLE');
});

/**
 * A DNS server for one name, on UDP: what `answer()` says at the time of each query, an IPv4 address,
 * nothing (NXDOMAIN), or silence (no answer at all: Docker's DNS forwarding a stopped container's
 * name to an upstream server that does not answer). nginx's resolver asks it as it would ask
 * Docker's (127.0.0.11) in compose.
 */
async function dnsServer(name: string, answer: () => string | undefined | 'silence'): Promise<{ port: number; close: () => void }> {
  const socket = createSocket('udp4');
  socket.on('message', (query, from) => {
    if (answer() === 'silence') return;
    // Header (12 bytes), then the question: labels up to a zero byte, QTYPE, QCLASS.
    let at = 12;
    const labels: string[] = [];
    while (query[at] !== 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]).toString('latin1'));
      at += query[at] + 1;
    }
    const question = query.subarray(12, at + 5);
    const qtype = query.readUInt16BE(at + 1);
    const address = labels.join('.').toLowerCase() === name ? answer() : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // the query's id
    const found = address !== undefined && qtype === 1;
    header.writeUInt16BE(found ? 0x8180 : 0x8183, 2); // a response, recursion available; NOERROR or NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(found ? 1 : 0, 6);
    const record = found
      ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]), Buffer.from(address!.split('.').map(Number))])
      : Buffer.alloc(0);
    socket.send(Buffer.concat([header, question, record]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: (socket.address() as AddressInfo).port, close: () => socket.close() };
}

/** GET until `accept` holds for the answer, without touching nginx in between (no reload, no signal). */
async function until(port: number, path: string, accept: (a: Answer) => boolean, timeoutMs = 30_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await raw(port, 'GET', path);
    if (accept(answer) || Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test.serial('the compose gateway starts, and keeps the API up, while the storefront is missing; a storefront that appears (or moves) is found without a reload', async (t) => {
  // As in compose: the storefront by a name asked of a DNS server per request (Docker's there, this
  // one here), which knows nothing of it at first: the container does not exist yet.
  const name = 'storefront.test';
  let storefrontAddress: string | undefined | 'silence';
  const dns = await dnsServer(name, () => storefrontAddress);
  t.teardown(dns.close);
  // The services: one that answers, so that "the API answers" means a 200.
  const api = createServer((_req, res) => res.setHeader('Content-Type', 'application/json').end('{"items":[]}'));
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => api.close());
  const sfPort = await freePort();

  const dir = join(work, 'gateway-dns');
  mkdirSync(join(dir, 'temp'), { recursive: true });
  const port = await freePort();
  const gateway = startNginx(
    'nginx-gateway-dns',
    renderNginx({
      ...composeTarget({ tls: false }),
      listen: port,
      statusListen: `127.0.0.1:${await freePort()}`,
      upstream: () => `127.0.0.1:${(api.address() as AddressInfo).port}`,
      storefrontUpstream: `${name}:${sfPort}`,
      resolver: { address: `127.0.0.1:${dns.port}`, validSeconds: 1, timeoutSeconds: 2 },
      trustedProxies: undefined,
      accessLog: join(dir, 'access.log'),
      errorLog: 'stderr',
      pidFile: join(dir, 'nginx.pid'),
      tempDir: join(dir, 'temp'),
      acmeWebroot: undefined,
    }).replace(/listen (\d+);/g, 'listen 127.0.0.1:$1;'),
    dir,
  );
  // nginx started although the storefront's name resolves to nothing, and the API answers.
  await waitForHttp(gateway, `http://127.0.0.1:${port}/products`);
  const products = await raw(port, 'GET', '/products');
  t.is(products.status, 200);

  // `/` is the gateway's problem+json while there is no storefront: no address, then an address where nothing listens.
  const unresolved = await raw(port, 'GET', '/');
  t.is(unresolved.status, 502, unresolved.body);
  t.regex(one(unresolved, 'content-type'), /^application\/problem\+json/);
  t.is(JSON.parse(unresolved.body).code, 'SERVICE_UNAVAILABLE');
  t.is(one(unresolved, 'retry-after'), '1');
  // A DNS server that never answers (Docker forwards a stopped container's name upstream): the same
  // 502, once resolver_timeout is over, not a request left hanging.
  storefrontAddress = 'silence';
  await new Promise((r) => setTimeout(r, 1100)); // the NXDOMAIN above is kept valid=1s
  const asked = Date.now();
  const silent = await raw(port, 'GET', '/');
  t.is(silent.status, 502, silent.body);
  // resolver_timeout is 2 s here; nginx's default (30 s) would leave every page load hanging that long.
  t.true(Date.now() - asked < 15_000, `answered after ${Date.now() - asked} ms`);
  t.is(JSON.parse(silent.body).code, 'SERVICE_UNAVAILABLE');
  storefrontAddress = '127.0.0.1';
  const refusedLogged = () => logs.some((l) => l.startsWith('[nginx-gateway-dns]') && /connect\(\) failed/.test(l));
  const refused = await until(port, '/', () => refusedLogged());
  t.true(refusedLogged(), 'the new answer was used: nginx tried the address');
  t.is(refused.status, 502);
  t.is(JSON.parse(refused.body).code, 'SERVICE_UNAVAILABLE');
  t.is((await raw(port, 'GET', '/products')).status, 200, 'the API is untouched');

  // The storefront starts: `/` serves its page, nginx never reloaded.
  const startStorefront = async (host: string, label: string) => {
    const sfDir = join(work, label);
    mkdirSync(join(sfDir, 'temp'), { recursive: true });
    const sf = startNginx(
      label,
      renderStorefrontNginx({ listen: `${host}:${sfPort}`, root: storefrontDir, pidFile: join(sfDir, 'nginx.pid'), tempDir: join(sfDir, 'temp'), accessLog: join(sfDir, 'access.log') }),
      sfDir,
    );
    await waitForHttp(sf, `http://${host}:${sfPort}/`);
    return sf;
  };
  const first = await startStorefront('127.0.0.1', 'nginx-storefront-dns-1');
  const page = await until(port, '/', (a) => a.status === 200);
  t.is(page.status, 200, page.body);
  t.regex(page.body, /<html/i);
  t.is(one(page, 'content-security-policy'), storefrontCsp);

  // Recreated with a new address (a new container): found there once the old answer expires, again without a reload.
  await first.stop();
  storefrontAddress = '127.0.0.2';
  await startStorefront('127.0.0.2', 'nginx-storefront-dns-2');
  const moved = await until(port, '/', (a) => a.status === 200);
  t.is(moved.status, 200, moved.body);
  t.false(gateway.done(), 'the same nginx throughout');
});

test.serial('the storefront counts against the API limit, in the compose gateway and with a folder (the local stack): past the burst, `/` is the 429 problem+json', async (t) => {
  // Last in this file: it spends this address's allowance on the compose gateway.
  const answers: Answer[] = [];
  for (let i = 0; i < gatewayLimits.apiBurst * 2; i++) answers.push(await raw(gatewayPort, 'GET', '/'));
  const limited = answers.find((a) => a.status === 429);
  t.truthy(limited, `statuses: ${[...new Set(answers.map((a) => a.status))].join(', ')}`);
  t.regex(one(limited!, 'content-type'), /^application\/problem\+json/);
  t.is(JSON.parse(limited!.body).code, 'RATE_LIMITED');
  // The local stack serves the folder with the same renderer: every storefront location has the limit.
  const folder = renderNginx({ ...composeTarget({ tls: false }), storefrontUpstream: undefined, resolver: undefined, storefront: '/srv/storefront' });
  const blocks = [...folder.matchAll(/location (= \/|\/assets\/|\/) \{([^}]*root \/srv\/storefront;[^}]*)\}/g)];
  t.is(blocks.length, 3);
  for (const [, match, body] of blocks) t.regex(body, /limit_req zone=api burst=\d+ nodelay;/, match);
});
