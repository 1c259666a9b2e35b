/** What order-service asks of `backend` (stock) and `cart-service` (the cart), over their internal APIs. */
import { z } from 'zod';
import { createServiceClient, ownInternalToken, problems, type ServiceDeps } from '@product-store/kit';
import { otherCurrencyLines, type CartLine, type ReservedLine } from './orders';

export type ReserveResult =
  | { ok: true; lines: ReservedLine[] }
  | { ok: false; code: 'OUT_OF_STOCK' | 'PRODUCT_NOT_FOUND' | 'RESERVATION_RELEASED' | 'CURRENCY_MISMATCH'; product_ids: string[] };

export interface Dependencies {
  cartLines(userId: string): Promise<CartLine[]>;
  /** Takes an order's lines (as its checkout read them, with their versions) off the cart. */
  removeFromCart(userId: string, orderId: string, lines: CartLine[]): Promise<void>;
  reserve(reservationId: string, lines: CartLine[]): Promise<ReserveResult>;
  release(reservationId: string, productIds: string[]): Promise<void>;
}

/** An answer the contract between the services does not allow: the dependency is not usable now. */
function unexpected(what: string, status: number, body: unknown, log: ServiceDeps['log'], issues?: string): Error {
  log.error('unexpected answer from a dependency', { dependency: what, status, body, ...(issues ? { issues } : {}) });
  return problems.unavailable(`${what} is unavailable; try again shortly.`, 'DEPENDENCY_UNAVAILABLE');
}

/*
 * The answers order-service acts on, checked before use: a 200 with a body of another shape is an
 * unexpected answer (503, like a dependency that is down), never a TypeError (500) half-way through a
 * checkout. Extra fields are allowed, so a dependency may add some.
 */
const productId = z.uuid();
const quantity = z.number().int().min(1);
const distinctProducts = (lines: Array<{ product_id: string }>) => new Set(lines.map((l) => l.product_id.toLowerCase())).size === lines.length;
const cartAnswer = z.object({ lines: z.array(z.object({ product_id: productId, quantity, version: z.string().optional() })).refine(distinctProducts, 'a product appears twice') });
const reservedAnswer = z.object({
  lines: z.array(z.object({ product_id: productId, quantity, name: z.string(), price_cents: z.number().int().min(0), currency: z.string().regex(/^[A-Z]{3}$/) })),
});
const refusedAnswer = z.object({ code: z.enum(['OUT_OF_STOCK', 'PRODUCT_NOT_FOUND', 'RESERVATION_RELEASED', 'CURRENCY_MISMATCH']), product_ids: z.array(productId) });

/** The reservation answered exactly the lines asked for: each product once, with its quantity. */
function sameLines(asked: CartLine[], got: CartLine[]): boolean {
  const wanted = new Map(asked.map((l) => [l.product_id.toLowerCase(), l.quantity]));
  return got.length === asked.length && distinctProducts(got) && got.every((l) => wanted.get(l.product_id.toLowerCase()) === l.quantity);
}

const issuesOf = (error: z.ZodError) => error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');

export function createDependencies({ config, log, onStop }: Pick<ServiceDeps, 'config' | 'log' | 'onStop'>): Dependencies {
  const timeoutMs = config.serviceCallTimeoutMs;
  const internalToken = ownInternalToken(config);
  const backend = createServiceClient({ name: 'backend', baseUrl: config.serviceUrls.backend, timeoutMs, log, internalToken });
  const cart = createServiceClient({ name: 'cart-service', baseUrl: config.serviceUrls.cartService, timeoutMs, log, internalToken });
  onStop(() => {
    backend.close();
    cart.close();
  });
  return {
    async cartLines(userId) {
      const res = await cart.call<unknown>('GET', `/internal/carts/${userId}`);
      if (res.status !== 200) throw unexpected('cart-service', res.status, res.body, log);
      const answer = cartAnswer.safeParse(res.body);
      if (!answer.success) throw unexpected('cart-service', res.status, res.body, log, issuesOf(answer.error));
      // `version` (cart-service's, opaque here) goes back with the cleanup after the order.
      return answer.data.lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity, ...(l.version ? { version: l.version } : {}) }));
    },
    async removeFromCart(userId, orderId, lines) {
      // Only what the order took, by the versions its checkout read (a line added or changed since
      // keeps what the order did not take); a checkout stored before versions removes its products.
      const body = lines.every((l) => l.version)
        ? { order_id: orderId, lines: lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity, version: l.version })) }
        : { product_ids: lines.map((l) => l.product_id) };
      const res = await cart.call('POST', `/internal/carts/${userId}/remove`, body);
      if (res.status !== 204) throw unexpected('cart-service', res.status, res.body, log);
    },
    async reserve(reservationId, lines) {
      // A malformed answer throws: the checkout is then abandoned like one whose reservation timed out
      // (failed, released, the key freed once the release is confirmed; else recovery does it).
      const asked = lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity }));
      const res = await backend.call<unknown>('POST', '/internal/reservations', { reservation_id: reservationId, lines: asked });
      if (res.status === 200) {
        const answer = reservedAnswer.safeParse(res.body);
        if (!answer.success) throw unexpected('backend', res.status, res.body, log, issuesOf(answer.error));
        if (!sameLines(lines, answer.data.lines)) throw unexpected('backend', res.status, res.body, log, 'the reserved lines are not the lines asked for');
        // backend refuses a cart in two currencies (409 CURRENCY_MISMATCH); one that did not would make a mixed total.
        if (otherCurrencyLines(answer.data.lines).length > 0) throw unexpected('backend', res.status, res.body, log, 'the reserved lines are in more than one currency');
        return {
          ok: true,
          lines: answer.data.lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity, name: l.name, price_cents: l.price_cents, currency: l.currency })),
        };
      }
      if (res.status === 409 || res.status === 404) {
        const answer = refusedAnswer.safeParse(res.body);
        if (answer.success) return { ok: false, code: answer.data.code, product_ids: answer.data.product_ids };
      }
      throw unexpected('backend', res.status, res.body, log);
    },
    async release(reservationId, productIds) {
      const res = await backend.call('POST', `/internal/reservations/${reservationId}/release`, { product_ids: productIds });
      if (res.status !== 200) throw unexpected('backend', res.status, res.body, log);
    },
  };
}
