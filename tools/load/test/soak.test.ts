/**
 * The shop run the way production runs it: the local stack (Cassandra, every service in its replicas,
 * nginx) under the load generator's customer mix through the gateway, on ports of its own.
 *
 * 1. Drill: every replica of every service is stopped (SIGTERM) and started again, one at a time,
 *    under load: the gateway answers no non-2xx (other than a checkout's expected 409 OUT_OF_STOCK).
 * 2. Drill: an order-service replica is killed (SIGKILL) in the middle of checkouts and started again:
 *    clients may see the requests that were in flight on it fail (502/503/504, retried under the same
 *    key for checkouts), never a 500; afterwards the promises hold: no acknowledged order lost, one
 *    order per key, stock conserved once recovery has had its window.
 * 3. Soak: after a 30 s burst at 150 requests/s (V8 sizes its heap to the load it meets), a fixed rate
 *    for SOAK_DURATION (default 10m; CI runs the default): no non-2xx, the promises hold, nothing held
 *    after the recovery window, and each process's memory (RSS) does not drift: the median of the last
 *    fifth of the run is within RSS_DRIFT_LIMIT of the median of the second fifth.
 *
 * Tests assert invariants only; the rates stay far below what this machine serves, and speeds are
 * logged, not asserted (npm run bench measures them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { dropKeyspace, testKeyspace } from '@product-store/kit/testing';
import { services } from '@product-store/deploy';
import { gatewayUpstream } from '@product-store/kit';
import { freeStackPorts, startLocalStack, type RunningStack } from '../../stack/stack';
import { runLoad, type LoadOptions, type LoadSummary, type RequestRecord } from '../generator';
import { assertShopInvariants } from './invariants';

const keyspace = testKeyspace('soak');
const admin = { email: 'admin@example.com', password: 'soak-test-admin-password' };
const CHECKOUT_TIMEOUT_MS = 5000;
const RECOVERY_INTERVAL_MS = 1000;
/** After this, whatever a crash left held has been released or ordered by recovery. */
const RECOVERY_BOUND_MS = CHECKOUT_TIMEOUT_MS + 2 * RECOVERY_INTERVAL_MS;
const SOAK_MS = parseDuration(process.env.SOAK_DURATION ?? '10m');
/**
 * The memory guard, the issue's budget: RSS may not grow by 5% from the second fifth of the soak to the
 * last (a leak of a few hundred bytes per request fails it: 5 MB over the 7,200 requests between the
 * two windows). It holds since the services size V8's young generation once, at start
 * (deploy/src/images.ts, serviceNodeFlags); before, V8 grew backend's new space 8 -> 16 MB under its
 * allocation rate in the middle of the soak, 9-10% of its RSS (docs/performance.md). Measured since:
 * -2.6% to +3.6% for every process.
 */
const RSS_DRIFT_LIMIT = 0.05;

const logs: string[] = [];
const unexpectedExits: string[] = [];
/** Replicas a drill killed on purpose: their exit is expected. */
const killed = new Set<string>();
const surprises = () => unexpectedExits.filter((e) => !killed.has(e.slice(0, e.indexOf(' '))));
let stack: RunningStack;
let dataDir: string;

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`SOAK_DURATION: "${text}" is not a duration like 90s or 10m`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'product-store-soak-'));
  stack = await startLocalStack({
    dataDir,
    env: {
      ...process.env,
      ENVIRONMENT: 'test',
      LOG_LEVEL: 'warn',
      CASSANDRA_KEYSPACE: keyspace,
      ADMIN_EMAIL: admin.email,
      ADMIN_PASSWORD: admin.password,
      CHECKOUT_TIMEOUT_MS: String(CHECKOUT_TIMEOUT_MS),
      CHECKOUT_RECOVERY_INTERVAL_MS: String(RECOVERY_INTERVAL_MS),
    },
    ports: await freeStackPorts(),
    withoutMonitoring: true,
    sink: (name, line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 2000) logs.splice(0, 1000);
    },
    onUnexpectedExit: (name, code) => unexpectedExits.push(`${name} exited with ${code}`),
  });
  if (stack.missing.some((m) => m.component === 'nginx')) throw new Error('nginx is not installed: apt-get install -y nginx');
});

test.after.always(async () => {
  await stack?.stop();
  await dropKeyspace(keyspace).catch(() => undefined);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The replicas of every service, by name (`backend`, `backend-2`, ...). */
const allReplicas = () => services.flatMap((s) => stack.replicas(s.name));

function load(options: Partial<LoadOptions> & Pick<LoadOptions, 'durationMs'>, runId: string, addresses: string): Promise<LoadSummary> {
  return runLoad({
    url: stack.url('gateway'),
    rate: 20,
    customers: 16,
    sourceAddresses: addresses,
    admin,
    products: { count: 8, stock: 100_000 },
    recordLimit: 100_000,
    timeoutMs: 15_000,
    runId,
    seed: 7,
    ...options,
  });
}

/** Non-2xx answers and failed requests, other than a checkout's expected 409 OUT_OF_STOCK. */
const failures = (summary: LoadSummary) => (summary.records ?? []).filter((r) => (r.status < 200 || r.status >= 300) && !r.expected);
const describe = (records: RequestRecord[]) => records.slice(0, 8).map((r) => `${r.op} ${r.status}${r.code ? ` ${r.code}` : ''}${r.error ? ` ${r.error}` : ''}`);

/**
 * A sample's value on a /metrics page (the kit adds default labels, e.g. `service`): its first series,
 * or the first with `label` (`space="new"`) among its labels.
 */
function metricValue(page: string, name: string, label?: string): number | undefined {
  const line = page.split('\n').find((l) => (!label && l.startsWith(`${name} `)) || (l.startsWith(`${name}{`) && (!label || l.slice(0, l.indexOf('}')).includes(label))));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** order-service's view: the backlog its last recovery pass saw, on every replica. */
async function recoveryBacklogs(): Promise<number[]> {
  return Promise.all(
    stack.replicas('order-service').map(async (r) => {
      const page = await (await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return metricValue(page, 'checkout_recovery_backlog') ?? Number.NaN;
    }),
  );
}

test.serial('every replica of every service restarted (SIGTERM) under load: no non-2xx at the gateway', async (t) => {
  t.timeout(6 * 60_000);
  const controller = new AbortController();
  const running = load({ durationMs: 5 * 60_000, signal: controller.signal }, 'restarts', '127.0.21.0/28');
  const restarted: string[] = [];
  try {
    await sleep(5000);
    for (const replica of allReplicas()) {
      await stack.stopReplica(replica.name);
      await stack.startReplica(replica.name);
      restarted.push(replica.name);
      // nginx skips a replica it saw fail for fail_timeout, counted on its one-second clock (up to
      // fail_timeout + 1 s): stopping the sibling sooner leaves it no live replica, and it answers 502.
      await sleep(gatewayUpstream.failTimeoutSeconds * 1000 + 1000);
    }
  } finally {
    controller.abort();
  }
  const summary = await running;
  t.log(`${restarted.length} replicas restarted under ${summary.sent} requests (${summary.rps} req/s); statuses ${JSON.stringify(summary.byStatus)}`);
  t.deepEqual(restarted, allReplicas().map((r) => r.name));
  const failed = failures(summary);
  const nginxLines = logs.filter((l) => l.startsWith('[nginx]') && /upstream/.test(l)).slice(-20);
  t.deepEqual(describe(failed), [], `${failed.length} requests failed at the gateway while replicas restarted\n${nginxLines.join('\n')}`);
  t.deepEqual(summary.checkouts.unresolved, []);
  await assertShopInvariants(t, stack.url('gateway'), summary, { exact: true });
  t.deepEqual(surprises(), []);
});

test.serial('an order-service replica killed (SIGKILL) mid-checkout: no 500, and no order lost, duplicated or left holding stock', async (t) => {
  t.timeout(4 * 60_000);
  const victim = stack.replicas('order-service')[0]!.name;
  const controller = new AbortController();
  // Checkout-heavy: many checkouts in flight when the process dies.
  const running = load({ durationMs: 3 * 60_000, signal: controller.signal, mix: { browse: 2, view: 1, cart: 1, add: 4, checkout: 4 } }, 'kill', '127.0.22.0/28');
  try {
    await sleep(8000);
    const proc = stack.process(victim);
    if (!proc) throw new Error(`no process ${victim}`);
    killed.add(victim);
    proc.child.kill('SIGKILL');
    await proc.exited;
    t.log(`${victim} killed`);
    await sleep(3000);
    await stack.startReplica(victim);
    await sleep(8000);
  } finally {
    controller.abort();
  }
  const summary = await running;
  const failed = failures(summary);
  t.log(`${summary.sent} requests, ${summary.orders.length} orders, ${summary.checkouts.retries} checkout retries, ${summary.checkouts.unresolved.length} unresolved; failed: ${JSON.stringify(describe(failed))} (${failed.length})`);
  // What clients may see: the answers of requests in flight on the killed process, as a gateway
  // error or a retryable 503/409-in-progress; never a 500, and every request got an answer.
  const unexpected = failed.filter((r) => ![502, 503, 504].includes(r.status) && !(r.status === 409 && r.code === 'IDEMPOTENCY_IN_PROGRESS'));
  t.deepEqual(describe(unexpected), []);
  t.is(summary.networkErrors, 0);

  // Recovery's window, then the promises.
  await sleep(RECOVERY_BOUND_MS);
  let backlogs: number[] = [];
  for (let i = 0; i < 20; i++) {
    backlogs = await recoveryBacklogs();
    if (backlogs.every((b) => b === 0)) break;
    await sleep(RECOVERY_INTERVAL_MS);
  }
  t.deepEqual(backlogs, backlogs.map(() => 0), 'no unfinished checkout left for recovery');
  await assertShopInvariants(t, stack.url('gateway'), summary, { exact: false });
  t.deepEqual(surprises(), []);
});

test.serial(`soak: ${process.env.SOAK_DURATION ?? '10m'} at 20 requests/s through the gateway; every promise holds and no process's memory grows`, async (t) => {
  t.timeout(SOAK_MS + 6 * 60_000);
  // A burst first, as production traffic has: V8 sizes its heap to the load it meets, and at 20
  // requests/s alone a process takes longer than the soak to reach that size. Memory is then
  // compared after it, so what grows is what the steady load keeps.
  const burst = await load({ rate: 150, durationMs: 30_000, customers: 40, products: { count: 20, stock: 100_000 } }, 'soak-burst', '127.0.23.0/26');
  t.log(`burst: ${burst.sent} requests at ${burst.rps} req/s; statuses ${JSON.stringify(burst.byStatus)}`);
  // 150 requests/s on this 2-core machine is overload when Cassandra has only just started (its code
  // not yet compiled): the stack may then shed some of it as 503 (Retry-After), the answer the README
  // promises under overload, and nothing else. A warm stack (CI's, after npm test) sheds none.
  const shed = failures(burst);
  if (shed.length) t.log(`the burst shed ${shed.length} requests: ${JSON.stringify(describe(shed))}\n${logs.filter((l) => /"level":"(warn|error)"|upstream/.test(l)).slice(-30).join('\n')}`);
  t.deepEqual(describe(shed.filter((r) => r.status !== 503)), [], 'the burst failed no request, but for a 503 under overload');
  t.is(burst.networkErrors, 0);
  // The burst's promises, now: its customers' tokens expire before a long soak ends. A checkout it
  // shed may have been finished by recovery (an order no client saw acknowledged).
  await sleep(RECOVERY_BOUND_MS);
  await assertShopInvariants(t, stack.url('gateway'), burst, { exact: shed.length === 0 });
  // Beside RSS, where V8's memory is: the heap in use, the heap committed (new space grows with the
  // allocation rate), and memory outside the heap that V8 knows of (Buffers).
  const rss = new Map<string, Array<{ at: number; mb: number; heapMb: number; heapTotalMb: number; newSpaceMb: number; externalMb: number }>>();
  const started = Date.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const r of allReplicas()) {
        const text = await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(5000) }).then((res) => res.text()).catch(() => '');
        const bytes = metricValue(text, 'process_resident_memory_bytes');
        const mb = (name: string, label?: string) => (metricValue(text, name, label) ?? 0) / 2 ** 20;
        if (bytes !== undefined)
          (rss.get(r.name) ?? rss.set(r.name, []).get(r.name)!).push({
            at: Date.now() - started,
            mb: bytes / 2 ** 20,
            heapMb: mb('nodejs_heap_size_used_bytes'),
            heapTotalMb: mb('nodejs_heap_size_total_bytes'),
            newSpaceMb: mb('nodejs_heap_space_size_total_bytes', 'space="new"'),
            externalMb: mb('nodejs_external_memory_bytes'),
          });
      }
      // Often: each window's median then spans many garbage-collection cycles (heap use swings ±20%).
      await sleep(5000);
    }
  })();
  let summary: LoadSummary;
  try {
    summary = await load({ durationMs: SOAK_MS, customers: 40, products: { count: 20, stock: 100_000 } }, 'soak', '127.0.23.0/26');
  } finally {
    sampling = false;
    await sampler;
  }
  t.log(`${summary.sent} requests in ${(summary.elapsedMs / 1000).toFixed(0)} s (${summary.rps} req/s), p50 ${summary.latency.p50} ms, p99 ${summary.latency.p99} ms, ${summary.orders.length} orders; statuses ${JSON.stringify(summary.byStatus)}`);
  const failed = failures(summary);
  t.deepEqual(describe(failed), [], `${failed.length} requests failed`);
  t.is(summary.dropped, 0);
  t.deepEqual(summary.checkouts.unresolved, []);

  await sleep(RECOVERY_BOUND_MS);
  t.deepEqual(await recoveryBacklogs(), stack.replicas('order-service').map(() => 0), 'nothing left for recovery');
  await assertShopInvariants(t, stack.url('gateway'), summary, { exact: true });

  // Memory: the median RSS of the last fifth against the second fifth (the first is warm-up).
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const drifts: string[] = [];
  for (const [name, samples] of rss) {
    const window = (from: number, to: number) => samples.filter((s) => s.at >= from * SOAK_MS && s.at < to * SOAK_MS);
    const early = window(0.2, 0.4);
    const late = window(0.8, 1.01);
    if (early.length === 0 || late.length === 0) continue;
    const rssOf = (xs: typeof samples) => median(xs.map((s) => s.mb));
    const of = (xs: typeof samples, key: 'heapMb' | 'heapTotalMb' | 'newSpaceMb' | 'externalMb') => median(xs.map((s) => s[key])).toFixed(1);
    const drift = (rssOf(late) - rssOf(early)) / rssOf(early);
    t.log(
      `${name}: RSS ${rssOf(early).toFixed(1)} MB → ${rssOf(late).toFixed(1)} MB (${(100 * drift).toFixed(1)}%), max ${Math.max(...samples.map((s) => s.mb)).toFixed(1)} MB; ` +
        `heap used ${of(early, 'heapMb')} → ${of(late, 'heapMb')} MB, committed ${of(early, 'heapTotalMb')} → ${of(late, 'heapTotalMb')} MB (new space ${of(early, 'newSpaceMb')} → ${of(late, 'newSpaceMb')}); ` +
        `external ${of(early, 'externalMb')} → ${of(late, 'externalMb')} MB`,
    );
    if (drift >= RSS_DRIFT_LIMIT) drifts.push(`${name}: ${rssOf(early).toFixed(1)} → ${rssOf(late).toFixed(1)} MB`);
  }
  t.true(rss.size > 0, 'RSS was sampled');
  t.deepEqual(drifts, [], `RSS drift under ${100 * RSS_DRIFT_LIMIT}%`);
  t.deepEqual(surprises(), []);
  // For a look afterwards: what the services logged at warn and above.
  t.log(`${logs.filter((l) => /"level":"(warn|error)"/.test(l)).length} warn/error lines from the stack`);
});
