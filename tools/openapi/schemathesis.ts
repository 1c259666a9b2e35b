/**
 * schemathesis (https://schemathesis.readthedocs.io) against the real services and the real nginx
 * gateway: where it is installed (scripts/install-prerequisites.sh, a virtualenv per pinned version
 * under the project's cache), the stack it runs against, and one run of it. tools/openapi/test/
 * schemathesis.test.ts is the test; this module is also usable by hand (`SCHEMATHESIS_KEEP=1`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNginx } from '../../gateway/nginx';
import { call, startStack, tokenFor, type TestStack } from '@product-store/kit/testing';
import type { ServiceName } from '@product-store/kit';
import { backend } from '../../services/backend/src/service';
import { cartService } from '../../services/cart-service/src/service';
import { orderService } from '../../services/order-service/src/service';
import { userService } from '../../services/user-service/src/service';
import { cacheBase } from '../cassandra/launcher';
import { freePort, startProcess, waitForHttp, type ManagedProcess } from '../stack/processes';

const requirements = join(__dirname, 'requirements.txt');

export const schemathesisVersion = /^schemathesis==(\S+)$/m.exec(readFileSync(requirements, 'utf8'))![1];

/** The schemathesis program of the pinned version, or undefined when it is not installed. */
export function schemathesisBin(): string | undefined {
  const venv = join(cacheBase(), `schemathesis-${schemathesisVersion}`);
  return existsSync(join(venv, '.complete')) ? join(venv, 'bin', 'schemathesis') : undefined;
}

export interface ApiStack {
  stack: TestStack;
  gateway: string;
  /** A customer that exists (registered through the API) and an admin token. */
  userToken: string;
  adminToken: string;
  stop(): Promise<void>;
}

/**
 * The four services on one fresh keyspace and nginx in front of them, as gateway/nginx.ts renders it.
 * The per-client rate limits are raised in this copy only: the fuzzer is one client sending far more
 * than a customer does, and the limits themselves are tested in gateway/test.
 */
export async function startApiStack(): Promise<ApiStack> {
  const stack = await startStack([backend, cartService, userService, orderService]);
  const work = mkdtempSync(join(tmpdir(), 'schemathesis-'));
  let nginx: ManagedProcess | undefined;
  const nginxLog: string[] = [];
  const stop = async () => {
    await nginx?.stop();
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const port = await freePort();
    mkdirSync(join(work, 'temp'));
    const config = renderNginx({
      listen: port,
      statusListen: `127.0.0.1:${await freePort()}`,
      upstream: (name: ServiceName) => new URL(stack.url(name)).host,
      accessLog: join(work, 'access.log'),
      errorLog: 'stderr',
      pidFile: join(work, 'nginx.pid'),
      tempDir: join(work, 'temp'),
    })
      .replace(/listen (\d+);/g, 'listen 127.0.0.1:$1;')
      .replace(/rate=\d+r\/[ms];/g, 'rate=100000r/s;');
    writeFileSync(join(work, 'nginx.conf'), config);
    nginx = startProcess('nginx', 'nginx', ['-c', join(work, 'nginx.conf'), '-p', work, '-g', 'daemon off;'], { sink: (_, line) => nginxLog.push(line) });
    const gateway = `http://127.0.0.1:${port}`;
    await waitForHttp(nginx, `${gateway}/openapi.json`, 30_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${nginxLog.join('\n')}`);
    });

    const email = `schemathesis-${Date.now()}@example.com`;
    const password = 'schemathesis-password';
    const registered = await call(stack.url('user-service'), '/auth/register', { method: 'POST', body: { email, password, name: 'Fuzz' } });
    if (registered.status !== 201) throw new Error(`register: ${registered.status} ${registered.text}`);
    const login = await call(stack.url('user-service'), '/auth/login', { method: 'POST', body: { email, password } });
    if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
    return { stack, gateway, userToken: login.body.access_token, adminToken: tokenFor('admin'), stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Operations that need the admin role; every other protected one is the customer's. */
export const adminOperations = ['postProducts', 'patchProductsById', 'deleteProductsById'];

/** What positive_data_acceptance counts as accepting a request (its default list). */
const accepted = ['2xx', '3xx', '401', '403', '404', '409', '429', '5xx'];

/**
 * The run's configuration: the customer's token for every operation, the admin's for the admin ones
 * (per-operation headers exist only in the configuration file; tokens come from the environment).
 *
 * Two answers that depend on state the request cannot carry count as accepting a request that matches
 * the document, and only for positive_data_acceptance of these operations (every other check still
 * applies to them):
 * - a list's `cursor` is opaque: any base64url string matches the document, but only a `next_cursor`
 *   the service issued names a page; another one is a 400 by the contract ("a foreign cursor").
 * - POST /orders checks out the caller's cart: with nothing in it, 422 CART_EMPTY.
 * - POST /cart/items adds to the line: past 99 of a product or 50 products in the cart, the contract
 *   answers 400 VALIDATION_FAILED, though the request itself is valid (a 409 would say it better;
 *   that is the cart's domain, reported rather than changed here).
 */
export const schemathesisConfig = [
  'headers = { Authorization = "Bearer ${ST_USER_TOKEN}" }',
  '',
  '[[operations]]',
  `include-operation-id = ${JSON.stringify(adminOperations)}`,
  'headers = { Authorization = "Bearer ${ST_ADMIN_TOKEN}" }',
  '',
  '[[operations]]',
  'include-operation-id = ["getProducts", "getOrders"]',
  '[operations.checks.positive_data_acceptance]',
  `expected-statuses = ${JSON.stringify([...accepted, '400'])}`,
  '',
  '[[operations]]',
  'include-operation-id = ["postCartItems"]',
  '[operations.checks.positive_data_acceptance]',
  `expected-statuses = ${JSON.stringify([...accepted, '400'])}`,
  '',
  '[[operations]]',
  'include-operation-id = ["postOrders"]',
  '[operations.checks.positive_data_acceptance]',
  `expected-statuses = ${JSON.stringify([...accepted, '422'])}`,
  '',
].join('\n');

export interface RunOptions {
  /** A URL of the document, or a file with `url` the API's base. */
  location: string;
  url?: string;
  userToken: string;
  adminToken: string;
  maxExamples: number;
  seed?: number;
  /** Extra arguments, e.g. a rate limit. */
  args?: string[];
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  output: string;
}

/** One `schemathesis run` with every check and every phase (stateful included). */
export function runSchemathesis(options: RunOptions): Promise<RunResult> {
  const bin = schemathesisBin();
  if (!bin) throw new Error(`schemathesis ${schemathesisVersion} is not installed: bash scripts/install-prerequisites.sh`);
  const work = mkdtempSync(join(tmpdir(), 'schemathesis-run-'));
  const configFile = join(work, 'schemathesis.toml');
  writeFileSync(configFile, schemathesisConfig);
  const args = [
    '--config-file', configFile,
    'run', options.location,
    ...(options.url ? ['--url', options.url] : []),
    '--checks', 'all',
    '--phases', 'examples,coverage,fuzzing,stateful',
    '--max-examples', String(options.maxExamples),
    '--workers', '1',
    '--request-timeout', '10',
    '--generation-database', 'none',
    '--no-color',
    '--output-truncate', 'false',
    ...(options.seed !== undefined ? ['--seed', String(options.seed)] : []),
    ...(options.args ?? []),
  ];
  return new Promise((resolve) => {
    const child = spawn(bin, args, {
      cwd: work,
      env: { ...process.env, ST_USER_TOKEN: options.userToken, ST_ADMIN_TOKEN: options.adminToken, SCHEMATHESIS_TELEMETRY: 'false', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 150_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      rmSync(work, { recursive: true, force: true });
      resolve({ code, output });
    });
  });
}
