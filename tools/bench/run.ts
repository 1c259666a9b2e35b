/**
 * `npm run bench [-- --quick] [-- --strict] [-- --single-node] [-- --out DIR]`: the performance ratios
 * of the issue's budget, measured side by side in one run on this machine, printed as a table and
 * written as JSON (.data/bench/<timestamp>.json); then the same open-loop checkouts on a three-node
 * Cassandra (replication factor 3, LOCAL_QUORUM), beside the one-node ones. The method is in
 * docs/performance.md.
 *
 * It starts what it measures, on loopback only and on ports of its own: Cassandra (its own data
 * folder and ports unless CASSANDRA_HOST names one), the four services, a second backend with
 * tracing on, nginx rendered from gateway/nginx.ts, the three trivial servers, an OTLP sink; and stops
 * them all at the end. Exit status 0 even when a budget is missed, unless --strict.
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createAuth, loadConfig } from '@product-store/kit';
import { serviceNodeFlags } from '@product-store/deploy';
import { renderNginx } from '../../gateway/nginx';
import { repoRoot } from '../cassandra/launcher';
import { startLocalStack, type RunningStack } from '../stack/stack';
import { startProcess, waitForHttp, which, type ManagedProcess } from '../stack/processes';
import { onStopSignals } from '../stack/signals';
import { nodeDurability } from '../cassandra/durability';
import { Client } from 'cassandra-driver';
import { budgets, formatReport, type BenchReport, type PaxosResult, type ThreeNodeCheckouts } from './report';
import { startCassandraCluster, type CassandraCluster } from '../cassandra/launcher';
import { casCounts, compare, cqlSide, httpSide, processHealth, runWorker, type CompareOptions, type Comparison } from './measure';
import type { CheckoutResult } from './checkout-load';
import { round } from './stats';

export interface BenchOptions {
  quick: boolean;
  strict: boolean;
  outDir: string;
  /** Skip the checkouts on a three-node Cassandra (they add a cluster start, 1-2 minutes). */
  singleNode: boolean;
}

export function parseArgs(argv: string[]): BenchOptions {
  const options: BenchOptions = { quick: false, strict: false, singleNode: false, outDir: join(repoRoot, '.data', 'bench') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') options.quick = true;
    else if (a === '--strict') options.strict = true;
    else if (a === '--out') options.outDir = argv[++i];
    else if (a === '--single-node') options.singleNode = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench [-- --quick] [-- --strict] [-- --single-node] [-- --out DIR]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return options;
}

/** Timings of one run. A full run stays under ~10 minutes on 2 cores (8 with --single-node), --quick under ~4. */
export function plan(quick: boolean) {
  return quick
    ? { rounds: 1, sliceMs: 2000, warmupMs: 500, connections: 32, checkoutRates: [5, 20], checkoutMs: 8000, paxosCheckouts: 5 }
    : { rounds: 3, sliceMs: 4000, warmupMs: 1000, connections: 32, checkoutRates: [5, 10, 20], checkoutMs: 20_000, paxosCheckouts: 20 };
}

/** The bench's own ports (away from the stack's 8000-8003/8080 and the tests'). */
const ports = {
  services: { backend: 18200, 'cart-service': 18201, 'order-service': 18202, 'user-service': 18203 },
  tracedBackend: 18210,
  gateway: 18280,
  nginxStatus: 18281,
  raw: 18290,
  kit: 18291,
  koa: 18292,
  koaProduct: 18293,
} as const;

/** Source addresses for the gateway runs: one per connection or customer, so no single address is throttled. */
export const sourceAddresses = (n: number) => Array.from({ length: n }, (_, i) => `127.0.${Math.floor(i / 250)}.${(i % 250) + 2}`);

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** An OTLP/HTTP receiver that answers and forgets (a stand-in for Jaeger; it keeps only a count). */
function startOtlpSink(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.setHeader('Content-Type', 'application/json');
      res.end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, close: () => new Promise((r) => server.close(() => r())) }),
    ),
  );
}

/** Defaults that keep the bench's Cassandra apart from the stack's and the tests' (each can be overridden). */
function isolateCassandra(): void {
  if (process.env.CASSANDRA_HOST) return;
  process.env.CASSANDRA_DATA_DIR ??= join(repoRoot, '.data', 'bench', 'cassandra');
  process.env.CASSANDRA_PORT ??= '19142';
  process.env.CASSANDRA_METRICS_PORT ??= '17170';
  process.env.CASSANDRA_JMX_PORT ??= '17299';
}

async function json(url: string, init: RequestInit & { token?: string; body?: string } = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    ...init,
    headers: { ...(init.body ? { 'Content-Type': 'application/json' } : {}), ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}), ...(init.headers ?? {}) },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const p = plan(options.quick);
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const loadAverage = loadavg();
  isolateCassandra();
  const env: NodeJS.ProcessEnv = { ...process.env, ENVIRONMENT: 'development', LOG_LEVEL: process.env.LOG_LEVEL || 'info' };
  delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
  delete env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  let logLines = 0;
  const tail: string[] = [];
  const sink = (name: string, line: string) => {
    logLines++;
    if (!line.startsWith('{"time"') || line.includes('"level":"error"') || line.includes('"level":"warn"')) {
      tail.push(`[${name}] ${line}`);
      if (tail.length > 40) tail.shift();
    }
  };
  const extra: ManagedProcess[] = [];
  let stack: RunningStack | undefined;
  let stackStarting: Promise<RunningStack> | undefined;
  const otlp = await startOtlpSink();
  // Once, whether the run ends or a signal stops it first (activeStop): a stack still starting is
  // stopped when its start ends.
  let stopped: Promise<void> | undefined;
  const stopEverything = () =>
    (stopped ??= (async () => {
      if (!stack && stackStarting) stack = await stackStarting.catch(() => undefined);
      for (const proc of extra.reverse()) await proc.stop();
      await stack?.stop();
      await otlp.close();
      log(`stopped everything (${logLines} log lines from the services)`);
    })());
  activeStop = stopEverything;
  try {
    log(`starting Cassandra and the services (ports ${Object.values(ports.services).join(', ')})`);
    stackStarting = startLocalStack({ dataDir: join(options.outDir, 'stack'), env, sink, servicesOnly: true, ports: { services: ports.services } });
    stack = await stackStarting;
    const cassandra = stack.cassandra;
    const metricsUrl = `http://${cassandra.host}:${cassandra.metricsPort ?? 7070}/metrics`;
    const url = (s: keyof typeof ports.services) => `http://127.0.0.1:${ports.services[s]}`;

    const start = async (name: string, args: string[], port: number, path: string, extraEnv: NodeJS.ProcessEnv = {}) => {
      // The services' V8 flags for every server compared with them: the same young generation on each side.
      const proc = startProcess(name, process.execPath, [...serviceNodeFlags, ...args], { cwd: repoRoot, env: { ...env, ...extraEnv, PORT: String(port), HOST: '127.0.0.1' }, sink });
      extra.push(proc);
      await waitForHttp(proc, `http://127.0.0.1:${port}${path}`);
    };
    const instrumentation = join(repoRoot, 'services', 'kit', 'src', 'instrumentation.ts');
    log('starting the trivial servers, a traced backend and nginx');
    await start('raw-http', ['--require', 'tsx/cjs', join(__dirname, 'servers', 'raw-health.ts')], ports.raw, '/health');
    await start('kit-app', ['--require', 'tsx/cjs', '--require', instrumentation, join(__dirname, 'servers', 'kit-health.ts')], ports.kit, '/health');
    await start('koa-alone', ['--require', 'tsx/cjs', join(__dirname, 'servers', 'koa-health.ts')], ports.koa, '/health');
    // The ceiling of backend's GET /products/{id}: Koa alone on the route's two queries (servers/koa-product.ts).
    await start('koa-product', ['--require', 'tsx/cjs', join(__dirname, 'servers', 'koa-product.ts')], ports.koaProduct, '/health', {
      CASSANDRA_HOST: cassandra.host,
      CASSANDRA_PORT: String(cassandra.port),
      CASSANDRA_KEYSPACE: loadConfig('backend', env).cassandra.keyspace,
    });
    await start('backend-traced', ['--require', 'tsx/cjs', '--require', instrumentation, join(repoRoot, 'services', 'backend', 'src', 'main.ts')], ports.tracedBackend, '/ready', {
      CASSANDRA_HOST: cassandra.host,
      CASSANDRA_PORT: String(cassandra.port),
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_SERVICE_NAME: 'backend',
      BACKEND_URL: url('backend'),
      CART_SERVICE_URL: url('cart-service'),
    });
    const gateway = await startNginx(join(options.outDir, 'stack', 'nginx'), sink, extra);

    // Data: products with plenty of stock, customers (tokens issued with the stack's key, as
    // user-service issues them), and one cart of three lines for GET /cart.
    const auth = createAuth(loadConfig('user-service', env));
    const token = (id: string, role: 'customer' | 'admin' = 'customer') => auth.issue({ id, role }).access_token;
    const productIds = await createProducts(url('backend'), token(crypto.randomUUID(), 'admin'));
    const cartUser = crypto.randomUUID();
    const cartToken = token(cartUser);
    for (const id of productIds.slice(0, 3)) {
      const res = await json(`${url('cart-service')}/cart/items`, { method: 'POST', token: cartToken, body: JSON.stringify({ product_id: id, quantity: 1 }) });
      if (res.status !== 201) throw new Error(`adding to the cart answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    const productPath = `/products/${productIds[0]}`;
    const processNames = { ...Object.fromEntries(Object.keys(ports.services).map((s) => [s, url(s as keyof typeof ports.services)])), 'backend (traced)': `http://127.0.0.1:${ports.tracedBackend}` };
    const healthAll = async () =>
      Object.fromEntries(await Promise.all(Object.entries(processNames).map(async ([name, u]) => [name, await processHealth(u)] as const)));
    await healthAll(); // resets the event-loop monitors: what follows is measured under load

    const cmp: CompareOptions = { rounds: p.rounds, sliceMs: p.sliceMs, warmupMs: p.warmupMs, connections: p.connections, log };
    const db = { host: cassandra.host, port: cassandra.port, keyspace: loadConfig('backend', env).cassandra.keyspace, concurrency: p.connections };
    const http = (u: string, path: string, extraSpec: { headers?: Record<string, string>; localAddresses?: string[] } = {}) => ({ url: u, path, connections: p.connections, ...extraSpec });
    const comparisons: Comparison[] = [];
    comparisons.push(await compare('trivial route', 'kit app / raw node:http', [httpSide('kit app', http(`http://127.0.0.1:${ports.kit}`, '/health')), httpSide('raw node:http', http(`http://127.0.0.1:${ports.raw}`, '/health'))], cmp));
    // The ceiling of the line above: Koa and @koa/router with nothing of the kit (the kit can be no faster).
    comparisons.push(await compare('trivial route, Koa alone', 'Koa + @koa/router / raw node:http', [httpSide('Koa alone', http(`http://127.0.0.1:${ports.koa}`, '/health')), httpSide('raw node:http', http(`http://127.0.0.1:${ports.raw}`, '/health'))], cmp));
    comparisons.push(await compare('GET /products/{id}', 'route / driver alone', [httpSide('backend', http(url('backend'), productPath)), cqlSide('driver', { ...db, operation: { route: 'product', productId: productIds[0] } })], cmp));
    // Its ceiling: Koa alone on the same two queries (no kit), against the same driver-alone loop.
    comparisons.push(
      await compare('GET /products/{id}, Koa alone', 'Koa + driver / driver alone', [httpSide('Koa alone', http(`http://127.0.0.1:${ports.koaProduct}`, productPath)), cqlSide('driver', { ...db, operation: { route: 'product', productId: productIds[0] } })], cmp),
    );
    comparisons.push(await compare('GET /products?limit=20', 'route / driver alone', [httpSide('backend', http(url('backend'), '/products?limit=20')), cqlSide('driver', { ...db, operation: { route: 'products', limit: 20 } })], cmp));
    comparisons.push(
      await compare('GET /cart (3 lines)', 'route / driver alone', [httpSide('cart-service', http(url('cart-service'), '/cart', { headers: { Authorization: `Bearer ${cartToken}` } })), cqlSide('driver', { ...db, operation: { route: 'cart', userId: cartUser } })], cmp),
    );
    if (gateway) {
      comparisons.push(
        await compare('through nginx', 'gateway / direct', [httpSide('nginx', http(gateway, productPath, { localAddresses: sourceAddresses(p.connections) })), httpSide('direct', http(url('backend'), productPath))], cmp),
      );
    }
    comparisons.push(await compare('tracing', 'on / off', [httpSide('traced', http(`http://127.0.0.1:${ports.tracedBackend}`, productPath)), httpSide('untraced', http(url('backend'), productPath))], cmp));
    const afterThroughput = await healthAll();

    // Paxos per (add one line + checkout): sequential, fresh customers, from Cassandra's own counters,
    // less what the counters move by themselves over as long (background recovery passes).
    const paxos = await measurePaxos(metricsUrl, p.paxosCheckouts, async () => {
      const r = await oneCheckout(productIds, token);
      if (r.completed !== 1) throw new Error(`a checkout for the Paxos count failed: ${JSON.stringify(r.statuses)}`);
    });

    const checkouts = await openLoopCheckouts(p, gateway, productIds, '1 node', token);
    const afterCheckouts = await healthAll();
    // The durability the checkouts paid for (docs/performance.md): what the node itself says it runs.
    const commitlogSync = await withClient(cassandra, nodeDurability).catch((err: Error) => `unknown (${err.message})`);
    log(`Cassandra's commit log sync: ${commitlogSync}`);
    const processes: BenchReport['processes'] = {};
    for (const name of Object.keys(processNames)) processes[name] = { afterThroughput: afterThroughput[name], afterCheckouts: afterCheckouts[name] };
    log(`spans exported by the traced backend: ${otlp.requests()} OTLP requests`);

    const partial: Omit<BenchReport, 'budgets' | 'threeNodes'> = {
      version: 1,
      startedAt,
      durationS: round((Date.now() - started) / 1000, 1),
      mode: options.quick ? 'quick' : 'full',
      machine: { cpus: cpus().length, loadAverage: loadAverage.map((l) => round(l, 2)), node: process.version, platform: `${process.platform} ${process.arch}` },
      method: {
        client: 'tools/bench/http-load.ts: raw keep-alive sockets, closed loop, one child process; cassandra-driver loops in a child process',
        connections: p.connections,
        sliceMs: p.sliceMs,
        warmupMs: p.warmupMs,
        rounds: p.rounds,
        gateway: gateway ? 'nginx from gateway/nginx.ts, its api rate limit raised for the bench; connections spread over loopback source addresses' : 'nginx not installed: skipped',
        commitlogSync,
      },
      comparisons,
      checkouts,
      paxos,
      processes,
    };
    // The same checkouts on three nodes: the single node and everything on the bench's ports stop first.
    await stopEverything();
    const threeNodes = options.singleNode
      ? { skipped: 'npm run bench -- --single-node' }
      : process.env.CASSANDRA_HOST
        ? { skipped: `CASSANDRA_HOST is set (${process.env.CASSANDRA_HOST}): the bench starts a cluster only of its own` }
        : await threeNodeCheckouts(p, options, env, sink, token);
    return { ...partial, durationS: round((Date.now() - started) / 1000, 1), threeNodes, budgets: budgets(partial) };
  } catch (err) {
    if (tail.length) process.stderr.write(`${tail.join('\n')}\n`);
    throw err;
  } finally {
    await stopEverything();
  }
}

type Plan = ReturnType<typeof plan>;
type Token = (id: string, role?: 'customer' | 'admin') => string;

/** Twenty products with plenty of stock, created through the API as an admin. */
async function createProducts(backendUrl: string, adminToken: string): Promise<string[]> {
  const productIds: string[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await json(`${backendUrl}/products`, { method: 'POST', token: adminToken, body: JSON.stringify({ name: `Bench product ${i}`, price_cents: 100 + i, category: 'bench', stock: 1_000_000 }) });
    if (res.status !== 201) throw new Error(`creating a product answered ${res.status}: ${JSON.stringify(res.body)}`);
    productIds.push(res.body.id);
  }
  return productIds;
}

/** One (add a line + checkout) by a new customer, straight to the services (no nginx). */
function oneCheckout(productIds: string[], token: Token): Promise<CheckoutResult> {
  const service = (name: keyof typeof ports.services) => `http://127.0.0.1:${ports.services[name]}`;
  return runWorker({ kind: 'checkout', cartUrl: service('cart-service'), ordersUrl: service('order-service'), tokens: [token(crypto.randomUUID())], productIds, ratePerSecond: 1000, durationMs: 1 });
}

/**
 * Open-loop checkouts (add a line, then POST /orders) at each of the plan's rates, through nginx when
 * there is one, by 200 customers of their own, each from a loopback address of its own.
 */
async function openLoopCheckouts(p: Plan, gateway: string | undefined, productIds: string[], label: string, token: Token): Promise<CheckoutResult[]> {
  const issue = token;
  log(`${label}: open-loop checkouts at ${p.checkoutRates.join(', ')}/s for ${p.checkoutMs / 1000} s each, through ${gateway ? 'nginx' : 'the services directly'}`);
  const checkouts: CheckoutResult[] = [];
  const customers = Array.from({ length: 200 }, () => issue(crypto.randomUUID()));
  for (const rate of p.checkoutRates) {
    const r = await runWorker({
      kind: 'checkout',
      cartUrl: gateway ?? `http://127.0.0.1:${ports.services['cart-service']}`,
      ordersUrl: gateway ?? `http://127.0.0.1:${ports.services['order-service']}`,
      tokens: customers,
      productIds,
      ratePerSecond: rate,
      durationMs: p.checkoutMs,
      localAddresses: gateway ? sourceAddresses(customers.length) : undefined,
    });
    log(`${label}: checkouts at ${rate}/s: ${r.completed}/${r.scheduled} created, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms`);
    checkouts.push(r);
  }
  return checkouts;
}

/**
 * The checkouts again on a three-node Cassandra of the bench's own (127.0.0.1-3, the bench's CQL port,
 * replication factor 3: every write and Paxos round waits for two of three nodes) with the same
 * services, nginx and rates. Everything it starts is stopped before it returns (or by a signal).
 */
async function threeNodeCheckouts(p: Plan, options: BenchOptions, env: NodeJS.ProcessEnv, sink: (name: string, line: string) => void, token: Token): Promise<ThreeNodeCheckouts> {
  const extra: ManagedProcess[] = [];
  let cluster: CassandraCluster | undefined;
  let stack: RunningStack | undefined;
  let stopped: Promise<void> | undefined;
  const stopAll = () =>
    (stopped ??= (async () => {
      for (const proc of extra.reverse()) await proc.stop();
      await stack?.stop();
      await cluster?.stop();
    })());
  activeStop = stopAll;
  try {
    log('starting a three-node Cassandra (127.0.0.1-3) and the services on it');
    cluster = await startCassandraCluster({ nodes: 3, baseDir: join(options.outDir, 'cassandra-cluster'), port: Number(process.env.CASSANDRA_PORT), log });
    // Replication factor 3 whatever the shell says: the report states it.
    stack = await startLocalStack({ dataDir: join(options.outDir, 'stack-3'), env: { ...env, CASSANDRA_REPLICATION_FACTOR: '3' }, sink, servicesOnly: true, ports: { services: ports.services }, cassandra: cluster });
    const gateway = await startNginx(join(options.outDir, 'stack-3', 'nginx'), sink, extra);
    const productIds = await createProducts(`http://127.0.0.1:${ports.services.backend}`, token(crypto.randomUUID(), 'admin'));
    // As many sequential checkouts as the one-node run's Paxos count made before its open loop: the
    // services' and the nodes' first queries (prepares, JIT) are not measured on either side.
    for (let i = 0; i < p.paxosCheckouts; i++) {
      await oneCheckout(productIds, token);
    }
    const checkouts = await openLoopCheckouts(p, gateway, productIds, '3 nodes', token);
    const commitlogSync = await withClient(cluster, nodeDurability).catch((err: Error) => `unknown (${err.message})`);
    return { nodes: 3, replicationFactor: 3, startS: round(cluster.startMs / 1000, 1), commitlogSync, checkouts };
  } finally {
    await stopAll();
  }
}

/** Runs `work` with a driver client of its own on the bench's Cassandra. */
async function withClient<T>(cassandra: { host: string; port: number }, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ contactPoints: [`${cassandra.host}:${cassandra.port}`], localDataCenter: 'datacenter1' });
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}

/** What a signal stops: everything the running bench started (set by runBench). */
let activeStop: (() => Promise<void>) | undefined;

async function measurePaxos(metricsUrl: string, checkouts: number, checkout: () => Promise<void>): Promise<PaxosResult> {
  const idleStart = await casCounts(metricsUrl);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 3000));
  const idleEnd = await casCounts(metricsUrl);
  const background = (idleEnd.casWrite - idleStart.casWrite + idleEnd.casRead - idleStart.casRead) / ((Date.now() - t0) / 1000);
  const before = await casCounts(metricsUrl);
  const t1 = Date.now();
  for (let i = 0; i < checkouts; i++) await checkout();
  const after = await casCounts(metricsUrl);
  const seconds = (Date.now() - t1) / 1000;
  const casWrite = after.casWrite - before.casWrite;
  const casRead = after.casRead - before.casRead;
  const net = Math.max(0, casWrite + casRead - background * seconds);
  return { checkouts, casWrite, casRead, perCheckout: round(net / checkouts, 2), backgroundPerSecond: round(background, 2) };
}

/**
 * nginx rendered by gateway/nginx.ts for the bench's ports, with one change: the per-address api rate
 * limit raised, so a throughput run measures the proxy and not the limiter. undefined without nginx.
 */
async function startNginx(dir: string, sink: (name: string, line: string) => void, extra: ManagedProcess[]): Promise<string | undefined> {
  if (!which('nginx')) {
    log('nginx is not installed: the gateway comparison is skipped (apt-get install -y nginx)');
    return undefined;
  }
  mkdirSync(join(dir, 'temp'), { recursive: true });
  const config = join(dir, 'nginx.conf');
  const rendered = renderNginx({
    listen: ports.gateway,
    statusListen: `127.0.0.1:${ports.nginxStatus}`,
    upstream: (name) => `127.0.0.1:${ports.services[name]}`,
    accessLog: join(dir, 'access.log'),
    errorLog: 'stderr',
    pidFile: join(dir, 'nginx.pid'),
    tempDir: join(dir, 'temp'),
  });
  const raised = rendered.replace(/(zone=api:\S+ rate=)\d+r\/s/, (_, head: string) => `${head}1000000r/s`).replace(/listen (\d+)([ ;])/g, 'listen 127.0.0.1:$1$2');
  if (raised === rendered) throw new Error('could not raise the api rate limit in the rendered nginx configuration');
  writeFileSync(config, raised);
  const nginx = startProcess('nginx', 'nginx', ['-c', config, '-p', dir, '-g', 'daemon off;'], { sink });
  extra.push(nginx);
  await waitForHttp(nginx, `http://127.0.0.1:${ports.gateway}/health`);
  return `http://127.0.0.1:${ports.gateway}`;
}

export function writeReport(report: BenchReport, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

if (require.main === module) {
  const options = parseArgs(process.argv.slice(2));
  // Ctrl-C or SIGTERM stops what the bench started, Cassandra included (tools/stack/signals.ts).
  onStopSignals(
    () => {
      log('stopping');
      void (activeStop?.() ?? Promise.resolve()).finally(() => process.exit(130));
    },
    { say: log, leftBehind: () => "the bench's Cassandra (the next run adopts it)" },
  );
  runBench(options).then(
    (report) => {
      const file = writeReport(report, options.outDir);
      process.stdout.write(`${formatReport(report)}\n\nwritten to ${file}\n`);
      const missed = report.budgets.filter((b) => !b.met).length;
      process.exit(options.strict && missed > 0 ? 1 : 0);
    },
    (err) => {
      process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
      process.exit(2);
    },
  );
}
