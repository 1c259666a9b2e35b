import type { Migration } from '@product-store/kit';

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'orders, checkouts, pending work and idempotency keys',
    statements: [
      // A user's orders in one partition, newest first (ids are time-based UUIDs).
      `CREATE TABLE IF NOT EXISTS orders (
        user_id uuid, id timeuuid, status text, items text, total_cents bigint, currency text,
        created_at timestamp, updated_at timestamp,
        PRIMARY KEY (user_id, id)) WITH CLUSTERING ORDER BY (id DESC)`,
      // The checkout's own state; a conditional update of `state` decides between the request and recovery.
      `CREATE TABLE IF NOT EXISTS checkouts (
        order_id timeuuid PRIMARY KEY, user_id uuid, idempotency_key text, state text, lines text, items text,
        total_cents bigint, currency text, created_at timestamp, updated_at timestamp)`,
      // Work not yet finished (a checkout under way, a cancellation's stock release): what recovery scans.
      // One partition per hour of creation, so finished work (deleted rows) never piles up in the
      // partitions recovery reads; tombstones go after 3 h (a row lives seconds unless recovery is down).
      `CREATE TABLE IF NOT EXISTS pending_work (
        bucket int, order_id timeuuid, kind text, user_id uuid, created_at timestamp,
        PRIMARY KEY (bucket, order_id, kind)) WITH gc_grace_seconds = 10800`,
      `CREATE TABLE IF NOT EXISTS idempotency_keys (
        user_id uuid, key text, request_hash text, order_id timeuuid, response_status int, response_body text, created_at timestamp,
        PRIMARY KEY ((user_id, key))) WITH default_time_to_live = 172800`,
    ],
  },
  {
    version: 2,
    name: 'pending work in per-writer slots with a slot list and cursors, so recovery reads no finished work',
    // pending_work stays: recovery drains it from its own cursor (work of replicas of the previous release).
    // See work-queue.ts. Rows expire after 31 days, past the longest recovery window (720 h); tombstones
    // go after 3 h, as long as Cassandra's default hint window, since no pass reads them again.
    statements: [
      // One small partition per writer process and 5-second slot; its rows are deleted within
      // milliseconds, in the same compaction window as their writes (TWCS: whole hours compact together
      // and, once expired, are dropped without being read).
      `CREATE TABLE IF NOT EXISTS work_items (
        writer timeuuid, slot timestamp, order_id timeuuid, kind text, user_id uuid, created_at timestamp,
        PRIMARY KEY ((writer, slot), order_id, kind))
        WITH gc_grace_seconds = 10800 AND default_time_to_live = 2678400
        AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': 1}`,
      // The slots, by hour: written once when a writer opens a slot, updated once when it is drained,
      // never deleted. Recovery reads it from its cursor.
      `CREATE TABLE IF NOT EXISTS work_slots (
        hour int, slot timestamp, writer timeuuid, drained boolean,
        PRIMARY KEY (hour, slot, writer))
        WITH gc_grace_seconds = 10800 AND default_time_to_live = 2678400`,
      // How far recovery has read: 'slots' (every slot before it is drained) and 'legacy' (pending_work's hours).
      `CREATE TABLE IF NOT EXISTS work_cursors (name text PRIMARY KEY, position timestamp)`,
    ],
  },
  {
    version: 3,
    name: 'checkouts and legacy pending work expire; the Idempotency-Key of the cancel that cancelled an order',
    statements: [
      // A checkout is needed while its work item can be recovered: work items expire after 31 days,
      // past the longest recovery window (720 h), and recovery never looks at older work; replays read
      // idempotency_keys (48 h), never a checkout. So checkouts expire with their work, 31 days after
      // their last write (rows written before this migration keep no TTL).
      `ALTER TABLE checkouts WITH default_time_to_live = 2678400`,
      // Written only by replicas of a release before migration 2 (during a rolling upgrade).
      `ALTER TABLE pending_work WITH default_time_to_live = 2678400`,
      // A retried cancel that carries the same key answers 200 again (see Cancellation.cancel).
      `ALTER TABLE orders ADD IF NOT EXISTS cancel_key text`,
    ],
  },
  {
    version: 4,
    name: 'the recovery lease: one replica at a time runs recovery',
    // See recovery-lease.ts: one row, renewed with a TTL by its holder.
    statements: [`CREATE TABLE IF NOT EXISTS recovery_leases (name text PRIMARY KEY, owner text)`],
  },
];
