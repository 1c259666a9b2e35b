/**
 * Checkout, cancellation and their recovery.
 *
 * A checkout is a small saga over three services. Its commit point is one conditional update of the
 * checkout's `state` from `reserving` to `confirmed`; recovery, which fails checkouts that have been
 * `reserving` for too long, uses the same conditional update, so exactly one of them wins:
 *
 * - before the commit point, a failure leaves stock reserved at most until recovery releases it;
 * - after it, the order exists: recovery finishes what the request did not (the order row, the stored
 *   response for the Idempotency-Key, removing the lines from the cart).
 *
 * The order id doubles as the reservation id at `backend`, whose ledger applies a reservation and
 * its release at most once per product, and refuses a reservation that arrives after its release.
 */
import { problems, types, type Logger, type Metrics } from '@product-store/kit';
import type { Dependencies } from './clients';
import { priceLines, requestFingerprint, type Order } from './orders';
import type { Checkout, IdempotencyRecord, OrderRepository, PendingWork } from './repository';

export interface CheckoutSettings {
  /** A checkout still `reserving` after this long is failed by recovery, and its stock released. */
  checkoutTimeoutMs: number;
  /** How far back recovery looks for unfinished work. */
  recoveryWindowHours: number;
  /** How long a duplicate request waits for the first one's response before answering 409. */
  idempotencyWaitMs: number;
}

export interface Outcome {
  status: number;
  body: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Checkouts {
  private readonly placed;
  private readonly revenue;
  private readonly failures;
  private readonly cancelled;
  private readonly recovery;

  constructor(
    private readonly repo: OrderRepository,
    private readonly deps: Dependencies,
    private readonly settings: CheckoutSettings,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.placed = metrics.counter('orders_placed_total', 'Orders confirmed');
    this.revenue = metrics.counter('orders_revenue_cents_total', 'Value of confirmed orders in minor units', ['currency'] as const);
    this.failures = metrics.counter('checkout_failures_total', 'Checkouts that did not produce an order, by reason', ['reason'] as const);
    this.cancelled = metrics.counter('orders_cancelled_total', 'Orders cancelled');
    this.recovery = {
      backlog: metrics.gauge('checkout_recovery_backlog', 'Unfinished checkouts and cancellations older than the checkout timeout, seen by the last recovery pass'),
      oldest: metrics.gauge('checkout_recovery_oldest_pending_seconds', 'Age of the oldest unfinished work seen by the last recovery pass (0: none)'),
      reads: metrics.gauge('checkout_recovery_pass_reads', 'Partition reads (pages) of the last recovery pass'),
      failures: metrics.counter('checkout_recovery_pass_failures_total', 'Recovery passes that failed or could not read all pending work'),
      lastSuccess: metrics.gauge('checkout_recovery_last_success_timestamp_seconds', 'When the last complete recovery pass ended (Unix time)'),
      items: metrics.counter('checkout_recovery_items_total', 'Pending work recovery handled, by outcome (finished, deferred to the next pass)', ['outcome'] as const),
    };
  }

  /** POST /orders under an Idempotency-Key; `validate` throws a 400 for a body a new order cannot take. */
  async place(userId: string, key: string, body: unknown, validate: () => void): Promise<Outcome> {
    const fingerprint = requestFingerprint(body);
    try {
      validate();
    } catch (err) {
      // A body no new order can take: still the key's replay (or its 422) when the key is known.
      const existing = await this.repo.idempotencyRecord(userId, key);
      if (existing) return this.replay(userId, key, fingerprint, existing);
      throw err;
    }
    // The claim is the lookup: a refused claim returns the record that holds the key (one Paxos round
    // for a new key, where a read first would take two).
    const orderId = types.TimeUuid.now().toString();
    const claim = await this.repo.claimKey(userId, key, fingerprint, orderId);
    if (claim.claimed) return this.run(userId, key, orderId);
    if (!claim.holder) throw problems.conflict('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed.');
    return this.replay(userId, key, fingerprint, claim.holder);
  }

  private async replay(userId: string, key: string, fingerprint: string, first: IdempotencyRecord): Promise<Outcome> {
    if (first.request_hash !== fingerprint) {
      throw problems.unprocessable('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body.');
    }
    const inProgress = () => problems.conflict('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed; retry shortly.');
    const deadline = Date.now() + this.settings.idempotencyWaitMs;
    let record: IdempotencyRecord | undefined = first;
    for (let wait = 100; !record?.response; wait = Math.min(wait * 2, 800)) {
      if (!record) throw inProgress();
      if (Date.now() > deadline) {
        await this.freeIfAbandoned(userId, key, record);
        throw inProgress();
      }
      await sleep(wait);
      // Quorum reads see a committed response; serial reads would compete with the write they wait for.
      record = await this.repo.idempotencyRecord(userId, key, false);
    }
    return record.response;
  }

  /**
   * A key claimed long ago by a request that never started its checkout (it died right after the
   * claim) would answer 409 until it expires: free it, so the client's next retry runs.
   */
  private async freeIfAbandoned(userId: string, key: string, record: IdempotencyRecord): Promise<void> {
    if (Date.now() - record.created_at.getTime() < 2 * this.settings.checkoutTimeoutMs) return;
    if (await this.repo.checkout(record.order_id)) return;
    await this.repo.releaseKey(userId, key, record.order_id);
    this.log.warn('freed an Idempotency-Key whose request never started its checkout', { order_id: record.order_id });
  }

  /** Records a final response for the key, so a repeated request gets it again. */
  private async final(userId: string, key: string, orderId: string, outcome: Outcome): Promise<Outcome> {
    await this.repo.recordResponse(userId, key, orderId, outcome.status, outcome.body);
    return outcome;
  }

  private async run(userId: string, key: string, orderId: string): Promise<Outcome> {
    const created = new Date();
    let lines;
    try {
      lines = await this.deps.cartLines(userId);
      if (lines.length === 0) {
        this.failures.inc({ reason: 'cart_empty' });
        return await this.final(userId, key, orderId, { status: 422, body: problems.unprocessable('CART_EMPTY', 'The cart is empty.').body() });
      }
      await this.repo.startCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'reserving', lines, created_at: created, updated_at: created });
    } catch (err) {
      this.failures.inc({ reason: 'dependency' });
      await this.repo.releaseKey(userId, key, orderId).catch(() => undefined);
      throw err;
    }
    const productIds = lines.map((l) => l.product_id);

    let reserved;
    try {
      reserved = await this.deps.reserve(orderId, lines);
    } catch (err) {
      this.failures.inc({ reason: 'dependency' });
      await this.abandon({ order_id: orderId, user_id: userId, idempotency_key: key, lines, created_at: created });
      throw err;
    }
    if (!reserved.ok) {
      await this.repo.failCheckout(orderId);
      if (reserved.code === 'RESERVATION_RELEASED') {
        // Recovery gave up on this checkout while the reservation was in flight.
        this.failures.inc({ reason: 'timeout' });
        await this.repo.releaseKey(userId, key, orderId).catch(() => undefined);
        throw problems.unavailable('The checkout took too long; try again.', 'CHECKOUT_TIMEOUT');
      }
      // backend took nothing: a short or missing line releases every line it had taken.
      this.failures.inc({ reason: 'out_of_stock' });
      const problem = problems.conflict('OUT_OF_STOCK', 'Some products in the cart do not have enough stock.', { product_ids: reserved.product_ids });
      const outcome = await this.final(userId, key, orderId, { status: 409, body: problem.body() });
      await this.repo.finishWork({ order_id: orderId, kind: 'checkout', created_at: created });
      return outcome;
    }

    const priced = priceLines(reserved.lines);
    if (!(await this.repo.confirmCheckout(orderId, priced))) {
      this.failures.inc({ reason: 'timeout' });
      await this.repo.releaseKey(userId, key, orderId).catch(() => undefined);
      throw problems.unavailable('The checkout took too long; try again.', 'CHECKOUT_TIMEOUT');
    }
    // Committed: from here on the order exists, whatever fails.
    const order: Order = { id: orderId, status: 'confirmed', ...priced, created_at: created.toISOString() };
    this.placed.inc();
    this.revenue.inc({ currency: order.currency }, order.total_cents);
    await this.repo.insertOrder(userId, order);
    await this.final(userId, key, orderId, { status: 201, body: order });
    try {
      await this.deps.removeFromCart(userId, productIds);
      await this.repo.finishWork({ order_id: orderId, kind: 'checkout', created_at: created });
    } catch (err) {
      this.log.warn('removing ordered lines from the cart is left to recovery', { order_id: orderId, err: (err as Error).message });
    }
    return { status: 201, body: order };
  }

  /** The reservation's outcome is unknown: fail the checkout (if still ours), release, free the key. */
  private async abandon(checkout: Pick<Checkout, 'order_id' | 'user_id' | 'idempotency_key' | 'lines' | 'created_at'>): Promise<void> {
    try {
      if (await this.repo.failCheckout(checkout.order_id)) {
        await this.deps.release(checkout.order_id, checkout.lines.map((l) => l.product_id));
        await this.repo.finishWork({ order_id: checkout.order_id, kind: 'checkout', created_at: checkout.created_at });
      }
    } catch (err) {
      this.log.warn('releasing an abandoned checkout is left to recovery', { order_id: checkout.order_id, err: (err as Error).message });
    }
    await this.repo.releaseKey(checkout.user_id, checkout.idempotency_key, checkout.order_id).catch(() => undefined);
  }

  async cancel(userId: string, orderId: string): Promise<Order> {
    const order = await this.repo.order(userId, orderId);
    if (!order) throw problems.notFound('No order with this id.');
    const notCancellable = () => problems.conflict('ORDER_NOT_CANCELLABLE', 'This order is already cancelled.');
    if (order.status !== 'confirmed') throw notCancellable();
    // Recorded first, so a crash after the status change still gives the stock back.
    const work = { order_id: orderId, kind: 'cancel' as const, user_id: userId, created_at: new Date() };
    await this.repo.addWork(work);
    if (!(await this.repo.cancelOrder(userId, orderId))) throw notCancellable();
    this.cancelled.inc();
    try {
      await this.deps.release(orderId, order.items.map((i) => i.product_id));
      await this.repo.finishWork(work);
    } catch (err) {
      this.log.warn('giving stock back for a cancelled order is left to recovery', { order_id: orderId, err: (err as Error).message });
    }
    return { ...order, status: 'cancelled' };
  }

  /**
   * One recovery pass over pending work older than the checkout timeout; returns how many it finished.
   * `cancelled` is asked between items: a stopping service ends the pass there (the rest waits for the
   * next pass, on this replica or another).
   */
  async recover(now = Date.now(), cancelled: () => boolean = () => false): Promise<number> {
    let scan;
    try {
      scan = await this.repo.pendingWork(new Date(now), this.settings.recoveryWindowHours, this.settings.checkoutTimeoutMs);
    } catch (err) {
      this.recovery.failures.inc();
      throw err;
    }
    const due = scan.items.filter((work) => now - work.created_at.getTime() >= this.settings.checkoutTimeoutMs);
    this.recovery.backlog.set(due.length);
    this.recovery.oldest.set(due.length ? Math.max(...due.map((w) => now - w.created_at.getTime())) / 1000 : 0);
    this.recovery.reads.set(scan.reads);
    let finished = 0;
    for (const work of due) {
      if (cancelled()) break;
      try {
        if (work.kind === 'checkout') await this.recoverCheckout(work);
        else {
          const order = await this.repo.order(work.user_id, work.order_id);
          if (order?.status === 'cancelled') await this.deps.release(order.id, order.items.map((i) => i.product_id));
          await this.repo.finishWork(work);
        }
        finished++;
        this.recovery.items.inc({ outcome: 'finished' });
      } catch (err) {
        this.recovery.items.inc({ outcome: 'deferred' });
        this.log.warn('recovery of an order deferred to the next pass', { order_id: work.order_id, kind: work.kind, err: (err as Error).message });
      }
    }
    if (scan.errors.length > 0) {
      // What could be read was recovered; the rest waits for the next pass, and the pass counts as failed.
      this.recovery.failures.inc();
      throw new Error(`recovery could not read all pending work (${scan.errors.length} failed reads): ${scan.errors[0]!.message}`);
    }
    this.recovery.lastSuccess.set(Date.now() / 1000);
    return finished;
  }

  private async recoverCheckout(work: PendingWork): Promise<void> {
    const orderId = work.order_id;
    let checkout = await this.repo.checkout(orderId);
    if (checkout?.state === 'reserving' && !(await this.repo.failCheckout(orderId))) checkout = await this.repo.checkout(orderId);
    else if (checkout?.state === 'reserving') checkout = { ...checkout, state: 'failed' };
    if (!checkout) {
      await this.repo.finishWork(work);
      return;
    }
    const productIds = checkout.lines.map((l) => l.product_id);
    if (checkout.state === 'failed') {
      await this.deps.release(orderId, productIds);
      await this.repo.releaseKey(checkout.user_id, checkout.idempotency_key, orderId);
      this.log.info('recovery released the stock of an unfinished checkout', { order_id: orderId });
    } else {
      const order: Order = {
        id: orderId,
        status: 'confirmed',
        items: checkout.items ?? [],
        total_cents: checkout.total_cents ?? 0,
        currency: checkout.currency ?? 'USD',
        created_at: checkout.created_at.toISOString(),
      };
      await this.repo.insertOrder(checkout.user_id, order);
      await this.repo.recordResponse(checkout.user_id, checkout.idempotency_key, orderId, 201, order);
      await this.deps.removeFromCart(checkout.user_id, productIds);
      this.log.info('recovery finished a confirmed checkout', { order_id: orderId });
    }
    await this.repo.finishWork(work);
  }
}
