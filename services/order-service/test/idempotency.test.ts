/**
 * The Idempotency-Key under faults: a request stalled after its claim, a release that fails, a
 * response written long after its claim, and answers of other services that break their contract.
 * Faults are injected at the seam recovery.test.ts uses (the `Dependencies` a `Placement` is built
 * with, wrapping the real clients; helpers.ts startCheckoutSeam), or by a proxy in front of the real backend / cart-service.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { createMetrics, HttpProblem, problems, types, type Client, type Logger } from '@product-store/kit';
import { call, startTestService, tokenFor, type TestStack } from '@product-store/kit/testing';
import type { CheckoutSettings } from '../src/checkout';
import type { Dependencies } from '../src/clients';
import { priceLines, requestFingerprint } from '../src/orders';
import { Placement } from '../src/placement';
import type { Recovery } from '../src/recovery';
import type { OrderRepository } from '../src/repository';
import { orderService } from '../src/service';
import { startCheckoutSeam, type shop } from './helpers';

const TIMEOUT_MS = 60_000;
let seam: Awaited<ReturnType<typeof startCheckoutSeam>> | undefined;
let stack: TestStack;
let s: ReturnType<typeof shop>;
let db: Client;
let repo: OrderRepository;
let deps: Dependencies;
let log: Logger;
let recovery: Recovery;
const later = () => Date.now() + TIMEOUT_MS + 1000;
const settings: CheckoutSettings = { checkoutTimeoutMs: TIMEOUT_MS, idempotencyWaitMs: 300, recoveryWindowHours: 48 };
/** Another request handler on the same database, with its own dependencies (the fault-injection seam). */
const withDeps = (d: Dependencies, overrides: Partial<CheckoutSettings> = {}) => new Placement(repo, d, { ...settings, ...overrides }, log, createMetrics('order-service-test'));

test.before(async () => {
  seam = await startCheckoutSeam(settings);
  ({ stack, s, db, repo, deps, log, recovery } = seam);
});
test.after.always(() => seam?.stop());

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** What `place` threw, as the problem a client would get. */
async function problemOf(outcome: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await outcome;
  } catch (err) {
    if (err instanceof HttpProblem) return { status: err.status, code: err.code };
    throw err;
  }
  throw new Error('expected a problem, got an answer');
}

const place = (c: Placement, userId: string, key: string) => c.place(userId, key, undefined, () => undefined);

test.serial('a request stalled after its claim, whose key was then freed and used by a retry, places no second order', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(5);
  await s.fill(user, [[beans, 2]]);
  const key = randomUUID();

  // The first request claims the key, reads the cart, then stalls (a GC pause, a slow host).
  const gate = deferred();
  const stalledAt = deferred();
  const stalling: Dependencies = {
    ...deps,
    async cartLines(id) {
      const lines = await deps.cartLines(id);
      stalledAt.resolve();
      await gate.promise;
      return lines;
    },
  };
  // A timeout of 1 ms: the waiting retry below finds the claim stale at once.
  const stalled = place(withDeps(stalling, { checkoutTimeoutMs: 1 }), userId, key);
  await stalledAt.promise;

  const retries = withDeps(deps, { checkoutTimeoutMs: 1 });
  t.deepEqual(await problemOf(place(retries, userId, key)), { status: 409, code: 'IDEMPOTENCY_IN_PROGRESS' }, 'the stale claim is freed');
  const placed = await place(retries, userId, key);
  t.is(placed.status, 201, 'the next retry places the order');
  t.is(await s.stockOf(beans), 3);

  // The first request wakes up and carries on with the cart it read.
  gate.resolve();
  const late = await stalled.then(
    (outcome) => ({ status: outcome.status, code: undefined }),
    (err: HttpProblem) => ({ status: err.status, code: err.code }),
  );

  await recovery.pass(later());
  const orders = (await s.orders('/orders', { token: user })).body.items;
  t.is(orders.length, 1, 'one order for the key');
  t.deepEqual(late, { status: 503, code: 'CHECKOUT_TIMEOUT' }, 'the stalled request stops');
  t.is(orders[0].id, (placed.body as { id: string }).id);
  t.is(await s.stockOf(beans), 3, 'stock conserved: 5 = 3 + 2 ordered');
  const replay = await s.checkout(user, key);
  t.is(replay.status, 201);
  t.is(replay.body.id, orders[0].id, 'the key replays the retry\'s order');
});

test.serial('a request that wakes after its key was freed cannot start its checkout; recovery settles what it left', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(5);
  await s.fill(user, [[beans, 1]]);
  const key = randomUUID();
  const orderId = types.TimeUuid.now().toString();
  // A claim made long ago by a request that has not gone further yet.
  await repo.claimKey(userId, key, { request_hash: requestFingerprint(undefined), order_id: orderId, created_at: new Date(Date.now() - 3 * TIMEOUT_MS) });
  t.is((await s.checkout(user, key)).status, 409, 'IDEMPOTENCY_IN_PROGRESS, and the stale claim is freed');

  // It wakes up: its work item is written, its checkout refused; then it dies.
  const lines = await deps.cartLines(userId);
  const now = new Date();
  t.false(await repo.startCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'reserving', lines, created_at: now, updated_at: now }));
  t.false(await repo.confirmCheckout(orderId, { items: [], total_cents: 0, currency: 'USD' }), 'nor could it commit');

  const retry = await s.checkout(user, key);
  t.is(retry.status, 201, 'the retry runs');
  t.true((await recovery.pass(later())) >= 1, 'its work item is finished');
  t.is((await recovery.pass(later())), 0, 'and nothing is left');
  t.is(await s.stockOf(beans), 4);
  t.is((await s.orders('/orders', { token: user })).body.items.length, 1);
});

test.serial('a checkout abandoned while giving its stock back fails keeps its key until the stock is back: no self-inflicted OUT_OF_STOCK', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(2);
  await s.fill(user, [[beans, 2]]);
  const key = randomUUID();
  // The reservation lands but its answer is lost (a timeout); giving it back fails too (backend gone).
  const flaky: Dependencies = {
    ...deps,
    async reserve(id, lines) {
      await deps.reserve(id, lines);
      throw problems.unavailable('backend is unavailable; try again shortly.', 'DEPENDENCY_UNAVAILABLE');
    },
    async release() {
      throw problems.unavailable('backend is unavailable; try again shortly.', 'DEPENDENCY_UNAVAILABLE');
    },
  };
  t.deepEqual(await problemOf(place(withDeps(flaky), userId, key)), { status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  t.is(await s.stockOf(beans), 0, 'stranded until recovery');

  const early = await s.checkout(user, key);
  t.not(early.body.code, 'OUT_OF_STOCK', 'the retry does not compete with its own reservation');
  t.is(early.status, 409);
  t.is(early.body.code, 'IDEMPOTENCY_IN_PROGRESS');

  t.true((await recovery.pass(later())) >= 1);
  t.is(await s.stockOf(beans), 2, 'recovery gave the stock back');
  const retry = await s.checkout(user, key);
  t.is(retry.status, 201, 'then freed the key');
  t.is(await s.stockOf(beans), 0);
  t.is((await s.orders('/orders', { token: user })).body.items.length, 1);
});

test.serial('a response written long after its claim does not outlive it: every cell of the key has one lifetime', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(5);
  await s.fill(user, [[beans, 1]]);
  const key = randomUUID();
  const orderId = types.TimeUuid.now().toString();
  // A claim written 20 hours ago (28 h left of its 48), whose request committed and then died.
  await db.execute(
    'INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, created_at) VALUES (?, ?, ?, ?, ?) USING TTL 100800',
    [types.Uuid.fromString(userId), key, requestFingerprint(undefined), types.TimeUuid.fromString(orderId), new Date(Date.now() - 20 * 3_600_000)],
    { prepare: true },
  );
  const lines = await deps.cartLines(userId);
  const now = new Date();
  t.true(await repo.startCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'reserving', lines, created_at: now, updated_at: now }));
  const reserved = await deps.reserve(orderId, lines);
  if (!reserved.ok) throw new Error('reservation failed');
  t.true(await repo.confirmCheckout(orderId, priceLines(reserved.lines)));
  await recovery.pass(later());

  const row = (
    await db.execute(
      'SELECT TTL(request_hash) AS a, TTL(order_id) AS b, TTL(created_at) AS c, TTL(response_status) AS d, TTL(response_body) AS e FROM idempotency_keys WHERE user_id = ? AND key = ?',
      [types.Uuid.fromString(userId), key],
      { prepare: true },
    )
  ).first();
  const ttls = ['a', 'b', 'c', 'd', 'e'].map((c) => row.get(c) as number | null);
  t.true(ttls.every((ttl) => ttl !== null && ttl > 0), JSON.stringify(ttls));
  t.is(new Set(ttls).size, 1, `one lifetime for the claim and its response: ${JSON.stringify(ttls)}`);
  const replay = await s.checkout(user, key);
  t.is(replay.status, 201);
  t.is(replay.body.id, orderId);
});

test.serial('checkouts and legacy pending work expire, never before recovery could still need them', async (t) => {
  const ttl = async (table: string) =>
    (await db.execute('SELECT default_time_to_live FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', [stack.env.CASSANDRA_KEYSPACE, table], { prepare: true })).first().get(
      'default_time_to_live',
    ) as number;
  const longestWindow = 720 * 3600;
  for (const table of ['checkouts', 'pending_work']) {
    t.true((await ttl(table)) > 0, `${table} rows expire`);
    // Recovery reads a checkout only through its work item, never past the longest window, and
    // work items themselves expire after work_items' TTL.
    t.true((await ttl(table)) >= (await ttl('work_items')), `${table} outlives the work items`);
    t.true((await ttl(table)) > longestWindow, `${table} outlives the longest recovery window`);
  }
  // A settled checkout carries the TTL.
  const user = tokenFor('customer');
  const beans = await s.product(5);
  await s.fill(user, [[beans, 1]]);
  const order = (await s.checkout(user)).body;
  const row = (await db.execute('SELECT TTL(state) AS state, TTL(lines) AS lines FROM checkouts WHERE order_id = ?', [types.TimeUuid.fromString(order.id)], { prepare: true })).first();
  t.true(row.get('state') > longestWindow && row.get('lines') > longestWindow);
});

// Answers of other services that break their contract.

/** A changed answer (status and body), or undefined to pass the real one on. */
type Tamper = (path: string, status: number, body: string) => { status?: number; body: string } | undefined;

/** A proxy in front of a real service that can rewrite the body of its answers. */
async function tamperingProxy(target: string, tamper: { current?: Tamper }): Promise<{ url: string; server: Server }> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const changed = tamper.current?.(req.url ?? '', answer.statusCode ?? 0, text);
        const headers = { ...answer.headers };
        delete headers['content-length'];
        delete headers['transfer-encoding'];
        res.writeHead(changed?.status ?? answer.statusCode ?? 502, headers);
        res.end(changed?.body ?? text);
      });
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test.serial('a 200 with an odd body from backend or cart-service is a 503 problem that leaves nothing held, not a 500', async (t) => {
  const backendTamper: { current?: Tamper } = {};
  const cartTamper: { current?: Tamper } = {};
  const backendProxy = await tamperingProxy(stack.url('backend'), backendTamper);
  const cartProxy = await tamperingProxy(stack.url('cart-service'), cartTamper);
  const odd = await startTestService(orderService, { ...stack.env, PORT: '0', BACKEND_URL: backendProxy.url, CART_SERVICE_URL: cartProxy.url, CHECKOUT_TIMEOUT_MS: String(TIMEOUT_MS) });
  try {
    const userId = randomUUID();
    const user = tokenFor('customer', userId);
    const beans = await s.product(5);
    await s.fill(user, [[beans, 2]]);
    const checkout = (key: string) => call(odd.url, '/orders', { method: 'POST', token: user, headers: { 'Idempotency-Key': key } });
    const reservation = (change: (body: any) => unknown): Tamper => (path, status, text) =>
      path === '/internal/reservations' && status === 200 ? { body: JSON.stringify(change(JSON.parse(text))) } : undefined;
    const cases: Array<[string, { current?: Tamper }, Tamper]> = [
      ['reserved lines not a list', backendTamper, reservation((b) => ({ ...b, lines: 'all of them' }))],
      ['a reserved line without its price', backendTamper, reservation((b) => ({ ...b, lines: b.lines.map(({ price_cents: _, ...l }: any) => l) }))],
      ['other quantities than asked', backendTamper, reservation((b) => ({ ...b, lines: b.lines.map((l: any) => ({ ...l, quantity: l.quantity + 1 })) }))],
      // The reservation was taken, but the answer says 409 without the ids a refusal carries.
      ['a refusal without product ids', backendTamper, (path, status) => (path === '/internal/reservations' && status === 200 ? { status: 409, body: JSON.stringify({ code: 'OUT_OF_STOCK' }) } : undefined)],
      ['cart lines not a list', cartTamper, (path, status) => (path.startsWith('/internal/carts/') && status === 200 ? { body: JSON.stringify({ lines: { product_id: beans } }) } : undefined)],
      ['a cart line without a valid id', cartTamper, (path, status) => (path.startsWith('/internal/carts/') && status === 200 ? { body: JSON.stringify({ lines: [{ product_id: 'x', quantity: 2 }] }) } : undefined)],
    ];
    for (const [name, tamper, change] of cases) {
      tamper.current = change;
      const key = randomUUID();
      const res = await checkout(key);
      tamper.current = undefined;
      t.is(res.status, 503, name);
      t.is(res.body.code, 'DEPENDENCY_UNAVAILABLE', name);
      t.regex(res.headers.get('content-type') ?? '', /application\/problem\+json/, name);
      t.is(await s.stockOf(beans), 5, `${name}: nothing held`);
      t.is((await s.carts('/cart', { token: user })).body.items.length, 1, `${name}: the cart is kept`);
      if (name === cases[cases.length - 1]![0]) {
        const retry = await checkout(key);
        t.is(retry.status, 201, 'the same key works once the answers are sane again');
        t.is(await s.stockOf(beans), 3);
      }
    }
  } finally {
    await odd.stop();
    backendProxy.server.close();
    cartProxy.server.close();
  }
});
