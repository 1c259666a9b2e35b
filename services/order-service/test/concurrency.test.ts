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
  const customers = Array.from({ length: 50 }, () => tokenFor('customer'));
  await Promise.all(customers.map((user) => s.fill(user, [[beans, 1]])));
  const results = await Promise.all(customers.map((user) => s.checkout(user)));
  const statuses = results.map((r) => r.status);
  t.is(statuses.filter((c) => c === 201).length, 10, statuses.join(','));
  t.is(statuses.filter((c) => c === 409).length, 40);
  t.true(results.filter((r) => r.status === 409).every((r) => r.body.code === 'OUT_OF_STOCK' && r.body.product_ids[0] === beans));
  t.is(await s.stockOf(beans), 0);
  const orders = await Promise.all(customers.map((user) => s.orders('/orders', { token: user })));
  t.is(orders.reduce((n, r) => n + r.body.items.length, 0), 10);
});
