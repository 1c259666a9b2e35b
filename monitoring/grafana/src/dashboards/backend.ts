/** Backend Metrics: the catalog and stock service. */
import { q, stat, timeseries } from '../builder';
import { job, orZero, perMinute, rate, sel, sumBy } from '../promql';
import { serviceDashboard } from '../service';

const j = job('backend');

export const backendDashboard = serviceDashboard({
  name: 'backend',
  title: 'Backend Metrics',
  description: 'backend: product catalog and stock reservations. RED by route, Node runtime, reservations by outcome.',
  businessTitle: 'Stock',
  business: [
    timeseries({
      title: 'Stock reservations per minute by outcome',
      description: 'Reservation calls per minute by outcome: reserved, out_of_stock, not_found, released. 0 before the first reservation.',
      unit: 'short',
      w: 16,
      stack: true,
      queries: [q(orZero(perMinute(sumBy(['outcome'], rate(sel('stock_reservations_total', j))))), '{{outcome}}')],
    }),
    stat({
      title: 'Out of stock per minute',
      description: 'Reservations refused for lack of stock, per minute.',
      unit: 'short',
      decimals: 1,
      w: 8,
      h: 8,
      queries: [q(orZero(perMinute(sumBy([], rate(sel('stock_reservations_total', j, 'outcome="out_of_stock"'))))))],
      thresholds: [{ color: 'orange', value: 1 }],
    }),
  ],
});
