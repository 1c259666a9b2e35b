/** System Overview: the home dashboard. Is everything up, is the shop serving, is it selling. */
import { dashboard, q, row, stat, timeseries, upDownMapping } from '../builder';
import { checkoutFailuresPerMinute, ordersPerMinute, revenuePerMinute } from '../business';
import { HTTP, OPS_ROUTES, errorRatio, httpQuantile, orZero, rate, sel, sumBy } from '../promql';
import { cassandraPanels } from './cassandra';

/** The four services: their HTTP histogram is the only one with a `route` label. */
const SERVICES = 'job=~"backend|cart-service|order-service|user-service"';

export const systemOverviewDashboard = dashboard({
  uid: 'system-overview',
  title: 'System Overview',
  description: 'Product Store at a glance: targets up, the nginx gateway, the four services (user traffic), orders and revenue, Cassandra.',
  sections: [
    row('Health', [
      stat({
        title: 'Targets up by job',
        description: 'Every scrape job: DOWN when any of its instances fails to be scraped.',
        unit: 'short',
        w: 18,
        queries: [q('min by (job) (up)', '{{job}}')],
        mappings: upDownMapping,
      }),
      stat({
        title: 'Gateway up',
        description: 'nginx_up: whether the exporter reaches nginx stub_status (0 when nginx is down, though the exporter answers).',
        unit: 'short',
        w: 6,
        queries: [q('min(nginx_up)')],
        mappings: upDownMapping,
      }),
    ]),
    row('Gateway (nginx)', [
      timeseries({
        title: 'Gateway requests',
        description: 'HTTP requests per second handled by nginx, the only public entry.',
        unit: 'reqps',
        w: 8,
        queries: [q(sumBy([], rate('nginx_http_requests_total')), 'requests')],
      }),
      timeseries({
        title: 'Gateway connections',
        description: 'Client connections open at nginx: active, and those reading a request, writing a response or idle (waiting).',
        unit: 'short',
        w: 8,
        queries: [
          q(sumBy([], 'nginx_connections_active'), 'active'),
          q(sumBy([], 'nginx_connections_reading'), 'reading'),
          q(sumBy([], 'nginx_connections_writing'), 'writing'),
          q(sumBy([], 'nginx_connections_waiting'), 'waiting'),
        ],
      }),
      timeseries({
        title: 'Gateway connections accepted vs handled',
        description: 'New connections per second; handled below accepted means nginx dropped some (worker_connections limit).',
        unit: 'short',
        w: 8,
        queries: [
          q(sumBy([], rate('nginx_connections_accepted')), 'accepted'),
          q(sumBy([], rate('nginx_connections_handled')), 'handled'),
        ],
      }),
    ]),
    row('Services (user traffic: /metrics, /health, /ready excluded)', [
      timeseries({
        title: 'Request rate by job',
        description: 'Requests per second per service, excluding scrapes and probes.',
        unit: 'reqps',
        w: 8,
        queries: [q(orZero(sumBy(['job'], rate(sel(`${HTTP}_count`, SERVICES, OPS_ROUTES)))), '{{job}}')],
      }),
      timeseries({
        title: 'Error ratio (5xx) by job',
        description: 'Share of requests answered with a 5xx status, per service. 0 until the first 5xx.',
        unit: 'percentunit',
        w: 8,
        max: 1,
        queries: [q(errorRatio(['job'], SERVICES, OPS_ROUTES), '{{job}}')],
      }),
      timeseries({
        title: 'Latency p95 by job',
        description: '95th percentile of request duration per service, from the HTTP histogram.',
        unit: 's',
        w: 8,
        queries: [q(orZero(httpQuantile(0.95, ['job'], SERVICES, OPS_ROUTES)), '{{job}}')],
      }),
    ]),
    row('Business', [ordersPerMinute(), revenuePerMinute(), checkoutFailuresPerMinute()]),
    row('Cassandra', [
      cassandraPanels.up(),
      cassandraPanels.requests(),
      cassandraPanels.p99('Read'),
      cassandraPanels.p99('Write'),
      cassandraPanels.errors(),
      cassandraPanels.pendingCompactions(),
    ]),
  ],
});
