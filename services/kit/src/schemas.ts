/** Response shapes shared by every service, as zod schemas: the OpenAPI document is built from them. */
import { z } from 'zod';

export const timestamp = () => z.iso.datetime({ message: 'Must be an ISO 8601 UTC timestamp.' });

export const problemSchema = z
  .strictObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().regex(/^[A-Z][A-Z0-9_]*$/),
    errors: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
    product_ids: z.array(z.uuid()).optional(),
    stock: z.number().int().optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details; `errors` lists validation failures (`path` the field, `message` what it must be, naming the field), `product_ids` the products an error concerns, `stock` the current stock (STOCK_CONFLICT).' });

export function pageSchema<T extends z.ZodType>(item: T, id: string) {
  return z.strictObject({ items: z.array(item), next_cursor: z.string().nullable() }).meta({ id });
}
