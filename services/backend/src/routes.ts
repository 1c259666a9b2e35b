/** HTTP only: parse and validate, call the catalog and stock logic, shape the response. */
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import { decodeCursor, encodeCursor, parseQuery, pathId, problems, readJson, type ServiceDeps } from '@product-store/kit';
import {
  catalogChanges,
  createProductSchema,
  cursorSchema,
  listQuerySchema,
  lookupSchema,
  MAX_STOCK,
  patchProductSchema,
  releaseSchema,
  reserveSchema,
  toProduct,
  type CatalogEntry,
} from './catalog';
import type { BackendParts } from './service';
import { releaseAll, reserveAll } from './stock';

export function productRoutes({ auth, metrics }: ServiceDeps, { repo, compaction }: BackendParts): Router {
  const router = new Router();
  const reservations = metrics.counter('stock_reservations_total', 'Stock reservations by outcome', ['outcome'] as const);

  const withStock = async (entries: CatalogEntry[]) => {
    const stock = await repo.stockOf(entries.map((e) => e.id));
    return entries.map((e) => toProduct(e, stock.get(e.id)));
  };
  const findProduct = async (id: string) => {
    const [entry, stock] = await Promise.all([repo.get(id), repo.stockOf([id])]);
    if (!entry) throw problems.notFound('No product with this id.');
    return toProduct(entry, stock.get(id));
  };

  router.get('/products', async (ctx) => {
    const query = parseQuery(ctx, listQuerySchema);
    const after = decodeCursor(query.cursor, cursorSchema)?.after;
    const entries = await repo.page(query.limit + 1, after, query.category);
    const page = entries.slice(0, query.limit);
    ctx.body = {
      items: await withStock(page),
      next_cursor: entries.length > query.limit ? encodeCursor({ after: page[page.length - 1].id }) : null,
    };
  });

  router.get('/products/:id', async (ctx) => {
    ctx.body = await findProduct(pathId(ctx.params.id, 'product'));
  });

  router.post('/products', auth.requireAdmin, async (ctx) => {
    const input = await readJson(ctx, createProductSchema);
    const now = new Date().toISOString();
    const { stock, ...fields } = input;
    const entry: CatalogEntry = { id: randomUUID(), ...fields, created_at: now, updated_at: now };
    await repo.create(entry, stock);
    ctx.status = 201;
    ctx.set('Location', `/products/${entry.id}`);
    ctx.body = toProduct(entry, stock);
  });

  router.patch('/products/:id', auth.requireAdmin, async (ctx) => {
    const id = pathId(ctx.params.id, 'product');
    const patch = await readJson(ctx, patchProductSchema);
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
    ctx.body = await findProduct(id);
  });

  router.delete('/products/:id', auth.requireAdmin, async (ctx) => {
    const id = pathId(ctx.params.id, 'product');
    if (!(await repo.delete(id))) throw problems.notFound('No product with this id.');
    ctx.status = 204;
  });

  // Internal: for the other services only. The gateway never routes /internal/.
  router.post('/internal/products/lookup', auth.requireInternal, async (ctx) => {
    const { product_ids } = await readJson(ctx, lookupSchema);
    const ids = [...new Set(product_ids.map((id) => id.toLowerCase()))];
    const entries = (await Promise.all(ids.map((id) => repo.get(id)))).filter((e): e is CatalogEntry => e !== undefined);
    ctx.body = { items: await withStock(entries) };
  });

  router.post('/internal/reservations', auth.requireInternal, async (ctx) => {
    const request = await readJson(ctx, reserveSchema);
    const reservationId = request.reservation_id.toLowerCase();
    const lines = request.lines.map((l) => ({ product_id: l.product_id.toLowerCase(), quantity: l.quantity }));
    const result = await reserveAll(repo, reservationId, lines);
    reservations.inc({ outcome: result.ok ? 'reserved' : result.reason });
    if (result.ok) {
      ctx.body = { reservation_id: reservationId, lines: result.lines };
      return;
    }
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
  });

  router.post('/internal/reservations/:id/release', auth.requireInternal, async (ctx) => {
    const reservationId = pathId(ctx.params.id, 'reservation');
    const request = await readJson(ctx, releaseSchema);
    const lines = await releaseAll(repo, reservationId, request.product_ids.map((id) => id.toLowerCase()));
    for (const line of lines) compaction.touched(line.product_id);
    ctx.body = { reservation_id: reservationId, lines };
  });

  return router;
}
