/** HTTP only: checkout under an Idempotency-Key, the caller's orders, cancellation. */
import Router from '@koa/router';
import { decodeCursor, encodeCursor, parseQuery, parseWith, pathId, problems, readBody, type ServiceDeps } from '@product-store/kit';
import type { CheckoutParts } from './checkout';
import { cursorSchema, listQuerySchema, placeOrderSchema, validIdempotencyKey } from './orders';

/** Order ids are time-based (version 1) UUIDs; any other id names no order. */
function orderId(value: string | undefined): string {
  const id = pathId(value, 'order');
  if (id[14] !== '1') throw problems.notFound('No order with this id.');
  return id;
}

export function orderRoutes({ auth }: ServiceDeps, { repo: orders, placement, cancellation }: CheckoutParts): Router {
  const router = new Router();

  router.post('/orders', auth.requireUser, async (ctx) => {
    const key = ctx.get('Idempotency-Key') || undefined;
    if (!validIdempotencyKey(key)) {
      throw problems.badRequest(
        key === undefined ? 'IDEMPOTENCY_KEY_REQUIRED' : 'IDEMPOTENCY_KEY_INVALID',
        'Send an Idempotency-Key header of 1 to 255 printable characters.',
      );
    }
    const body = await readBody(ctx);
    const outcome = await placement.place(ctx.state.user.sub, key, body, () => parseWith(placeOrderSchema, body));
    ctx.status = outcome.status;
    ctx.body = outcome.body;
    if (outcome.status >= 400) ctx.type = 'application/problem+json';
    else ctx.set('Location', `/orders/${(outcome.body as { id: string }).id}`);
  });

  router.get('/orders', auth.requireUser, async (ctx) => {
    const query = parseQuery(ctx, listQuerySchema);
    const before = decodeCursor(query.cursor, cursorSchema)?.before;
    if (before !== undefined && before[14] !== '1') throw problems.validation([{ path: 'cursor', message: 'cursor: not a cursor from a previous page' }], 'The query string is not valid.');
    const page = await orders.orders(ctx.state.user.sub, query.limit + 1, before);
    const items = page.slice(0, query.limit);
    ctx.body = { items, next_cursor: page.length > query.limit ? encodeCursor({ before: items[items.length - 1].id }) : null };
  });

  router.get('/orders/:id', auth.requireUser, async (ctx) => {
    const order = await orders.order(ctx.state.user.sub, orderId(ctx.params.id));
    if (!order) throw problems.notFound('No order with this id.');
    ctx.body = order;
  });

  router.post('/orders/:id/cancel', auth.requireUser, async (ctx) => {
    const id = orderId(ctx.params.id);
    // Optional (an extension of the contract): a retry with the key of the cancel that cancelled the order gets 200 again.
    const key = ctx.get('Idempotency-Key') || undefined;
    if (key !== undefined && !validIdempotencyKey(key)) throw problems.badRequest('IDEMPOTENCY_KEY_INVALID', 'An Idempotency-Key header must be 1 to 255 printable characters.');
    parseWith(placeOrderSchema, await readBody(ctx));
    ctx.body = await cancellation.cancel(ctx.state.user.sub, id, key);
  });

  return router;
}
