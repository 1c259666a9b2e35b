/** CQL for cart lines: one partition per user, one row per product. */
import { conditional, idempotent, types, type Client } from '@product-store/kit';
import type { CartLine } from './cart';

const Uuid = types.Uuid;

export type AddOutcome = { ok: true; quantity: number } | { ok: false; current: number };

export class CartRepository {
  constructor(private readonly db: Client) {}

  async lines(userId: string): Promise<CartLine[]> {
    const rs = await this.db.execute('SELECT product_id, quantity FROM cart_items WHERE user_id = ?', [Uuid.fromString(userId)], idempotent);
    return rs.rows.map((r) => ({ product_id: r.get('product_id').toString(), quantity: r.get('quantity') }));
  }

  /** Adds to the line's quantity with a compare-and-set, refusing to go past `max`. */
  async add(userId: string, productId: string, quantity: number, max: number): Promise<AddOutcome> {
    const uid = Uuid.fromString(userId);
    const pid = Uuid.fromString(productId);
    for (;;) {
      const row = (await this.db.execute('SELECT quantity FROM cart_items WHERE user_id = ? AND product_id = ?', [uid, pid], idempotent)).first();
      const current: number | undefined = row?.get('quantity');
      if (current === undefined) {
        const rs = await this.db.execute(
          'INSERT INTO cart_items (user_id, product_id, quantity, added_at) VALUES (?, ?, ?, ?) IF NOT EXISTS',
          [uid, pid, quantity, new Date()],
          conditional,
        );
        if (rs.wasApplied()) return { ok: true, quantity };
        continue;
      }
      if (current + quantity > max) return { ok: false, current };
      const rs = await this.db.execute('UPDATE cart_items SET quantity = ? WHERE user_id = ? AND product_id = ? IF quantity = ?', [current + quantity, uid, pid, current], conditional);
      if (rs.wasApplied()) return { ok: true, quantity: current + quantity };
    }
  }

  /** Sets the quantity of a line in the cart; false when the product is not in the cart. */
  async set(userId: string, productId: string, quantity: number): Promise<boolean> {
    const rs = await this.db.execute('UPDATE cart_items SET quantity = ? WHERE user_id = ? AND product_id = ? IF EXISTS', [quantity, Uuid.fromString(userId), Uuid.fromString(productId)], conditional);
    return rs.wasApplied();
  }

  async remove(userId: string, productId: string): Promise<boolean> {
    const rs = await this.db.execute('DELETE FROM cart_items WHERE user_id = ? AND product_id = ? IF EXISTS', [Uuid.fromString(userId), Uuid.fromString(productId)], conditional);
    return rs.wasApplied();
  }

  /**
   * Removes the given products' lines (checkout); repeating it changes nothing. Each delete is
   * conditional like every other write to a line, so none of them can be shadowed by clock skew.
   */
  async removeMany(userId: string, productIds: string[]): Promise<void> {
    await Promise.all(productIds.map((id) => this.remove(userId, id)));
  }

  async clear(userId: string): Promise<void> {
    await this.removeMany(userId, (await this.lines(userId)).map((l) => l.product_id));
  }
}
