/** The cart's domain: input shapes, limits, and the priced view of a cart. No I/O here. */
import { z } from 'zod';
import { fields } from '@product-store/kit';


export const MAX_QUANTITY = 99;
export const DEFAULT_CURRENCY = 'USD';

const quantityMessage = `must be an integer from 1 to ${MAX_QUANTITY}`;
const quantity = z.number({ message: quantityMessage }).int(quantityMessage).min(1, quantityMessage).max(MAX_QUANTITY, quantityMessage);

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

/**
 * The cart's currency: the one most of its lines are priced in, ties going to the first line's (the
 * lines come in the cart's own order). Lines are only ever added in the cart's currency; a cart holds
 * two only after an admin changed a product's currency, and backend applies the same rule when it
 * refuses the checkout of such a cart (409 CURRENCY_MISMATCH).
 */
export function cartCurrency(lines: CartLine[], catalog: Map<string, CatalogProduct>): string | undefined {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const currency = catalog.get(line.product_id)?.currency;
    if (currency) counts.set(currency, (counts.get(currency) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [currency, n] of counts) if (best === undefined || n > counts.get(best)!) best = currency;
  return best;
}

/**
 * Prices the lines with current catalog data; lines whose product left the catalog are dropped.
 * `total_cents` adds only the lines priced in the cart's currency: minor units of two currencies are
 * never added under one label. A line in another currency is still listed, so the user sees it and
 * can remove it; checkout refuses the cart until then.
 */
export function priceCart(lines: CartLine[], catalog: Map<string, CatalogProduct>): Cart {
  const currency = cartCurrency(lines, catalog) ?? DEFAULT_CURRENCY;
  const priced = lines.flatMap((line) => {
    const product = catalog.get(line.product_id);
    if (!product) return [];
    return [{ currency: product.currency, item: { product_id: line.product_id, name: product.name, price_cents: product.price_cents, quantity: line.quantity, line_total_cents: product.price_cents * line.quantity } }];
  });
  const total = priced.filter((p) => p.currency === currency).reduce((sum, p) => sum + p.item.line_total_cents, 0);
  return { items: priced.map((p) => p.item), total_cents: total, currency };
}
