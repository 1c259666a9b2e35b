/** CQL for orders, checkouts, pending work and idempotency keys. */
import { conditional, idempotent, types, type Client } from '@product-store/kit';
import type { CartLine, Order, OrderItem, OrderStatus } from './orders';
import { WorkQueue, type PendingScan, type PendingWork } from './work-queue';

export { workBucket, type PendingScan, type PendingWork, type WorkKind } from './work-queue';

const { Uuid, TimeUuid } = types;

export type CheckoutState = 'reserving' | 'confirmed' | 'failed';

export interface Checkout {
  order_id: string;
  user_id: string;
  idempotency_key: string;
  state: CheckoutState;
  lines: CartLine[];
  items?: OrderItem[];
  total_cents?: number;
  currency?: string;
  created_at: Date;
  updated_at: Date;
}

/** What a request writes when it claims a key; its order id tells this claim from any later one. */
export interface KeyClaim {
  request_hash: string;
  order_id: string;
  created_at: Date;
}

export interface IdempotencyRecord extends KeyClaim {
  response?: { status: number; body: unknown };
}

/** How far before its id's time an order row is written (`insertOrder`): the clock skew it tolerates. */
export const ORDER_WRITE_TIME_LEAD_MS = 24 * 3600 * 1000;

/** The write time (microseconds) of every write of an order's row: its id's time less `ORDER_WRITE_TIME_LEAD_MS`. */
export function orderWriteTime(orderId: string): types.Long {
  return types.Long.fromNumber((TimeUuid.fromString(orderId).getDate().getTime() - ORDER_WRITE_TIME_LEAD_MS) * 1000);
}

/** The cells of an order's row: every write of it writes the same ones (`updated_at` is its creation). */
function orderRow(userId: string, order: Order): unknown[] {
  const created = new Date(order.created_at);
  return [Uuid.fromString(userId), TimeUuid.fromString(order.id), order.status, JSON.stringify(order.items), order.total_cents, order.currency, created, created];
}

/** A row without its claim (only a late response's cells) names no request: treat it as absent. */
function toIdempotencyRecord(row: types.Row): IdempotencyRecord | undefined {
  if (row.get('order_id') == null || row.get('request_hash') == null) return undefined;
  const status: number | null = row.get('response_status');
  return {
    request_hash: row.get('request_hash'),
    order_id: row.get('order_id').toString(),
    created_at: row.get('created_at') ?? new Date(0),
    response: status == null ? undefined : { status, body: JSON.parse(row.get('response_body')) },
  };
}

/** bigint columns come back as Longs; totals stay far below 2^53. */
const asNumber = (value: number | types.Long): number => (typeof value === 'number' ? value : value.toNumber());

function toOrder(row: types.Row): Order {
  return {
    id: row.get('id').toString(),
    status: row.get('status') as OrderStatus,
    items: JSON.parse(row.get('items')) as OrderItem[],
    total_cents: asNumber(row.get('total_cents')),
    currency: row.get('currency'),
    created_at: (row.get('created_at') as Date).toISOString(),
  };
}

const orderColumns = 'id, status, items, total_cents, currency, created_at';

export class OrderRepository {
  private readonly work: WorkQueue;

  constructor(private readonly db: Client) {
    this.work = new WorkQueue(db);
  }

  // Idempotency keys

  /** The key's record; `serial` reads also see a conditional write still in progress. */
  async idempotencyRecord(userId: string, key: string, serial = true): Promise<IdempotencyRecord | undefined> {
    const row = (
      await this.db.execute(
        'SELECT request_hash, order_id, response_status, response_body, created_at FROM idempotency_keys WHERE user_id = ? AND key = ?',
        [Uuid.fromString(userId), key],
        { ...idempotent, consistency: serial ? types.consistencies.localSerial : types.consistencies.localQuorum },
      )
    ).first();
    return row ? toIdempotencyRecord(row) : undefined;
  }

  /**
   * Claims the key for a new order id. When another request holds it, the refused conditional insert
   * returns the row as it stands (read within Paxos, as a SERIAL read would): `holder` is its record.
   */
  async claimKey(userId: string, key: string, claim: KeyClaim): Promise<{ claimed: true } | { claimed: false; holder?: IdempotencyRecord }> {
    const rs = await this.db.execute(
      'INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, created_at) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS',
      [Uuid.fromString(userId), key, claim.request_hash, TimeUuid.fromString(claim.order_id), claim.created_at],
      conditional,
    );
    if (rs.wasApplied()) return { claimed: true };
    const row = rs.first();
    return { claimed: false, holder: row ? toIdempotencyRecord(row) : undefined };
  }

  /**
   * Records the final response once, for the request that holds the key; anyone else changes nothing.
   * The claim's cells are written again with the response: every cell of the record then has the same
   * time to live (the table's 48 h, from now), so no response outlives its claim. A response alone
   * would keep the row, and a row that exists refuses every later claim of the key.
   */
  async recordResponse(userId: string, key: string, claim: KeyClaim, status: number, body: unknown): Promise<void> {
    const orderId = TimeUuid.fromString(claim.order_id);
    await this.db.execute(
      'UPDATE idempotency_keys SET request_hash = ?, order_id = ?, created_at = ?, response_status = ?, response_body = ? WHERE user_id = ? AND key = ? IF order_id = ? AND response_status = null',
      [claim.request_hash, orderId, claim.created_at, status, JSON.stringify(body), Uuid.fromString(userId), key, orderId],
      conditional,
    );
  }

  /**
   * The request's write of its committed checkout's 201, without a Paxos round. Once its checkout is
   * confirmed the key is this claim's for as long as the claim lives: a key is freed only once its
   * checkout can no longer be confirmed (a fence, a failed checkout, or a start that threw), and the
   * claim, seconds old here, cannot have expired. So nothing else writes this row but recovery, which
   * writes the same 201 conditionally (`recordResponse`). Like `recordResponse` it writes the claim's
   * cells again, so every cell lives 48 h from now. (Were order-service's clock behind the database's
   * by more than the time since the claim, the claim's cells would keep their Paxos write time and
   * expire that much before the response: for that moment the key answers 409
   * IDEMPOTENCY_IN_PROGRESS, see `toIdempotencyRecord`.)
   */
  async recordCommittedResponse(userId: string, key: string, claim: KeyClaim, order: Order): Promise<void> {
    await this.db.execute(
      'UPDATE idempotency_keys SET request_hash = ?, order_id = ?, created_at = ?, response_status = ?, response_body = ? WHERE user_id = ? AND key = ?',
      [claim.request_hash, TimeUuid.fromString(claim.order_id), claim.created_at, 201, JSON.stringify(order), Uuid.fromString(userId), key],
      idempotent,
    );
  }

  /** Frees a key whose request ended without a final response (a dependency failed), for a clean retry. */
  async releaseKey(userId: string, key: string, orderId: string): Promise<void> {
    await this.db.execute(
      'DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? IF order_id = ? AND response_status = null',
      [Uuid.fromString(userId), key, TimeUuid.fromString(orderId)],
      conditional,
    );
  }

  // Checkouts and pending work

  /**
   * Records the work first (so recovery finds it whatever happens next), then the checkout, written
   * conditionally like every later change of its state: all writes of `state` go through Paxos.
   * False when the checkout was fenced (`fenceCheckout`) first: the request lost its key and must stop.
   */
  async startCheckout(checkout: Checkout): Promise<boolean> {
    await this.addWork({ order_id: checkout.order_id, kind: 'checkout', user_id: checkout.user_id, created_at: checkout.created_at });
    const rs = await this.insertCheckout(checkout);
    return rs.wasApplied();
  }

  /**
   * Takes the checkout of a claim whose request never wrote it: a `failed` checkout without lines,
   * written only if none exists. Then that request can never start it (its `startCheckout` is refused),
   * hence never reserve nor commit, and its key may go to another request. False when the request's
   * own checkout exists: the key stays with it (recovery settles it). A fence found from an earlier
   * call counts as taken.
   */
  async fenceCheckout(orderId: string, userId: string, key: string): Promise<boolean> {
    const now = new Date();
    const rs = await this.insertCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'failed', lines: [], created_at: now, updated_at: now });
    if (rs.wasApplied()) return true;
    const existing = rs.first();
    return existing?.get('state') === 'failed' && existing.get('lines') === '[]';
  }

  private insertCheckout(checkout: Checkout): Promise<types.ResultSet> {
    return this.db.execute(
      'INSERT INTO checkouts (order_id, user_id, idempotency_key, state, lines, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS',
      [TimeUuid.fromString(checkout.order_id), Uuid.fromString(checkout.user_id), checkout.idempotency_key, checkout.state, JSON.stringify(checkout.lines), checkout.created_at, checkout.updated_at],
      conditional,
    );
  }

  async checkout(orderId: string): Promise<Checkout | undefined> {
    const row = (
      await this.db.execute(
        'SELECT order_id, user_id, idempotency_key, state, lines, items, total_cents, currency, created_at, updated_at FROM checkouts WHERE order_id = ?',
        [TimeUuid.fromString(orderId)],
        { ...idempotent, consistency: types.consistencies.localSerial },
      )
    ).first();
    // A row whose first cells expired before the ones its later updates wrote (see migration 3) is gone.
    if (!row || row.get('lines') == null || row.get('user_id') == null) return undefined;
    const items: string | null = row.get('items');
    return {
      order_id: row.get('order_id').toString(),
      user_id: row.get('user_id').toString(),
      idempotency_key: row.get('idempotency_key'),
      state: row.get('state'),
      lines: JSON.parse(row.get('lines')),
      items: items ? JSON.parse(items) : undefined,
      total_cents: row.get('total_cents') === null ? undefined : asNumber(row.get('total_cents')),
      currency: row.get('currency') ?? undefined,
      created_at: row.get('created_at'),
      updated_at: row.get('updated_at'),
    };
  }

  /** Moves a checkout from `reserving` to `failed`; true when this call made the move. */
  async failCheckout(orderId: string): Promise<boolean> {
    const rs = await this.db.execute(
      "UPDATE checkouts SET state = 'failed', updated_at = ? WHERE order_id = ? IF state = 'reserving'",
      [new Date(), TimeUuid.fromString(orderId)],
      conditional,
    );
    return rs.wasApplied();
  }

  /** The commit point of a checkout: `reserving` to `confirmed`, with the frozen items. */
  async confirmCheckout(orderId: string, priced: { items: OrderItem[]; total_cents: number; currency: string }): Promise<boolean> {
    const rs = await this.db.execute(
      "UPDATE checkouts SET state = 'confirmed', items = ?, total_cents = ?, currency = ?, updated_at = ? WHERE order_id = ? IF state = 'reserving'",
      [JSON.stringify(priced.items), priced.total_cents, priced.currency, new Date(), TimeUuid.fromString(orderId)],
      conditional,
    );
    return rs.wasApplied();
  }

  /** Records work recovery must find until it is finished (see work-queue.ts). */
  async addWork(work: PendingWork): Promise<void> {
    await this.work.add(work);
  }

  async finishWork(work: Pick<PendingWork, 'order_id' | 'kind' | 'created_at' | 'source'>): Promise<void> {
    await this.work.finish(work);
  }

  /**
   * Unfinished work that may be older than `olderThanMs`, created within the last `hours`; reads no
   * finished work. Partitions it could not read are in `errors` (the pass is incomplete).
   */
  async pendingWork(now: Date, hours: number, olderThanMs = 0): Promise<PendingScan> {
    return this.work.pending(now, hours, olderThanMs);
  }

  // Orders

  /**
   * The request's write of its confirmed order, without a Paxos round: its write time is fixed,
   * `orderWriteTime` (a day before the order's id), so a cancellation (a conditional update, stamped
   * with its Paxos ballot's time, now) outranks it, and so does recovery's write (`insertOrderOnce`).
   * A request whose write arrives late, after recovery wrote the order and the client cancelled it,
   * changes nothing, unless the database's clocks run a day behind order-service's.
   */
  async insertOrder(userId: string, order: Order): Promise<void> {
    await this.db.execute(`INSERT INTO orders (user_id, ${orderColumns}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`, [...orderRow(userId, order), orderWriteTime(order.id)], idempotent);
  }

  /** Recovery's write of a confirmed order: unless it already exists (a later cancellation is never overwritten, whatever the clocks). */
  async insertOrderOnce(userId: string, order: Order): Promise<void> {
    await this.db.execute(`INSERT INTO orders (user_id, ${orderColumns}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`, orderRow(userId, order), conditional);
  }

  async order(userId: string, orderId: string): Promise<Order | undefined> {
    return (await this.orderRecord(userId, orderId))?.order;
  }

  /** The order and the Idempotency-Key of the cancel that cancelled it, if that cancel sent one. */
  async orderRecord(userId: string, orderId: string): Promise<{ order: Order; cancelKey?: string } | undefined> {
    const row = (
      await this.db.execute(`SELECT ${orderColumns}, cancel_key FROM orders WHERE user_id = ? AND id = ?`, [Uuid.fromString(userId), TimeUuid.fromString(orderId)], {
        ...idempotent,
        consistency: types.consistencies.localSerial,
      })
    ).first();
    return row ? { order: toOrder(row), cancelKey: row.get('cancel_key') ?? undefined } : undefined;
  }

  /** Newest first, strictly older than `before` when given. */
  async orders(userId: string, limit: number, before?: string): Promise<Order[]> {
    const rs = before
      ? await this.db.execute(`SELECT ${orderColumns} FROM orders WHERE user_id = ? AND id < ? LIMIT ?`, [Uuid.fromString(userId), TimeUuid.fromString(before), limit], idempotent)
      : await this.db.execute(`SELECT ${orderColumns} FROM orders WHERE user_id = ? LIMIT ?`, [Uuid.fromString(userId), limit], idempotent);
    return rs.rows.map(toOrder);
  }

  /** confirmed → cancelled, with the cancel's Idempotency-Key if it sent one; true when this call made the change. */
  async cancelOrder(userId: string, orderId: string, cancelKey?: string): Promise<boolean> {
    const rs = await this.db.execute(
      "UPDATE orders SET status = 'cancelled', cancel_key = ?, updated_at = ? WHERE user_id = ? AND id = ? IF status = 'confirmed'",
      [cancelKey ?? types.unset, new Date(), Uuid.fromString(userId), TimeUuid.fromString(orderId)],
      conditional,
    );
    return rs.wasApplied();
  }
}
