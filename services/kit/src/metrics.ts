/**
 * Prometheus metrics: one registry per app with the default process metrics and the HTTP histogram.
 * Labels stay bounded: the route template (never the raw path), a fixed set of methods.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { Registry, collectDefaultMetrics, Histogram, Counter, Gauge } from 'prom-client';

/** The memory this process may use: its cgroup's limit (a container's), else the machine's memory. */
export function memoryLimitBytes(): number {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const value = Number(readFileSync(file, 'utf8').trim());
      if (Number.isFinite(value) && value > 0 && value < totalmem()) return value;
    } catch {
      // not under this cgroup version
    }
  }
  return totalmem();
}

const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  counter<L extends string>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string>(name: string, help: string, labelNames?: readonly L[], buckets?: number[]): Histogram<L>;
}

export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  // prom-client also exports the totals of active handles, requests and resources as gauges named
  // `..._total`, a suffix Prometheus keeps for counters (`promtool check metrics` rejects them). They
  // are dropped: a total is the sum of the by-type gauge beside it, e.g. sum(nodejs_active_handles).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of HTTP requests, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'process_memory_limit_bytes',
    help: "Memory the process may use: its container's limit, else the machine's memory (denominator of the memory alert)",
    registers: [registry],
  }).set(memoryLimitBytes());
  return {
    registry,
    httpDuration,
    counter: (name, help, labelNames = []) => new Counter({ name, help, labelNames, registers: [registry] }),
    gauge: (name, help, labelNames = []) => new Gauge({ name, help, labelNames, registers: [registry] }),
    histogram: (name, help, labelNames = [], buckets) => new Histogram({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) }),
  };
}

/** The route template @koa/router matched, or a fixed word, so the label set stays bounded. */
export function routeLabel(ctx: { _matchedRoute?: string | RegExp; state: { routeLabel?: string } }): string {
  if (ctx.state.routeLabel) return ctx.state.routeLabel;
  const matched = ctx._matchedRoute;
  return typeof matched === 'string' ? matched : 'unmatched';
}

/** Labelled children of the HTTP histogram, by method, route and status: one lookup per request. */
const httpChildren = new WeakMap<Metrics, Map<string, { observe(value: number): void }>>();

/** Records one request in http_request_duration_seconds (methods outside the known set count as OTHER). */
export function observeHttp(metrics: Metrics, method: string, route: string, status: number, seconds: number): void {
  let children = httpChildren.get(metrics);
  if (!children) httpChildren.set(metrics, (children = new Map()));
  const key = `${method} ${status} ${route}`;
  let child = children.get(key);
  if (!child) {
    child = metrics.httpDuration.labels({ method: knownMethods.has(method) ? method : 'OTHER', route, status_code: String(status) });
    // Unknown methods are client-chosen strings: never let them grow the cache.
    if (knownMethods.has(method)) children.set(key, child);
  }
  child.observe(seconds);
}
