/**
 * HTTP only: each route declared once with its schema (kit routes.ts), calling the catalog and stock
 * logic and shaping the response.
 */
import { randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import { bodyErrors, decodeCursor, defineRoutes, encodeCursor, idParam, pageQueryDescriptions, problems, routeFor, type ServiceDeps } from '@product-store/kit';
import type { Counter } from 'prom-client';
import {
  catalogChanges,
  createProductSchema,
  cursorSchema,
  listQuerySchema,
  lookupSchema,
  MAX_STOCK,
  patchProductSchema,
  productPageSchema,
  productSchema,
  releaseSchema,
  reserveSchema,
  toProduct,
  type CatalogEntry,
  type Product,
} from './catalog';
import type { BackendParts } from './service';
import { releaseAll, reserveAll } from './stock';

/** What the handlers share. */
interface Catalog extends BackendParts {
  reservations: Counter<'outcome'>;
  withStock(entries: CatalogEntry[]): Promise<Product[]>;
  findProduct(id: string): Promise<Product>;
}

// The document's examples: an admin lists a coffee.
const productId = '3f0c8a9e-5b7d-4c1a-9e2f-6d4b8a1c7e05';
const product = {
  id: productId, name: 'Ethiopian Yirgacheffe, 250 g', description: 'Whole beans, light roast.', price_cents: 1450, currency: 'USD',
  category: 'coffee', stock: 120, created_at: '2026-01-15T09:00:00.000Z', updated_at: '2026-01-15T09:00:00.000Z',
};

const id = idParam('product', { example: productId });
const route = routeFor<Catalog>();

export const productApi = defineRoutes('backend', [
  route({
    method: 'get', path: '/products', summary: 'List products, a page at a time', auth: 'none',
    query: { schema: listQuerySchema, descriptions: { ...pageQueryDescriptions, category: 'Only products of this category.' } },
    success: { status: 200, schema: productPageSchema, description: 'A page of products; `next_cursor` is null on the last page.', example: { items: [product], next_cursor: 'eyJhZnRlciI6IjNmMGM4YTllLTViN2QtNGMxYS05ZTJmLTZkNGI4YTFjN2UwNSJ9' } },
    errors: { 400: 'VALIDATION_FAILED: limit out of 1..100, a cursor that is not a previous page\'s `next_cursor`, or an unknown parameter.' },
    handler: async (_ctx, { query }, { repo, withStock }) => {
      const after = decodeCursor(query.cursor, cursorSchema)?.after;
      const entries = await repo.page(query.limit + 1, after, query.category);
      const page = entries.slice(0, query.limit);
      return {
        items: await withStock(page),
        next_cursor: entries.length > query.limit ? encodeCursor({ after: page[page.length - 1].id }) : null,
      };
    },
  }),
  route({
    method: 'get', path: '/products/:id', summary: 'One product', auth: 'none', params: { id },
    success: { status: 200, schema: productSchema, description: 'The product.', example: product },
    errors: { 404: 'NOT_FOUND, also for a malformed id.' },
    handler: (_ctx, { params }, { findProduct }) => findProduct(params.id),
  }),
  route({
    method: 'post', path: '/products', summary: 'Create a product (admin)', auth: 'admin',
    body: { schema: createProductSchema, required: true, example: { name: 'Ethiopian Yirgacheffe, 250 g', description: 'Whole beans, light roast.', price_cents: 1450, currency: 'USD', category: 'coffee', stock: 120 } },
    success: {
      status: 201, schema: productSchema, description: 'The new product.', location: true, example: product,
      links: {
        get: { operationId: 'getProductsById', parameters: { id: '$response.body#/id' }, description: 'The new product.' },
        patch: { operationId: 'patchProductsById', parameters: { id: '$response.body#/id' }, description: 'Change the new product.' },
        delete: { operationId: 'deleteProductsById', parameters: { id: '$response.body#/id' }, description: 'Remove the new product.' },
        addToCart: { operationId: 'postCartItems', requestBody: { product_id: '$response.body#/id', quantity: 1 }, description: 'Put the new product in a cart.' },
      },
    },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 403: 'Not an admin.', ...bodyErrors },
    handler: async (ctx, { body }, { repo }) => {
      const now = new Date().toISOString();
      const { stock, ...fields } = body;
      const entry: CatalogEntry = { id: randomUUID(), ...fields, created_at: now, updated_at: now };
      await repo.create(entry, stock);
      ctx.set('Location', `/products/${entry.id}`);
      return toProduct(entry, stock);
    },
  }),
  route({
    method: 'patch', path: '/products/:id', summary: 'Change some fields of a product (admin)', auth: 'admin', params: { id },
    body: { schema: patchProductSchema, required: true, example: { price_cents: 1390 } },
    success: { status: 200, schema: productSchema, description: 'The changed product.', example: { ...product, price_cents: 1390 } },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 403: 'Not an admin.', 404: 'NOT_FOUND.', 409: 'STOCK_CONFLICT: `stock_delta` would take the stock below 0 or above the maximum; `stock` is the stock now.', ...bodyErrors },
    handler: async (_ctx, { params: { id }, body: patch }, { repo, findProduct }) => {
      if (patch.stock_delta !== undefined) {
        // The relative change goes first: when it is refused, nothing of the patch applies.
        if (!(await repo.get(id))) throw problems.notFound('No product with this id.');
        const adjusted = await repo.adjustStock(id, patch.stock_delta, MAX_STOCK);
        if (!adjusted.ok) {
          throw problems.conflict('STOCK_CONFLICT', `The stock is ${adjusted.stock}; a change of ${patch.stock_delta} would take it below 0 or above ${MAX_STOCK}.`, { stock: adjusted.stock });
        }
      }
      if (patch.stock !== undefined && patch.expected_stock !== undefined) {
        // Conditional on what the admin saw, and first: when it is refused, nothing of the patch applies.
        if (!(await repo.get(id))) throw problems.notFound('No product with this id.');
        const set = await repo.setStock(id, patch.stock, patch.expected_stock);
        if (!set.ok) throw problems.conflict('STOCK_CONFLICT', `The stock is ${set.stock}, not ${patch.expected_stock}: it changed since it was read; read it again.`, { stock: set.stock });
      }
      if (!(await repo.update(id, catalogChanges(patch), new Date()))) throw problems.notFound('No product with this id.');
      if (patch.stock !== undefined && patch.expected_stock === undefined) await repo.setStock(id, patch.stock);
      return findProduct(id);
    },
  }),
  route({
    method: 'delete', path: '/products/:id', summary: 'Remove a product from the catalog (admin)', auth: 'admin', params: { id },
    success: { status: 204, description: 'Removed.' },
    errors: { 401: 'No valid token.', 403: 'Not an admin.', 404: 'NOT_FOUND.' },
    handler: async (_ctx, { params }, { repo }) => {
      if (!(await repo.delete(params.id))) throw problems.notFound('No product with this id.');
    },
  }),

  // Internal: for the other services only. The gateway never routes /internal/.
  route({
    method: 'post', path: '/internal/products/lookup', summary: 'The products of these ids, with their stock (cart-service)', auth: 'internal',
    body: { schema: lookupSchema, required: true },
    handler: async (_ctx, { body }, { repo, withStock }) => {
      const ids = [...new Set(body.product_ids.map((id) => id.toLowerCase()))];
      const entries = (await Promise.all(ids.map((id) => repo.get(id)))).filter((e): e is CatalogEntry => e !== undefined);
      return { items: await withStock(entries) };
    },
  }),
  route({
    method: 'post', path: '/internal/reservations', summary: 'Reserve stock for every line, or none (order-service)', auth: 'internal',
    body: { schema: reserveSchema, required: true },
    handler: async (_ctx, { body }, { repo, reservations }) => {
      const reservationId = body.reservation_id.toLowerCase();
      const lines = body.lines.map((l) => ({ product_id: l.product_id.toLowerCase(), quantity: l.quantity }));
      const result = await reserveAll(repo, reservationId, lines);
      reservations.inc({ outcome: result.ok ? 'reserved' : result.reason });
      if (result.ok) return { reservation_id: reservationId, lines: result.lines };
      if (result.reason === 'not_found') {
        throw problems.notFound('Some products do not exist.', 'PRODUCT_NOT_FOUND').withExtra({ product_ids: result.product_ids });
      }
      if (result.reason === 'currency_mismatch') {
        throw problems.conflict('CURRENCY_MISMATCH', 'Some products are priced in another currency than the rest of the lines.', { product_ids: result.product_ids });
      }
      if (result.reason === 'released') {
        throw problems.conflict('RESERVATION_RELEASED', 'This reservation was released and cannot be taken again.', { product_ids: result.product_ids });
      }
      throw problems.conflict('OUT_OF_STOCK', 'Some products do not have enough stock.', { product_ids: result.product_ids });
    },
  }),
  route({
    method: 'post', path: '/internal/reservations/:id/release', summary: "Give a reservation's stock back (order-service)", auth: 'internal', params: { id: idParam('reservation') },
    body: { schema: releaseSchema, required: true },
    handler: async (_ctx, { params, body }, { repo, compaction }) => {
      const lines = await releaseAll(repo, params.id, body.product_ids.map((id) => id.toLowerCase()));
      for (const line of lines) compaction.touched(line.product_id);
      return { reservation_id: params.id, lines };
    },
  }),
]);

export function productRoutes({ auth, metrics }: ServiceDeps, parts: BackendParts): Router {
  const { repo } = parts;
  const withStock = async (entries: CatalogEntry[]) => {
    const stock = await repo.stockOf(entries.map((e) => e.id));
    return entries.map((e) => toProduct(e, stock.get(e.id)));
  };
  const findProduct = async (id: string) => {
    const [entry, stock] = await Promise.all([repo.get(id), repo.stockOf([id])]);
    if (!entry) throw problems.notFound('No product with this id.');
    return toProduct(entry, stock.get(id));
  };
  const reservations = metrics.counter('stock_reservations_total', 'Stock reservations by outcome', ['outcome'] as const);
  return productApi.router(auth, { ...parts, reservations, withStock, findProduct });
}
