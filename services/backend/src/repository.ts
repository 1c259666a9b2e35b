/**
 * CQL for the catalog (`products`) and the stock ledger (`product_stock`). Every write to stock is a
 * conditional batch on the product's partition: the new stock and the ledger line change together or
 * not at all, so stock never goes below zero and a reservation never applies twice.
 */
import { conditional, consistency, idempotent, problems, types, type Client, type SettingValues } from '@product-store/kit';
import type { CatalogEntry } from './catalog';
import type { settings } from './settings';

const Uuid = types.Uuid;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `expired`: a time-based id older than `ledgerSettleMs`, refused before the ledger is looked at (its
 * row may have been compacted away). Unlike `released_before` it says nothing of the reservation: it
 * may be open, held by a confirmed order, so the caller gives back only what it took itself.
 */
export type ReserveOutcome = 'reserved' | 'already_reserved' | 'released_before' | 'short' | 'expired';
export type ReleaseOutcome = 'released' | 'already_released' | 'unknown';
export type AdjustOutcome = { ok: true; stock: number } | { ok: false; stock: number };

export interface StockLimits {
  /**
   * A stock change (its wait in the queue included) that has not finished by then is abandoned with a
   * 503: keep it below the callers' timeout (SERVICE_CALL_TIMEOUT_MS), so no work goes on for a
   * caller that has given up. @default 2500 ms
   */
  operationDeadlineMs: number;
  /** Stock changes of one product waiting in this process; more are refused at once with a 503. @default 500 */
  maxQueuedPerProduct: number;
  /**
   * A released ledger row older than this is settled: no reservation of its id can still arrive
   * (a stock change gives up after `operationDeadlineMs`, and a reservation whose time-based id is
   * older than this is refused), so compaction may delete it. @default 1 hour
   */
  ledgerSettleMs: number;
  /**
   * How often compaction reads a product's whole ledger (per process). In between, a sweep starts a
   * settle period before where the previous one's horizon was: the rows before it are gone already,
   * only their tombstones are there, so they are not read again and again. @default 24 hours
   */
  ledgerFullSweepMs: number;
  /** Pause between two write batches of a compaction pass, so it never floods a hot partition. @default 100 ms */
  compactionPauseMs: number;
}

export const defaultStockLimits: StockLimits = {
  operationDeadlineMs: 2500,
  maxQueuedPerProduct: 500,
  ledgerSettleMs: 3_600_000,
  ledgerFullSweepMs: 86_400_000,
  compactionPauseMs: 100,
};

/**
 * Where compaction is in a product's ledger, shared by the replicas (table `ledger_compaction`) and
 * saved before each read: a pass that fails or dies is resumed where it was, never started over.
 */
interface SweepState {
  /** Where full sweeps start: a lookback before the first time-based row compaction ever saw. */
  origin: number;
  /** The horizon of the last sweep that read to its end. */
  sweptTo?: number;
  /** When the last full sweep started. */
  fullAt?: number;
  /** The sweep in progress: the start of its next window; undefined when none is. */
  position?: number;
}

/** Test seams: the lease owner (one per process by default) and a pause between a pass's read and its writes. */
export interface RepositoryOptions {
  owner?: types.Uuid;
  afterRead?: (productId: string) => Promise<void>;
}

/** The ledger rows one compaction pass looks at, at most (the rest waits for the next pass). */
const COMPACTION_SCAN_LIMIT = 20_000;
/** Time windows one pass reads, at most (empty ones grow, see WINDOW_MAX_MS). */
const COMPACTION_WINDOWS = 500;
const COMPACTION_PAGE = 1000;
const COMPACTION_BATCH = 100;
/** Open reservations moved out of the ledger per conditional batch. */
const MOVE_BATCH = 20;
/**
 * A sweep reads the ledger one range of id times at a time, never from the partition's start: the
 * tombstones a read meets are those of its window only. A window that held nothing is followed by
 * one twice as long (up to WINDOW_MAX_MS); one Cassandra refuses (too many tombstones) is halved.
 */
const WINDOW_MS = 3_600_000;
const WINDOW_MAX_MS = 6 * 3_600_000;
const WINDOW_MIN_MS = 60_000;
/** Full sweeps start this long before the first time-based row (release markers of older ids). */
const ORIGIN_LOOKBACK_MS = 31 * 86_400_000;
/** A compaction lease lasts at most this long (a pass that dies holding it blocks no one longer). */
const LEASE_SECONDS = 600;
/** This process, as the owner of compaction leases. */
const PROCESS_OWNER = Uuid.random();
/**
 * The ledger's base row: the nil id sorts before every reservation id, so reads of the static stock
 * stop at this live row and never scan the tombstones compaction leaves (see compactLedger). It is
 * marked released: a reservation of the nil id is refused, a release of it changes nothing.
 */
const BASE_ROW = Uuid.fromString('00000000-0000-0000-0000-000000000000');

export const STOCK_DEADLINE_VARIABLE = 'STOCK_OPERATION_DEADLINE_MS';

/** The limits with backend's own setting (settings.ts): how long one stock change may take (below the callers' timeout). */
export function stockLimits(own: Pick<SettingValues<typeof settings>, 'STOCK_OPERATION_DEADLINE_MS'>): StockLimits {
  return { ...defaultStockLimits, operationDeadlineMs: own.STOCK_OPERATION_DEADLINE_MS };
}

/**
 * A reservation is refused once its id is `ledgerSettleMs` old, and compaction deletes and moves rows
 * only at twice that age (`compactionHorizon`): the margin covers a reservation that passed its age
 * check and is written up to `operationDeadlineMs` later, and clocks that differ between hosts. So the
 * deadline must stay well inside the margin (checked when the routes are built; its declaration
 * (settings.ts) already keeps it at most 60 s, against an hour).
 */
export function checkStockLimits(limits: StockLimits): void {
  if (!(limits.operationDeadlineMs > 0 && limits.operationDeadlineMs * 4 <= limits.ledgerSettleMs)) {
    throw new Error(`${STOCK_DEADLINE_VARIABLE} (${limits.operationDeadlineMs}) must be positive and at most a quarter of the ledger settle time (${limits.ledgerSettleMs} ms)`);
  }
}

/** Rows leave the ledger once older than this: twice the settle time (see checkStockLimits). */
function compactionHorizon(limits: StockLimits, now: number): number {
  return now - 2 * limits.ledgerSettleMs;
}

const stockBusy = () => problems.unavailable('This product is in very high demand; try again shortly.', 'STOCK_BUSY');

/** A catalog row as the API shows it (the bench's driver-only side reads through it too). */
export function rowToEntry(row: types.Row): CatalogEntry {
  return {
    id: row.get('id').toString(),
    name: row.get('name'),
    description: row.get('description') ?? '',
    price_cents: row.get('price_cents'),
    currency: row.get('currency'),
    category: row.get('category'),
    created_at: (row.get('created_at') as Date).toISOString(),
    updated_at: (row.get('updated_at') as Date).toISOString(),
  };
}

export const catalogColumns = 'id, name, description, price_cents, currency, category, created_at, updated_at';

/** The month (UTC, counted from year 0) of a time, the bucket of `stock_holds`. */
function monthOf(time: number): number {
  const d = new Date(time);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** When a time-based (version 1) UUID was made; undefined for other UUIDs. */
function idTime(id: types.Uuid): number | undefined {
  const text = id.toString();
  return text[14] === '1' ? types.TimeUuid.fromString(text).getDate().getTime() : undefined;
}

/** A write timeout on a conditional statement leaves its outcome unknown; the caller must read it back. */
function isUnknownOutcome(err: unknown): boolean {
  const e = err as { name?: string; code?: number };
  return (e?.name === 'ResponseError' && (e.code === 0x1100 || e.code === 0x1200)) || e?.name === 'OperationTimedOutError';
}

/**
 * Serializes stock changes of one product within this process (the conditional updates stay the
 * guard across replicas), with a bounded line: past `limit` waiting, a change is refused at once.
 */
class KeyedQueue {
  private tails = new Map<string, Promise<unknown>>();
  private waiting = new Map<string, number>();
  constructor(private readonly limit: number) {}

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const queued = this.waiting.get(key) ?? 0;
    if (queued >= this.limit) return Promise.reject(stockBusy());
    this.waiting.set(key, queued + 1);
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      const left = (this.waiting.get(key) ?? 1) - 1;
      if (left > 0) this.waiting.set(key, left);
      else this.waiting.delete(key);
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/**
 * The last stock this process saw per product, from its own conditional writes or what a refused one
 * returned. A stock change starts from it instead of a SERIAL read (a Paxos round of its own): the
 * conditional write is the guard, and when another replica changed the stock in between, the refused
 * write returns the current value and the change is tried again with it. Bounded: oldest entries go.
 */
class StockCache {
  private readonly values = new Map<string, number | null>();
  constructor(private readonly capacity = 10_000) {}

  get(productId: string): number | null | undefined {
    return this.values.get(productId);
  }

  set(productId: string, stock: number | null): void {
    this.values.delete(productId);
    this.values.set(productId, stock);
    if (this.values.size > this.capacity) this.values.delete(this.values.keys().next().value!);
  }

  forget(productId: string): void {
    this.values.delete(productId);
  }
}

/**
 * What an attempt at a stock change is given: the stock it expects, and whether that value is
 * authoritative (read at SERIAL, or returned by a conditional write) rather than remembered or read at
 * quorum. Decisions other than "try the write" (e.g. "not enough stock") need an authoritative value.
 */
interface Expected {
  current: number | null;
  authoritative: boolean;
}

type Attempt<T> = (expected: Expected) => Promise<{ done: true; value: T } | { done: false; current: number | null } | { done: false; needAuthoritative: true }>;

export class ProductRepository {
  private readonly queue: KeyedQueue;
  private readonly stockCache = new StockCache();
  private readonly owner: types.Uuid;

  constructor(
    private readonly db: Client,
    private readonly limits: StockLimits = defaultStockLimits,
    private readonly options: RepositoryOptions = {},
  ) {
    this.queue = new KeyedQueue(limits.maxQueuedPerProduct);
    this.owner = options.owner ?? PROCESS_OWNER;
  }

  async get(id: string): Promise<CatalogEntry | undefined> {
    const rs = await this.db.execute(`SELECT ${catalogColumns} FROM products WHERE id = ?`, [Uuid.fromString(id)], idempotent);
    const row = rs.first();
    return row ? rowToEntry(row) : undefined;
  }

  /** One page in token order, after the product `after` (exclusive). */
  async page(limit: number, after?: string, category?: string): Promise<CatalogEntry[]> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (category !== undefined) {
      where.push('category = ?');
      params.push(category);
    }
    if (after !== undefined) {
      where.push('token(id) > token(?)');
      params.push(Uuid.fromString(after));
    }
    params.push(limit);
    const cql = `SELECT ${catalogColumns} FROM products${where.length ? ` WHERE ${where.join(' AND ')}` : ''} LIMIT ?`;
    const rs = await this.db.execute(cql, params, idempotent);
    return rs.rows.map(rowToEntry);
  }

  async stockOf(ids: string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rs = await this.db.execute(
      'SELECT DISTINCT product_id, stock FROM product_stock WHERE product_id IN ?',
      [ids.map((id) => Uuid.fromString(id))],
      idempotent,
    );
    return new Map(rs.rows.map((r) => [r.get('product_id').toString(), r.get('stock') as number]));
  }

  async create(entry: CatalogEntry, stock: number): Promise<void> {
    const id = Uuid.fromString(entry.id);
    await this.db.execute('INSERT INTO product_stock (product_id, stock) VALUES (?, ?) IF NOT EXISTS', [id, stock], conditional);
    const rs = await this.db.execute(
      `INSERT INTO products (${catalogColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`,
      [id, entry.name, entry.description, entry.price_cents, entry.currency, entry.category, new Date(entry.created_at), new Date(entry.updated_at)],
      conditional,
    );
    if (!rs.wasApplied()) throw new Error(`product ${entry.id} already exists`);
  }

  /** Applies catalog changes to an existing product; false when it does not exist. */
  async update(id: string, changes: Record<string, unknown>, updatedAt: Date): Promise<boolean> {
    const columns = Object.keys(changes);
    const assignments = [...columns.map((c) => `${c} = ?`), 'updated_at = ?'].join(', ');
    const rs = await this.db.execute(
      `UPDATE products SET ${assignments} WHERE id = ? IF EXISTS`,
      [...columns.map((c) => changes[c]), updatedAt, Uuid.fromString(id)],
      conditional,
    );
    return rs.wasApplied();
  }

  /** Removes the product from the catalog; its stock ledger stays so late releases remain harmless. */
  async delete(id: string): Promise<boolean> {
    const rs = await this.db.execute('DELETE FROM products WHERE id = ? IF EXISTS', [Uuid.fromString(id)], conditional);
    return rs.wasApplied();
  }

  /**
   * Adds `delta` (negative: takes) to the stock as it is when the conditional write applies: a
   * restock that keeps every reservation made since the admin read the stock. Refused (with the
   * current stock) when the result would be below 0 or above `max`; decided on an authoritative value.
   */
  adjustStock(id: string, delta: number, max: number): Promise<AdjustOutcome> {
    const pid = Uuid.fromString(id);
    const deadline = Date.now() + this.limits.operationDeadlineMs;
    return this.queue.run(id, () =>
      this.compareAndSet<AdjustOutcome>(id, deadline, async ({ current, authoritative }) => {
        const next = (current ?? 0) + delta;
        if (next < 0 || next > max) {
          if (!authoritative) return { done: false, needAuthoritative: true };
          return { done: true, value: { ok: false, stock: current ?? 0 } };
        }
        const rs = await this.db.execute('UPDATE product_stock SET stock = ? WHERE product_id = ? IF stock = ?', [next, pid, current], conditional);
        if (!rs.wasApplied()) return { done: false, current: rs.first().get('stock') as number | null };
        this.stockCache.set(id, next);
        return { done: true, value: { ok: true, stock: next } };
      }),
    );
  }

  /**
   * Sets the stock to an absolute value with a compare-and-set loop: atomic, but by its nature it
   * replaces whatever reservations did since the admin looked; a restock is `adjustStock`.
   */
  setStock(id: string, stock: number): Promise<void>;
  /** With `expected`: only if the stock is still `expected` (what the admin saw); refused with the current stock otherwise. */
  setStock(id: string, stock: number, expected: number): Promise<AdjustOutcome>;
  setStock(id: string, stock: number, expected?: number): Promise<AdjustOutcome | void> {
    const deadline = Date.now() + this.limits.operationDeadlineMs;
    return this.queue.run(id, () =>
      this.compareAndSet<AdjustOutcome | void>(id, deadline, async ({ current, authoritative }) => {
        if (expected !== undefined && (current ?? 0) !== expected) {
          if (!authoritative) return { done: false, needAuthoritative: true };
          return { done: true, value: { ok: false, stock: current ?? 0 } };
        }
        const rs = await this.db.execute(
          'UPDATE product_stock SET stock = ? WHERE product_id = ? IF stock = ?',
          [stock, Uuid.fromString(id), current],
          conditional,
        );
        if (!rs.wasApplied()) return { done: false as const, current: rs.first().get('stock') as number | null };
        this.stockCache.set(id, stock);
        return { done: true as const, value: expected === undefined ? undefined : { ok: true as const, stock } };
      }),
    );
  }

  /** Takes `quantity` of the product for the reservation, exactly once. */
  reserve(productId: string, reservationId: string, quantity: number): Promise<ReserveOutcome> {
    const pid = Uuid.fromString(productId);
    const rid = Uuid.fromString(reservationId);
    const deadline = Date.now() + this.limits.operationDeadlineMs;
    if (this.expiredId(rid)) return Promise.resolve('expired');
    return this.queue.run(productId, () =>
      this.compareAndSet<ReserveOutcome>(
        productId,
        deadline,
        async ({ current, authoritative }) => {
          if (current === null || current < quantity) {
            // Short, or no stock row: only a SERIAL read may say so.
            if (!authoritative) return { done: false, needAuthoritative: true };
            const line = await this.ledgerLine(pid, rid);
            if (line) return { done: true, value: line.released ? 'released_before' : 'already_reserved' };
            if (current !== null && current < quantity) return { done: true, value: 'short' };
          }
          if (current === null) return { done: true, value: 'short' };
          const rs = await this.db.batch(
            [
              { query: 'UPDATE product_stock SET stock = ? WHERE product_id = ? IF stock = ?', params: [current - quantity, pid, current] },
              {
                query: 'INSERT INTO product_stock (product_id, reservation_id, quantity, released, reserved_at) VALUES (?, ?, ?, false, ?) IF NOT EXISTS',
                params: [pid, rid, quantity, new Date()],
              },
            ],
            conditional,
          );
          if (rs.wasApplied()) {
            this.stockCache.set(productId, current - quantity);
            return { done: true, value: 'reserved' };
          }
          const row = rs.first();
          if (row.get('reservation_id') !== null) return { done: true, value: row.get('released') ? 'released_before' : 'already_reserved' };
          return { done: false, current: row.get('stock') as number | null };
        },
        async () => {
          const line = await this.ledgerLine(pid, rid);
          return line ? (line.released ? 'released_before' : 'reserved') : undefined;
        },
      ),
    );
  }

  /**
   * Gives a reservation's quantity back, exactly once. A reservation compaction moved to
   * `stock_holds` is released by writing its row back to the ledger, released, in the same
   * conditional batch as the stock: that row, not the moved one, makes a repeated release a no-op.
   */
  release(productId: string, reservationId: string): Promise<ReleaseOutcome> {
    const pid = Uuid.fromString(productId);
    const rid = Uuid.fromString(reservationId);
    const deadline = Date.now() + this.limits.operationDeadlineMs;
    return this.queue.run(productId, async () => {
      // Twice at most: a row that compaction moves away between the read and the write is released
      // from `stock_holds` on the second round.
      for (let round = 0; round < 2; round++) {
        if (Date.now() > deadline) throw stockBusy();
        let line = await this.ledgerLine(pid, rid);
        if (!line) {
          const moved = await this.heldElsewhere(pid, rid);
          if (moved !== undefined) return this.releaseMoved(productId, rid, moved, deadline);
          // Nothing held: leave a released marker so a late reserve of this id is refused, not applied.
          const now = new Date();
          const marker = await this.db.execute(
            'INSERT INTO product_stock (product_id, reservation_id, quantity, released, reserved_at, released_at) VALUES (?, ?, 0, true, ?, ?) IF NOT EXISTS',
            [pid, rid, now, now],
            conditional,
          );
          if (marker.wasApplied()) return 'unknown';
          line = await this.ledgerLine(pid, rid);
          if (!line) return 'unknown';
        }
        if (line.released) return 'already_released';
        const held = line;
        const outcome = await this.compareAndSet<ReleaseOutcome | 'moved'>(
          productId,
          deadline,
          async ({ current }) => {
            const rs = await this.db.batch(
              [
                { query: 'UPDATE product_stock SET stock = ? WHERE product_id = ? IF stock = ?', params: [(current ?? 0) + held.quantity, pid, current] },
                { query: 'UPDATE product_stock SET released = true, released_at = ? WHERE product_id = ? AND reservation_id = ? IF released = false', params: [new Date(), pid, rid] },
              ],
              conditional,
            );
            if (rs.wasApplied()) {
              this.stockCache.set(productId, (current ?? 0) + held.quantity);
              return { done: true, value: 'released' };
            }
            const row = rs.first();
            if (row.get('released') === true) return { done: true, value: 'already_released' };
            if (row.get('released') === null) return { done: true, value: 'moved' };
            return { done: false, current: row.get('stock') as number | null };
          },
          async () => ((await this.ledgerLine(pid, rid))?.released ? 'released' : undefined),
        );
        if (outcome !== 'moved') return outcome;
      }
      throw stockBusy();
    });
  }

  /** Releases a reservation compaction moved to `stock_holds`: its ledger row comes back, released. */
  private releaseMoved(productId: string, rid: types.Uuid, quantity: number, deadline: number): Promise<ReleaseOutcome> {
    const pid = Uuid.fromString(productId);
    return this.compareAndSet<ReleaseOutcome>(
      productId,
      deadline,
      async ({ current }) => {
        const rs = await this.db.batch(
          [
            { query: 'UPDATE product_stock SET stock = ? WHERE product_id = ? IF stock = ?', params: [(current ?? 0) + quantity, pid, current] },
            {
              query: 'INSERT INTO product_stock (product_id, reservation_id, quantity, released, reserved_at, released_at) VALUES (?, ?, ?, true, ?, ?) IF NOT EXISTS',
              params: [pid, rid, quantity, new Date(), new Date()],
            },
          ],
          conditional,
        );
        if (rs.wasApplied()) {
          this.stockCache.set(productId, (current ?? 0) + quantity);
          return { done: true, value: 'released' };
        }
        const row = rs.first();
        if (row.get('reservation_id') !== null) return { done: true, value: 'already_released' };
        return { done: false, current: row.get('stock') as number | null };
      },
      async () => ((await this.ledgerLine(pid, rid))?.released ? 'released' : undefined),
    );
  }

  /**
   * The quantity of an open reservation compaction moved out of the ledger; undefined if none. A
   * settled copy (released, its ledger row deleted since) holds nothing: it is only there to refuse a
   * late copy of the same reservation (see compactLedger).
   */
  private async heldElsewhere(pid: types.Uuid, rid: types.Uuid): Promise<number | undefined> {
    const time = idTime(rid);
    if (time === undefined) return undefined;
    const rs = await this.db.execute(
      'SELECT quantity, settled FROM stock_holds WHERE product_id = ? AND month = ? AND reservation_id = ?',
      [pid, monthOf(time), rid],
      idempotent,
    );
    const row = rs.first();
    if (!row || row.get('settled') === true) return undefined;
    return row.get('quantity') ?? undefined;
  }

  /**
   * A time-based reservation id (order-service's order ids are) older than the settle time: its
   * ledger row may be compacted away once it is twice that old, so a reservation of it is refused
   * (`expired`), never applied a second time.
   */
  private expiredId(rid: types.Uuid, now = Date.now()): boolean {
    const time = idTime(rid);
    return time !== undefined && time < now - this.limits.ledgerSettleMs;
  }

  /**
   * Compacts the product's stock ledger, so its partition holds about the last two settle periods'
   * rows (`compactionHorizon`) and no more:
   *
   * - a *settled* row (released, and its id, reservation and release all older than the horizon) is
   *   deleted. Its quantity went back to the static `stock` when it was released, so there is nothing
   *   to fold; what it still guarded is kept by the age refusal: a reservation of an id that old is
   *   refused, a repeated release finds no row and changes nothing. Only time-based ids are deleted:
   *   the age refusal does not cover the others, whose rows and markers stay;
   * - an *open* reservation older than the horizon (an order that stays confirmed) is moved to
   *   `stock_holds`: its copy is written there with `IF NOT EXISTS`, then the ledger row is deleted on
   *   condition it is still open (a conditional batch per MOVE_BATCH rows; refused when a release came
   *   first, and the next pass sees the row released).
   *
   * A copy is never deleted and never overwritten: a settled row that may have been moved (released
   * after it was old enough to move) first gets a *settled* copy (written if none, marked if one is
   * there), and only then leaves the ledger. A mover that read the row open earlier and writes its copy
   * late finds that settled copy and leaves the ledger alone; a release ignores settled copies. Every
   * write to `stock_holds` is conditional, so no clock can shadow one and no repair can bring back an
   * older state.
   *
   * The base row (the nil id, which sorts first) is written before anything is deleted: stock reads
   * (`LIMIT 1`, `DISTINCT`) stop at it instead of scanning the tombstones the deletes leave. One
   * replica at a time compacts a product (a lease); a pass reads time windows of ids from where the
   * sweep is (saved before each read) to the horizon, at most COMPACTION_SCAN_LIMIT rows and
   * COMPACTION_WINDOWS windows, pausing `compactionPauseMs` between write batches. Between full sweeps
   * (every `ledgerFullSweepMs`) a sweep starts a settle period before the last one's horizon. Returns
   * how many rows left the ledger (0 when another process holds the lease). `stopping` is asked between
   * windows: a stopping service ends the pass there, its place saved for the next pass, like a pass
   * that reached its limits.
   */
  async compactLedger(productId: string, now = Date.now(), stopping: () => boolean = () => false): Promise<number> {
    const pid = Uuid.fromString(productId);
    if (!(await this.takeLease(pid))) return 0;
    try {
      return await this.sweep(productId, pid, now, stopping);
    } finally {
      await this.db.execute('UPDATE ledger_compaction SET owner = null WHERE product_id = ? IF owner = ?', [pid, this.owner], conditional).catch(() => undefined);
    }
  }

  /** The product's compaction lease, for LEASE_SECONDS at most; true when this process holds it. */
  private async takeLease(pid: types.Uuid): Promise<boolean> {
    const rs = await this.db.execute(
      'UPDATE ledger_compaction USING TTL ? SET owner = ? WHERE product_id = ? IF owner = null',
      [LEASE_SECONDS, this.owner, pid],
      conditional,
    );
    return rs.wasApplied() || rs.first()?.get('owner')?.toString() === this.owner.toString();
  }

  private async sweep(productId: string, pid: types.Uuid, now: number, stopping: () => boolean): Promise<number> {
    const horizon = compactionHorizon(this.limits, now);
    await this.db.execute('INSERT INTO product_stock (product_id, reservation_id, quantity, released) VALUES (?, ?, 0, true)', [pid, BASE_ROW], idempotent);
    const state = await this.sweepState(pid, now);
    let position: number;
    if (state.position !== undefined) position = state.position;
    else if (state.fullAt === undefined || now - state.fullAt >= this.limits.ledgerFullSweepMs) {
      position = state.origin;
      state.fullAt = now;
    } else {
      // Time-based ids sort by time: start a settle period before the last sweep's horizon. Stragglers
      // before it (a release marker written long after its id's time, a released row of a moved
      // reservation) wait for the next full sweep.
      position = Math.max(state.origin, (state.sweptTo ?? state.origin) - this.limits.ledgerSettleMs);
    }
    let window = WINDOW_MS;
    let scanned = 0;
    let left = 0;
    for (let windows = 0; position < horizon && scanned < COMPACTION_SCAN_LIMIT && windows < COMPACTION_WINDOWS && !stopping(); windows++) {
      await this.saveSweepState(pid, { ...state, position });
      const end = Math.min(position + window, horizon);
      let rows: types.Row[];
      try {
        rows = await this.readWindow(pid, position, end);
      } catch (err) {
        // Too many tombstones for one read (or a timeout): the same start, half the window.
        if (window <= WINDOW_MIN_MS) throw err;
        window = Math.max(WINDOW_MIN_MS, Math.floor(window / 2));
        continue;
      }
      scanned += rows.length;
      left += await this.compactRows(productId, pid, rows, horizon);
      window = rows.length === 0 ? Math.min(WINDOW_MAX_MS, window * 2) : WINDOW_MS;
      position = end;
    }
    if (position >= horizon) {
      state.sweptTo = horizon;
      state.position = undefined;
    } else state.position = position;
    await this.saveSweepState(pid, state);
    return left;
  }

  /** The ledger rows whose time-based ids fall in [from, to): the read starts at `from`, not at the partition's start. */
  private async readWindow(pid: types.Uuid, from: number, to: number): Promise<types.Row[]> {
    const rows: types.Row[] = [];
    let pageState: string | undefined;
    do {
      const rs = await this.db.execute(
        'SELECT reservation_id, quantity, released, reserved_at, released_at FROM product_stock WHERE product_id = ? AND reservation_id >= ? AND reservation_id < ?',
        [pid, types.TimeUuid.min(new Date(from), 0), types.TimeUuid.min(new Date(to), 0)],
        { ...idempotent, fetchSize: COMPACTION_PAGE, pageState },
      );
      rows.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }

  /** Moves the open and deletes the settled rows among `rows` (time-based ids, see compactLedger); how many left. */
  private async compactRows(productId: string, pid: types.Uuid, rows: types.Row[], horizon: number): Promise<number> {
    const settled: Array<{ rid: types.Uuid; guard: boolean; quantity: number }> = [];
    const open: Array<{ rid: types.Uuid; quantity: number }> = [];
    for (const row of rows) {
      const rid = row.get('reservation_id') as types.Uuid;
      const time = idTime(rid);
      if (time === undefined || rid.equals(BASE_ROW)) continue;
      const reservedAt = (row.get('reserved_at') as Date | null)?.getTime();
      const releasedAt = (row.get('released_at') as Date | null)?.getTime();
      if (Math.max(time, reservedAt ?? time, releasedAt ?? time) > horizon) continue;
      const quantity = (row.get('quantity') as number | null) ?? 0;
      if (row.get('released') === true) {
        // A row released while it was older than the move horizon minus a settle period of clock skew
        // may have been read open by a mover whose copy is not written yet: it gets a settled copy.
        // A row released young (a failed checkout) or a marker (0 units) was never anyone's to move.
        const guard = quantity > 0 && (releasedAt === undefined || releasedAt - time >= this.limits.ledgerSettleMs);
        settled.push({ rid, guard, quantity });
      } else if (row.get('released') === false && quantity > 0) open.push({ rid, quantity });
    }
    if (settled.length === 0 && open.length === 0) return 0;
    await this.options.afterRead?.(productId);

    let left = 0;
    for (let i = 0; i < open.length; i += MOVE_BATCH) {
      const movable: types.Uuid[] = [];
      for (const hold of open.slice(i, i + MOVE_BATCH)) {
        const month = monthOf(idTime(hold.rid)!);
        const rs = await this.db.execute(
          'INSERT INTO stock_holds (product_id, month, reservation_id, quantity, settled) VALUES (?, ?, ?, ?, false) IF NOT EXISTS',
          [pid, month, hold.rid, hold.quantity],
          conditional,
        );
        // A copy already there: this move's own, from a pass that stopped before its ledger delete,
        // unless it is settled (the reservation was released and its row deleted meanwhile).
        if (rs.wasApplied() || rs.first()?.get('settled') === false) movable.push(hold.rid);
      }
      if (movable.length === 0) continue;
      const rs = await this.db.batch(
        movable.map((rid) => ({ query: 'DELETE FROM product_stock WHERE product_id = ? AND reservation_id = ? IF released = false', params: [pid, rid] })),
        conditional,
      );
      if (rs.wasApplied()) left += movable.length;
      await sleep(this.limits.compactionPauseMs);
    }
    for (let i = 0; i < settled.length; i += COMPACTION_BATCH) {
      const group = settled.slice(i, i + COMPACTION_BATCH);
      for (const row of group) if (row.guard) await this.settleCopy(pid, row.rid, row.quantity);
      await this.db.batch(
        group.map(({ rid }) => ({ query: 'DELETE FROM product_stock WHERE product_id = ? AND reservation_id = ?', params: [pid, rid] })),
        { ...idempotent, logged: false },
      );
      left += group.length;
      await sleep(this.limits.compactionPauseMs);
    }
    return left;
  }

  /**
   * Makes sure `stock_holds` says the reservation is settled before its ledger row goes: a copy is
   * written settled when there is none (so a late mover's `IF NOT EXISTS` is refused), or marked so.
   */
  private async settleCopy(pid: types.Uuid, rid: types.Uuid, quantity: number): Promise<void> {
    const month = monthOf(idTime(rid)!);
    const rs = await this.db.execute(
      'INSERT INTO stock_holds (product_id, month, reservation_id, quantity, settled) VALUES (?, ?, ?, ?, true) IF NOT EXISTS',
      [pid, month, rid, quantity],
      conditional,
    );
    if (rs.wasApplied() || rs.first()?.get('settled') === true) return;
    await this.db.execute('UPDATE stock_holds SET settled = true WHERE product_id = ? AND month = ? AND reservation_id = ? IF EXISTS', [pid, month, rid], conditional);
  }

  /**
   * The product's sweep state. The first time (no state: compaction never deleted anything here, so
   * the ledger has no tombstones yet) its origin is taken from the first time-based row.
   */
  private async sweepState(pid: types.Uuid, now: number): Promise<SweepState> {
    const rs = await this.db.execute('SELECT origin, swept_to, full_at, position FROM ledger_compaction WHERE product_id = ?', [pid], idempotent);
    const row = rs.first();
    const time = (name: string) => (row?.get(name) as Date | null | undefined)?.getTime();
    const origin = time('origin');
    if (origin !== undefined) return { origin, sweptTo: time('swept_to'), fullAt: time('full_at'), position: time('position') };
    const first = (await this.db.execute('SELECT reservation_id FROM product_stock WHERE product_id = ? AND reservation_id > ? LIMIT 1', [pid, BASE_ROW], idempotent)).first();
    const firstTime = first ? idTime(first.get('reservation_id')) : undefined;
    const state: SweepState = { origin: Math.min(firstTime ?? now, now) - ORIGIN_LOOKBACK_MS };
    await this.saveSweepState(pid, state);
    return state;
  }

  private async saveSweepState(pid: types.Uuid, state: SweepState): Promise<void> {
    const date = (t: number | undefined) => (t === undefined ? null : new Date(t));
    await this.db.execute(
      'UPDATE ledger_compaction SET origin = ?, swept_to = ?, full_at = ?, position = ? WHERE product_id = ?',
      [new Date(state.origin), date(state.sweptTo), date(state.fullAt), date(state.position), pid],
      idempotent,
    );
  }

  /** Rows in the product's ledger (reservations and release markers; not the base row), for tests and operators. */
  async ledgerSize(productId: string): Promise<number> {
    let rows = 0;
    let pageState: string | undefined;
    do {
      const rs = await this.db.execute('SELECT reservation_id FROM product_stock WHERE product_id = ? AND reservation_id > ?', [Uuid.fromString(productId), BASE_ROW], {
        ...idempotent,
        fetchSize: COMPACTION_PAGE,
        pageState,
      });
      rows += rs.rows.length;
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }

  private async ledgerLine(pid: types.Uuid, rid: types.Uuid): Promise<{ quantity: number; released: boolean } | undefined> {
    const rs = await this.db.execute(
      'SELECT quantity, released FROM product_stock WHERE product_id = ? AND reservation_id = ?',
      [pid, rid],
      { ...idempotent, consistency: consistency.localSerial },
    );
    const row = rs.first();
    return row ? { quantity: row.get('quantity'), released: row.get('released') } : undefined;
  }

  /** The stock row at SERIAL (a Paxos read: it sees a conditional write still in progress) or at quorum. */
  private async currentStock(productId: string, serial: boolean): Promise<number | null> {
    const rs = await this.db.execute(
      'SELECT stock FROM product_stock WHERE product_id = ? LIMIT 1',
      [Uuid.fromString(productId)],
      { ...idempotent, consistency: serial ? consistency.localSerial : consistency.localQuorum },
    );
    return (rs.first()?.get('stock') as number | null | undefined) ?? null;
  }

  /**
   * Runs `attempt` with the stock it expects until it is done, starting from the remembered stock (or
   * a quorum read). A refused conditional write returns the current stock, the next round's
   * expectation; an attempt that needs an authoritative value gets a SERIAL read. When a conditional
   * write times out its outcome is unknown: `settle` reads the ledger back (at SERIAL) and says whether
   * it took effect.
   */
  private async compareAndSet<T>(productId: string, deadline: number, attempt: Attempt<T>, settle?: () => Promise<T | undefined>): Promise<T> {
    if (Date.now() > deadline) throw stockBusy();
    const remembered = this.stockCache.get(productId);
    let expected: Expected = remembered !== undefined ? { current: remembered, authoritative: false } : { current: await this.currentStock(productId, false), authoritative: false };
    for (let round = 0; ; round++) {
      try {
        const result = await attempt(expected);
        if (result.done) return result.value;
        if ('needAuthoritative' in result) {
          expected = { current: await this.currentStock(productId, true), authoritative: true };
          this.stockCache.set(productId, expected.current);
          continue;
        }
        expected = { current: result.current, authoritative: true };
        this.stockCache.set(productId, result.current);
      } catch (err) {
        this.stockCache.forget(productId);
        if (!isUnknownOutcome(err) || Date.now() > deadline) throw err;
        const settled = settle ? await settle() : undefined;
        if (settled !== undefined) return settled;
        expected = { current: await this.currentStock(productId, true), authoritative: true };
      }
      if (Date.now() > deadline) throw stockBusy();
      if (round > 0) await sleep(Math.min(50, 2 ** round) * Math.random());
    }
  }
}
