/** The cart's domain: input shapes, limits, and the priced view of a cart. No I/O here. */
import { z } from 'zod';
import { fields } from '@product-store/kit';


export const MAX_QUANTITY = 99;
export const DEFAULT_CURRENCY = 'USD';

const quantity = z
  .number({ message: `Must be an integer from 1 to ${MAX_QUANTITY}.` })
  .int(`Must be an integer from 1 to ${MAX_QUANTITY}.`)
  .min(1, `Must be an integer from 1 to ${MAX_QUANTITY}.`)
  .max(MAX_QUANTITY, `Must be an integer from 1 to ${MAX_QUANTITY}.`);

export const addItemSchema = z.strictObject({ product_id: fields.uuid(), quantity }).meta({ id: 'AddCartItem' });
export const setQuantitySchema = z.strictObject({ quantity }).meta({ id: 'SetQuantity' });

export const cartSchema = z
  .strictObject({
    items: z.array(
      z.strictObject({ product_id: z.uuid(), name: z.string(), price_cents: z.number().int().min(0), quantity: z.number().int().min(1).max(MAX_QUANTITY), line_total_cents: z.number().int().min(0) }),
    ),
    total_cents: z.number().int().min(0),
    currency: z.string().regex(/^[A-Z]{3}$/),
  })
  .meta({ id: 'Cart' });

export interface CartLine {
  product_id: string;
  quantity: number;
}

/** What the catalog says of a product (backend's Product, the fields the cart needs). */
export interface CatalogProduct {
  id: string;
  name: string;
  price_cents: number;
  currency: string;
}

export interface Cart {
  items: Array<{ product_id: string; name: string; price_cents: number; quantity: number; line_total_cents: number }>;
  total_cents: number;
  currency: string;
}

/** Prices the lines with current catalog data; lines whose product left the catalog are dropped. */
export function priceCart(lines: CartLine[], catalog: Map<string, CatalogProduct>): Cart {
  const items = lines.flatMap((line) => {
    const product = catalog.get(line.product_id);
    if (!product) return [];
    return [{ product_id: line.product_id, name: product.name, price_cents: product.price_cents, quantity: line.quantity, line_total_cents: product.price_cents * line.quantity }];
  });
  const currency = lines.map((l) => catalog.get(l.product_id)?.currency).find(Boolean) ?? DEFAULT_CURRENCY;
  return { items, total_cents: items.reduce((sum, i) => sum + i.line_total_cents, 0), currency };
}
