import test from 'ava';
import { call, startStack, tokenFor } from '@product-store/kit/testing';
import { backend } from '../../backend/src/service';
import { cartService } from '../../cart-service/src/service';
import { userService } from '../../user-service/src/service';
import { orderService } from '../src/service';

test('a customer journey across the four services', async (t) => {
  const stack = await startStack([backend, cartService, userService, orderService]);
  try {
    const users = (path: string, body?: object, token?: string) => call(stack.url('user-service'), path, { method: body ? 'POST' : 'GET', body, token });
    const admin = tokenFor('admin');
    const product = await call(stack.url('backend'), '/products', { method: 'POST', token: admin, body: { name: 'Grinder', price_cents: 12900, category: 'equipment', stock: 3 } });

    t.is((await users('/auth/register', { email: 'journey@example.com', password: 'a good password', name: 'June' })).status, 201);
    const login = await users('/auth/login', { email: 'journey@example.com', password: 'a good password' });
    t.is(login.status, 200);
    const token = login.body.access_token;
    const me = await users('/users/me', undefined, token);
    t.is(me.body.email, 'journey@example.com');

    const browse = await call(stack.url('backend'), '/products?category=equipment');
    t.true(browse.body.items.some((p: { id: string }) => p.id === product.body.id));

    const cart = (path: string, method = 'GET', body?: object) => call(stack.url('cart-service'), path, { method, body, token });
    t.is((await cart('/cart/items', 'POST', { product_id: product.body.id, quantity: 1 })).status, 201);
    const updated = await cart(`/cart/items/${product.body.id}`, 'PUT', { quantity: 2 });
    t.is(updated.body.total_cents, 25800);

    const orders = (path: string, method = 'GET', headers?: Record<string, string>) => call(stack.url('order-service'), path, { method, token, headers });
    const placed = await orders('/orders', 'POST', { 'Idempotency-Key': 'journey-1' });
    t.is(placed.status, 201);
    t.is(placed.body.total_cents, 25800);
    t.is((await call(stack.url('backend'), `/products/${product.body.id}`)).body.stock, 1);
    t.deepEqual((await cart('/cart')).body.items, []);

    const listed = await orders('/orders');
    t.deepEqual(listed.body.items.map((o: { id: string }) => o.id), [placed.body.id]);
    const seen = await orders(`/orders/${placed.body.id}`);
    t.deepEqual(seen.body, placed.body);

    const cancelled = await orders(`/orders/${placed.body.id}/cancel`, 'POST');
    t.is(cancelled.status, 200);
    t.is(cancelled.body.status, 'cancelled');
    t.is((await call(stack.url('backend'), `/products/${product.body.id}`)).body.stock, 3);
  } finally {
    await stack.stop();
  }
});
