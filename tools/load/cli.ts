/**
 * `npm run load`: the shop's load generator (generator.ts) on the command line.
 *
 *   npm run load -- --url http://127.0.0.1:8080 --rate 100 --duration 2m --customers 50 \
 *     --source-addresses 127.0.1.0/24 --admin-email admin@example.com --admin-password admin-dev-password \
 *     --budget 'p99<250ms,errors<0.1%,status5xx=0,rps>=95' --json /tmp/load.json
 *
 * Exit status: 0 when every budget is met, 1 when one is missed (each is printed), 2 for a usage or
 * setup error, 130 when interrupted (Ctrl-C) with every budget met on what ran.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BudgetSyntaxError, evaluateBudgets, parseBudgets, type Budget } from './budget';
import { parseMix, runLoad, summaryJson, type LoadOptions } from './generator';
import { formatSummary, parseDuration, progressLine } from './report';
import type { Progress } from './types';
import { onStopSignals } from '../stack/signals';

const usage = `usage: npm run load -- [options]

  --url URL                 the gateway (default http://127.0.0.1:8080, or LOAD_URL)
  --rate N                  arrivals per second, open loop (default 20)
  --duration D              how long: 30s, 10m, 1h (default 60s)
  --customers N             virtual customers, each with its account, token, cart (default 10)
  --source-addresses SPEC   a CIDR (127.0.1.0/24) or a list of addresses; customer i binds to address i mod n
                            (the gateway limits 50 requests/s per client address)
  --mix SPEC                weights (default browse=10,view=5,cart=3,add=2,checkout=1)
  --admin-email E           with --admin-password: create the run's own products as admin
  --admin-password P        (or ADMIN_EMAIL / ADMIN_PASSWORD); without them the catalog is used as it is
  --products N              products to create (default 20)
  --stock N                 stock of each created product (default 100000)
  --product-ids LIST        use these products instead
  --account-prefix P        reuse accounts P-<i>@load.example.com across runs (default: new accounts)
  --max-in-flight N         arrivals beyond this many in flight are dropped and counted (default 512)
  --timeout D               per request (default 10s)
  --retries N               retries of a checkout under the same Idempotency-Key (default 2)
  --budget EXPR             p99<250ms, errors<0.1%, status5xx=0, rps>=18, checkout.p99<=250ms, ...
                            (comma-separated or repeated); a missed one exits 1
  --json FILE               write the summary as JSON
  --cleanup                 delete the products the run created, afterwards
  --seed N                  seed of the operation draws
  --progress-interval D     progress every D (default 1s on a terminal, 10s otherwise)
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}`);
  process.exit(2);
}

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) fail(`--${name}: ${value} is not a positive ${integer ? 'integer' : 'number'}`);
  return n;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        customers: { type: 'string' },
        'source-addresses': { type: 'string' },
        mix: { type: 'string' },
        'admin-email': { type: 'string' },
        'admin-password': { type: 'string' },
        products: { type: 'string' },
        stock: { type: 'string' },
        'product-ids': { type: 'string' },
        'account-prefix': { type: 'string' },
        'max-in-flight': { type: 'string' },
        timeout: { type: 'string' },
        retries: { type: 'string' },
        budget: { type: 'string', multiple: true },
        json: { type: 'string' },
        cleanup: { type: 'boolean' },
        seed: { type: 'string' },
        'progress-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  let budgets: Budget[] = [];
  let durationMs: number;
  let timeoutMs: number;
  let mix;
  try {
    budgets = parseBudgets(values.budget ?? []);
    durationMs = parseDuration(values.duration ?? '60s');
    timeoutMs = parseDuration(values.timeout ?? '10s');
    mix = values.mix ? parseMix(values.mix) : undefined;
  } catch (err) {
    fail(err instanceof BudgetSyntaxError ? err.message : (err as Error).message);
  }
  const adminEmail = values['admin-email'] ?? process.env.ADMIN_EMAIL;
  const adminPassword = values['admin-password'] ?? process.env.ADMIN_PASSWORD;
  if (Boolean(values['admin-email']) !== Boolean(values['admin-password']) && !(adminEmail && adminPassword)) fail('--admin-email and --admin-password go together');
  const stock = values.stock === undefined ? undefined : Number(values.stock);
  if (stock !== undefined && !(Number.isInteger(stock) && stock >= 0)) fail(`--stock: ${values.stock} is not an integer of 0 or more`);

  const tty = process.stderr.isTTY === true;
  const progressEvery = values['progress-interval'] ? parseDuration(values['progress-interval']) : tty ? 1000 : 10_000;
  let lastLineLength = 0;
  const onProgress = (p: Progress) => {
    const line = progressLine(p);
    if (tty) {
      process.stderr.write(`\r${line}${' '.repeat(Math.max(0, lastLineLength - line.length))}`);
      lastLineLength = line.length;
    } else {
      process.stderr.write(`${line}\n`);
    }
  };
  const log = (line: string) => {
    if (tty && lastLineLength) process.stderr.write('\n');
    lastLineLength = 0;
    process.stderr.write(`${line}\n`);
  };

  const controller = new AbortController();
  let interrupted = false;
  // A terminal's Ctrl-C arrives twice through npm (tools/stack/signals.ts): the second is ignored, a
  // second Ctrl-C quits at once.
  onStopSignals(
    () => {
      interrupted = true;
      log('interrupted: finishing the requests in flight (Ctrl-C again to quit at once)');
      controller.abort();
    },
    { say: log, leftBehind: () => 'requests in flight; no summary' },
  );

  const options: LoadOptions = {
    url: values.url ?? process.env.LOAD_URL ?? 'http://127.0.0.1:8080',
    rate: positive('rate', values.rate, 20, false),
    durationMs,
    customers: positive('customers', values.customers, 10),
    sourceAddresses: values['source-addresses'] || undefined,
    mix,
    admin: adminEmail && adminPassword ? { email: adminEmail, password: adminPassword } : undefined,
    products: { count: positive('products', values.products, 20), stock },
    productIds: values['product-ids'] ? values['product-ids'].split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    accountPrefix: values['account-prefix'],
    maxInFlight: positive('max-in-flight', values['max-in-flight'], 512),
    timeoutMs,
    checkoutRetries: values.retries === undefined ? 2 : Number.isInteger(Number(values.retries)) && Number(values.retries) >= 0 ? Number(values.retries) : fail(`--retries: ${values.retries}`),
    cleanup: values.cleanup ?? false,
    seed: values.seed === undefined ? undefined : Number(values.seed),
    signal: controller.signal,
    progressIntervalMs: progressEvery,
    onProgress,
    log,
  };

  let summary;
  try {
    summary = await runLoad(options);
  } catch (err) {
    log(`load: ${(err as Error).message}`);
    return 2;
  }
  if (tty && lastLineLength) process.stderr.write('\n');
  const results = evaluateBudgets(budgets, summary);
  process.stdout.write(formatSummary(summary, results));
  if (values.json) writeFileSync(values.json, `${summaryJson(summary)}\n`);
  const missed = results.filter((r) => !r.ok);
  for (const r of missed) process.stderr.write(`budget missed: ${r.budget.source} (measured ${r.measured})\n`);
  if (missed.length) return 1;
  return interrupted ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`load: ${(err as Error).stack ?? err}\n`);
    process.exit(2);
  },
);
