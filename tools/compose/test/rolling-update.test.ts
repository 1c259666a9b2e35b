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

const repoRoot = join(__dirname, '..', '..', '..');
const services = ['backend', 'cart-service', 'order-service', 'user-service'];
let gateway: Server;
let gatewayUrl: string;

test.before(async () => {
  gateway = createServer((_req, res) => res.end('{"status":"ready"}'));
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});
test.after.always(() => gateway?.close());

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

/** Every service runs image old-<name>; the registry has new-<name>. */
function deployment(unhealthy: string[] = []) {
  const state = mkdtempSync(join(tmpdir(), 'rolling-'));
  for (const dir of ['refs', 'containers', 'images', 'registry']) mkdirSync(join(state, dir));
  for (const s of services) {
    const ref = `ghcr.io/product-store/${s}:0.1.0`;
    writeFileSync(join(state, 'refs', s), `${ref}\n`);
    writeFileSync(join(state, 'containers', s), `old-${s}\n`);
    writeFileSync(join(state, 'images', ref.replace(/[/:]/g, '_')), `old-${s}\n`);
    writeFileSync(join(state, 'registry', s), `new-${s}\n`);
  }
  writeFileSync(join(state, 'unhealthy'), unhealthy.map((i) => `${i}\n`).join(''));
  const running = (s: string) => readFileSync(join(state, 'containers', s), 'utf8').trim();
  const run = (args: string[] = [], url = gatewayUrl) => rollingUpdate(args, state, url);
  return { state, running, run, reloads: () => readFileSync(join(state, 'reloads'), 'utf8').trim().split('\n').length };
}

test('updates every service in turn, reloading nginx after each', async (t) => {
  const d = deployment();
  const result = await d.run();
  t.is(result.status, 0, result.stdout + result.stderr);
  for (const s of services) t.is(d.running(s), `new-${s}`);
  t.is(d.reloads(), 4);
  t.regex(result.stdout, /All services updated/);
  const log = readFileSync(join(d.state, 'log'), 'utf8');
  t.true(log.indexOf('up -d --no-deps backend') < log.indexOf('pull cart-service'), 'one at a time');
});

test('a service that does not become healthy is rolled back, and the update stops there', async (t) => {
  const d = deployment(['new-cart-service']);
  const result = await d.run();
  t.is(result.status, 1);
  t.is(d.running('backend'), 'new-backend', 'the services before it keep their update');
  t.is(d.running('cart-service'), 'old-cart-service', 'rolled back to the image it ran before');
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
