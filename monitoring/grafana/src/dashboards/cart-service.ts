/** Cart Service: carts and their items. */
import { q, stat, timeseries } from '../builder';
import { job, orZero, perMinute, rate, sel, sumBy } from '../promql';
import { serviceDashboard } from '../service';

const j = job('cart-service');

export const cartServiceDashboard = serviceDashboard({
  name: 'cart-service',
  title: 'Cart Service',
  description: 'cart-service: shopping carts. RED by route, Node runtime, units added to carts.',
  businessTitle: 'Carts',
  business: [
    timeseries({
      title: 'Cart adds per minute',
      description: 'Units added to carts per minute (cart_items_added_total counts units, not calls).',
      unit: 'short',
      w: 16,
      queries: [q(orZero(perMinute(sumBy([], rate(sel('cart_items_added_total', j))))), 'units')],
    }),
    stat({
      title: 'Units added in range',
      description: 'Units added to carts over the selected time range.',
      unit: 'short',
      decimals: 0,
      w: 8,
      h: 8,
      queries: [q(orZero(sumBy([], `increase(${sel('cart_items_added_total', j)}[$__range])`)))],
    }),
  ],
});
