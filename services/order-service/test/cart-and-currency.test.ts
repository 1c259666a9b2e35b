/**
 * What a checkout does to the cart and to money: the cleanup after an order (the request's, or
 * recovery's much later) takes only what the order took, and a cart whose products an admin moved to
 * another currency is refused at checkout instead of adding cents of two currencies.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { createAuth, createClient, createLogger, createMetrics, loadConfig, type Client, type ServiceDeps } from '@product-store/kit';
import { tokenFor, type TestStack } from '@product-store/kit/testing';
import { createDependencies, type Dependencies } from '../src/clients';
import { OrderRepository } from '../src/repository';
import { admin, shop, startShop } from './helpers';

let stack: TestStack;
let s: ReturnType<typeof shop>;
let db: Client;
let repo: OrderRepository;
let deps: Dependencies;

test.before(async () => {
  stack = await startShop();
  s = shop(stack);
  const config = loadConfig('order-service', { ...stack.env, BACKEND_URL: stack.url('backend'), CART_SERVICE_URL: stack.url('cart-service') });
  db = createClient(config.cassandra, config.cassandra.keyspace);
  await db.connect();
  const serviceDeps: Omit<ServiceDeps, 'settings'> = { config, log: createLogger({ level: 'error' }), metrics: createMetrics('order-service-test'), db, auth: createAuth(config), onStop: () => undefined };
  repo = new OrderRepository(db);
  deps = createDependencies(serviceDeps);
});
test.after.always(async () => {
  await db?.shutdown();
  await stack?.stop();
});

const quantities = async (token: string) =>
  Object.fromEntries(((await s.carts('/cart', { token })).body.items as Array<{ product_id: string; quantity: number }>).map((i) => [i.product_id, i.quantity]));

test("the cart cleanup of an order, run again later as recovery runs it, keeps what the user added after checking out", async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const [beans, tea, filters] = await Promise.all([s.product(10), s.product(10), s.product(10)]);
  await s.fill(user, [[beans, 2], [tea, 1]]);
  const placed = await s.checkout(user);
  t.is(placed.status, 201);
  t.deepEqual(await quantities(user), {}, 'the order emptied the cart');

  await s.fill(user, [[beans, 3], [filters, 1]]);
  const checkout = await repo.checkout(placed.body.id);
  t.truthy(checkout);
  // Recovery's cleanup of a confirmed checkout: the same call with the lines the checkout read.
  await deps.removeFromCart(userId, placed.body.id, checkout!.lines);
  t.deepEqual(await quantities(user), { [beans]: 3, [filters]: 1 });
});

test('a cart with a product an admin moved to another currency: its total counts one currency, and checkout is a 409 CURRENCY_MISMATCH that takes nothing', async (t) => {
  const user = tokenFor('customer');
  const [a, b, moved] = await Promise.all([s.product(10, 1000), s.product(10, 200), s.product(10, 50)]);
  await s.fill(user, [[a, 1], [b, 2], [moved, 3]]);
  const patched = await s.catalog(`/products/${moved}`, { method: 'PATCH', token: admin, body: { currency: 'EUR' } });
  t.is(patched.status, 200);

  const cart = (await s.carts('/cart', { token: user })).body;
  t.is(cart.currency, 'USD');
  t.is(cart.items.length, 3, 'the line in another currency is still shown, so it can be removed');
  t.is(cart.total_cents, 1000 + 2 * 200, 'no EUR cents in a USD total');

  const refused = await s.checkout(user);
  t.is(refused.status, 409);
  t.is(refused.body.code, 'CURRENCY_MISMATCH');
  t.deepEqual(refused.body.product_ids, [moved]);
  t.regex(refused.headers.get('content-type') ?? '', /problem\+json/);
  t.deepEqual(await Promise.all([a, b, moved].map((id) => s.stockOf(id))), [10, 10, 10], 'nothing reserved');
  t.is((await s.carts('/cart', { token: user })).body.items.length, 3, 'the cart is kept');

  t.is((await s.carts(`/cart/items/${moved}`, { method: 'DELETE', token: user })).status, 200);
  const placed = await s.checkout(user);
  t.is(placed.status, 201);
  t.is(placed.body.currency, 'USD');
  t.is(placed.body.total_cents, 1000 + 2 * 200);
});
