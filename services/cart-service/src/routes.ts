/**
 * HTTP only: the signed-in user's own cart, and the lines order-service reads and clears at checkout,
 * each route declared once with its schema (kit routes.ts).
 */
import type Router from '@koa/router';
import { z } from 'zod';
import { bodyErrors, defineRoutes, fields, idParam, problems, routeFor, type ServiceDeps } from '@product-store/kit';
import type { Counter } from 'prom-client';
import { addItemSchema, cartCurrency, cartSchema, MAX_QUANTITY, priceCart, setQuantitySchema, type Cart } from './cart';
import { createCatalogClient, type CatalogClient } from './catalog-client';
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

/** What the handlers share. */
interface Carts {
  carts: CartRepository;
  catalog: CatalogClient;
  cartAdds: Counter;
  /** The priced cart; lines of products that left the catalog are dropped from it for good. */
  view(userId: string): Promise<Cart>;
}

// The document's examples: Ada has two bags of the coffee in her cart.
const productId = '3f0c8a9e-5b7d-4c1a-9e2f-6d4b8a1c7e05';
const cart = { items: [{ product_id: productId, name: 'Ethiopian Yirgacheffe, 250 g', price_cents: 1450, quantity: 2, line_total_cents: 2900 }], total_cents: 2900, currency: 'USD' };

const productInCart = idParam('product in the cart', { example: productId });
const user = idParam('user');
const route = routeFor<Carts>();

export const cartApi = defineRoutes('cart-service', [
  route({
    method: 'get', path: '/cart', summary: "The caller's cart, at current catalog prices", auth: 'user',
    success: { status: 200, schema: cartSchema, description: 'The cart; empty: `items: []`, `total_cents: 0`.', example: cart },
    errors: { 401: 'No valid token.' },
    handler: (ctx, _input, { view }) => view(ctx.state.user.sub),
  }),
  route({
    method: 'post', path: '/cart/items', summary: 'Add a product (adds to its quantity when already there)', auth: 'user',
    body: { schema: addItemSchema, required: true, example: { product_id: productId, quantity: 2 } },
    success: {
      status: 201, schema: cartSchema, description: 'The cart after the change.', example: cart,
      links: {
        setQuantity: { operationId: 'putCartItemsByProductId', parameters: { product_id: '$request.body#/product_id' }, description: 'Change the quantity of the line.' },
        remove: { operationId: 'deleteCartItemsByProductId', parameters: { product_id: '$request.body#/product_id' }, description: 'Remove the line.' },
      },
    },
    errors: {
      400: 'VALIDATION_FAILED, also when the line would exceed 99 or the cart 50 products.', 401: 'No valid token.',
      404: 'PRODUCT_NOT_FOUND.', 409: 'CURRENCY_MISMATCH: a cart holds products of one currency.', ...bodyErrors,
    },
    handler: async (ctx, { body }, { carts, catalog, cartAdds, view }) => {
      const userId = ctx.state.user.sub;
      const productId = body.product_id.toLowerCase();
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
      const added = await carts.add(userId, productId, body.quantity, MAX_QUANTITY);
      if (!added.ok) {
        throw problems.validation([{ path: 'quantity', message: `quantity: the cart already holds ${added.current}; at most ${MAX_QUANTITY} of a product` }]);
      }
      cartAdds.inc(body.quantity);
      return view(userId);
    },
  }),
  route({
    method: 'put', path: '/cart/items/:product_id', summary: 'Set the quantity of a line', auth: 'user', params: { product_id: productInCart },
    body: { schema: setQuantitySchema, required: true, example: { quantity: 3 } },
    success: { status: 200, schema: cartSchema, description: 'The cart after the change.', example: cart },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 404: 'NOT_FOUND: the product is not in the cart.', ...bodyErrors },
    handler: async (ctx, { params, body }, { carts, view }) => {
      const userId = ctx.state.user.sub;
      if (!(await carts.set(userId, params.product_id, body.quantity))) throw problems.notFound('This product is not in the cart.');
      return view(userId);
    },
  }),
  route({
    method: 'delete', path: '/cart/items/:product_id', summary: 'Remove a line', auth: 'user', params: { product_id: productInCart },
    success: { status: 200, schema: cartSchema, description: 'The cart after the change.', example: { items: [], total_cents: 0, currency: 'USD' } },
    errors: { 401: 'No valid token.', 404: 'NOT_FOUND: the product is not in the cart.' },
    handler: async (ctx, { params }, { carts, view }) => {
      const userId = ctx.state.user.sub;
      if (!(await carts.remove(userId, params.product_id))) throw problems.notFound('This product is not in the cart.');
      return view(userId);
    },
  }),
  route({
    method: 'delete', path: '/cart', summary: 'Empty the cart', auth: 'user',
    success: { status: 204, description: 'Emptied.' },
    errors: { 401: 'No valid token.' },
    handler: async (ctx, _input, { carts }) => {
      await carts.clear(ctx.state.user.sub);
    },
  }),

  // Internal: for order-service only. The gateway never routes /internal/.
  route({
    method: 'get', path: '/internal/carts/:user_id', summary: "A user's cart lines, with their versions (checkout)", auth: 'internal', params: { user_id: user },
    handler: async (_ctx, { params }, { carts }) => ({ lines: await carts.lines(params.user_id) }),
  }),
  route({
    method: 'post', path: '/internal/carts/:user_id/remove', summary: 'Take the ordered lines off the cart (after an order)', auth: 'internal', params: { user_id: user },
    body: { schema: removeSchema, required: true },
    success: { status: 204, description: 'Taken off.' },
    handler: async (_ctx, { params: { user_id: userId }, body }, { carts }) => {
      if ('product_ids' in body) {
        await carts.takeOrdered(userId, undefined, body.product_ids.map((id) => ({ product_id: id.toLowerCase(), quantity: MAX_QUANTITY })));
      } else {
        const lines = body.lines.map((l) => ({ ...l, product_id: l.product_id.toLowerCase() }));
        await carts.takeOrdered(userId, body.order_id.toLowerCase(), lines);
      }
    },
  }),
]);

export function cartRoutes(deps: ServiceDeps): Router {
  const carts = new CartRepository(deps.db);
  const catalog = createCatalogClient(deps);
  const view = async (userId: string): Promise<Cart> => {
    const lines = await carts.lines(userId);
    const products = await catalog.lookup(lines.map((l) => l.product_id));
    const gone = lines.filter((l) => !products.has(l.product_id)).map((l) => l.product_id);
    if (gone.length) await carts.dropGone(userId, gone);
    return priceCart(lines, products);
  };
  const cartAdds = deps.metrics.counter('cart_items_added_total', 'Items added to carts (units)');
  return cartApi.router(deps.auth, { carts, catalog, cartAdds, view });
}
