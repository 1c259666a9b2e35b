import { randomUUID } from 'node:crypto';
import test from 'ava';
import { tokenFor } from '@product-store/kit/testing';
import { useShop } from './helpers';

const s = useShop();

test('20 concurrent checkouts under one key: one order, and every 2xx carries its id', async (t) => {
  const user = tokenFor('customer');
  const beans = await s.product(50);
  await s.fill(user, [[beans, 2]]);
  const key = randomUUID();
  const results = await Promise.all(Array.from({ length: 20 }, () => s.checkout(user, key)));
  const created = results.filter((r) => r.status === 201);
  t.true(created.length >= 1);
  t.is(new Set(created.map((r) => r.body.id)).size, 1);
  t.true(results.every((r) => r.status === 201 || (r.status === 409 && r.body.code === 'IDEMPOTENCY_IN_PROGRESS')), results.map((r) => r.status).join(','));
  t.is((await s.orders('/orders', { token: user })).body.items.length, 1);
  t.is(await s.stockOf(beans), 48);
});

test('no oversell: stock 10, 50 customers each checking out one unit at once', async (t) => {
  const beans = await s.product(10);
  const customers = Array.from({ length: 50 }, () => ({ token: tokenFor('customer'), key: randomUUID() }));
  await Promise.all(customers.map((c) => s.fill(c.token, [[beans, 1]])));
  // A loaded machine may answer some with 503 (stock busy, a dependency slow): a client retries those
  // under the same key, as the contract says. What must hold whatever the machine's speed: never
  // oversold, every answer 201 or 409 OUT_OF_STOCK in the end, and exactly the stock sold.
  let results = await Promise.all(customers.map((c) => s.checkout(c.token, c.key)));
  for (let round = 0; round < 10 && results.some((r) => r.status === 503); round++) {
    for (const r of results) if (r.status === 503) t.truthy(r.headers.get('retry-after'), 'a 503 says when to retry');
    await new Promise((resolve) => setTimeout(resolve, 500));
    results = await Promise.all(results.map((r, i) => (r.status === 503 ? s.checkout(customers[i].token, customers[i].key) : r)));
  }
  const statuses = results.map((r) => r.status);
  t.true(statuses.every((c) => c === 201 || c === 409), statuses.join(','));
  t.true(results.filter((r) => r.status === 409).every((r) => r.body.code === 'OUT_OF_STOCK' && r.body.product_ids[0] === beans));
  t.is(statuses.filter((c) => c === 201).length, 10, statuses.join(','));
  t.is(await s.stockOf(beans), 0);
  const orders = await Promise.all(customers.map((c) => s.orders('/orders', { token: c.token })));
  t.is(orders.reduce((n, r) => n + r.body.items.length, 0), 10);
});
