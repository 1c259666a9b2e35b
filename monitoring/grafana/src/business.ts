/** Business panels shared by the System Overview and the service dashboards. */
import { q, timeseries, type FieldOverride, type PanelSpec } from './builder';
import { job, orZero, perMinute, rate, sel, sumBy } from './promql';

const ORDERS = job('order-service');

/** Currencies whose revenue series get Grafana's currency unit; others show as plain numbers. */
const CURRENCIES = ['USD', 'EUR', 'GBP', 'CHF', 'JPY', 'CAD', 'AUD'];

const currencyOverrides: FieldOverride[] = CURRENCIES.map((code) => ({
  matcher: { id: 'byName', options: code },
  properties: [{ id: 'unit', value: `currency${code}` }],
}));

export function ordersPerMinute(w = 8): PanelSpec {
  return timeseries({
    title: 'Orders per minute',
    description: 'Orders confirmed per minute (orders_placed_total).',
    unit: 'short',
    w,
    queries: [q(orZero(perMinute(sumBy([], rate(sel('orders_placed_total', ORDERS))))), 'orders')],
  });
}

export function revenuePerMinute(w = 8): PanelSpec {
  return timeseries({
    title: 'Revenue per minute by currency',
    description:
      'Value of confirmed orders per minute, by currency, in major units (minor units / 100; exact for two-decimal currencies). 0 before the first order.',
    unit: 'short',
    decimals: 2,
    w,
    queries: [q(orZero(`${perMinute(sumBy(['currency'], rate(sel('orders_revenue_cents_total', ORDERS))))} / 100`), '{{currency}}')],
    overrides: currencyOverrides,
  });
}

export function checkoutFailuresPerMinute(w = 8): PanelSpec {
  return timeseries({
    title: 'Checkout failures per minute by reason',
    description: 'Checkouts that produced no order, per minute, by reason (cart_empty, out_of_stock, dependency, timeout). 0 before the first failure.',
    unit: 'short',
    w,
    stack: true,
    queries: [q(orZero(perMinute(sumBy(['reason'], rate(sel('checkout_failures_total', ORDERS))))), '{{reason}}')],
  });
}
