/**
 * What every Node service dashboard shows: a summary line, RED panels (rate, errors, duration) by route
 * from the HTTP histogram, and the Node runtime (event loop, heap, CPU, memory against its limit).
 */
import { dashboard, gauge, limitLine, q, row, stat, timeseries, type Dashboard, type PanelSpec, type Section } from './builder';
import { HTTP, OPS_ROUTES, errorRatio, httpQuantile, job, maxBy, orZero, rate, sel, sumBy } from './promql';

/** Services' runtime names, which are also their Prometheus `job` and their dashboards' uids. */
export type ServiceJob = 'backend' | 'cart-service' | 'order-service' | 'user-service';

/** Headline figures for one service; user traffic only (scrapes and probes excluded). */
export function summary(name: ServiceJob): PanelSpec[] {
  const j = job(name);
  return [
    stat({
      title: 'Up',
      description: `Instances of ${name} that Prometheus scrapes successfully, out of those it knows.`,
      unit: 'short',
      queries: [q(`sum(up{${j}})`, 'up'), q(`count(up{${j}})`, 'known')],
      thresholds: [],
    }),
    stat({
      title: 'Requests',
      description: 'Requests per second, excluding /metrics, /health and /ready.',
      unit: 'reqps',
      queries: [q(orZero(sumBy([], rate(sel(`${HTTP}_count`, j, OPS_ROUTES)))))],
    }),
    stat({
      title: 'Error ratio (5xx)',
      description: 'Share of requests answered with a 5xx status, excluding /metrics, /health and /ready. 0 until the first 5xx.',
      unit: 'percentunit',
      decimals: 2,
      queries: [q(errorRatio([], j, OPS_ROUTES))],
      thresholds: [
        { color: 'orange', value: 0.01 },
        { color: 'red', value: 0.05 },
      ],
    }),
    stat({
      title: 'Latency p95',
      description: '95th percentile of request duration, excluding /metrics, /health and /ready; 0 before the first request.',
      unit: 's',
      queries: [q(orZero(httpQuantile(0.95, [], j, OPS_ROUTES)))],
      thresholds: [
        { color: 'orange', value: 0.5 },
        { color: 'red', value: 1 },
      ],
    }),
    gauge({
      title: 'Memory of limit',
      description: "Resident memory of the busiest instance as a share of its limit (the container's, else the machine's).",
      unit: 'percentunit',
      max: 1,
      queries: [q(`max(${sel('process_resident_memory_bytes', j)} / ${sel('process_memory_limit_bytes', j)})`)],
      thresholds: [
        { color: 'orange', value: 0.8 },
        { color: 'red', value: 0.9 },
      ],
    }),
    stat({
      title: 'Uptime',
      description: 'Time since the youngest instance started.',
      unit: 's',
      queries: [q(`time() - max(${sel('process_start_time_seconds', j)})`)],
    }),
  ];
}

/** Rate, errors and duration by route (route templates; the scrape and probe routes appear as their own lines). */
export function red(name: ServiceJob): PanelSpec[] {
  const j = job(name);
  const byRoute = (quantile: number) =>
    timeseries({
      title: `Latency p${Math.round(quantile * 100)} by route`,
      description: `${quantile * 100}th percentile of request duration by route template, from the HTTP histogram.`,
      unit: 's',
      w: 8,
      queries: [q(httpQuantile(quantile, ['route'], j), '{{route}}')],
    });
  return [
    timeseries({
      title: 'Request rate by route',
      description: 'Requests per second by route template.',
      unit: 'reqps',
      w: 8,
      queries: [q(sumBy(['route'], rate(sel(`${HTTP}_count`, j))), '{{route}}')],
    }),
    timeseries({
      title: 'Requests by status code',
      description: 'Requests per second by HTTP status code.',
      unit: 'reqps',
      w: 8,
      stack: true,
      queries: [q(sumBy(['status_code'], rate(sel(`${HTTP}_count`, j))), '{{status_code}}')],
    }),
    timeseries({
      title: 'Error ratio (5xx) by route',
      description: 'Share of requests answered with a 5xx status, by route template. 0 until the first 5xx.',
      unit: 'percentunit',
      w: 8,
      max: 1,
      queries: [q(errorRatio(['route'], j), '{{route}}')],
    }),
    byRoute(0.5),
    byRoute(0.95),
    byRoute(0.99),
  ];
}

/** The Node runtime of each instance (prom-client default metrics). */
export function runtime(name: ServiceJob): PanelSpec[] {
  const j = job(name);
  return [
    timeseries({
      title: 'Event loop lag',
      description: 'Event loop delay: p99 over the last sampling period, and the lag measured at scrape time.',
      unit: 's',
      w: 8,
      queries: [
        q(maxBy(['instance'], sel('nodejs_eventloop_lag_p99_seconds', j)), 'p99 {{instance}}'),
        q(maxBy(['instance'], sel('nodejs_eventloop_lag_seconds', j)), 'at scrape {{instance}}'),
      ],
    }),
    timeseries({
      title: 'Process CPU',
      description: 'CPU time per second (user + system); 100% is one full core.',
      unit: 'percentunit',
      w: 8,
      queries: [q(sumBy(['instance'], rate(sel('process_cpu_seconds_total', j))), '{{instance}}')],
    }),
    timeseries({
      title: 'Memory: resident vs limit',
      description: "Resident set size, and the memory the process may use (its container's limit, else the machine's).",
      unit: 'bytes',
      w: 8,
      queries: [
        q(sumBy(['instance'], sel('process_resident_memory_bytes', j)), 'resident {{instance}}'),
        q(maxBy(['instance'], sel('process_memory_limit_bytes', j)), 'limit {{instance}}'),
      ],
      overrides: [limitLine('B')],
    }),
    timeseries({
      title: 'Heap used vs total',
      description: 'V8 heap in use, and the heap V8 has allocated.',
      unit: 'bytes',
      w: 8,
      queries: [
        q(sumBy(['instance'], sel('nodejs_heap_size_used_bytes', j)), 'used {{instance}}'),
        q(sumBy(['instance'], sel('nodejs_heap_size_total_bytes', j)), 'total {{instance}}'),
      ],
      overrides: [limitLine('B')],
    }),
    timeseries({
      title: 'GC time by kind',
      description: 'Share of wall time spent in garbage collection, by GC kind. 0 until the first collection.',
      unit: 'percentunit',
      w: 8,
      queries: [q(orZero(sumBy(['kind'], rate(sel('nodejs_gc_duration_seconds_sum', j)))), '{{kind}}')],
    }),
    timeseries({
      title: 'Active handles',
      description: 'libuv handles kept alive (sockets, timers, ...): a steady climb is a leak.',
      unit: 'short',
      w: 8,
      queries: [q(sumBy(['instance'], sel('nodejs_active_handles', j)), '{{instance}}')],
    }),
  ];
}

export interface ServiceDashboardOptions {
  name: ServiceJob;
  title: string;
  description: string;
  /** Title of the row with the service's own business metrics. */
  businessTitle: string;
  business: PanelSpec[];
  /** Further rows of the service's own, after the business row. */
  more?: Section[];
}

/** Summary, then the service's business panels (and its further rows), then RED, then the runtime. */
export function serviceDashboard(o: ServiceDashboardOptions): Dashboard {
  const sections: Section[] = [
    row('Summary', summary(o.name)),
    row(o.businessTitle, o.business),
    ...(o.more ?? []),
    row('Requests (RED)', red(o.name)),
    row('Node runtime', runtime(o.name)),
  ];
  return dashboard({ uid: o.name, title: o.title, description: o.description, sections });
}

