/** What order-service asks of `backend` (stock) and `cart-service` (the cart), over their internal APIs. */
import { createServiceClient, problems, type ServiceDeps } from '@product-store/kit';
import type { CartLine, ReservedLine } from './orders';

export type ReserveResult =
  | { ok: true; lines: ReservedLine[] }
  | { ok: false; code: 'OUT_OF_STOCK' | 'PRODUCT_NOT_FOUND' | 'RESERVATION_RELEASED'; product_ids: string[] };

export interface Dependencies {
  cartLines(userId: string): Promise<CartLine[]>;
  removeFromCart(userId: string, productIds: string[]): Promise<void>;
  reserve(reservationId: string, lines: CartLine[]): Promise<ReserveResult>;
  release(reservationId: string, productIds: string[]): Promise<void>;
}

/** An answer the contract between the services does not allow: the dependency is not usable now. */
function unexpected(what: string, status: number, body: unknown, log: ServiceDeps['log']): Error {
  log.error('unexpected answer from a dependency', { dependency: what, status, body });
  return problems.unavailable(`${what} is unavailable; try again shortly.`, 'DEPENDENCY_UNAVAILABLE');
}

export function createDependencies({ config, log, onStop }: ServiceDeps): Dependencies {
  const timeoutMs = config.serviceCallTimeoutMs;
  const { internalToken } = config;
  const backend = createServiceClient({ name: 'backend', baseUrl: config.serviceUrls.backend, timeoutMs, log, internalToken });
  const cart = createServiceClient({ name: 'cart-service', baseUrl: config.serviceUrls.cartService, timeoutMs, log, internalToken });
  onStop(() => {
    backend.close();
    cart.close();
  });
  return {
    async cartLines(userId) {
      const res = await cart.call<{ lines: CartLine[] }>('GET', `/internal/carts/${userId}`);
      if (res.status !== 200) throw unexpected('cart-service', res.status, res.body, log);
      return res.body.lines;
    },
    async removeFromCart(userId, productIds) {
      const res = await cart.call('POST', `/internal/carts/${userId}/remove`, { product_ids: productIds });
      if (res.status !== 204) throw unexpected('cart-service', res.status, res.body, log);
    },
    async reserve(reservationId, lines) {
      const res = await backend.call<any>('POST', '/internal/reservations', { reservation_id: reservationId, lines });
      if (res.status === 200) return { ok: true, lines: res.body.lines };
      if ((res.status === 409 || res.status === 404) && ['OUT_OF_STOCK', 'PRODUCT_NOT_FOUND', 'RESERVATION_RELEASED'].includes(res.body?.code)) {
        return { ok: false, code: res.body.code, product_ids: res.body.product_ids };
      }
      throw unexpected('backend', res.status, res.body, log);
    },
    async release(reservationId, productIds) {
      const res = await backend.call('POST', `/internal/reservations/${reservationId}/release`, { product_ids: productIds });
      if (res.status !== 200) throw unexpected('backend', res.status, res.body, log);
    },
  };
}
