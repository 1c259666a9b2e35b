/**
 * The load generator as a library: `runLoad(options)` drives the shop through its public API (the
 * gateway) the way customers do, at a fixed arrival rate, and returns what every request got.
 * `npm run load` (cli.ts) is its command line; the soak and fault drills build on it.
 *
 * A run:
 * 1. Setup (not measured): with admin credentials, signs in as admin and creates `products.count`
 *    products with `products.stock` each (or uses `productIds`, or the catalog's first pages);
 *    registers and signs in `customers` virtual customers (or signs in `accounts`), each with its own
 *    keep-alive agent bound to one of `sourceAddresses`. Setup requests retry 429 and 503.
 * 2. The schedule (scheduler.ts): `rate` arrivals per second for `durationMs`, open loop. Each arrival
 *    draws an operation from `mix` (browse 10, view 5, cart 3, add 2, checkout 1 by default) and a
 *    customer (the next idle one; for a checkout, one with something in the cart and no checkout
 *    running; when none has, the checkout becomes an add to cart and counts as `substituted`).
 *    Latency is measured from the arrival's due time.
 * 3. Checkouts send `Idempotency-Key: <runId>-<seq>`, one key per checkout, kept across its retries
 *    (up to `checkoutRetries` after 429, 502, 503, 504, 409 IDEMPOTENCY_IN_PROGRESS or no response).
 *    409 OUT_OF_STOCK is an expected outcome; the customer then empties the cart (a follow-up
 *    request outside the schedule). Every 201 is kept in `orders`; checkouts that never got a
 *    definite answer are in `checkouts.unresolved`, with their keys.
 * 4. Tokens are renewed (a follow-up sign-in) when they near expiry or after a 401.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { gatewayLimits } from '@product-store/deploy';
import { checkBindable, parseSourceAddresses } from './addresses';
import { json, makeAgent, RequestFailure, send, type ClientResponse } from './client';
import { Histogram } from './histogram';
import { runOpenLoop, type Arrival } from './scheduler';
import {
  defaultMix,
  operations,
  type LoadCustomer,
  type LoadProduct,
  type LoadSummary,
  type Mix,
  type Operation,
  type PlacedOrder,
  type Progress,
  type RequestRecord,
  type Stats,
  type UnresolvedCheckout,
} from './types';

export * from './types';
export { Histogram, exactPercentile } from './histogram';
export { evaluateBudgets, parseBudgets, type Budget, type BudgetResult } from './budget';
export { parseSourceAddresses } from './addresses';
export { runOpenLoop } from './scheduler';

export interface LoadOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Arrivals (scheduled requests) per second. */
  rate: number;
  durationMs: number;
  /** Virtual customers. @default 10 */
  customers?: number;
  /** Weights of the operations; missing ones are 0 when any is given. @default browse 10, view 5, cart 3, add 2, checkout 1 */
  mix?: Partial<Mix>;
  /** A CIDR or a list of addresses (see addresses.ts); customer i uses address i mod n. */
  sourceAddresses?: string | readonly string[];
  /** Admin credentials: the run creates its own products (and can delete them, `cleanup`). */
  admin?: { email: string; password: string };
  /** Products the run creates as admin. @default 20 products with stock 100000 */
  products?: { count?: number; stock?: number; priceCents?: number; category?: string };
  /** Use these products (their stock is read at setup) instead of creating or discovering them. */
  productIds?: readonly string[];
  /** Sign in with these accounts (customer i uses accounts[i mod n]) instead of registering new ones. */
  accounts?: ReadonlyArray<{ email: string; password: string }>;
  /** Emails `<prefix>-<i>@load.example.com`: registered once (409 EMAIL_TAKEN is fine), reused by later runs. @default load-<runId> */
  accountPrefix?: string;
  /** Password of the accounts the run registers. */
  password?: string;
  /** Called after setup, before the first arrival: the products and customers are known. */
  setup?: (context: { products: LoadProduct[]; customers: LoadCustomer[]; runId: string }) => Promise<void> | void;
  onProgress?: (progress: Progress) => void;
  /** @default 1000 */
  progressIntervalMs?: number;
  /** Every request, as it ends. */
  onRecord?: (record: RequestRecord) => void;
  /** Keep up to this many records in the summary. @default 0 */
  recordLimit?: number;
  /** Stops the schedule early; in-flight requests finish (bounded by `timeoutMs`). */
  signal?: AbortSignal;
  /** @default 512 */
  maxInFlight?: number;
  /** Per request. @default 10000 */
  timeoutMs?: number;
  /** @default 2 */
  checkoutRetries?: number;
  /** Delete the products the run created, after it. @default false */
  cleanup?: boolean;
  /** Names the run's keys, accounts and products. @default random */
  runId?: string;
  /** Seeds the operation draws (same seed, same sequence of operations). */
  seed?: number;
  /** Setup messages and warnings. */
  log?: (line: string) => void;
  /** The gateway's per-address API limit, for the warning when one address would carry more. */
  perAddressLimit?: number;
}

const retriableStatuses = new Set([429, 502, 503, 504]);
const authOperations: ReadonlySet<Operation> = new Set(['cart', 'add', 'checkout']);

/** A small seeded PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The mix with missing weights at 0 (when any is given), validated. */
export function resolveMix(mix?: Partial<Mix>): Mix {
  const resolved = mix ? (Object.fromEntries(operations.map((op) => [op, mix[op] ?? 0])) as Mix) : { ...defaultMix };
  for (const op of operations) if (!(resolved[op] >= 0) || !Number.isFinite(resolved[op])) throw new Error(`mix: ${op} must be a weight of 0 or more`);
  if (operations.every((op) => resolved[op] === 0)) throw new Error('mix: every weight is 0');
  return resolved;
}

/** `browse=10,view=5,cart=3,add=2,checkout=1` */
export function parseMix(spec: string): Mix {
  const mix: Partial<Mix> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)\s*[=:]\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!m || !operations.includes(m[1] as Operation)) throw new Error(`--mix: cannot read "${part}" (operations: ${operations.join(', ')}; e.g. browse=10,view=5)`);
    mix[m[1] as Operation] = Number(m[2]);
  }
  return resolveMix(mix);
}

class StatsCounter {
  scheduled = 0;
  sent = 0;
  responses = 0;
  dropped = 0;
  networkErrors = 0;
  errors = 0;
  expected = 0;
  byStatus: Record<string, number> = {};
  histogram = new Histogram();

  count(record: RequestRecord): void {
    this.sent++;
    const key = record.status ? String(record.status) : record.error ?? 'error';
    this.byStatus[key] = (this.byStatus[key] ?? 0) + 1;
    if (record.status) {
      this.responses++;
      this.histogram.record(record.latencyMs);
    } else {
      this.networkErrors++;
    }
    if (record.expected) this.expected++;
    else if (!record.status || record.status >= 400 || record.status < 200) this.errors++;
  }

  drop(): void {
    this.dropped++;
    this.errors++;
  }

  stats(elapsedMs: number): Stats {
    return {
      scheduled: this.scheduled,
      sent: this.sent,
      responses: this.responses,
      dropped: this.dropped,
      networkErrors: this.networkErrors,
      errors: this.errors,
      expected: this.expected,
      byStatus: Object.fromEntries(Object.entries(this.byStatus).sort(([a], [b]) => a.localeCompare(b))),
      rps: elapsedMs > 0 ? Math.round((this.responses / (elapsedMs / 1000)) * 100) / 100 : 0,
      latency: this.histogram.snapshot(),
      histogram: this.histogram,
    };
  }
}

interface Customer extends LoadCustomer {
  agent: http.Agent;
  tokenExpiresAt: number;
  /** Renew this long before expiry: a minute, or a fifth of a short lifetime. */
  renewBeforeMs: number;
  renewing?: Promise<void>;
  /** What this client believes is in its cart (lines). */
  cartLines: number;
  busy: number;
  checkingOut: boolean;
  cursor?: string;
}

class SetupError extends Error {}

export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  const base = new URL(options.url);
  if (!/^https?:$/.test(base.protocol)) throw new Error(`--url: ${options.url} is not an http(s) URL`);
  if (!(options.rate > 0)) throw new Error('rate must be above 0');
  if (!(options.durationMs > 0)) throw new Error('duration must be above 0');
  const mix = resolveMix(options.mix);
  const runId = options.runId ?? `load-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(3).toString('hex')}`;
  const customerCount = Math.max(1, Math.floor(options.customers ?? 10));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxInFlight = options.maxInFlight ?? 512;
  const checkoutRetries = options.checkoutRetries ?? 2;
  const recordLimit = options.recordLimit ?? 0;
  const log = options.log ?? (() => undefined);
  const random = prng(options.seed ?? randomBytes(4).readUInt32LE(0));
  const perAddressLimit = options.perAddressLimit ?? gatewayLimits.apiRatePerSecond;

  // --- customers and their addresses ------------------------------------------------------------
  const addresses = options.sourceAddresses ? parseSourceAddresses(options.sourceAddresses, customerCount) : [];
  if (options.sourceAddresses && addresses.length === 0) throw new Error('--source-addresses names no address');
  for (const address of addresses) await checkBindable(address);
  const perAddress = new Map<string, number>();
  const password = options.password ?? 'load generator password';
  const prefix = options.accountPrefix ?? runId;
  const customers: Customer[] = Array.from({ length: customerCount }, (_, index) => {
    const sourceAddress = addresses.length ? addresses[index % addresses.length] : undefined;
    perAddress.set(sourceAddress ?? 'default', (perAddress.get(sourceAddress ?? 'default') ?? 0) + 1);
    const account = options.accounts?.length ? options.accounts[index % options.accounts.length] : { email: `${prefix}-${index}@load.example.com`, password };
    return { index, email: account.email.toLowerCase(), password: account.password, sourceAddress, agent: makeAgent(base, sourceAddress), tokenExpiresAt: 0, renewBeforeMs: 60_000, cartLines: 0, busy: 0, checkingOut: false };
  });
  const perAddressRate = Math.round(((options.rate * Math.max(...perAddress.values())) / customerCount) * 100) / 100;
  if (perAddressRate > perAddressLimit) {
    log(
      `warning: about ${perAddressRate} requests/s from one source address, above the gateway's ${perAddressLimit}/s per address: expect 429s ` +
        `(give --source-addresses a range with at least ${Math.ceil(options.rate / perAddressLimit)} addresses, and as many --customers)`,
    );
  }
  const adminAgent = makeAgent(base, addresses[0]);
  try {
    return await run();
  } finally {
    for (const c of customers) c.agent.destroy();
    adminAgent.destroy();
  }

  async function run(): Promise<LoadSummary> {

    // --- setup --------------------------------------------------------------------------------------
    const setupStarted = performance.now();
    const setupStatus: Record<string, number> = {};
    let setupRequests = 0;
    const setupCall = async (agent: http.Agent, what: string, method: string, path: string, init: { token?: string; body?: unknown; ok: number[] }): Promise<ClientResponse> => {
      for (let attempt = 0; ; attempt++) {
        if (options.signal?.aborted) throw new SetupError(`${what}: interrupted`);
        setupRequests++;
        let res: ClientResponse | undefined;
        let failure: string | undefined;
        try {
          res = await send(base, agent, {
            method,
            path,
            body: init.body,
            read: true,
            timeoutMs,
            headers: { ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}), 'X-Request-Id': `${runId}-setup-${setupRequests}` },
          });
          setupStatus[res.status] = (setupStatus[res.status] ?? 0) + 1;
          if (init.ok.includes(res.status)) return res;
        } catch (err) {
          failure = err instanceof RequestFailure ? err.code : (err as Error).message;
          setupStatus[failure] = (setupStatus[failure] ?? 0) + 1;
        }
        // 429: the gateway's sign-in limit refills one request every 2 s; 503: a dependency warming up.
        // The sign-in limit is waited out (a minute's worth); anything else gets a few seconds.
        const retriable = !res || retriableStatuses.has(res.status);
        if (!retriable || attempt >= (res?.status === 429 ? 40 : 5)) {
          throw new SetupError(`${what}: ${res ? `HTTP ${res.status} ${res.body?.toString('utf8').slice(0, 300) ?? ''}` : failure} (${method} ${base.origin}${path})`);
        }
        await new Promise((r) => setTimeout(r, res?.status === 429 ? 2100 : Math.min(2000, 250 * 2 ** attempt)));
      }
    };
    const login = async (agent: http.Agent, email: string, pass: string) => {
      const res = await setupCall(agent, `signing in ${email}`, 'POST', '/auth/login', { body: { email, password: pass }, ok: [200] });
      const body = json<{ access_token: string; expires_in: number }>(res)!;
      return { token: body.access_token, expiresAt: performance.now() + body.expires_in * 1000, lifetimeMs: body.expires_in * 1000 };
    };

    const products: LoadProduct[] = [];
    let adminToken: string | undefined;
    if (options.admin) adminToken = (await login(adminAgent, options.admin.email, options.admin.password)).token;
    if (options.productIds?.length) {
      for (const id of options.productIds) {
        const p = json(await setupCall(adminAgent, `reading product ${id}`, 'GET', `/products/${encodeURIComponent(id)}`, { ok: [200] }));
        products.push({ id, initialStock: p.stock, created: false });
      }
    } else if (adminToken) {
      const count = options.products?.count ?? 20;
      const stock = options.products?.stock ?? 100_000;
      const category = options.products?.category ?? 'load-test';
      for (let i = 0; i < count; i++) {
        const res = await setupCall(adminAgent, 'creating a product as admin', 'POST', '/products', {
          token: adminToken,
          ok: [201],
          body: { name: `Load ${runId} #${i}`, description: 'created by the load generator', price_cents: options.products?.priceCents ?? 100 + i, category, stock },
        });
        products.push({ id: json(res).id, initialStock: stock, created: true });
      }
    } else {
      let cursor: string | null = null;
      for (let page = 0; page < 5; page++) {
        const res = await setupCall(adminAgent, 'reading the catalog', 'GET', `/products?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { ok: [200] });
        const body = json<{ items: Array<{ id: string; stock: number }>; next_cursor: string | null }>(res)!;
        for (const p of body.items) products.push({ id: p.id, initialStock: p.stock, created: false });
        cursor = body.next_cursor;
        if (!cursor) break;
      }
    }
    if (products.length === 0 && (mix.view || mix.add || mix.checkout)) {
      throw new SetupError('the catalog is empty: give admin credentials (--admin-email, --admin-password) so the run creates its products');
    }
    if (products.length && products.every((p) => p.initialStock === 0) && mix.checkout) log('warning: every product is out of stock: every checkout will be 409 OUT_OF_STOCK');

    const needsAccounts = operations.some((op) => authOperations.has(op) && mix[op] > 0);
    if (needsAccounts) {
      let next = 0;
      const worker = async () => {
        while (next < customers.length) {
          const c = customers[next++];
          if (!options.accounts?.length) {
            const res = await setupCall(c.agent, `registering ${c.email}`, 'POST', '/auth/register', { body: { email: c.email, password: c.password, name: `Load customer ${c.index}` }, ok: [201, 409] });
            if (res.status === 201) c.userId = json(res)?.id;
          }
          const session = await login(c.agent, c.email, c.password);
          c.token = session.token;
          c.tokenExpiresAt = session.expiresAt;
          c.renewBeforeMs = Math.min(60_000, session.lifetimeMs / 5);
          // A reused account may hold a cart from an earlier run.
          const cart = json(await setupCall(c.agent, `reading the cart of ${c.email}`, 'GET', '/cart', { token: c.token, ok: [200] }));
          c.cartLines = cart?.items?.length ?? 0;
        }
      };
      await Promise.all(Array.from({ length: Math.min(4, customers.length) }, worker));
    }
    const setupMs = performance.now() - setupStarted;
    log(`setup: ${products.length} products, ${customers.length} customers${addresses.length ? ` on ${Math.min(addresses.length, customers.length)} source addresses` : ''}, ${setupRequests} requests in ${(setupMs / 1000).toFixed(1)} s`);
    await options.setup?.({ products: [...products], customers: customers.map(publicCustomer), runId });

    // --- the run ------------------------------------------------------------------------------------
    const total = new StatsCounter();
    const byOp = Object.fromEntries(operations.map((op) => [op, new StatsCounter()])) as Record<Operation, StatsCounter>;
    const followUps = new StatsCounter();
    const orders: PlacedOrder[] = [];
    const unresolved: UnresolvedCheckout[] = [];
    const checkouts = { attempted: 0, placed: 0, outOfStock: 0, substituted: 0, retries: 0 };
    const records: RequestRecord[] = [];
    let recordsOmitted = 0;
    let inFlight = 0;
    let t0 = performance.now();
    const since = (t: number) => Math.round((t - t0) * 1000) / 1000;

    const finishRecord = (record: RequestRecord, counter: StatsCounter) => {
      counter.count(record);
      if (counter !== followUps) total.count(record);
      options.onRecord?.(record);
      if (records.length < recordLimit) records.push(record);
      else if (recordLimit > 0) recordsOmitted++;
    };

    /** One request of an arrival; latency from `due` (the arrival's time, or the retry's own send). */
    const request = async (
      c: Customer,
      seq: number,
      op: RequestRecord['op'],
      counter: StatsCounter,
      due: number,
      init: { method: string; route: string; path: string; body?: unknown; auth?: boolean; headers?: Record<string, string>; read?: boolean; attempt?: number; expected?: (res: ClientResponse, code?: string) => boolean },
    ): Promise<{ res?: ClientResponse; code?: string; record: RequestRecord }> => {
      const requestId = `${runId}-${seq}-${op}${init.attempt ? `-${init.attempt}` : ''}`;
      const sentAt = performance.now();
      inFlight++;
      let res: ClientResponse | undefined;
      let error: string | undefined;
      try {
        res = await send(base, c.agent, {
          method: init.method,
          path: init.path,
          body: init.body,
          timeoutMs,
          read: true,
          headers: { 'X-Request-Id': requestId, ...(init.auth && c.token ? { Authorization: `Bearer ${c.token}` } : {}), ...init.headers },
        });
      } catch (err) {
        error = err instanceof RequestFailure ? err.code : 'error';
      } finally {
        inFlight--;
      }
      const endedAt = performance.now();
      let code: string | undefined;
      if (res && res.status >= 400 && res.body) code = json(res)?.code;
      if (res?.status === 401 && init.auth) c.tokenExpiresAt = 0;
      const record: RequestRecord = {
        seq,
        op,
        method: init.method,
        route: init.route,
        scheduledAt: since(due),
        sentAt: since(sentAt),
        endedAt: since(endedAt),
        latencyMs: Math.round((endedAt - due) * 1000) / 1000,
        status: res?.status ?? 0,
        ...(error ? { error } : {}),
        ...(code ? { code } : {}),
        ...(res && init.expected?.(res, code) ? { expected: true } : {}),
        attempt: init.attempt ?? 0,
        customer: c.index,
        ...(c.sourceAddress ? { sourceAddress: c.sourceAddress } : {}),
        requestId,
      };
      finishRecord(record, counter);
      return { res, code, record };
    };

    /** A new token before the old one expires (or after a 401); one sign-in at a time per customer. */
    const renewToken = (c: Customer, seq: number) => {
      if (c.renewing || !needsAccounts) return c.renewing;
      c.renewing = (async () => {
        const { res } = await request(c, seq, 'relogin', followUps, performance.now(), { method: 'POST', route: '/auth/login', path: '/auth/login', body: { email: c.email, password: c.password }, read: true });
        const body = res?.status === 200 ? json(res) : undefined;
        if (body?.access_token) {
          c.token = body.access_token;
          c.tokenExpiresAt = performance.now() + body.expires_in * 1000;
        }
      })().finally(() => {
        c.renewing = undefined;
      });
      return c.renewing;
    };

    const weights = operations.map((op) => mix[op]);
    const weightSum = weights.reduce((a, b) => a + b, 0);
    const draw = (): Operation => {
      let x = random() * weightSum;
      for (let i = 0; i < operations.length; i++) {
        x -= weights[i];
        if (x < 0) return operations[i];
      }
      return operations[operations.length - 1];
    };
    let cursorIndex = 0;
    const pick = (accept: (c: Customer) => boolean): Customer | undefined => {
      let fallback: Customer | undefined;
      for (let i = 0; i < customers.length; i++) {
        const c = customers[(cursorIndex + i) % customers.length];
        if (!accept(c)) continue;
        if (c.busy === 0) {
          cursorIndex = (c.index + 1) % customers.length;
          return c;
        }
        fallback ??= c;
      }
      if (fallback) cursorIndex = (fallback.index + 1) % customers.length;
      return fallback;
    };
    const randomProduct = () => products[Math.floor(random() * products.length)];

    const checkout = async (c: Customer, arrival: Arrival) => {
      checkouts.attempted++;
      c.checkingOut = true;
      const key = `${runId}-${arrival.seq}`;
      let attempt = 0;
      let last: { res?: ClientResponse; code?: string; record: RequestRecord } | undefined;
      try {
        for (;;) {
          const due = attempt === 0 ? arrival.due : performance.now();
          last = await request(c, arrival.seq, 'checkout', byOp.checkout, due, {
            method: 'POST',
            route: '/orders',
            path: '/orders',
            auth: true,
            read: true,
            attempt,
            headers: { 'Idempotency-Key': key },
            // Contract outcomes, not failures: stock ran out; or the cart was already empty (this
            // customer's own requests overlap, so its count of cart lines can lag, as with two tabs).
            expected: (res, code) => (res.status === 409 && code === 'OUT_OF_STOCK') || (res.status === 422 && code === 'CART_EMPTY'),
          });
          const { res, code } = last;
          const retriable = !res || retriableStatuses.has(res.status) || (res.status === 409 && code === 'IDEMPOTENCY_IN_PROGRESS');
          if (!retriable || attempt >= checkoutRetries || options.signal?.aborted) break;
          attempt++;
          checkouts.retries++;
          const retryAfter = Number(res?.headers['retry-after']);
          await new Promise((r) => setTimeout(r, Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 5000) : 200 * 2 ** attempt));
        }
      } finally {
        c.checkingOut = false;
      }
      const { res, code, record } = last!;
      if (res?.status === 201) {
        const order = json(res);
        checkouts.placed++;
        c.cartLines = 0;
        orders.push({
          orderId: order?.id,
          idempotencyKey: key,
          customer: c.index,
          email: c.email,
          status: res.status,
          items: (order?.items ?? []).map((i: { product_id: string; quantity: number }) => ({ product_id: i.product_id, quantity: i.quantity })),
          total_cents: order?.total_cents,
          attempts: attempt + 1,
        });
      } else if (res?.status === 409 && code === 'OUT_OF_STOCK') {
        checkouts.outOfStock++;
        // The cart is kept on OUT_OF_STOCK: empty it, or every later checkout of this customer fails too.
        const cleared = await request(c, arrival.seq, 'clear-cart', followUps, performance.now(), { method: 'DELETE', route: '/cart', path: '/cart', auth: true });
        if (cleared.res?.status === 204) c.cartLines = 0;
      } else if (res?.status === 422 && code === 'CART_EMPTY') {
        c.cartLines = 0;
      } else if (!res || retriableStatuses.has(res.status) || res.status === 409) {
        unresolved.push({ idempotencyKey: key, customer: c.index, email: c.email, attempts: attempt + 1, lastStatus: record.status, ...(record.error ? { lastError: record.error } : {}) });
      }
    };

    const issue = async (arrival: Arrival): Promise<void> => {
      let op = draw();
      let c: Customer | undefined;
      if (op === 'checkout') {
        c = pick((x) => x.cartLines > 0 && !x.checkingOut);
        if (!c) {
          checkouts.substituted++;
          op = 'add';
        }
      }
      c ??= pick(() => true)!;
      byOp[op].scheduled++;
      total.scheduled++;
      c.busy++;
      try {
        if (authOperations.has(op) && c.tokenExpiresAt - performance.now() < c.renewBeforeMs) {
          // Near expiry: renew in the background; an expired token (after a 401) is waited for.
          const renewal = renewToken(c, arrival.seq);
          if (c.tokenExpiresAt <= performance.now()) await renewal;
        }
        switch (op) {
          case 'browse': {
            const useCursor = c.cursor && random() < 0.5;
            const { res } = await request(c, arrival.seq, op, byOp.browse, arrival.due, {
              method: 'GET',
              route: '/products',
              path: `/products?limit=20${useCursor ? `&cursor=${encodeURIComponent(c.cursor!)}` : ''}`,
              read: true,
            });
            if (res?.status === 200) c.cursor = json(res)?.next_cursor ?? undefined;
            break;
          }
          case 'view': {
            const p = randomProduct();
            await request(c, arrival.seq, op, byOp.view, arrival.due, { method: 'GET', route: '/products/:id', path: `/products/${p.id}` });
            break;
          }
          case 'cart': {
            const { res } = await request(c, arrival.seq, op, byOp.cart, arrival.due, { method: 'GET', route: '/cart', path: '/cart', auth: true, read: true });
            if (res?.status === 200) c.cartLines = json(res)?.items?.length ?? c.cartLines;
            break;
          }
          case 'add': {
            const p = randomProduct();
            const { res } = await request(c, arrival.seq, op, byOp.add, arrival.due, {
              method: 'POST',
              route: '/cart/items',
              path: '/cart/items',
              auth: true,
              read: true,
              body: { product_id: p.id, quantity: 1 },
            });
            if (res?.status === 201) c.cartLines = json(res)?.items?.length ?? c.cartLines + 1;
            break;
          }
          case 'checkout':
            await checkout(c, arrival);
            break;
        }
      } finally {
        c.busy--;
      }
    };

    // --- progress -----------------------------------------------------------------------------------
    const progressInterval = options.progressIntervalMs ?? 1000;
    let lastResponses = 0;
    let lastAt = performance.now();
    const progress = (): Progress => {
      const now = performance.now();
      const rps = now > lastAt ? ((total.responses - lastResponses) / (now - lastAt)) * 1000 : 0;
      lastResponses = total.responses;
      lastAt = now;
      return {
        elapsedMs: Math.round(now - t0),
        durationMs: options.durationMs,
        scheduled: total.scheduled,
        sent: total.sent,
        responses: total.responses,
        inFlight,
        dropped: total.dropped,
        rps: Math.round(rps * 10) / 10,
        p99: Math.round(total.histogram.percentile(99) * 10) / 10,
        nonSuccess: Object.fromEntries(Object.entries(total.byStatus).filter(([s]) => !/^2\d\d$/.test(s))),
        ordersPlaced: checkouts.placed,
        outOfStock: checkouts.outOfStock,
      };
    };
    const timer = options.onProgress ? setInterval(() => options.onProgress!(progress()), progressInterval) : undefined;

    const startedAt = new Date();
    let result;
    try {
      result = await runOpenLoop({
        rate: options.rate,
        durationMs: options.durationMs,
        maxInFlight,
        signal: options.signal,
        onStart: (start) => {
          t0 = start;
          lastAt = start;
        },
        issue,
        onDrop: () => {
          // A dropped arrival never drew an operation: it counts for the run, not for one operation.
          total.scheduled++;
          total.drop();
        },
      });
    } finally {
      if (timer) clearInterval(timer);
    }
    // Renewals still running end before the summary.
    await Promise.allSettled(customers.map((c) => c.renewing));
    options.onProgress?.(progress());
    const endedAt = new Date();

    if (options.cleanup && adminToken) {
      for (const p of products.filter((x) => x.created)) {
        await setupCall(adminAgent, `deleting product ${p.id}`, 'DELETE', `/products/${p.id}`, { token: adminToken, ok: [204, 404] }).catch((err) => log(`cleanup: ${(err as Error).message}`));
      }
    }
    // Rates over the schedule's length, or longer when the last answers came later (or shorter, interrupted).
    const elapsedMs = result.interrupted ? result.elapsedMs : Math.max(result.elapsedMs, options.durationMs);
    return {
      url: base.origin + base.pathname.replace(/\/$/, ''),
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      rate: options.rate,
      durationMs: options.durationMs,
      elapsedMs: Math.round(result.elapsedMs),
      interrupted: result.interrupted,
      ...total.stats(elapsedMs),
      byOperation: Object.fromEntries(operations.map((op) => [op, byOp[op].stats(elapsedMs)])) as Record<Operation, Stats>,
      followUps: followUps.stats(elapsedMs),
      checkouts: { ...checkouts, unresolved },
      orders,
      customers: customers.map(publicCustomer),
      products,
      sourceAddresses: addresses.slice(0, customerCount),
      perAddressRate,
      setup: { requests: setupRequests, byStatus: setupStatus, durationMs: Math.round(setupMs) },
      ...(recordLimit > 0 ? { records, recordsOmitted } : {}),
    };
  }
}

function publicCustomer(c: Customer): LoadCustomer {
  return { index: c.index, email: c.email, password: c.password, ...(c.sourceAddress ? { sourceAddress: c.sourceAddress } : {}), ...(c.token ? { token: c.token } : {}), ...(c.userId ? { userId: c.userId } : {}) };
}

/** The summary as JSON: without histograms' internals, passwords and tokens. */
export function summaryJson(summary: LoadSummary): string {
  return JSON.stringify(
    summary,
    (key, value) => {
      if (key === 'histogram') return undefined;
      if (key === 'password' || key === 'token') return undefined;
      return value;
    },
    2,
  );
}

export { SetupError };
