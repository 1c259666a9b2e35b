import { randomUUID } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { call, dropKeyspace, startStack, startTestService, testEnv, tokenFor, type TestStack } from '@product-store/kit/testing';
import { backend } from '../../backend/src/service';
import { cartService } from '../../cart-service/src/service';
import { orderService } from '../src/service';
import { shop, startShop } from './helpers';

test('cart-service down: 503 quickly, and the same key works once it is back', async (t) => {
  const lonely = await startStack([orderService], { CART_SERVICE_URL: 'http://127.0.0.1:9', BACKEND_URL: 'http://127.0.0.1:9', SERVICE_CALL_TIMEOUT_MS: '1000' });
  try {
    const started = Date.now();
    const res = await call(lonely.url('order-service'), '/orders', { method: 'POST', token: tokenFor('customer'), headers: { 'Idempotency-Key': 'k1' } });
    t.is(res.status, 503);
    t.is(res.body.code, 'DEPENDENCY_UNAVAILABLE');
    t.regex(res.body.detail, /cart-service/);
    t.true(Date.now() - started < 3000);
  } finally {
    await lonely.stop();
  }
});

test('backend killed during checkouts: 503, nothing reserved, cart kept; after restart the same key succeeds', async (t) => {
  const stack: TestStack = await startShop({ SERVICE_CALL_TIMEOUT_MS: '1000' });
  const s = shop(stack);
  try {
    const user = tokenFor('customer');
    const beans = await s.product(5);
    await s.fill(user, [[beans, 2]]);
    const port = new URL(stack.url('backend')).port;
    await stack.services.backend!.stop();

    const key = randomUUID();
    const res = await s.checkout(user, key);
    t.is(res.status, 503);
    t.is(res.body.code, 'DEPENDENCY_UNAVAILABLE');
    t.false(res.text.includes('ECONNREFUSED'), 'no internals in the body');

    stack.services.backend = await startTestService(backend, { ...stack.env, PORT: port });
    t.is(await s.stockOf(beans), 5);
    t.is((await s.carts('/cart', { token: user })).body.items.length, 1);
    const retry = await s.checkout(user, key);
    t.is(retry.status, 201);
    t.is(await s.stockOf(beans), 3);
  } finally {
    await stack.stop();
  }
});

test('order-service restarted: an acknowledged order is still there', async (t) => {
  const stack = await startStack([backend, cartService, orderService]);
  const s = shop(stack);
  try {
    const user = tokenFor('customer');
    const beans = await s.product(5);
    await s.fill(user, [[beans, 1]]);
    const order = (await s.checkout(user)).body;
    const port = new URL(stack.url('order-service')).port;
    await stack.services['order-service']!.stop();
    stack.services['order-service'] = await startTestService(orderService, {
      ...stack.env,
      PORT: port,
      BACKEND_URL: stack.url('backend'),
      CART_SERVICE_URL: stack.url('cart-service'),
    });
    t.deepEqual((await s.orders(`/orders/${order.id}`, { token: user })).body, order);
  } finally {
    await stack.stop();
  }
});

test('stopping while a recovery pass runs: the pass ends before the database client closes, nothing fails', async (t) => {
  const lines: string[] = [];
  const env = testEnv({ LOG_LEVEL: 'info', CHECKOUT_RECOVERY_INTERVAL_MS: '100' });
  const running = await startTestService(orderService, env, (line) => lines.push(line));
  try {
    // The first pass starts with the service; stop while passes are under way.
    await new Promise((r) => setTimeout(r, 150));
  } finally {
    await running.stop();
    await dropKeyspace(env.CASSANDRA_KEYSPACE!);
  }
  await new Promise((r) => setTimeout(r, 500));
  const problems = lines.filter((l) => /"level":"(warn|error)"/.test(l));
  t.deepEqual(problems, [], 'no warning or error while stopping');
  t.false(lines.some((l) => /after shutdown/i.test(l)));
});

/**
 * An order-service whose reservations reach backend through a proxy that holds each for `holdMs`
 * (every other call passes at once: a quorum regained slowly looks like this from order-service),
 * with a response deadline of `deadlineMs`, beside the stack's own.
 */
async function slowReservations(stack: TestStack, holdMs: number, deadlineMs: number, env: Record<string, string> = {}) {
  const target = new URL(stack.url('backend'));
  const proxy = createServer((req, res) => {
    const forward = () =>
      req.pipe(
        request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        }).on('error', () => res.destroy()),
      );
    if (req.method === 'POST' && req.url === '/internal/reservations') setTimeout(forward, holdMs);
    else forward();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
  const service = await startTestService(orderService, {
    ...stack.env,
    CART_SERVICE_URL: stack.url('cart-service'),
    BACKEND_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    CHECKOUT_RESPONSE_DEADLINE_MS: String(deadlineMs),
    ...env,
  });
  return {
    service,
    async stop() {
      await service.stop();
      proxy.close();
    },
  };
}

/** A customer with two of five bags in the cart, and a checkout under one key through `ordersUrl`. */
async function twoBagsInACart(s: ReturnType<typeof shop>, ordersUrl: string) {
  const user = tokenFor('customer');
  const beans = await s.product(5);
  await s.fill(user, [[beans, 2]]);
  const key = randomUUID();
  const checkout = () => call(ordersUrl, '/orders', { method: 'POST', token: user, headers: { 'Idempotency-Key': key } });
  return { user, beans, key, checkout };
}

test('a checkout slower than the response deadline: 503 CHECKOUT_PENDING with Retry-After at once, the checkout goes on, and the same key then gets its one order', async (t) => {
  const stack: TestStack = await startShop();
  const slow = await slowReservations(stack, 1500, 300);
  const s = shop(stack);
  try {
    const { user, beans, checkout } = await twoBagsInACart(s, slow.service.url);

    const started = Date.now();
    const first = await checkout();
    t.is(first.status, 503);
    t.is(first.body.code, 'CHECKOUT_PENDING', first.text);
    t.is(first.headers.get('retry-after'), '2');
    t.true(Date.now() - started < 1500, 'answered before the reservation came back');

    // Retries under the same key: 409 while it runs, then the outcome the checkout stored.
    let retry = await checkout();
    for (let i = 0; i < 50 && retry.status !== 201; i++) {
      t.true(retry.status === 409 || retry.status === 503, `${retry.status} ${retry.text}`);
      await new Promise((r) => setTimeout(r, 200));
      retry = await checkout();
    }
    t.is(retry.status, 201);
    t.is(await s.stockOf(beans), 3, 'reserved once');
    const listed = await s.orders('/orders', { token: user });
    t.deepEqual(listed.body.items.map((o: { id: string }) => o.id), [retry.body.id], 'one order');
  } finally {
    await slow.stop();
    await stack.stop();
  }
});

test('order-service stopped right after a CHECKOUT_PENDING answer: the checkout still ends before the service does, and the key replays its order', async (t) => {
  const stack: TestStack = await startShop();
  // Held longer than the stop takes by itself (its drain waits 1.5 s for idle connections), within the call's timeout.
  const slow = await slowReservations(stack, 4000, 300, { SERVICE_CALL_TIMEOUT_MS: '10000' });
  const s = shop(stack);
  try {
    const { user, beans, key, checkout } = await twoBagsInACart(s, slow.service.url);
    const first = await checkout();
    t.is(first.body.code, 'CHECKOUT_PENDING', first.text);
    // A rolling restart now: the request is answered, its checkout is not done.
    await slow.stop();
    // The stack's own order-service (same keyspace) replays the stored outcome at once: the
    // checkout ended before the stopped one closed its clients (cut, the key would answer 409 until
    // recovery's CHECKOUT_TIMEOUT_MS).
    const retry = await s.checkout(user, key);
    t.is(retry.status, 201, retry.text);
    t.is(await s.stockOf(beans), 3, 'reserved once');
    t.deepEqual((await s.orders('/orders', { token: user })).body.items.map((o: { id: string }) => o.id), [retry.body.id], 'one order');
  } finally {
    await stack.stop();
  }
});
