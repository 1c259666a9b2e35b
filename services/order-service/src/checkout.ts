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
import { neverDelivered, problems, types, type Logger, type Metrics } from '@product-store/kit';
import type { Dependencies } from './clients';
import { priceLines, requestFingerprint, type Order } from './orders';
import type { Checkout, IdempotencyRecord, KeyClaim, OrderRepository, PendingWork } from './repository';

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
    // The order id is also this claim's own id: every later step of the request is conditional on
    // state keyed by it, so a request that lost its key (see freeIfAbandoned) can change nothing.
    const mine: KeyClaim = { request_hash: fingerprint, order_id: types.TimeUuid.now().toString(), created_at: new Date() };
    const claim = await this.repo.claimKey(userId, key, mine);
    if (claim.claimed) return this.run(userId, key, mine);
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
   * claim, or stalls there) would answer 409 until it expires: free it, so the client's next retry
   * runs. Checking that no checkout exists and then freeing would let a stalled request wake up and
   * place a second order under the key: the check is a fence instead (a `failed` checkout written in
   * the request's place), which the request's own later `startCheckout` cannot get past.
   */
  private async freeIfAbandoned(userId: string, key: string, record: IdempotencyRecord): Promise<void> {
    if (Date.now() - record.created_at.getTime() < 2 * this.settings.checkoutTimeoutMs) return;
    if (!(await this.repo.fenceCheckout(record.order_id, userId, key))) return;
    await this.repo.releaseKey(userId, key, record.order_id);
    this.log.warn('freed an Idempotency-Key whose request never started its checkout', { order_id: record.order_id });
  }

  /** Records a final response for the key, so a repeated request gets it again. */
  private async final(userId: string, key: string, claim: KeyClaim, outcome: Outcome): Promise<Outcome> {
    await this.repo.recordResponse(userId, key, claim, outcome.status, outcome.body);
    return outcome;
  }

  /**
   * Frees the key of a checkout that ended without a final response, once nothing it reserved can
   * still be held: a retry must never compete with its own earlier attempt's stock (it would get, and
   * store for 48 h, a 409 OUT_OF_STOCK it caused itself). Until then the retry gets 409
   * IDEMPOTENCY_IN_PROGRESS, and recovery, which releases first, frees the key.
   */
  private async releaseThenFree(userId: string, key: string, orderId: string, productIds: string[]): Promise<boolean> {
    try {
      await this.deps.release(orderId, productIds);
    } catch (err) {
      this.log.warn('releasing an abandoned checkout is left to recovery', { order_id: orderId, err: (err as Error).message });
      return false;
    }
    await this.repo.releaseKey(userId, key, orderId).catch(() => undefined);
    return true;
  }

  private async run(userId: string, key: string, claim: KeyClaim): Promise<Outcome> {
    const orderId = claim.order_id;
    const created = new Date();
    let lines;
    let started = false;
    try {
      lines = await this.deps.cartLines(userId);
      if (lines.length === 0) {
        this.failures.inc({ reason: 'cart_empty' });
        return await this.final(userId, key, claim, { status: 422, body: problems.unprocessable('CART_EMPTY', 'The cart is empty.').body() });
      }
      started = await this.repo.startCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'reserving', lines, created_at: created, updated_at: created });
    } catch (err) {
      // Nothing was reserved yet: the key can go at once.
      this.failures.inc({ reason: 'dependency' });
      await this.repo.releaseKey(userId, key, orderId).catch(() => undefined);
      throw err;
    }
    if (!started) {
      // Stalled after the claim for so long that the key was freed for a retry (freeIfAbandoned): the
      // key now belongs to that retry, and this request stops before reserving anything.
      this.failures.inc({ reason: 'timeout' });
      await this.repo.finishWork({ order_id: orderId, kind: 'checkout', created_at: created }).catch(() => undefined);
      throw problems.unavailable('The checkout took too long; try again.', 'CHECKOUT_TIMEOUT');
    }
    const productIds = lines.map((l) => l.product_id);

    let reserved;
    try {
      reserved = await this.deps.reserve(orderId, lines);
    } catch (err) {
      this.failures.inc({ reason: 'dependency' });
      // A reservation request backend never received (it refused the connection) took nothing.
      await this.abandon({ order_id: orderId, user_id: userId, idempotency_key: key, lines, created_at: created }, neverDelivered(err));
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
      this.failures.inc({ reason: reserved.code === 'CURRENCY_MISMATCH' ? 'currency_mismatch' : 'out_of_stock' });
      const problem =
        reserved.code === 'CURRENCY_MISMATCH'
          ? problems.conflict('CURRENCY_MISMATCH', 'Some products in the cart are now priced in another currency than the cart; remove them to check out.', { product_ids: reserved.product_ids })
          : problems.conflict('OUT_OF_STOCK', 'Some products in the cart do not have enough stock.', { product_ids: reserved.product_ids });
      const outcome = await this.final(userId, key, claim, { status: 409, body: problem.body() });
      await this.repo.finishWork({ order_id: orderId, kind: 'checkout', created_at: created });
      return outcome;
    }

    const priced = priceLines(reserved.lines);
    if (!(await this.repo.confirmCheckout(orderId, priced))) {
      // Recovery failed the checkout first; it may not have released the stock yet.
      this.failures.inc({ reason: 'timeout' });
      await this.releaseThenFree(userId, key, orderId, productIds);
      throw problems.unavailable('The checkout took too long; try again.', 'CHECKOUT_TIMEOUT');
    }
    // Committed: from here on the order exists, whatever fails.
    const order: Order = { id: orderId, status: 'confirmed', ...priced, created_at: created.toISOString() };
    this.placed.inc();
    this.revenue.inc({ currency: order.currency }, order.total_cents);
    await this.repo.insertOrder(userId, order);
    await this.final(userId, key, claim, { status: 201, body: order });
    try {
      await this.deps.removeFromCart(userId, orderId, lines);
      await this.repo.finishWork({ order_id: orderId, kind: 'checkout', created_at: created });
    } catch (err) {
      this.log.warn('removing ordered lines from the cart is left to recovery', { order_id: orderId, err: (err as Error).message });
    }
    return { status: 201, body: order };
  }

  /**
   * The reservation's outcome is unknown: fail the checkout (if still ours), release, and free the key
   * only once the release is confirmed. Whatever is not done here, recovery does, in that order.
   * `nothingReserved`: the reservation request never reached backend, so there is nothing to release.
   */
  private async abandon(checkout: Pick<Checkout, 'order_id' | 'user_id' | 'idempotency_key' | 'lines' | 'created_at'>, nothingReserved = false): Promise<void> {
    const { order_id: orderId, user_id: userId, idempotency_key: key } = checkout;
    try {
      // Not ours any more: recovery failed it and releases, then frees the key.
      if (!(await this.repo.failCheckout(orderId))) return;
    } catch (err) {
      this.log.warn('releasing an abandoned checkout is left to recovery', { order_id: orderId, err: (err as Error).message });
      return;
    }
    if (nothingReserved) await this.repo.releaseKey(userId, key, orderId).catch(() => undefined);
    else if (!(await this.releaseThenFree(userId, key, orderId, checkout.lines.map((l) => l.product_id)))) return;
    await this.repo.finishWork({ order_id: orderId, kind: 'checkout', created_at: checkout.created_at }).catch(() => undefined);
  }

  /**
   * Cancels a confirmed order. `key` (the cancel's optional Idempotency-Key) is stored with the
   * cancellation: a retried cancel with the same key (its first 200 was lost) gets the order again
   * instead of 409, which stays the answer for any other cancel of a cancelled order.
   */
  async cancel(userId: string, orderId: string, key?: string): Promise<Order> {
    const found = await this.repo.orderRecord(userId, orderId);
    if (!found) throw problems.notFound('No order with this id.');
    const { order } = found;
    const notCancellable = () => problems.conflict('ORDER_NOT_CANCELLABLE', 'This order is already cancelled.');
    const cancelledWithKey = (record: typeof found | undefined) => key !== undefined && record?.order.status === 'cancelled' && record.cancelKey === key;
    if (cancelledWithKey(found)) return order;
    if (order.status !== 'confirmed') throw notCancellable();
    // Recorded first, so a crash after the status change still gives the stock back.
    const work = { order_id: orderId, kind: 'cancel' as const, user_id: userId, created_at: new Date() };
    await this.repo.addWork(work);
    if (!(await this.repo.cancelOrder(userId, orderId, key))) {
      // A duplicate of this cancel, sent at the same time, may have won.
      const now = key === undefined ? undefined : await this.repo.orderRecord(userId, orderId);
      if (cancelledWithKey(now)) return now!.order;
      throw notCancellable();
    }
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
   * A pass left to the replica that holds the recovery lease (recovery-lease.ts): this one saw no work,
   * and completed its part, checking that a holder exists. The holder's gauges carry the backlog (the
   * alerts take the highest of the replicas); a holder whose passes fail or hang alerts on its own.
   */
  leftToLeader(): void {
    this.recovery.backlog.set(0);
    this.recovery.oldest.set(0);
    this.recovery.reads.set(0);
    this.recovery.lastSuccess.set(Date.now() / 1000);
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
      // Released first: the key goes only once nothing of this checkout can be held (a fence, with no
      // lines, never reserved anything).
      if (productIds.length > 0) await this.deps.release(orderId, productIds);
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
      // The response is written with the claim's cells (see recordResponse): those of this order's claim.
      const claim = await this.repo.idempotencyRecord(checkout.user_id, checkout.idempotency_key);
      if (claim?.order_id === orderId && !claim.response) await this.repo.recordResponse(checkout.user_id, checkout.idempotency_key, claim, 201, order);
      await this.deps.removeFromCart(checkout.user_id, orderId, checkout.lines);
      this.log.info('recovery finished a confirmed checkout', { order_id: orderId });
    }
    await this.repo.finishWork(work);
  }
}
