/**
 * scripts/rolling-update.sh's logic, with docker and docker-compose replaced at their command line
 * (no Docker engine here) and the gateway check answered by a local HTTP server.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { replicaByName, replicasOf, services as serviceSpecs } from '@product-store/deploy';

const repoRoot = join(__dirname, '..', '..', '..');
/** The compose services the script updates by default: every replica of the four services (`backend`, `backend-2`, ...), then the storefront. */
const services = [...serviceSpecs.flatMap((s) => replicasOf(s.name).map((r) => r.name)), 'storefront'];
/** The service a compose service runs: its image is that service's (the storefront's is its own). */
const imageOf = (name: string) => replicaByName(name)?.service ?? name;
let gateway: Server;
let gatewayUrl: string;
/** A gateway whose API answers but whose `/` is its own 502 problem+json (the storefront is not there). */
let noStorefrontUrl: string;
let broken: Server;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test.before(async () => {
  // `/`: the storefront's page; /health: the API.
  gateway = createServer((req, res) =>
    req.url === '/' ? res.setHeader('Content-Type', 'text/html').end('<!doctype html><title>Product Store</title>') : res.setHeader('Content-Type', 'application/json').end('{"status":"ready"}'),
  );
  gatewayUrl = await listen(gateway);
  broken = createServer((req, res) => {
    if (req.url !== '/') return void res.setHeader('Content-Type', 'application/json').end('{"status":"ready"}');
    res.statusCode = 502;
    res.setHeader('Content-Type', 'application/problem+json');
    res.end('{"code":"SERVICE_UNAVAILABLE"}');
  });
  noStorefrontUrl = await listen(broken);
});
test.after.always(() => {
  gateway?.close();
  broken?.close();
});

/** Runs the script without blocking this process, whose HTTP server answers the gateway check. */
function rollingUpdate(args: string[], state: string, url: string, env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn('bash', [join(repoRoot, 'scripts', 'rolling-update.sh'), ...args], {
    env: { ...process.env, PATH: `${join(__dirname, 'fake-docker')}:${process.env.PATH}`, FAKE_STATE: state, GATEWAY_URL: url, HEALTH_TIMEOUT: '6', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

/** Every replica of a service runs image old-<service>; the registry has new-<service>. */
function deployment(unhealthy: string[] = []) {
  const state = mkdtempSync(join(tmpdir(), 'rolling-'));
  for (const dir of ['refs', 'containers', 'images', 'registry']) mkdirSync(join(state, dir));
  for (const s of services) {
    const ref = `ghcr.io/product-store/${imageOf(s)}:0.1.0`;
    writeFileSync(join(state, 'refs', s), `${ref}\n`);
    writeFileSync(join(state, 'containers', s), `old-${imageOf(s)}\n`);
    writeFileSync(join(state, 'images', ref.replace(/[/:]/g, '_')), `old-${imageOf(s)}\n`);
    writeFileSync(join(state, 'registry', s), `new-${imageOf(s)}\n`);
  }
  writeFileSync(join(state, 'unhealthy'), unhealthy.map((i) => `${i}\n`).join(''));
  const running = (s: string) => readFileSync(join(state, 'containers', s), 'utf8').trim();
  const run = (args: string[] = [], url = gatewayUrl) => rollingUpdate(args, state, url);
  return { state, running, run, reloads: () => readFileSync(join(state, 'reloads'), 'utf8').trim().split('\n').length };
}

test('updates every replica of every service in turn, reloading nginx after each', async (t) => {
  const d = deployment();
  const result = await d.run();
  t.is(result.status, 0, result.stdout + result.stderr);
  for (const s of services) t.is(d.running(s), `new-${imageOf(s)}`);
  t.is(d.reloads(), services.length);
  t.regex(result.stdout, /All services updated/);
  const log = readFileSync(join(d.state, 'log'), 'utf8');
  const at = (line: string) => log.indexOf(`${line}\n`);
  t.true(at('up -d --no-deps backend') >= 0 && at('up -d --no-deps backend') < at('pull backend-2'), 'one replica at a time');
  t.true(at('up -d --no-deps backend-2') < at('pull cart-service'), 'one service after the other');
  t.true(at('up -d --no-deps storefront') > at('up -d --no-deps user-service-2'), 'the storefront too, last');
  // nginx runs on the file NGINX_CONF picks in the mounted folder; the reload goes to that nginx.
  t.true(at('docker-compose -f ' + join(repoRoot, 'compose', 'docker-compose.yml') + ' --env-file ' + join(repoRoot, 'compose', '.env.production') + ' exec -T nginx nginx -c /etc/nginx/product-store/nginx.conf -s reload') >= 0, log);
});

test("a gateway whose `/` is not the storefront's page after an update fails the check: the replica is rolled back", async (t) => {
  const d = deployment();
  const result = await d.run(['storefront'], noStorefrontUrl);
  t.is(result.status, 1, result.stdout + result.stderr);
  t.regex(result.stdout, /\/ failed|is not the storefront's page/);
  t.is(d.running('storefront'), 'old-storefront');
  // /health alone (the API) was fine: the check looked at `/` too.
  const api = await fetch(`${noStorefrontUrl}/health`);
  t.is(api.status, 200);
});

test("a service's migration step runs once, before its first replica; a failed one stops the update before any replica changes", async (t) => {
  const d = deployment();
  mkdirSync(join(d.state, 'steps'));
  for (const s of serviceSpecs) writeFileSync(join(d.state, 'steps', `${s.name}-migrate`), '');
  const result = await d.run(['backend', 'cart-service']);
  t.is(result.status, 0, result.stdout + result.stderr);
  const log = readFileSync(join(d.state, 'log'), 'utf8');
  const at = (line: string) => log.indexOf(`${line}\n`);
  t.true(at('run --rm --no-deps -T backend-migrate') >= 0, log);
  t.true(at('run --rm --no-deps -T backend-migrate') < at('up -d --no-deps backend'), 'the step before the first replica');
  t.is(log.split('\n').filter((l) => l.endsWith('backend-migrate')).length, 1, 'once per service');
  t.true(at('run --rm --no-deps -T cart-service-migrate') > at('up -d --no-deps backend-2'));

  const failing = deployment();
  mkdirSync(join(failing.state, 'steps'));
  writeFileSync(join(failing.state, 'steps', 'backend-migrate'), '');
  writeFileSync(join(failing.state, 'failing-steps'), 'backend-migrate\n');
  const stopped = await failing.run(['backend']);
  t.is(stopped.status, 1);
  t.regex(stopped.stdout, /migration step backend-migrate failed; backend is unchanged/);
  t.is(failing.running('backend'), 'old-backend');
  t.is(failing.running('backend-2'), 'old-backend');
});

test('a service named alone is updated replica by replica; a replica can be named alone', async (t) => {
  const d = deployment();
  const one = await d.run(['cart-service']);
  t.is(one.status, 0, one.stdout + one.stderr);
  t.deepEqual(services.filter((s) => d.running(s).startsWith('new-')), ['cart-service', 'cart-service-2']);
  t.deepEqual([...one.stdout.matchAll(/^Updating (\S+)\.\.\.$/gm)].map((m) => m[1]), ['cart-service', 'cart-service-2']);
  const replica = await d.run(['backend-2']);
  t.is(replica.status, 0, replica.stdout + replica.stderr);
  t.is(d.running('backend-2'), 'new-backend');
  t.is(d.running('backend'), 'old-backend');
  const unknown = await d.run(['nonexistent']);
  t.is(unknown.status, 1);
  t.regex(unknown.stdout, /no compose service nonexistent/);
});

test('a service that does not become healthy is rolled back, and the update stops there', async (t) => {
  const d = deployment(['new-cart-service']);
  const result = await d.run();
  t.is(result.status, 1);
  t.is(d.running('backend'), 'new-backend', 'the services before it keep their update');
  t.is(d.running('backend-2'), 'new-backend');
  t.is(d.running('cart-service'), 'old-cart-service', 'rolled back to the image it ran before');
  t.is(d.running('cart-service-2'), 'old-cart-service', 'its other replica was never touched: it served throughout');
  t.is(d.running('order-service'), 'old-order-service', 'the services after it are untouched');
  t.regex(result.stdout, /rolling cart-service back/);
});

test('a gateway that fails its check after the update also rolls back', async (t) => {
  const d = deployment();
  const result = await d.run(['backend'], 'http://127.0.0.1:9');
  t.is(result.status, 1);
  t.is(d.running('backend'), 'old-backend');
});

test('the documented flow, IMAGE_TAG=<new>: a broken new image is rolled back to the exact image that ran before, again on a second try', async (t) => {
  const d = deployment(['new-cart-service']);
  const first = await rollingUpdate(['cart-service'], d.state, gatewayUrl, { IMAGE_TAG: '0.2.0' });
  t.is(first.status, 1, first.stdout + first.stderr);
  t.is(d.running('cart-service'), 'old-cart-service', first.stdout + first.stderr);
  t.regex(first.stdout, /rolled back to its previous image/);
  // Run again (the documented "run it again after fixing"), still broken: rolled back once more, from
  // a container that now runs from an image id.
  const second = await rollingUpdate(['cart-service'], d.state, gatewayUrl, { IMAGE_TAG: '0.2.0' });
  t.is(second.status, 1, second.stdout + second.stderr);
  t.is(d.running('cart-service'), 'old-cart-service', second.stdout + second.stderr);
  t.regex(second.stdout, /rolled back to its previous image/);
});
