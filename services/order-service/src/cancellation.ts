/** Cancelling a confirmed order and giving its stock back (recovery gives it back if this cannot). */
import { problems, type Logger, type Metrics } from '@product-store/kit';
import type { Dependencies } from './clients';
import type { Order } from './orders';
import type { OrderRepository } from './repository';

export class Cancellation {
  private readonly cancelled;

  constructor(
    private readonly repo: OrderRepository,
    private readonly deps: Pick<Dependencies, 'release'>,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.cancelled = metrics.counter('orders_cancelled_total', 'Orders cancelled');
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
}
