/**
 * HTTP only: checkout under an Idempotency-Key, the caller's orders, cancellation; each route declared
 * once with its schema (kit routes.ts).
 */
import type Router from '@koa/router';
import { bodyErrors, decodeCursor, defineRoutes, encodeCursor, idParam, pageQueryDescriptions, problems, routeFor, type ServiceDeps } from '@product-store/kit';
import type { CheckoutParts } from './checkout';
import { cursorSchema, listQuerySchema, orderPageSchema, orderSchema, placeOrderBodySchema } from './orders';

// The document's examples: Ada buys two bags of coffee.
const line = { product_id: '3f0c8a9e-5b7d-4c1a-9e2f-6d4b8a1c7e05', name: 'Ethiopian Yirgacheffe, 250 g', price_cents: 1450, quantity: 2, line_total_cents: 2900 };
const order = { id: '6b2e4d80-d29a-11f0-8de9-0242ac120002', status: 'confirmed', items: [line], total_cents: 2900, currency: 'USD', created_at: '2026-01-15T09:45:00.000Z' };

/** Order ids are time-based (version 1) UUIDs; any other id names no order. */
const orderId = idParam('order', { example: order.id, accepts: (id) => id[14] === '1' });
const route = routeFor<CheckoutParts>();

export const orderApi = defineRoutes('order-service', [
  route({
    method: 'post', path: '/orders', summary: 'Check out the whole cart', auth: 'user',
    idempotencyKey: { required: true, description: 'Per user; remembered for at least 24 hours.', example: '5b0f7f0e-checkout-1' },
    // Validated by the placement: a known key replays its outcome whatever the body (or answers 422).
    body: { schema: placeOrderBodySchema, required: false, example: {}, deferred: true },
    success: {
      status: 201, schema: orderSchema, description: 'The confirmed order: stock reserved for every line, prices frozen, the cart emptied. The same key replays this response.', location: true, example: order,
      links: {
        get: { operationId: 'getOrdersById', parameters: { id: '$response.body#/id' }, description: 'The new order.' },
        cancel: { operationId: 'postOrdersByIdCancel', parameters: { id: '$response.body#/id' }, description: 'Cancel the new order.' },
      },
    },
    errors: {
      400: 'IDEMPOTENCY_KEY_REQUIRED, IDEMPOTENCY_KEY_INVALID, or VALIDATION_FAILED for any field.', 401: 'No valid token.',
      409: 'OUT_OF_STOCK (`product_ids` lists the short products; nothing is reserved, the cart is kept), or IDEMPOTENCY_IN_PROGRESS.',
      422: 'CART_EMPTY, or IDEMPOTENCY_KEY_REUSED with a different body.', 503: 'A dependency is down (DEPENDENCY_UNAVAILABLE, DATABASE_UNAVAILABLE: nothing was ordered), or CHECKOUT_PENDING (or, should the request outlast REQUEST_TIMEOUT_MS before the checkout begins, REQUEST_TIMEOUT): the checkout is still running past the response deadline and goes on. Either way retry under the same key after Retry-After: it runs again, or replays the outcome.', ...bodyErrors,
    },
    // The outcome is the key's: a replay may be a stored problem, so the handler answers through ctx.
    handler: async (ctx, { idempotencyKey, body }, { placement }) => {
      const outcome = await placement.place(ctx.state.user.sub, idempotencyKey, body.raw, () => body.parse());
      ctx.status = outcome.status;
      ctx.body = outcome.body;
      if (outcome.status >= 400) ctx.type = 'application/problem+json';
      else ctx.set('Location', `/orders/${(outcome.body as { id: string }).id}`);
    },
  }),
  route({
    method: 'get', path: '/orders', summary: "The caller's orders, newest first", auth: 'user',
    query: { schema: listQuerySchema, descriptions: pageQueryDescriptions },
    success: { status: 200, schema: orderPageSchema, description: 'A page of orders.', example: { items: [order], next_cursor: null } },
    errors: { 400: 'VALIDATION_FAILED: limit out of 1..100, a cursor that is not a previous page\'s `next_cursor`, or an unknown parameter.', 401: 'No valid token.' },
    handler: async (ctx, { query }, { repo }) => {
      const before = decodeCursor(query.cursor, cursorSchema)?.before;
      if (before !== undefined && before[14] !== '1') throw problems.validation([{ path: 'cursor', message: 'cursor: not a cursor from a previous page' }], 'The query string is not valid.');
      const page = await repo.orders(ctx.state.user.sub, query.limit + 1, before);
      const items = page.slice(0, query.limit);
      return { items, next_cursor: page.length > query.limit ? encodeCursor({ before: items[items.length - 1].id }) : null };
    },
  }),
  route({
    method: 'get', path: '/orders/:id', summary: 'One of the caller\'s orders', auth: 'user', params: { id: orderId },
    success: { status: 200, schema: orderSchema, description: 'The order.', example: order },
    errors: { 401: 'No valid token.', 404: "NOT_FOUND, also for another user's order." },
    handler: async (ctx, { params }, { repo }) => {
      const found = await repo.order(ctx.state.user.sub, params.id);
      if (!found) throw problems.notFound('No order with this id.');
      return found;
    },
  }),
  route({
    method: 'post', path: '/orders/:id/cancel', summary: 'Cancel an order and give its stock back', auth: 'user', params: { id: orderId },
    // Optional (an extension of the contract): a retry with the key of the cancel that cancelled the order gets 200 again.
    idempotencyKey: { required: false, description: 'Optional; kept with the cancellation: a retry with the same key (its 200 was lost) gets 200 and the order again instead of 409.', example: '5b0f7f0e-cancel-1' },
    // `{}` or no body, as for POST /orders; the contract names no body here, so the document does not either.
    body: { schema: placeOrderBodySchema, required: false, documented: false },
    success: { status: 200, schema: orderSchema, description: 'The order, now `cancelled`; again for a retry with the Idempotency-Key of the cancel that cancelled it.', example: { ...order, status: 'cancelled' } },
    errors: { 400: 'IDEMPOTENCY_KEY_INVALID.', 401: 'No valid token.', 404: 'NOT_FOUND.', 409: 'ORDER_NOT_CANCELLABLE: already cancelled (by another cancel, or by one without the same Idempotency-Key).' },
    handler: (ctx, { params, idempotencyKey }, { cancellation }) => cancellation.cancel(ctx.state.user.sub, params.id, idempotencyKey),
  }),
]);

export function orderRoutes({ auth }: ServiceDeps, parts: CheckoutParts): Router {
  return orderApi.router(auth, parts);
}
