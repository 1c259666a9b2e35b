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
  {
    version: 2,
    name: 'stock ledger compaction',
    statements: [
      // When a ledger row was released: a row settles (and may be deleted) a while after its release,
      // not after its reservation, and compaction knows whether the hold may have been moved meanwhile.
      'ALTER TABLE product_stock ADD IF NOT EXISTS released_at timestamp',
      // Open reservations older than the compaction horizon, moved out of the product's ledger
      // partition (see ProductRepository.compactLedger), bucketed by the month of their time-based id.
      // Read by key only, when such a reservation is released. Every write is conditional and a row is
      // never deleted: once `settled` (released, and its ledger row gone) it refuses a late copy.
      `CREATE TABLE IF NOT EXISTS stock_holds (
        product_id uuid, month int, reservation_id uuid, quantity int, settled boolean,
        PRIMARY KEY ((product_id, month), reservation_id))`,
      // Per product: which process compacts its ledger now (a lease, `owner` written with a TTL), and
      // where the sweeps are, saved before each read so a failing or interrupted one resumes.
      `CREATE TABLE IF NOT EXISTS ledger_compaction (
        product_id uuid PRIMARY KEY, owner uuid, origin timestamp, swept_to timestamp, full_at timestamp, position timestamp)`,
    ],
  },
];
