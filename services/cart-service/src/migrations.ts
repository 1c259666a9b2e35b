import type { Migration } from '@product-store/kit';

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'cart lines',
    statements: ['CREATE TABLE IF NOT EXISTS cart_items (user_id uuid, product_id uuid, quantity int, added_at timestamp, PRIMARY KEY (user_id, product_id))'],
  },
  {
    version: 2,
    name: 'cart line versions',
    // `version` changes on every write to a line and `added_at` only when the line is created, so
    // checkout's cleanup can tell the line it ordered from a line changed or added after it read the
    // cart; `taken_by` holds the orders whose quantity was taken off a line that stayed (idempotence).
    statements: [
      'ALTER TABLE cart_items ADD IF NOT EXISTS version timeuuid',
      'ALTER TABLE cart_items ADD IF NOT EXISTS taken_by set<uuid>',
    ],
  },
];
