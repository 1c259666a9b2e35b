/**
 * The storefront as compose and the cluster serve it, with the real nginx: the storefront image's own
 * nginx (renderStorefrontNginx, images/storefront/nginx.conf) on the built files, which is all the
 * cluster's Ingress has in front of them, and the compose gateway (composeTarget: `/` proxied to that
 * nginx) in front of it. Both answer as the local stack's gateway does with the files in a folder
 * (storefront/test): one strict CSP, the same headers and caching, problem+json for what has no file.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { buildStorefront } from '../../storefront/build';
import { freePort, startProcess, waitForHttp, type ManagedProcess } from '../../tools/stack/processes';
import { composeTarget, renderNginx, renderStorefrontNginx, storefrontCsp } from '../nginx';

const work = mkdtempSync(join(tmpdir(), 'gateway-storefront-'));
const logs: string[] = [];
const running: ManagedProcess[] = [];
let storefrontPort: number;
let gatewayPort: number;

function startNginx(name: string, config: string, dir: string): ManagedProcess {
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  const nginx = startProcess(name, 'nginx', ['-c', file, '-p', dir, '-g', 'daemon off;'], { sink: (_, line) => logs.push(`[${name}] ${line}`) });
  running.push(nginx);
  return nginx;
}

test.before(async () => {
  const build = buildStorefront();
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
function raw(port: number, method: string, path: string, extra: string[] = []): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const [head, ...rest] = all.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    const body = method === 'POST' ? '{}' : '';
    socket.write([`${method} ${path} HTTP/1.1`, 'Host: shop.example.com', 'Connection: close', ...extra, ...(body ? [`Content-Length: ${body.length}`] : []), '', body].join('\r\n'));
  });
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
