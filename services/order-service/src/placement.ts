/**
 * Placing an order: POST /orders under an Idempotency-Key (the saga is described in checkout.ts).
 */
import { HttpProblem, neverDelivered, problems, types, type Logger, type Metrics } from '@product-store/kit';
import type { CheckoutSettings, Outcome } from './checkout';
import type { Dependencies } from './clients';
import { priceLines, requestFingerprint, type Order } from './orders';
import type { Checkout, IdempotencyRecord, KeyClaim, OrderRepository } from './repository';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Placement {
  private readonly placed;
  private readonly revenue;
  private readonly failures;
  private readonly pendingAnswers;

  constructor(
    private readonly repo: OrderRepository,
    private readonly deps: Dependencies,
    private readonly settings: Pick<CheckoutSettings, 'checkoutTimeoutMs' | 'idempotencyWaitMs' | 'responseDeadlineMs'>,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.placed = metrics.counter('orders_placed_total', 'Orders confirmed');
    this.revenue = metrics.counter('orders_revenue_cents_total', 'Value of confirmed orders in minor units', ['currency'] as const);
    this.failures = metrics.counter('checkout_failures_total', 'Checkouts that did not produce an order, by reason', ['reason'] as const);
    this.pendingAnswers = metrics.counter('checkout_responses_pending_total', 'POST /orders answered 503 CHECKOUT_PENDING: the checkout outlived the response deadline and went on');
  }

  /** Checkouts that outlived their response deadline and still run. */
  private readonly detached = new Set<Promise<void>>();

  /** Resolves once every checkout that outlived its response has ended (a stopping service awaits it). */
  async settled(): Promise<void> {
    while (this.detached.size) await Promise.all([...this.detached]);
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
    if (claim.claimed) return this.withinDeadline(this.checkOut(userId, key, mine), mine.order_id, mine.created_at.getTime());
    if (!claim.holder) throw problems.conflict('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed.');
    return this.replay(userId, key, fingerprint, claim.holder);
  }

  /**
   * The checkout's outcome, or 503 CHECKOUT_PENDING once the response deadline passes: a checkout
   * whose every step waits for its timeout (a database regaining its quorum, a slow dependency) goes
   * on, but the client is not left waiting past what its own timeout or a proxy's would allow. The
   * outcome is stored under the key as always, so the client's retry with the same Idempotency-Key
   * gets it (or 409 IDEMPOTENCY_IN_PROGRESS while it still runs); recovery ends a checkout that never
   * does, as for any other.
   */
  private async withinDeadline(checkout: Promise<Outcome>, orderId: string, since: number): Promise<Outcome> {
    const deadlineMs = this.settings.responseDeadlineMs;
    if (deadlineMs === undefined) return checkout;
    let timer: NodeJS.Timeout | undefined;
    // From the claim on: the claim's own Paxos round counts too.
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, since + deadlineMs - Date.now()))));
    try {
      const first = await Promise.race([checkout, late]);
      if (first !== 'late') return first;
    } finally {
      clearTimeout(timer);
    }
    this.pendingAnswers.inc();
    this.log.warn('a checkout outlived the response deadline; it goes on, and the key will replay its outcome', { order_id: orderId, deadline_ms: deadlineMs });
    // No longer a request: the drain will not wait for it, so shutdown does (settled(), order-service's worker).
    const detached = checkout.then(
      () => undefined,
      (err) => this.log.warn('a checkout answered as pending failed', { order_id: orderId, err: (err as Error).message }),
    );
    this.detached.add(detached);
    void detached.finally(() => this.detached.delete(detached));
    throw new HttpProblem(503, 'CHECKOUT_PENDING', 'Checkout pending', 'The checkout is still being processed; retry with the same Idempotency-Key to get its result.', {}, { 'Retry-After': '2' });
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

  /** Stores the outcome as the key's response, so a repeated request gets it again; returns it. */
  private async recordOutcome(userId: string, key: string, claim: KeyClaim, outcome: Outcome): Promise<Outcome> {
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

  /** The checkout itself, by the request that holds the key: read the cart, reserve, commit, order. */
  private async checkOut(userId: string, key: string, claim: KeyClaim): Promise<Outcome> {
    const orderId = claim.order_id;
    const created = new Date();
    let lines;
    let started = false;
    try {
      lines = await this.deps.cartLines(userId);
      if (lines.length === 0) {
        this.failures.inc({ reason: 'cart_empty' });
        return await this.recordOutcome(userId, key, claim, { status: 422, body: problems.unprocessable('CART_EMPTY', 'The cart is empty.').body() });
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
      const outcome = await this.recordOutcome(userId, key, claim, { status: 409, body: problem.body() });
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
    await this.repo.recordCommittedResponse(userId, key, claim, order);
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
}
