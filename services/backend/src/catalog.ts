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

const text = (min: number, max: number) => z.string().trim().min(min, `Must be ${min} to ${max} characters.`).max(max, `Must be ${min} to ${max} characters.`);
const count = (max: number) => z.number({ message: 'Must be an integer.' }).int('Must be an integer.').min(0, 'Must not be negative.').max(max, `Must be at most ${max}.`);

const productFields = {
  name: text(1, 200),
  description: z.string().max(2000, 'Must be at most 2000 characters.'),
  price_cents: count(MAX_PRICE_CENTS),
  currency: z.string().regex(/^[A-Z]{3}$/, 'Must be an ISO 4217 code such as USD.'),
  category: text(1, 50),
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
  })
  .refine((patch) => Object.values(patch).some((v) => v !== undefined), { message: 'Give at least one field to change.' })
  .meta({ id: 'PatchProduct', description: 'Any non-empty subset of the create fields.' });
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
  const { stock: _stock, ...rest } = patch;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
}
