/**
 * CQL for the catalog (`products`) and the stock ledger (`product_stock`). Every write to stock is a
 * conditional batch on the product's partition: the new stock and the ledger line change together or
 * not at all, so stock never goes below zero and a reservation never applies twice.
 */
import { conditional, consistency, idempotent, problems, types, type Client } from '@product-store/kit';
import type { CatalogEntry } from './catalog';

const Uuid = types.Uuid;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type ReserveOutcome = 'reserved' | 'already_reserved' | 'released_before' | 'short';
export type ReleaseOutcome = 'released' | 'already_released' | 'unknown';

export interface StockLimits {
  /**
   * A stock change (its wait in the queue included) that has not finished by then is abandoned with a
   * 503: keep it below the callers' timeout (SERVICE_CALL_TIMEOUT_MS), so no work goes on for a
   * caller that has given up. @default 2500 ms
   */
  operationDeadlineMs: number;
  /** Stock changes of one product waiting in this process; more are refused at once with a 503. @default 500 */
  maxQueuedPerProduct: number;
}

export const defaultStockLimits: StockLimits = { operationDeadlineMs: 2500, maxQueuedPerProduct: 500 };

export const STOCK_DEADLINE_VARIABLE = 'STOCK_OPERATION_DEADLINE_MS';

/** backend's own setting: how long one stock change may take (below the callers' timeout). */
export function stockLimits(env: Readonly<Record<string, string | undefined>>): StockLimits {
  const deadline = env[STOCK_DEADLINE_VARIABLE];
  return { ...defaultStockLimits, ...(deadline ? { operationDeadlineMs: Number(deadline) } : {}) };
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

  constructor(
    private readonly db: Client,
    private readonly limits: StockLimits = defaultStockLimits,
  ) {
    this.queue = new KeyedQueue(limits.maxQueuedPerProduct);
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

  /** Sets the stock to an absolute value (an admin restock) with a compare-and-set loop. */
  setStock(id: string, stock: number): Promise<void> {
    const deadline = Date.now() + this.limits.operationDeadlineMs;
    return this.queue.run(id, () =>
      this.compareAndSet(id, deadline, async ({ current }) => {
        const rs = await this.db.execute(
          'UPDATE product_stock SET stock = ? WHERE product_id = ? IF stock = ?',
          [stock, Uuid.fromString(id), current],
          conditional,
        );
        if (!rs.wasApplied()) return { done: false as const, current: rs.first().get('stock') as number | null };
        this.stockCache.set(id, stock);
        return { done: true as const, value: undefined };
      }),
    );
  }

  /** Takes `quantity` of the product for the reservation, exactly once. */
  reserve(productId: string, reservationId: string, quantity: number): Promise<ReserveOutcome> {
    const pid = Uuid.fromString(productId);
    const rid = Uuid.fromString(reservationId);
    const deadline = Date.now() + this.limits.operationDeadlineMs;
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

  /** Gives a reservation's quantity back, exactly once. */
  release(productId: string, reservationId: string): Promise<ReleaseOutcome> {
    const pid = Uuid.fromString(productId);
    const rid = Uuid.fromString(reservationId);
    const deadline = Date.now() + this.limits.operationDeadlineMs;
    return this.queue.run(productId, async () => {
      if (Date.now() > deadline) throw stockBusy();
      let line = await this.ledgerLine(pid, rid);
      if (!line) {
        // Nothing held: leave a released marker so a late reserve of this id is refused, not applied.
        const marker = await this.db.execute(
          'INSERT INTO product_stock (product_id, reservation_id, quantity, released, reserved_at) VALUES (?, ?, 0, true, ?) IF NOT EXISTS',
          [pid, rid, new Date()],
          conditional,
        );
        if (marker.wasApplied()) return 'unknown';
        line = await this.ledgerLine(pid, rid);
        if (!line) return 'unknown';
      }
      if (line.released) return 'already_released';
      const held = line;
      return this.compareAndSet<ReleaseOutcome>(
        productId,
        deadline,
        async ({ current }) => {
          const rs = await this.db.batch(
            [
              { query: 'UPDATE product_stock SET stock = ? WHERE product_id = ? IF stock = ?', params: [(current ?? 0) + held.quantity, pid, current] },
              { query: 'UPDATE product_stock SET released = true WHERE product_id = ? AND reservation_id = ? IF released = false', params: [pid, rid] },
            ],
            conditional,
          );
          if (rs.wasApplied()) {
            this.stockCache.set(productId, (current ?? 0) + held.quantity);
            return { done: true, value: 'released' };
          }
          const row = rs.first();
          if (row.get('released') === true) return { done: true, value: 'already_released' };
          return { done: false, current: row.get('stock') as number | null };
        },
        async () => ((await this.ledgerLine(pid, rid))?.released ? 'released' : undefined),
      );
    });
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
