/** Order Service: checkout, orders, and the recovery of unfinished checkouts and cancellations. */
import { q, row, stat, timeseries } from '../builder';
import { checkoutFailuresPerMinute, ordersPerMinute, revenuePerMinute } from '../business';
import { httpQuantile, job, maxBy, orZero, perMinute, rate, sel, sumBy } from '../promql';
import { serviceDashboard } from '../service';

const j = job('order-service');
/** Checkout is POST /orders. */
const checkout = [j, 'method="POST"', 'route="/orders"'];

/**
 * Recovery (services/order-service/src/checkout.ts): each replica runs a pass every
 * CHECKOUT_RECOVERY_INTERVAL_MS (5 s) over the work older than CHECKOUT_TIMEOUT_MS (30 s). Replicas
 * share the work, so they report the same backlog; the gauges hold what the last pass saw.
 */
const backlog = sel('checkout_recovery_backlog', j);
const oldest = sel('checkout_recovery_oldest_pending_seconds', j);
/** 0 until the process completes its first pass: left out, so the age is not 50 years. */
const lastSuccess = `${sel('checkout_recovery_last_success_timestamp_seconds', j)} > 0`;

const recovery = row('Checkout recovery', [
  stat({
    title: 'Recovery backlog',
    description: 'Unfinished checkouts and cancellations past the checkout timeout that the last recovery pass found (the highest of the replicas). Normally 0.',
    unit: 'short',
    w: 6,
    queries: [q(maxBy([], backlog))],
    thresholds: [
      { color: 'orange', value: 1 },
      { color: 'red', value: 50 },
    ],
  }),
  stat({
    title: 'Oldest pending work',
    description: 'Age of the oldest unfinished work the last recovery pass found; 0 when none. Just above the checkout timeout (30 s) is normal; above 2 minutes work is not being finished (CheckoutRecoveryBehind).',
    unit: 's',
    w: 6,
    queries: [q(maxBy([], oldest))],
    thresholds: [
      { color: 'orange', value: 60 },
      { color: 'red', value: 120 },
    ],
  }),
  stat({
    title: 'Since the last completed pass',
    description: 'Time since the last complete recovery pass of the most recent replica; a pass ends every few seconds. Above 5 minutes: CheckoutRecoveryStalled.',
    unit: 's',
    w: 6,
    queries: [q(`time() - max(${lastSuccess})`)],
    thresholds: [
      { color: 'orange', value: 60 },
      { color: 'red', value: 300 },
    ],
  }),
  stat({
    title: 'Recovery pass failures in range',
    description: 'Recovery passes that failed or could not read all pending work, over the selected time range, all replicas.',
    unit: 'short',
    decimals: 0,
    w: 6,
    queries: [q(sumBy([], `increase(${sel('checkout_recovery_pass_failures_total', j)}[$__range])`))],
    thresholds: [{ color: 'red', value: 1 }],
  }),
  timeseries({
    title: 'Recovery backlog by instance',
    description: 'Unfinished checkouts and cancellations past the checkout timeout, as each replica\'s last pass found them.',
    unit: 'short',
    w: 8,
    queries: [q(maxBy(['instance'], backlog), '{{instance}}')],
  }),
  timeseries({
    title: 'Oldest pending work by instance',
    description: 'Age of the oldest unfinished work each replica\'s last pass found (0: none). The red line is the alert\'s 2 minutes.',
    unit: 's',
    w: 8,
    queries: [q(maxBy(['instance'], oldest), '{{instance}}')],
    thresholds: [{ color: 'red', value: 120 }],
  }),
  timeseries({
    title: 'Time since the last completed pass by instance',
    description: 'Age of each replica\'s last complete recovery pass; no line before its first one. The red line is the alert\'s 5 minutes.',
    unit: 's',
    w: 8,
    queries: [q(`time() - ${maxBy(['instance'], lastSuccess)}`, '{{instance}}')],
    thresholds: [{ color: 'red', value: 300 }],
  }),
  timeseries({
    title: 'Recovery pass failures per minute by instance',
    description: 'Recovery passes that failed, or could not read all pending work (they then count as failed), per minute.',
    unit: 'short',
    w: 8,
    queries: [q(perMinute(sumBy(['instance'], rate(sel('checkout_recovery_pass_failures_total', j)))), '{{instance}}')],
  }),
  timeseries({
    title: 'Recovered work per minute by outcome',
    description: 'Pending work recovery handled per minute: finished, or deferred to the next pass (its step failed). 0 before the first item.',
    unit: 'short',
    w: 8,
    stack: true,
    queries: [q(orZero(perMinute(sumBy(['outcome'], rate(sel('checkout_recovery_items_total', j))))), '{{outcome}}')],
  }),
  timeseries({
    title: 'Partition reads per recovery pass',
    description: 'Partitions (pages) the last pass of each replica read: the slot list and cursors, plus undrained slots. A climb means more undrained work, or partitions split for their tombstones.',
    unit: 'short',
    w: 8,
    queries: [q(maxBy(['instance'], sel('checkout_recovery_pass_reads', j)), '{{instance}}')],
  }),
]);

export const orderServiceDashboard = serviceDashboard({
  name: 'order-service',
  title: 'Order Service',
  description:
    'order-service: checkout and orders. RED by route, Node runtime, orders, revenue, cancellations, checkout failures, and the recovery of unfinished checkouts and cancellations.',
  businessTitle: 'Orders and checkout',
  business: [
    ordersPerMinute(),
    revenuePerMinute(),
    timeseries({
      title: 'Cancellations per minute',
      description: 'Orders cancelled per minute. 0 before the first cancellation.',
      unit: 'short',
      w: 8,
      queries: [q(orZero(perMinute(sumBy([], rate(sel('orders_cancelled_total', j))))), 'cancelled')],
    }),
    checkoutFailuresPerMinute(12),
    timeseries({
      title: 'Checkout latency p95 / p99',
      description: 'Duration of checkout (POST /orders): p95 and p99. 0 before the first checkout.',
      unit: 's',
      w: 12,
      queries: [q(orZero(httpQuantile(0.95, [], ...checkout)), 'p95'), q(orZero(httpQuantile(0.99, [], ...checkout)), 'p99')],
    }),
  ],
  more: [recovery],
});
