/** The catalog's domain: input shapes, limits and the public form of a product. No I/O here. */
import { z } from 'zod';
import { fields, pageSchema, timestamp } from '@product-store/kit';

export const MAX_PRICE_CENTS = 1_000_000_000;
export const MAX_STOCK = 1_000_000_000;
export const MAX_RESERVATION_QUANTITY = 1000;
export const MAX_RESERVATION_LINES = 100;

export interface Product {
  id: string;
  name: string;
  description: string;
  price_cents: number;
  currency: string;
  category: string;
  stock: number;
  created_at: string;
  updated_at: string;
}

export type CatalogEntry = Omit<Product, 'stock'>;

const count = (max: number) => z.number({ message: `must be an integer from 0 to ${max}` }).int(`must be an integer from 0 to ${max}`).min(0, `must be an integer from 0 to ${max}`).max(max, `must be an integer from 0 to ${max}`);

/** Names and categories: one line, trimmed, not blank; descriptions may have several lines. No control or bidi characters. */
const productFields = {
  name: fields.text({ min: 1, max: 200, trim: true }),
  description: fields.text({ min: 0, max: 2000, multiline: true }),
  price_cents: count(MAX_PRICE_CENTS),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
  category: fields.text({ min: 1, max: 50, trim: true }),
  stock: count(MAX_STOCK),
};

export const productSchema = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    price_cents: z.number().int().min(0),
    currency: z.string().regex(/^[A-Z]{3}$/),
    category: z.string(),
    stock: z.number().int().min(0),
    created_at: timestamp(),
    updated_at: timestamp(),
  })
  .meta({ id: 'Product' });
export const productPageSchema = pageSchema(productSchema, 'ProductPage');

export const createProductSchema = z.strictObject({
  name: productFields.name,
  description: productFields.description.optional().default(''),
  price_cents: productFields.price_cents,
  currency: productFields.currency.optional().default('USD'),
  category: productFields.category,
  stock: productFields.stock,
}).meta({ id: 'CreateProduct' });
export type CreateProduct = z.infer<typeof createProductSchema>;

export const patchProductSchema = z
  .strictObject({
    name: productFields.name.optional(),
    description: productFields.description.optional(),
    price_cents: productFields.price_cents.optional(),
    currency: productFields.currency.optional(),
    category: productFields.category.optional(),
    stock: productFields.stock.optional(),
    // Relative: added to (or, negative, taken from) the stock as it is when the change applies, so
    // reservations made since the admin looked are kept. `stock` sets an absolute value.
    stock_delta: z
      .number({ message: `must be an integer from -${MAX_STOCK} to ${MAX_STOCK}` })
      .int(`must be an integer from -${MAX_STOCK} to ${MAX_STOCK}`)
      .min(-MAX_STOCK, `must be an integer from -${MAX_STOCK} to ${MAX_STOCK}`)
      .max(MAX_STOCK, `must be an integer from -${MAX_STOCK} to ${MAX_STOCK}`)
      .optional(),
    // With `stock`: the stock the admin saw. The new value applies only if the stock is still that
    // (409 STOCK_CONFLICT with the current stock otherwise), so no reservation made since is overwritten.
    expected_stock: productFields.stock.optional(),
  })
  .refine((patch) => Object.values(patch).some((v) => v !== undefined), { message: 'give at least one field to change' })
  .refine((patch) => patch.expected_stock === undefined || patch.stock !== undefined, { message: 'expected_stock goes with stock', path: ['expected_stock'] })
  .refine((patch) => patch.stock === undefined || patch.stock_delta === undefined, { message: 'give either stock or stock_delta, not both', path: ['stock_delta'] })
  .meta({
    id: 'PatchProduct',
    // What the two refinements above check, for the document (zod cannot export a refinement).
    minProperties: 1,
    not: { required: ['stock', 'stock_delta'] },
    dependentRequired: { expected_stock: ['stock'] },
    description:
      'Any non-empty subset of the create fields, or `stock_delta` instead of `stock`: a restock that adds to the stock as it is then (reservations made meanwhile are kept); 409 STOCK_CONFLICT if it would take the stock below 0 or above the maximum. `stock` with `expected_stock` (the stock the admin saw) applies only if the stock is still that value, else 409 STOCK_CONFLICT with the current `stock`; `stock` alone overwrites whatever reservations did meanwhile.',
  });
export type PatchProduct = z.infer<typeof patchProductSchema>;

export const listQuerySchema = z.strictObject({
  limit: fields.limit(),
  cursor: fields.cursor(),
  category: productFields.category.optional(),
});

export const cursorSchema = z.strictObject({ after: fields.uuid() });

const reservationLine = z.strictObject({
  product_id: fields.uuid(),
  quantity: z.number().int().min(1).max(MAX_RESERVATION_QUANTITY),
});

export const reserveSchema = z.strictObject({
  reservation_id: fields.uuid(),
  lines: z
    .array(reservationLine)
    .min(1)
    .max(MAX_RESERVATION_LINES)
    .refine((lines) => new Set(lines.map((l) => l.product_id.toLowerCase())).size === lines.length, { message: 'Each product may appear once.' }),
});
export type ReserveRequest = z.infer<typeof reserveSchema>;

export const releaseSchema = z.strictObject({
  product_ids: z.array(fields.uuid()).min(1).max(MAX_RESERVATION_LINES),
});

export const lookupSchema = z.strictObject({
  product_ids: z.array(fields.uuid()).min(1).max(MAX_RESERVATION_LINES),
});

export function toProduct(entry: CatalogEntry, stock: number | null | undefined): Product {
  const { id, name, description, price_cents, currency, category, created_at, updated_at } = entry;
  return { id, name, description, price_cents, currency, category, stock: stock ?? 0, created_at, updated_at };
}

/** Fields of a patch that belong to the catalog row (stock lives in the ledger partition). */
export function catalogChanges(patch: PatchProduct): Partial<Omit<CatalogEntry, 'id' | 'created_at' | 'updated_at'>> {
  const { stock: _stock, stock_delta: _delta, expected_stock: _expected, ...rest } = patch;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
}
