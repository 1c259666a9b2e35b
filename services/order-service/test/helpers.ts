/** Shared set-up of the order tests: backend, cart-service and order-service on one keyspace. */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { createAuth, createClient, createLogger, createMetrics, loadConfig, type ServiceDeps } from '@product-store/kit';
import { call, startStack, tokenFor, type CallOptions, type TestStack } from '@product-store/kit/testing';
import { backend } from '../../backend/src/service';
import { cartService } from '../../cart-service/src/service';
import { checkoutParts, type CheckoutSettings } from '../src/checkout';
import { createDependencies } from '../src/clients';
import { OrderRepository } from '../src/repository';
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

/**
 * The shop, and order-service's checkout parts (placement, cancellation, recovery) on a database
 * client of the test's own: the seam recovery.test.ts and idempotency.test.ts drive, running a
 * request's steps by hand, a recovery pass at a chosen time, or a placement with its dependencies
 * wrapped to inject faults. The shop's own order-service runs with the same settings.
 */
export async function startCheckoutSeam(settings: CheckoutSettings) {
  const stack = await startShop({ CHECKOUT_TIMEOUT_MS: String(settings.checkoutTimeoutMs), IDEMPOTENCY_WAIT_MS: String(settings.idempotencyWaitMs) });
  const config = loadConfig('order-service', { ...stack.env, BACKEND_URL: stack.url('backend'), CART_SERVICE_URL: stack.url('cart-service') });
  const db = createClient(config.cassandra, config.cassandra.keyspace);
  try {
    await db.connect();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  const log = createLogger({ level: 'error' });
  const metrics = createMetrics('order-service-test');
  const serviceDeps: Omit<ServiceDeps, 'settings'> = { config, log, metrics, db, auth: createAuth(config), onStop: () => undefined };
  const repo = new OrderRepository(db);
  const deps = createDependencies(serviceDeps);
  return {
    stack,
    s: shop(stack),
    db,
    log,
    deps,
    ...checkoutParts(repo, deps, settings, log, metrics),
    async stop() {
      await db.shutdown();
      await stack.stop();
    },
  };
}
