/** HTTP only: the signed-in user's own cart, and the lines order-service reads and clears at checkout. */
import Router from '@koa/router';
import { z } from 'zod';
import { fields, pathId, problems, readJson, type ServiceDeps } from '@product-store/kit';
import { addItemSchema, cartCurrency, MAX_QUANTITY, priceCart, setQuantitySchema, type Cart } from './cart';
import { createCatalogClient } from './catalog-client';
import { CartRepository } from './repository';

export const MAX_CART_LINES = 50;

/**
 * What order-service takes off the cart after an order: the lines as its checkout read them (with
 * their versions) and the order id; or, from a caller that predates versions, the product ids.
 */
const orderedLine = z.strictObject({
  product_id: fields.uuid(),
  quantity: z.number().int().min(1).max(MAX_QUANTITY),
  version: z.string().regex(/^\d{1,15}\.([0-9a-fA-F-]{36}|-)$/, 'must be a version read from the cart'),
});
const removeSchema = z.union([
  z.strictObject({ product_ids: z.array(fields.uuid()).min(1).max(MAX_CART_LINES * 2) }),
  z.strictObject({ order_id: fields.uuid(), lines: z.array(orderedLine).min(1).max(MAX_CART_LINES * 2) }),
]);

export function cartRoutes(deps: ServiceDeps): Router {
  const { db, auth, metrics } = deps;
  const carts = new CartRepository(db);
  const catalog = createCatalogClient(deps);
  const router = new Router();
  const cartAdds = metrics.counter('cart_items_added_total', 'Items added to carts (units)');

  /** The priced cart; lines of products that left the catalog are dropped from it for good. */
  const view = async (userId: string): Promise<Cart> => {
    const lines = await carts.lines(userId);
    const products = await catalog.lookup(lines.map((l) => l.product_id));
    const gone = lines.filter((l) => !products.has(l.product_id)).map((l) => l.product_id);
    if (gone.length) await carts.dropGone(userId, gone);
    return priceCart(lines, products);
  };

  router.get('/cart', auth.requireUser, async (ctx) => {
    ctx.body = await view(ctx.state.user.sub);
  });

  router.post('/cart/items', auth.requireUser, async (ctx) => {
    const userId = ctx.state.user.sub;
    const input = await readJson(ctx, addItemSchema);
    const productId = input.product_id.toLowerCase();
    const lines = await carts.lines(userId);
    const products = await catalog.lookup([...new Set([productId, ...lines.map((l) => l.product_id)])]);
    const product = products.get(productId);
    if (!product) throw problems.notFound('No product with this id.', 'PRODUCT_NOT_FOUND');
    const inCart = lines.some((l) => l.product_id === productId);
    if (!inCart && lines.length >= MAX_CART_LINES) {
      throw problems.validation([{ path: 'product_id', message: `product_id: a cart holds at most ${MAX_CART_LINES} different products` }]);
    }
    const otherCurrency = cartCurrency(lines, products);
    if (otherCurrency && otherCurrency !== product.currency) {
      throw problems.conflict('CURRENCY_MISMATCH', `The cart is in ${otherCurrency}; this product is priced in ${product.currency}.`);
    }
    const added = await carts.add(userId, productId, input.quantity, MAX_QUANTITY);
    if (!added.ok) {
      throw problems.validation([{ path: 'quantity', message: `quantity: the cart already holds ${added.current}; at most ${MAX_QUANTITY} of a product` }]);
    }
    cartAdds.inc(input.quantity);
    ctx.status = 201;
    ctx.body = await view(userId);
  });

  router.put('/cart/items/:product_id', auth.requireUser, async (ctx) => {
    const userId = ctx.state.user.sub;
    const productId = pathId(ctx.params.product_id, 'product in the cart');
    const { quantity } = await readJson(ctx, setQuantitySchema);
    if (!(await carts.set(userId, productId, quantity))) throw problems.notFound('This product is not in the cart.');
    ctx.body = await view(userId);
  });

  router.delete('/cart/items/:product_id', auth.requireUser, async (ctx) => {
    const userId = ctx.state.user.sub;
    const productId = pathId(ctx.params.product_id, 'product in the cart');
    if (!(await carts.remove(userId, productId))) throw problems.notFound('This product is not in the cart.');
    ctx.body = await view(userId);
  });

  router.delete('/cart', auth.requireUser, async (ctx) => {
    await carts.clear(ctx.state.user.sub);
    ctx.status = 204;
  });

  // Internal: for order-service only. The gateway never routes /internal/.
  router.get('/internal/carts/:user_id', auth.requireInternal, async (ctx) => {
    ctx.body = { lines: await carts.lines(pathId(ctx.params.user_id, 'user')) };
  });

  router.post('/internal/carts/:user_id/remove', auth.requireInternal, async (ctx) => {
    const userId = pathId(ctx.params.user_id, 'user');
    const body = await readJson(ctx, removeSchema);
    if ('product_ids' in body) {
      await carts.takeOrdered(userId, undefined, body.product_ids.map((id) => ({ product_id: id.toLowerCase(), quantity: MAX_QUANTITY })));
    } else {
      const lines = body.lines.map((l) => ({ ...l, product_id: l.product_id.toLowerCase() }));
      await carts.takeOrdered(userId, body.order_id.toLowerCase(), lines);
    }
    ctx.status = 204;
  });

  return router;
}
