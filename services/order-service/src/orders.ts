/** The order domain: shapes, the request fingerprint of an Idempotency-Key, and pricing of reserved lines. No I/O here. */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { fields, pageSchema, timestamp } from '@product-store/kit';

export type OrderStatus = 'confirmed' | 'cancelled';

export interface OrderItem {
  product_id: string;
  name: string;
  price_cents: number;
  quantity: number;
  line_total_cents: number;
}

export interface Order {
  id: string;
  status: OrderStatus;
  items: OrderItem[];
  total_cents: number;
  currency: string;
  created_at: string;
}

export interface CartLine {
  product_id: string;
  quantity: number;
  /** cart-service's version of the line when the checkout read it (opaque); absent in older checkouts. */
  version?: string;
}

/** A line as `backend` reserved it, with the catalog name and price at that moment. */
export interface ReservedLine extends CartLine {
  name: string;
  price_cents: number;
  currency: string;
}

/** POST /orders takes no fields: `{}` or no body. */
export const placeOrderBodySchema = z.strictObject({}).meta({ id: 'PlaceOrder', description: 'No fields: send `{}` or no body.' });
export const placeOrderSchema = placeOrderBodySchema.optional();

export const orderSchema = z
  .strictObject({
    id: z.uuid(),
    status: z.enum(['confirmed', 'cancelled']),
    items: z.array(
      z.strictObject({ product_id: z.uuid(), name: z.string(), price_cents: z.number().int().min(0), quantity: z.number().int().min(1), line_total_cents: z.number().int().min(0) }),
    ),
    total_cents: z.number().int().min(0),
    currency: z.string().regex(/^[A-Z]{3}$/),
    created_at: timestamp(),
  })
  .meta({ id: 'Order' });
export const orderPageSchema = pageSchema(orderSchema, 'OrderPage');

/** Deeper bodies are never valid here; their fingerprint stops at this depth instead of recursing on. */
const MAX_FINGERPRINT_DEPTH = 32;

/** JSON with object keys sorted, so equal bodies have equal text. */
function canonical(value: unknown, depth = 0): string {
  if (depth > MAX_FINGERPRINT_DEPTH) return '"<too deep>"';
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v, depth + 1)).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k], depth + 1)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What makes two requests under one key "the same": the body, an absent body counting as `{}`. */
export function requestFingerprint(body: unknown): string {
  return createHash('sha256').update(canonical(body ?? {})).digest('hex');
}

export const listQuerySchema = z.strictObject({ limit: fields.limit(), cursor: fields.cursor() });
export const cursorSchema = z.strictObject({ before: fields.uuid() });

/** The product ids of lines priced in another currency than the first line's (none: one currency). */
export function otherCurrencyLines(lines: ReservedLine[]): string[] {
  return lines.filter((l) => l.currency !== lines[0]!.currency).map((l) => l.product_id);
}

/**
 * The order's items and total. An order has one currency: backend refuses to reserve a cart whose
 * products are priced in two (409 CURRENCY_MISMATCH), so minor units of two currencies are never added
 * under one label; lines in two currencies here are a broken answer, and throw.
 */
export function priceLines(lines: ReservedLine[]): { items: OrderItem[]; total_cents: number; currency: string } {
  if (otherCurrencyLines(lines).length > 0) throw new Error('reserved lines are priced in more than one currency');
  const items = lines.map((l) => ({ product_id: l.product_id, name: l.name, price_cents: l.price_cents, quantity: l.quantity, line_total_cents: l.price_cents * l.quantity }));
  return { items, total_cents: items.reduce((sum, i) => sum + i.line_total_cents, 0), currency: lines[0]?.currency ?? 'USD' };
}
