/**
 * Budgets: what the command line accepts, how each is measured on a summary, and the CLI's exit
 * status (0 met, 1 missed, 2 usage) against a stand-in catalog.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import test from 'ava';
import { BudgetSyntaxError, evaluateBudgets, parseBudget, parseBudgets } from '../budget';
import { Histogram } from '../histogram';
import { operations, type LoadSummary, type Stats } from '../types';
import { startFakeShop } from './fake-shop';

const repoRoot = resolve(__dirname, '..', '..', '..');

test('budgets parse: latencies in ms (default), s or us; percentages as fractions; operations', (t) => {
  t.like(parseBudget('p99<250ms'), { metric: 'p99', comparator: '<', threshold: 250, percent: false });
  t.like(parseBudget('p99.9 <= 1.5s'), { metric: 'p99.9', comparator: '<=', threshold: 1500 });
  t.like(parseBudget('max<900us'), { metric: 'max', threshold: 0.9 });
  t.like(parseBudget('p50<20'), { threshold: 20 });
  t.like(parseBudget('errors<0.1%'), { metric: 'errors', percent: true, threshold: 0.001 });
  t.like(parseBudget('errors=0'), { metric: 'errors', percent: false, threshold: 0, comparator: '=' });
  t.like(parseBudget('status5xx=0'), { metric: 'status5xx', threshold: 0 });
  t.like(parseBudget('status429<1%'), { metric: 'status429', percent: true, threshold: 0.01 });
  t.like(parseBudget('rps>=18'), { metric: 'rps', comparator: '>=', threshold: 18 });
  t.like(parseBudget('checkout.p99<=250ms'), { operation: 'checkout', metric: 'p99', threshold: 250 });
  t.like(parseBudget('dropped==0'), { metric: 'dropped', comparator: '=' });
  t.deepEqual(
    parseBudgets(['p99<250ms,errors<0.1%', 'status5xx=0']).map((b) => b.source),
    ['p99<250ms', 'errors<0.1%', 'status5xx=0'],
  );
  t.deepEqual(parseBudgets(''), []);
});

test('budgets that mean nothing are refused with a message', (t) => {
  for (const bad of ['p99', 'p99<fast', 'latency<250ms', 'p99<5%', 'rps>10ms', 'rps>1%', 'pay.p99<1s', 'p101<1s', 'status6xx=0']) {
    t.throws(() => parseBudget(bad), { instanceOf: BudgetSyntaxError }, bad);
  }
});

function stats(byStatus: Record<string, number>, latencies: number[], extra: Partial<Stats> = {}): Stats {
  const histogram = new Histogram();
  for (const l of latencies) histogram.record(l);
  const responses = Object.entries(byStatus).filter(([s]) => /^\d+$/.test(s)).reduce((a, [, n]) => a + n, 0);
  const sent = Object.values(byStatus).reduce((a, n) => a + n, 0);
  return { scheduled: sent, sent, responses, dropped: 0, networkErrors: sent - responses, errors: 0, expected: 0, byStatus, rps: 0, latency: histogram.snapshot(), histogram, ...extra };
}

function summary(): LoadSummary {
  const total = stats({ 200: 990, 201: 5, 429: 3, 503: 1, timeout: 1 }, [...Array(980).fill(10), ...Array(20).fill(400)], { errors: 5, rps: 19.5 });
  const checkout = stats({ 201: 5, 409: 2 }, [100, 120, 130, 140, 150, 160, 300], { expected: 2 });
  const byOperation = Object.fromEntries(operations.map((op) => [op, op === 'checkout' ? checkout : stats({}, [])])) as LoadSummary['byOperation'];
  return {
    ...total,
    url: 'http://x',
    startedAt: '',
    endedAt: '',
    rate: 20,
    durationMs: 50_000,
    elapsedMs: 50_000,
    interrupted: false,
    byOperation,
    followUps: stats({}, []),
    checkouts: { attempted: 7, placed: 5, outOfStock: 2, substituted: 0, retries: 0, unresolved: [] },
    orders: [],
    customers: [],
    products: [],
    sourceAddresses: [],
    perAddressRate: 20,
    setup: { requests: 0, byStatus: {}, durationMs: 0 },
  };
}

test('budgets are measured on the summary: latency, errors, statuses, rate, per operation', (t) => {
  const results = evaluateBudgets(
    parseBudgets('p50<20ms,p99<250ms,max<=400ms,errors<1%,errors<0.1%,status5xx=0,status429<=3,status4xx<1%,rps>=18,rps>=20,checkout.p99<=250ms,checkout.max<400,orders>=5,outOfStock=2,dropped=0'),
    summary(),
  );
  const verdict = Object.fromEntries(results.map((r) => [r.budget.source, r.ok]));
  t.deepEqual(verdict, {
    'p50<20ms': true,
    'p99<250ms': false, // 2 % of the requests took 400 ms
    'max<=400ms': true,
    'errors<1%': true, // 5 of 1000
    'errors<0.1%': false,
    'status5xx=0': false,
    'status429<=3': true,
    'status4xx<1%': true, // 3 of 999 responses
    'rps>=18': true,
    'rps>=20': false,
    'checkout.p99<=250ms': false,
    'checkout.max<400': true,
    'orders>=5': true,
    'outOfStock=2': true,
    'dropped=0': true,
  });
  const p99 = results.find((r) => r.budget.source === 'p99<250ms')!;
  t.regex(p99.description, /^p99<250ms: 40\d(\.\d+)?ms$/);
  t.is(results.find((r) => r.budget.source === 'errors<0.1%')!.measured, '0.5%');
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'tools', 'load', 'cli.ts'), ...args], { cwd: repoRoot, env: { ...process.env, ADMIN_EMAIL: '', ADMIN_PASSWORD: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const anonymousRun = (url: string) => ['--url', url, '--rate', '20', '--duration', '1s', '--customers', '2', '--mix', 'browse=1,view=1'];

test('the CLI exits 0 when every budget is met and 1 naming the one missed', async (t) => {
  const shop = await startFakeShop();
  try {
    const met = await cli([...anonymousRun(shop.url), '--budget', 'status5xx=0,errors=0', '--budget', 'rps>=1']);
    t.is(met.code, 0, met.stderr);
    t.regex(met.stdout, /met +status5xx=0: 0/);
    t.regex(met.stdout, /throughput: [\d.]+ responses\/s/);
    t.regex(met.stdout, /p99/);
    t.regex(met.stderr, /sent 20 /, 'a progress line (plain, not a terminal)');
    const missed = await cli([...anonymousRun(shop.url), '--budget', 'p99<0.001ms,status5xx=0']);
    t.is(missed.code, 1);
    t.regex(missed.stderr, /budget missed: p99<0\.001ms \(measured [\d.]+ms\)/);
    t.notRegex(missed.stderr, /budget missed: status5xx/);
    t.regex(missed.stdout, /MISSED p99<0\.001ms/);
  } finally {
    await shop.close();
  }
});

test('the CLI exits 1 when the server answers 5xx under status5xx=0, with the statuses in the summary', async (t) => {
  const shop = await startFakeShop({ viewStatus: 503 });
  try {
    const run = await cli([...anonymousRun(shop.url), '--budget', 'status5xx=0']);
    t.is(run.code, 1);
    t.regex(run.stderr, /budget missed: status5xx=0 \(measured \d+\)/);
    t.regex(run.stdout, /503:\d+/);
  } finally {
    await shop.close();
  }
});

test('the CLI exits 2 on a bad budget or flag, before sending anything', async (t) => {
  const bad = await cli(['--url', 'http://127.0.0.1:9', '--budget', 'p99<fast']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /cannot read the budget "p99<fast"/);
  const unknown = await cli(['--rate', 'many']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /--rate: many/);
  const refused = await cli(['--url', 'http://127.0.0.1:9', '--duration', '1s', '--mix', 'browse=1']);
  t.is(refused.code, 2, 'a gateway that cannot be reached stops the setup');
  t.regex(refused.stderr, /ECONNREFUSED/);
});
