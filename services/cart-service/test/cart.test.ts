import { randomUUID } from 'node:crypto';
import test from 'ava';
import { attackTokens, call, startStack, tokenFor, type CallOptions, type TestStack } from '@product-store/kit/testing';
import { backend } from '../../backend/src/service';
import { cartService } from '../src/service';

let stack: TestStack;
const admin = tokenFor('admin');
const cart = (path: string, options?: CallOptions) => call(stack.url('cart-service'), path, options);

test.before(async () => {
  stack = await startStack([backend, cartService]);
});
test.after.always(() => stack?.stop());

async function product(fields: object = {}) {
  const res = await call(stack.url('backend'), '/products', { method: 'POST', token: admin, body: { name: 'Beans', price_cents: 1250, category: 'coffee', stock: 100, ...fields } });
  if (res.status !== 201) throw new Error(res.text);
  return res.body as { id: string; name: string; price_cents: number };
}
const add = (token: string, product_id: string, quantity: number) => cart('/cart/items', { method: 'POST', token, body: { product_id, quantity } });

test('an empty cart', async (t) => {
  const res = await cart('/cart', { token: tokenFor('customer') });
  t.is(res.status, 200);
  t.deepEqual(res.body, { items: [], total_cents: 0, currency: 'USD' });
});

test('adding items: 201 with current names and prices; adding again adds to the quantity', async (t) => {
  const user = tokenFor('customer');
  const beans = await product();
  const filters = await product({ name: 'Filters', price_cents: 300 });
  t.is((await add(user, beans.id, 2)).status, 201);
  await add(user, filters.id, 1);
  const res = await add(user, beans.id, 3);
  t.is(res.status, 201);
  const lines = Object.fromEntries(res.body.items.map((i: { product_id: string }) => [i.product_id, i]));
  t.deepEqual(lines[beans.id], { product_id: beans.id, name: 'Beans', price_cents: 1250, quantity: 5, line_total_cents: 6250 });
  t.deepEqual(lines[filters.id], { product_id: filters.id, name: 'Filters', price_cents: 300, quantity: 1, line_total_cents: 300 });
  t.is(res.body.total_cents, 6550);
  t.is(res.body.currency, 'USD');
});

test('quantities are 1..99, in the body and in the cart', async (t) => {
  const user = tokenFor('customer');
  const beans = await product();
  for (const quantity of [0, 100, 2.5, '3', -1]) {
    const res = await cart('/cart/items', { method: 'POST', token: user, body: { product_id: beans.id, quantity } });
    t.is(res.status, 400, String(quantity));
    t.is(res.body.code, 'VALIDATION_FAILED');
  }
  t.is((await add(user, beans.id, 60)).status, 201);
  const over = await add(user, beans.id, 40);
  t.is(over.status, 400);
  t.is(over.body.errors[0].path, 'quantity');
  t.is((await cart('/cart', { token: user })).body.items[0].quantity, 60, 'the line is unchanged');
});

test('a client cannot set prices or names: unknown fields are 400', async (t) => {
  const user = tokenFor('customer');
  const beans = await product();
  for (const extra of [{ price_cents: 1 }, { name: 'free' }, { user_id: randomUUID() }]) {
    const res = await cart('/cart/items', { method: 'POST', token: user, body: { product_id: beans.id, quantity: 1, ...extra } });
    t.is(res.status, 400);
    t.is(res.body.errors[0].message, `${Object.keys(extra)[0]}: unknown field`);
  }
  t.deepEqual((await cart('/cart', { token: user })).body.items, []);
});

test('an unknown product is 404 PRODUCT_NOT_FOUND; a malformed id is 400', async (t) => {
  const user = tokenFor('customer');
  const missing = await add(user, randomUUID(), 1);
  t.is(missing.status, 404);
  t.is(missing.body.code, 'PRODUCT_NOT_FOUND');
  t.is((await add(user, 'nope', 1)).status, 400);
});

test('PUT sets the quantity; 404 for a product not in the cart; 400 for a bad quantity', async (t) => {
  const user = tokenFor('customer');
  const beans = await product();
  await add(user, beans.id, 2);
  const res = await cart(`/cart/items/${beans.id}`, { method: 'PUT', token: user, body: { quantity: 7 } });
  t.is(res.status, 200);
  t.is(res.body.items[0].quantity, 7);
  t.is(res.body.total_cents, 7 * 1250);
  t.is((await cart(`/cart/items/${beans.id}`, { method: 'PUT', token: user, body: { quantity: 100 } })).status, 400);
  t.is((await cart(`/cart/items/${beans.id}`, { method: 'PUT', token: user, body: { quantity: 3, product_id: beans.id } })).status, 400);
  t.is((await cart(`/cart/items/${randomUUID()}`, { method: 'PUT', token: user, body: { quantity: 1 } })).status, 404);
  t.is((await cart('/cart/items/nope', { method: 'PUT', token: user, body: { quantity: 1 } })).status, 404);
});

test('DELETE a line: 200 with the cart, then 404; DELETE /cart: 204 and empty', async (t) => {
  const user = tokenFor('customer');
  const beans = await product();
  const tea = await product({ name: 'Tea' });
  await add(user, beans.id, 1);
  await add(user, tea.id, 1);
  const res = await cart(`/cart/items/${beans.id}`, { method: 'DELETE', token: user });
  t.is(res.status, 200);
  t.deepEqual(res.body.items.map((i: { product_id: string }) => i.product_id), [tea.id]);
  t.is((await cart(`/cart/items/${beans.id}`, { method: 'DELETE', token: user })).status, 404);
  const cleared = await cart('/cart', { method: 'DELETE', token: user });
  t.is(cleared.status, 204);
  t.deepEqual((await cart('/cart', { token: user })).body.items, []);
});

test("a user only ever sees and changes their own cart", async (t) => {
  const alice = tokenFor('customer');
  const bob = tokenFor('customer');
  const beans = await product();
  await add(alice, beans.id, 4);
  t.deepEqual((await cart('/cart', { token: bob })).body.items, []);
  t.is((await cart(`/cart/items/${beans.id}`, { method: 'PUT', token: bob, body: { quantity: 1 } })).status, 404);
  t.is((await cart(`/cart/items/${beans.id}`, { method: 'DELETE', token: bob })).status, 404);
  await cart('/cart', { method: 'DELETE', token: bob });
  t.is((await cart('/cart', { token: alice })).body.items[0].quantity, 4);
});

test('the cart shows current catalog prices, and drops products that left the catalog', async (t) => {
  const user = tokenFor('customer');
  const beans = await product();
  const gone = await product({ name: 'Gone' });
  await add(user, beans.id, 2);
  await add(user, gone.id, 1);
  await call(stack.url('backend'), `/products/${beans.id}`, { method: 'PATCH', token: admin, body: { price_cents: 999 } });
  await call(stack.url('backend'), `/products/${gone.id}`, { method: 'DELETE', token: admin });
  const res = await cart('/cart', { token: user });
  t.deepEqual(res.body.items, [{ product_id: beans.id, name: 'Beans', price_cents: 999, quantity: 2, line_total_cents: 1998 }]);
  t.is(res.body.total_cents, 1998);
});

test('one currency per cart: a product in another currency is 409 CURRENCY_MISMATCH', async (t) => {
  const user = tokenFor('customer');
  const usd = await product();
  const eur = await product({ currency: 'EUR' });
  await add(user, usd.id, 1);
  const res = await add(user, eur.id, 1);
  t.is(res.status, 409);
  t.is(res.body.code, 'CURRENCY_MISMATCH');
});

test('every cart endpoint needs a valid token', async (t) => {
  const id = randomUUID();
  const endpoints: Array<[string, string, object?]> = [
    ['GET', '/cart'],
    ['POST', '/cart/items', { product_id: id, quantity: 1 }],
    ['PUT', `/cart/items/${id}`, { quantity: 1 }],
    ['DELETE', `/cart/items/${id}`],
    ['DELETE', '/cart'],
  ];
  for (const [method, path, body] of endpoints) {
    t.is((await cart(path, { method, body })).status, 401, `${method} ${path}`);
    for (const [attack, token] of attackTokens('customer')) {
      t.is((await cart(path, { method, body, token })).status, 401, `${method} ${path}: ${attack}`);
    }
  }
});

test("the caller's request id reaches backend", async (t) => {
  const lines: string[] = [];
  const traced = await startStack([backend, cartService], { LOG_LEVEL: 'info' }, (service, line) => service === 'backend' && lines.push(line));
  try {
    const beans = (await call(traced.url('backend'), '/products', { method: 'POST', token: admin, body: { name: 'B', price_cents: 1, category: 'c', stock: 1 } })).body;
    const res = await call(traced.url('cart-service'), '/cart/items', {
      method: 'POST',
      token: tokenFor('customer'),
      body: { product_id: beans.id, quantity: 1 },
      headers: { 'X-Request-Id': 'req-from-client-42' },
    });
    t.is(res.status, 201);
    t.is(res.headers.get('x-request-id'), 'req-from-client-42');
    const backendRequests = lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'request' && e.route === '/internal/products/lookup');
    t.true(backendRequests.length >= 1);
    t.true(backendRequests.every((e) => e.request_id === 'req-from-client-42'));
  } finally {
    await traced.stop();
  }
});

test('backend down: a clear 503, quickly, never a hang or a 500', async (t) => {
  const lonely = await startStack([cartService], { BACKEND_URL: 'http://127.0.0.1:9', SERVICE_CALL_TIMEOUT_MS: '1000' });
  try {
    const user = tokenFor('customer');
    const started = Date.now();
    const res = await call(lonely.url('cart-service'), '/cart/items', { method: 'POST', token: user, body: { product_id: randomUUID(), quantity: 1 } });
    t.is(res.status, 503);
    t.is(res.body.code, 'DEPENDENCY_UNAVAILABLE');
    t.regex(res.headers.get('content-type') ?? '', /problem\+json/);
    t.true(Date.now() - started < 3000);
  } finally {
    await lonely.stop();
  }
});
