/**
 * Recovery: finishes what a checkout or a cancellation left undone (a crash, a dependency that
 * failed), from the pending work they record (work-queue.ts); the saga is described in checkout.ts.
 * It runs as the service's worker (recoveryWorker), on the one replica that holds the recovery lease.
 */
import type { Logger, Metrics, Worker } from '@product-store/kit';
import type { CheckoutSettings } from './checkout';
import type { Dependencies } from './clients';
import type { Order } from './orders';
import type { RecoveryLease } from './recovery-lease';
import type { OrderRepository, PendingWork } from './repository';

export class Recovery {
  private readonly backlog;
  private readonly oldest;
  private readonly reads;
  private readonly failures;
  private readonly lastSuccess;
  private readonly items;

  constructor(
    private readonly repo: OrderRepository,
    private readonly deps: Pick<Dependencies, 'release' | 'removeFromCart'>,
    private readonly settings: Pick<CheckoutSettings, 'checkoutTimeoutMs' | 'recoveryWindowHours'>,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.backlog = metrics.gauge('checkout_recovery_backlog', 'Unfinished checkouts and cancellations older than the checkout timeout, seen by the last recovery pass');
    this.oldest = metrics.gauge('checkout_recovery_oldest_pending_seconds', 'Age of the oldest unfinished work seen by the last recovery pass (0: none)');
    this.reads = metrics.gauge('checkout_recovery_pass_reads', 'Partition reads (pages) of the last recovery pass');
    this.failures = metrics.counter('checkout_recovery_pass_failures_total', 'Recovery passes that failed or could not read all pending work');
    this.lastSuccess = metrics.gauge('checkout_recovery_last_success_timestamp_seconds', 'When the last complete recovery pass ended (Unix time)');
    this.items = metrics.counter('checkout_recovery_items_total', 'Pending work recovery handled, by outcome (finished, deferred to the next pass)', ['outcome'] as const);
  }

  /**
   * A pass left to the replica that holds the recovery lease (recovery-lease.ts): this one saw no work,
   * and completed its part, checking that a holder exists. The holder's gauges carry the backlog (the
   * alerts take the highest of the replicas); a holder whose passes fail or hang alerts on its own.
   */
  leftToLeader(): void {
    this.backlog.set(0);
    this.oldest.set(0);
    this.reads.set(0);
    this.lastSuccess.set(Date.now() / 1000);
  }

  /**
   * One recovery pass over pending work older than the checkout timeout; returns how many it finished.
   * `stopping` is asked between items: a stopping service ends the pass there (the rest waits for the
   * next pass, on this replica or another).
   */
  async pass(now = Date.now(), stopping: () => boolean = () => false): Promise<number> {
    let scan;
    try {
      scan = await this.repo.pendingWork(new Date(now), this.settings.recoveryWindowHours, this.settings.checkoutTimeoutMs);
    } catch (err) {
      this.failures.inc();
      throw err;
    }
    const due = scan.items.filter((work) => now - work.created_at.getTime() >= this.settings.checkoutTimeoutMs);
    this.backlog.set(due.length);
    this.oldest.set(due.length ? Math.max(...due.map((w) => now - w.created_at.getTime())) / 1000 : 0);
    this.reads.set(scan.reads);
    let finished = 0;
    for (const work of due) {
      if (stopping()) break;
      try {
        if (work.kind === 'checkout') await this.finishCheckout(work);
        else await this.finishCancel(work);
        finished++;
        this.items.inc({ outcome: 'finished' });
      } catch (err) {
        this.items.inc({ outcome: 'deferred' });
        this.log.warn('recovery of an order deferred to the next pass', { order_id: work.order_id, kind: work.kind, err: (err as Error).message });
      }
    }
    if (scan.errors.length > 0) {
      // What could be read was recovered; the rest waits for the next pass, and the pass counts as failed.
      this.failures.inc();
      throw new Error(`recovery could not read all pending work (${scan.errors.length} failed reads): ${scan.errors[0]!.message}`);
    }
    this.lastSuccess.set(Date.now() / 1000);
    return finished;
  }

  /** A checkout still `reserving` is failed and its stock released; a confirmed one gets its order, response and cart cleanup. */
  private async finishCheckout(work: PendingWork): Promise<void> {
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
      // Both conditional: recovery may come long after the request (its claim about to expire and the
      // key to be claimed again, the clocks of order-service's hosts apart), and is off the hot path.
      await this.repo.insertOrderOnce(checkout.user_id, order);
      // The response is written with the claim's cells (see recordResponse): those of this order's claim.
      const claim = await this.repo.idempotencyRecord(checkout.user_id, checkout.idempotency_key);
      if (claim?.order_id === orderId && !claim.response) await this.repo.recordResponse(checkout.user_id, checkout.idempotency_key, claim, 201, order);
      await this.deps.removeFromCart(checkout.user_id, orderId, checkout.lines);
      this.log.info('recovery finished a confirmed checkout', { order_id: orderId });
    }
    await this.repo.finishWork(work);
  }

  /** A cancelled order's stock goes back (once: backend's ledger applies a release once); an order not cancelled keeps it. */
  private async finishCancel(work: PendingWork): Promise<void> {
    const order = await this.repo.order(work.user_id, work.order_id);
    if (order?.status === 'cancelled') await this.deps.release(order.id, order.items.map((i) => i.product_id));
    await this.repo.finishWork(work);
  }
}

/**
 * Recovery as a worker: a pass at start, then one per `intervalMs`, on the one replica that holds the
 * recovery lease (recovery-lease.ts): the work per interval does not grow with the replicas, and
 * another replica takes over within the lease's TTL when the holder dies. Every step is idempotent, so
 * passes that overlap at a hand-over do no harm. On stop, no new pass starts, the one under way ends
 * at its next item (the kit awaits it before the database client closes), and the lease is given up
 * for another replica's next pass.
 */
export function recoveryWorker(recovery: Recovery, lease: RecoveryLease, options: { intervalMs: number; log: Logger; metrics: Metrics }): Worker {
  const leading = options.metrics.gauge('checkout_recovery_leader', 'Whether this replica held the recovery lease at its last pass (1) or left the pass to the holder (0)');
  let current: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  let held = false;
  const pass = () => {
    if (stopping) return;
    current ??= (async () => {
      try {
        held = await lease.acquire();
        leading.set(held ? 1 : 0);
        if (held) await recovery.pass(Date.now(), () => stopping);
        else recovery.leftToLeader();
      } catch (err) {
        options.log.warn('recovery pass failed', { err: (err as Error).message });
      }
    })().finally(() => (current = undefined));
  };
  return {
    name: 'checkout recovery',
    start() {
      timer = setInterval(pass, options.intervalMs);
      timer.unref();
      pass();
    },
    async stop() {
      stopping = true;
      clearInterval(timer);
      await current;
      if (held) await lease.release();
    },
  };
}
