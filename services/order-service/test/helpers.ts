/** Shared set-up of the order tests: backend, cart-service and order-service on one keyspace. */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { call, startStack, tokenFor, type CallOptions, type TestStack } from '@product-store/kit/testing';
import { backend } from '../../backend/src/service';
import { cartService } from '../../cart-service/src/service';
import { orderService } from '../src/service';

export const admin = tokenFor('admin');

export function shop(stack: TestStack) {
  const at = (name: 'backend' | 'cart-service' | 'order-service') => (path: string, options?: CallOptions) => call(stack.url(name), path, options);
  const catalog = at('backend');
  const carts = at('cart-service');
  const orders = at('order-service');
  return {
    catalog,
    carts,
    orders,
    async product(stock: number, price_cents = 1000, name = 'Beans') {
      const res = await catalog('/products', { method: 'POST', token: admin, body: { name, price_cents, category: 'coffee', stock } });
      if (res.status !== 201) throw new Error(res.text);
      return res.body.id as string;
    },
    async stockOf(id: string) {
      return (await catalog(`/products/${id}`)).body.stock as number;
    },
    async fill(token: string, lines: Array<[string, number]>) {
      for (const [product_id, quantity] of lines) {
        const res = await carts('/cart/items', { method: 'POST', token, body: { product_id, quantity } });
        if (res.status !== 201) throw new Error(res.text);
      }
    },
    checkout(token: string, key: string = randomUUID(), body?: unknown) {
      return orders('/orders', { method: 'POST', token, headers: { 'Idempotency-Key': key }, body });
    },
  };
}

export const startShop = (overrides: Record<string, string> = {}) => startStack([backend, cartService, orderService], overrides);

/** The shop for the calling test file: started before its tests, stopped after them. */
export function useShop(overrides: Record<string, string> = {}) {
  const stack = {} as TestStack;
  test.before(async () => {
    Object.assign(stack, await startShop(overrides));
  });
  test.after.always(() => stack.stop?.());
  return shop(stack);
}
