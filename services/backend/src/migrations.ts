import type { Migration } from '@product-store/kit';

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'catalog and stock ledger',
    statements: [
      `CREATE TABLE IF NOT EXISTS products (
        id uuid PRIMARY KEY, name text, description text, price_cents int, currency text, category text,
        created_at timestamp, updated_at timestamp)`,
      `CREATE CUSTOM INDEX IF NOT EXISTS products_category_idx ON products (category) USING 'StorageAttachedIndex'`,
      // Stock and its reservation ledger share a partition, so one conditional batch changes the stock
      // and records which reservation changed it: a reservation applies at most once per product.
      `CREATE TABLE IF NOT EXISTS product_stock (
        product_id uuid, stock int static, reservation_id uuid, quantity int, released boolean, reserved_at timestamp,
        PRIMARY KEY (product_id, reservation_id))`,
    ],
  },
];
