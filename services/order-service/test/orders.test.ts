import { randomUUID } from 'node:crypto';
import test from 'ava';
import { attackTokens, tokenFor } from '@product-store/kit/testing';
import { useShop } from './helpers';

const s = useShop();

test('checkout: 201 confirmed order with frozen prices; the cart is emptied and stock taken', async (t) => {
  const user = tokenFor('customer');
  const beans = await s.product(10, 1250, 'Beans');
  const tea = await s.product(5, 400, 'Tea');
  await s.fill(user, [[beans, 2], [tea, 3]]);
  const res = await s.checkout(user);
  t.is(res.status, 201);
  t.is(res.headers.get('location'), `/orders/${res.body.id}`);
  t.is(res.body.status, 'confirmed');
  t.deepEqual(Object.keys(res.body).sort(), ['created_at', 'currency', 'id', 'items', 'status', 'total_cents']);
  const items = Object.fromEntries(res.body.items.map((i: { product_id: string }) => [i.product_id, i]));
  t.deepEqual(items[beans], { product_id: beans, name: 'Beans', price_cents: 1250, quantity: 2, line_total_cents: 2500 });
  t.deepEqual(items[tea], { product_id: tea, name: 'Tea', price_cents: 400, quantity: 3, line_total_cents: 1200 });
  t.is(res.body.total_cents, 3700);
  t.is(res.body.currency, 'USD');
  t.deepEqual((await s.carts('/cart', { token: user })).body.items, []);
  t.is(await s.stockOf(beans), 8);
  t.is(await s.stockOf(tea), 2);
  // Prices are frozen: a later catalog change does not touch the order.
  await s.catalog(`/products/${beans}`, { method: 'PATCH', token: tokenFor('admin'), body: { price_cents: 1 } });
  t.deepEqual((await s.orders(`/orders/${res.body.id}`, { token: user })).body, res.body);
});

test('Idempotency-Key is required and must be 1..255 printable characters', async (t) => {
  const user = tokenFor('customer');
  const missing = await s.orders('/orders', { method: 'POST', token: user });
  t.is(missing.status, 400);
  t.is(missing.body.code, 'IDEMPOTENCY_KEY_REQUIRED');
  for (const key of ['k'.repeat(256), 'caf\u00e9']) {
    const res = await s.checkout(user, key);
    t.is(res.status, 400);
    t.is(res.body.code, 'IDEMPOTENCY_KEY_INVALID');
  }
});

test('a client cannot set the status, the owner or the items of an order: 400', async (t) => {
  const user = tokenFor('customer');
  const beans = await s.product(5);
  await s.fill(user, [[beans, 1]]);
  for (const body of [{ status: 'cancelled' }, { user_id: randomUUID() }, { items: [] }, { total_cents: 1 }]) {
    const res = await s.checkout(user, randomUUID(), body);
    t.is(res.status, 400, JSON.stringify(body));
    t.is(res.body.code, 'VALIDATION_FAILED');
  }
  t.is(await s.stockOf(beans), 5);
  t.is((await s.checkout(user, randomUUID(), {})).status, 201, 'an empty object is a valid body');
});

test('the same key replays the first response; another body with that key is 422', async (t) => {
  const user = tokenFor('customer');
  const beans = await s.product(5);
  await s.fill(user, [[beans, 1]]);
  const key = randomUUID();
  const first = await s.checkout(user, key);
  t.is(first.status, 201);
  const again = await s.checkout(user, key, {});
  t.is(again.status, 201);
  t.deepEqual(again.body, first.body);
  t.is(await s.stockOf(beans), 4, 'no second reservation');
  t.is((await s.orders('/orders', { token: user })).body.items.length, 1);
  const reused = await s.checkout(user, key, { note: 'different' });
  t.is(reused.status, 422);
  t.is(reused.body.code, 'IDEMPOTENCY_KEY_REUSED');
  const otherUser = tokenFor('customer');
  t.is((await s.checkout(otherUser, key)).status, 422, 'keys are per user: for another user it is a new request (with an empty cart)');
});

test('an empty cart is 422 CART_EMPTY, replayed under the same key', async (t) => {
  const user = tokenFor('customer');
  const key = randomUUID();
  const res = await s.checkout(user, key);
  t.is(res.status, 422);
  t.is(res.body.code, 'CART_EMPTY');
  t.regex(res.headers.get('content-type') ?? '', /problem\+json/);
  const again = await s.checkout(user, key);
  t.is(again.status, 422);
  t.deepEqual(again.body, res.body);
});

test('out of stock: 409 with the short product ids; nothing reserved, the cart kept', async (t) => {
  const user = tokenFor('customer');
  const plenty = await s.product(10);
  const scarce = await s.product(1);
  await s.fill(user, [[plenty, 2], [scarce, 2]]);
  const res = await s.checkout(user);
  t.is(res.status, 409);
  t.is(res.body.code, 'OUT_OF_STOCK');
  t.deepEqual(res.body.product_ids, [scarce]);
  t.is(await s.stockOf(plenty), 10);
  t.is(await s.stockOf(scarce), 1);
  t.is((await s.carts('/cart', { token: user })).body.items.length, 2);
  t.deepEqual((await s.orders('/orders', { token: user })).body.items, []);
});

test('orders: newest first, paginated, only the caller\'s', async (t) => {
  const user = tokenFor('customer');
  const beans = await s.product(100);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    await s.fill(user, [[beans, 1]]);
    ids.push((await s.checkout(user)).body.id);
  }
  const first = await s.orders('/orders?limit=2', { token: user });
  t.is(first.status, 200);
  t.deepEqual(first.body.items.map((o: { id: string }) => o.id), [ids[4], ids[3]]);
  const second = await s.orders(`/orders?limit=2&cursor=${first.body.next_cursor}`, { token: user });
  t.deepEqual(second.body.items.map((o: { id: string }) => o.id), [ids[2], ids[1]]);
  const third = await s.orders(`/orders?limit=2&cursor=${second.body.next_cursor}`, { token: user });
  t.deepEqual(third.body.items.map((o: { id: string }) => o.id), [ids[0]]);
  t.is(third.body.next_cursor, null);
  t.is((await s.orders('/orders', { token: tokenFor('customer') })).body.items.length, 0);
  for (const query of ['limit=0', 'limit=101', 'cursor=xyz', 'page=2']) t.is((await s.orders(`/orders?${query}`, { token: user })).status, 400, query);
});

test("another user's order is 404, like a missing or malformed id", async (t) => {
  const owner = tokenFor('customer');
  const beans = await s.product(5);
  await s.fill(owner, [[beans, 1]]);
  const order = (await s.checkout(owner)).body;
  const intruder = tokenFor('customer');
  for (const path of [`/orders/${order.id}`, `/orders/${randomUUID()}`, '/orders/nope']) {
    const res = await s.orders(path, { token: intruder });
    t.is(res.status, 404, path);
    t.is(res.body.code, 'NOT_FOUND');
  }
  t.is((await s.orders(`/orders/${order.id}/cancel`, { method: 'POST', token: intruder })).status, 404);
  t.is((await s.orders(`/orders/${order.id}`, { token: owner })).body.status, 'confirmed');
});

test('cancel: 200 cancelled, stock given back once; cancelling again is 409', async (t) => {
  const user = tokenFor('customer');
  const beans = await s.product(10);
  await s.fill(user, [[beans, 3]]);
  const order = (await s.checkout(user)).body;
  t.is(await s.stockOf(beans), 7);
  const results = await Promise.all(Array.from({ length: 8 }, () => s.orders(`/orders/${order.id}/cancel`, { method: 'POST', token: user })));
  const ok = results.filter((r) => r.status === 200);
  t.is(ok.length, 1);
  t.is(ok[0].body.status, 'cancelled');
  t.deepEqual({ ...ok[0].body, status: 'confirmed' }, order);
  t.true(results.filter((r) => r.status !== 200).every((r) => r.status === 409 && r.body.code === 'ORDER_NOT_CANCELLABLE'));
  t.is(await s.stockOf(beans), 10);
  t.is((await s.orders(`/orders/${order.id}`, { token: user })).body.status, 'cancelled');
  t.is((await s.orders(`/orders/${order.id}/cancel`, { method: 'POST', token: user })).status, 409);
  t.is(await s.stockOf(beans), 10);
});

test('a cancel retried with its Idempotency-Key (its 200 was lost) gets 200 again; any other cancel still 409', async (t) => {
  const user = tokenFor('customer');
  const beans = await s.product(10);
  await s.fill(user, [[beans, 3]]);
  const order = (await s.checkout(user)).body;
  const cancel = (key?: string) => s.orders(`/orders/${order.id}/cancel`, { method: 'POST', token: user, ...(key === undefined ? {} : { headers: { 'Idempotency-Key': key } }) });
  const key = randomUUID();
  // Duplicates sent together, as a client retrying a timed-out cancel may do.
  const first = await Promise.all(Array.from({ length: 4 }, () => cancel(key)));
  t.deepEqual(first.map((r) => r.status), [200, 200, 200, 200]);
  for (const res of first) t.deepEqual(res.body, { ...order, status: 'cancelled' });
  const retry = await cancel(key);
  t.is(retry.status, 200);
  t.deepEqual(retry.body, { ...order, status: 'cancelled' });
  t.is(await s.stockOf(beans), 10, 'stock given back once');
  for (const other of [undefined, randomUUID()]) {
    const res = await cancel(other);
    t.is(res.status, 409, String(other));
    t.is(res.body.code, 'ORDER_NOT_CANCELLABLE');
  }
  const invalid = await cancel('caf\u00e9');
  t.is(invalid.status, 400);
  t.is(invalid.body.code, 'IDEMPOTENCY_KEY_INVALID');
  t.regex(invalid.headers.get('content-type') ?? '', /problem\+json/);
  t.is((await s.orders('/orders/' + randomUUID() + '/cancel', { method: 'POST', token: user, headers: { 'Idempotency-Key': key } })).status, 404);
  t.is(await s.stockOf(beans), 10);
});

test('every order endpoint needs a valid token', async (t) => {
  const id = randomUUID();
  const endpoints: Array<[string, string]> = [['POST', '/orders'], ['GET', '/orders'], ['GET', `/orders/${id}`], ['POST', `/orders/${id}/cancel`]];
  for (const [method, path] of endpoints) {
    t.is((await s.orders(path, { method, headers: { 'Idempotency-Key': 'k' } })).status, 401, `${method} ${path}`);
    for (const [attack, token] of attackTokens('customer')) {
      t.is((await s.orders(path, { method, token, headers: { 'Idempotency-Key': 'k' } })).status, 401, `${method} ${path}: ${attack}`);
    }
  }
});

test('a deeply nested body is a 400, not a crash', async (t) => {
  const user = tokenFor('customer');
  const depth = 30_000;
  const res = await s.orders('/orders', { method: 'POST', token: user, headers: { 'Idempotency-Key': randomUUID() }, rawBody: `${'['.repeat(depth)}${']'.repeat(depth)}` });
  t.is(res.status, 400);
  t.is(res.body.code, 'VALIDATION_FAILED');
});

test('totals beyond 32 bits are kept exactly', async (t) => {
  const user = tokenFor('customer');
  const gold = await s.product(10, 1_000_000_000, 'Gold bar');
  await s.fill(user, [[gold, 3]]);
  const res = await s.checkout(user);
  t.is(res.status, 201);
  t.is(res.body.total_cents, 3_000_000_000);
  t.is((await s.orders(`/orders/${res.body.id}`, { token: user })).body.total_cents, 3_000_000_000);
  t.is((await s.orders('/orders', { token: user })).body.items[0].total_cents, 3_000_000_000);
});
