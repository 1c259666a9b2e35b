import type { Migration } from '@product-store/kit';

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'cart lines',
    statements: ['CREATE TABLE IF NOT EXISTS cart_items (user_id uuid, product_id uuid, quantity int, added_at timestamp, PRIMARY KEY (user_id, product_id))'],
  },
];
