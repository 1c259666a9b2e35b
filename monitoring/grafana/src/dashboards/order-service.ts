/** Order Service: checkout and orders. */
import { q, timeseries } from '../builder';
import { checkoutFailuresPerMinute, ordersPerMinute, revenuePerMinute } from '../business';
import { httpQuantile, job, orZero, perMinute, rate, sel, sumBy } from '../promql';
import { serviceDashboard } from '../service';

const j = job('order-service');
/** Checkout is POST /orders. */
const checkout = [j, 'method="POST"', 'route="/orders"'];

export const orderServiceDashboard = serviceDashboard({
  name: 'order-service',
  title: 'Order Service',
  description: 'order-service: checkout and orders. RED by route, Node runtime, orders, revenue, cancellations, checkout failures.',
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
});
