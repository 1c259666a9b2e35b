/**
 * CQL for cart lines: one partition per user, one row per product. Every write to a line goes
 * through Paxos (a conditional statement or a conditional batch), so none can be shadowed by clock
 * skew; a write that touches several lines is one batch on the partition, one Paxos round, never one
 * round per line racing the others for the same partition.
 */
import { conditional, idempotent, problems, types, type Client } from '@product-store/kit';
import type { CartLine } from './cart';

const Uuid = types.Uuid;
const TimeUuid = types.TimeUuid;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type AddOutcome = { ok: true; quantity: number } | { ok: false; current: number };

/**
 * A line as order-service reads it at checkout: `version` is opaque to it and names this state of
 * the line (which creation of the line, and which write to it), for the cleanup after the order.
 */
export interface VersionedLine extends CartLine {
  version: string;
}

/** A line of the order to take off the cart: what the checkout read (a legacy caller sends no version). */
export interface OrderedLine extends CartLine {
  version?: string;
}

interface StoredLine {
  quantity: number;
  addedAt: number;
  version: types.TimeUuid | null;
  /** The orders whose quantity was taken off this line while it stayed. */
  takenBy: Set<string>;
}

export interface CartLimits {
  /** Attempts of a compare-and-set on the cart before it answers 503 CART_BUSY. @default 5 */
  attempts: number;
}

const cartBusy = () => problems.unavailable('The cart is being changed by other requests; try again shortly.', 'CART_BUSY');

/** `<added_at ms>.<version or ->`: which creation of the line, and which write since. */
function encodeVersion(line: StoredLine): string {
  return `${line.addedAt}.${line.version?.toString() ?? '-'}`;
}

function decodeVersion(version: string): { addedAt: number; version: string | null } | undefined {
  const match = /^(\d{1,15})\.([0-9a-f-]{36}|-)$/i.exec(version);
  if (!match) return undefined;
  return { addedAt: Number(match[1]), version: match[2] === '-' ? null : match[2].toLowerCase() };
}

export class CartRepository {
  constructor(
    private readonly db: Client,
    private readonly limits: CartLimits = { attempts: 5 },
  ) {}

  private async stored(userId: string): Promise<Map<string, StoredLine>> {
    const rs = await this.db.execute('SELECT product_id, quantity, added_at, version, taken_by FROM cart_items WHERE user_id = ?', [Uuid.fromString(userId)], idempotent);
    return new Map(
      rs.rows.map((r) => [
        r.get('product_id').toString(),
        { quantity: r.get('quantity'), addedAt: (r.get('added_at') as Date | null)?.getTime() ?? 0, version: r.get('version'), takenBy: new Set(((r.get('taken_by') as types.Uuid[] | null) ?? []).map(String)) },
      ]),
    );
  }

  async lines(userId: string): Promise<VersionedLine[]> {
    return [...(await this.stored(userId))].map(([product_id, line]) => ({ product_id, quantity: line.quantity, version: encodeVersion(line) }));
  }

  /** Jittered, growing pause between attempts, so competing writers of one cart spread out. */
  private async backOff(attempt: number): Promise<void> {
    await sleep(Math.random() * Math.min(200, 10 * 2 ** attempt));
  }

  /**
   * Adds to the line's quantity with a compare-and-set, refusing to go past `max`. A few attempts
   * against concurrent writers of the same line, then 503 CART_BUSY (with Retry-After): never a loop
   * without end that holds the request while others keep winning.
   */
  async add(userId: string, productId: string, quantity: number, max: number): Promise<AddOutcome> {
    const uid = Uuid.fromString(userId);
    const pid = Uuid.fromString(productId);
    for (let attempt = 0; attempt < this.limits.attempts; attempt++) {
      if (attempt > 0) await this.backOff(attempt);
      const row = (await this.db.execute('SELECT quantity FROM cart_items WHERE user_id = ? AND product_id = ?', [uid, pid], idempotent)).first();
      const current: number | undefined = row?.get('quantity');
      if (current === undefined) {
        const rs = await this.db.execute(
          'INSERT INTO cart_items (user_id, product_id, quantity, added_at, version) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS',
          [uid, pid, quantity, new Date(), TimeUuid.now()],
          conditional,
        );
        if (rs.wasApplied()) return { ok: true, quantity };
        continue;
      }
      if (current + quantity > max) return { ok: false, current };
      const rs = await this.db.execute(
        'UPDATE cart_items SET quantity = ?, version = ? WHERE user_id = ? AND product_id = ? IF quantity = ?',
        [current + quantity, TimeUuid.now(), uid, pid, current],
        conditional,
      );
      if (rs.wasApplied()) return { ok: true, quantity: current + quantity };
    }
    throw cartBusy();
  }

  /** Sets the quantity of a line in the cart; false when the product is not in the cart. */
  async set(userId: string, productId: string, quantity: number): Promise<boolean> {
    const rs = await this.db.execute(
      'UPDATE cart_items SET quantity = ?, version = ? WHERE user_id = ? AND product_id = ? IF EXISTS',
      [quantity, TimeUuid.now(), Uuid.fromString(userId), Uuid.fromString(productId)],
      conditional,
    );
    return rs.wasApplied();
  }

  async remove(userId: string, productId: string): Promise<boolean> {
    const rs = await this.db.execute('DELETE FROM cart_items WHERE user_id = ? AND product_id = ? IF EXISTS', [Uuid.fromString(userId), Uuid.fromString(productId)], conditional);
    return rs.wasApplied();
  }

  /**
   * Drops lines of products that left the catalog: one plain batch, no Paxos round. It cannot shadow
   * a later write, because a product that left the catalog never comes back (ids are never reused)
   * and adding it is refused.
   */
  async dropGone(userId: string, productIds: string[]): Promise<void> {
    if (productIds.length === 0) return;
    const uid = Uuid.fromString(userId);
    await this.db.batch(
      productIds.map((id) => ({ query: 'DELETE FROM cart_items WHERE user_id = ? AND product_id = ?', params: [uid, Uuid.fromString(id)] })),
      { ...idempotent, logged: false },
    );
  }

  /**
   * Empties the cart: the lines read, deleted in one conditional batch (one Paxos round). A line
   * removed in between refuses the batch; it is tried again with the lines as they are then.
   */
  async clear(userId: string): Promise<void> {
    const uid = Uuid.fromString(userId);
    for (let attempt = 0; attempt < this.limits.attempts; attempt++) {
      if (attempt > 0) await this.backOff(attempt);
      const lines = await this.stored(userId);
      if (lines.size === 0) return;
      const rs = await this.db.batch(
        [...lines.keys()].map((id) => ({ query: 'DELETE FROM cart_items WHERE user_id = ? AND product_id = ? IF EXISTS', params: [uid, Uuid.fromString(id)] })),
        conditional,
      );
      if (rs.wasApplied()) return;
    }
    throw cartBusy();
  }

  /**
   * Takes an order's lines off the cart, after checkout (by the request, or later by recovery), in one
   * conditional batch. Only what the order took goes:
   *
   * - a line still as the checkout read it (same version) is deleted;
   * - a line changed since (same creation, another version) keeps what exceeds the ordered quantity,
   *   and adds the order to the line's `taken_by` set, so a repeated cleanup of it takes nothing more;
   * - a line created after the checkout read the cart (another `added_at`) is not touched.
   *
   * So repeating the cleanup changes nothing, and a line a user adds after checking out survives a
   * cleanup that recovery runs later. Every change is conditional on the version it was computed from;
   * a concurrent write refuses the batch and it is computed again. A caller that sends no version
   * (order-service before this change) gets the old rule: the product's line is deleted.
   */
  async takeOrdered(userId: string, orderId: string | undefined, ordered: OrderedLine[]): Promise<void> {
    const uid = Uuid.fromString(userId);
    for (let attempt = 0; attempt < this.limits.attempts; attempt++) {
      if (attempt > 0) await this.backOff(attempt);
      const current = await this.stored(userId);
      const statements: Array<{ query: string; params: unknown[] }> = [];
      for (const line of ordered) {
        const now = current.get(line.product_id);
        if (!now) continue;
        const pid = Uuid.fromString(line.product_id);
        const seen = line.version === undefined ? undefined : decodeVersion(line.version);
        if (!seen) {
          statements.push({ query: 'DELETE FROM cart_items WHERE user_id = ? AND product_id = ? IF EXISTS', params: [uid, pid] });
          continue;
        }
        if (now.addedAt !== seen.addedAt) continue;
        const unchanged = (now.version?.toString() ?? null) === seen.version;
        if (!unchanged && orderId !== undefined && now.takenBy.has(orderId.toLowerCase())) continue;
        const rest = unchanged ? 0 : now.quantity - line.quantity;
        if (rest <= 0) {
          statements.push({ query: 'DELETE FROM cart_items WHERE user_id = ? AND product_id = ? IF version = ?', params: [uid, pid, now.version] });
        } else {
          statements.push({
            // Added to the orders that took from the line, never replacing them: a cleanup of an earlier
            // order that is repeated after a later one took from the line still finds itself there.
            query: 'UPDATE cart_items SET quantity = ?, version = ?, taken_by = taken_by + ? WHERE user_id = ? AND product_id = ? IF version = ?',
            params: [rest, TimeUuid.now(), orderId === undefined ? [] : [Uuid.fromString(orderId)], uid, pid, now.version],
          });
        }
      }
      if (statements.length === 0) return;
      const rs = await this.db.batch(statements, conditional);
      if (rs.wasApplied()) return;
    }
    throw cartBusy();
  }
}
