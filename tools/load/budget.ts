/**
 * Budgets given on the command line (`--budget 'p99<250ms,errors<0.1%,status5xx=0,rps>=18'`), parsed
 * once and evaluated against a run's summary. A missed budget makes the CLI exit 1.
 *
 * Grammar: `[operation.]metric OP value[unit]`, OP one of `< <= > >= = ==`.
 *
 * | metric | value |
 * |---|---|
 * | `p50`, `p90`, `p99`, `p99.9`, any `pNN[.N]`, `min`, `mean`, `max` | latency, `us`, `ms` (default) or `s` |
 * | `errors` | failed requests and dropped arrivals (see `Stats.errors`); with `%`: their share of the requests sent plus the arrivals dropped |
 * | `statusNNN`, `status5xx`, `status4xx`, ... (`x` a wildcard digit) | responses with that status; with `%`: share of the responses |
 * | `dropped` | arrivals not sent because `maxInFlight` requests were already in flight |
 * | `rps` (or `throughput`) | responses per second over the run |
 * | `orders`, `outOfStock` | checkouts that placed an order; checkouts answered 409 OUT_OF_STOCK |
 *
 * An operation prefix (`checkout.p99<=250ms`, `browse.status5xx=0`, `add.rps>=2`) narrows latency,
 * status, error and rate metrics to that operation.
 */
import { operations, type LoadSummary, type Operation } from './types';

export type Comparator = '<' | '<=' | '>' | '>=' | '=';

export interface Budget {
  /** The expression as given. */
  source: string;
  operation?: Operation;
  metric: string;
  comparator: Comparator;
  /** In the metric's unit: ms for latencies, a fraction for percentages, a count or a rate otherwise. */
  threshold: number;
  percent: boolean;
}

export interface BudgetResult {
  budget: Budget;
  /** The measured value, in the budget's unit. */
  actual: number;
  ok: boolean;
  /** The measured value with its unit: `312.4ms`, `0.25%`. */
  measured: string;
  /** `p99<250ms: 312.4ms` */
  description: string;
}

export class BudgetSyntaxError extends Error {}

const latencyMetric = /^(p\d+(?:\.\d+)?|min|mean|max)$/;
const statusMetric = /^status([1-5x][0-9x]{2})$/;
const countMetrics = new Set(['errors', 'dropped', 'rps', 'throughput', 'orders', 'outOfStock']);

/** Parses one or more budgets: a comma-separated string, or a list of them. */
export function parseBudgets(input: string | readonly string[]): Budget[] {
  const parts = (typeof input === 'string' ? [input] : input).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  return parts.map(parseBudget);
}

export function parseBudget(source: string): Budget {
  const match = /^\s*(?:([a-zA-Z]+)\.)?([a-zA-Z]+[0-9x.]*)\s*(<=|>=|==|<|>|=)\s*([0-9]+(?:\.[0-9]+)?)\s*(%|us|µs|ms|s)?\s*$/.exec(source);
  if (!match) throw new BudgetSyntaxError(`cannot read the budget "${source}": expected e.g. p99<250ms, errors<0.1%, status5xx=0, rps>=18`);
  const [, op, metric, rawComparator, rawValue, unit] = match;
  if (op !== undefined && !operations.includes(op as Operation)) {
    throw new BudgetSyntaxError(`budget "${source}": unknown operation ${op} (one of ${operations.join(', ')})`);
  }
  const comparator = (rawComparator === '==' ? '=' : rawComparator) as Comparator;
  let threshold = Number(rawValue);
  const percent = unit === '%';
  if (latencyMetric.test(metric)) {
    if (percent) throw new BudgetSyntaxError(`budget "${source}": a latency takes us, ms or s, not %`);
    if (metric.startsWith('p') && Number(metric.slice(1)) > 100) throw new BudgetSyntaxError(`budget "${source}": percentile above 100`);
    threshold = unit === 's' ? threshold * 1000 : unit === 'us' || unit === 'µs' ? threshold / 1000 : threshold;
  } else if (statusMetric.test(metric) || countMetrics.has(metric)) {
    if (unit && !percent) throw new BudgetSyntaxError(`budget "${source}": ${metric} is a count, it takes no time unit`);
    if (percent && !(metric === 'errors' || statusMetric.test(metric))) throw new BudgetSyntaxError(`budget "${source}": only errors and statuses take %`);
    if (percent) threshold /= 100;
  } else {
    throw new BudgetSyntaxError(`budget "${source}": unknown metric ${metric} (p99, max, errors, status5xx, status429, dropped, rps, orders, outOfStock)`);
  }
  return { source: source.trim(), operation: op as Operation | undefined, metric, comparator, threshold, percent };
}

function compare(actual: number, comparator: Comparator, threshold: number): boolean {
  switch (comparator) {
    case '<':
      return actual < threshold;
    case '<=':
      return actual <= threshold;
    case '>':
      return actual > threshold;
    case '>=':
      return actual >= threshold;
    case '=':
      return Math.abs(actual - threshold) < 1e-9;
  }
}

function statusMatches(status: string, pattern: string): boolean {
  if (!/^\d{3}$/.test(status)) return false;
  return [...pattern].every((c, i) => c === 'x' || c === status[i]);
}

/** The measured value of a budget's metric, in its unit. */
export function measure(budget: Budget, summary: LoadSummary): number {
  const scope = budget.operation ? summary.byOperation[budget.operation] : summary;
  const { metric } = budget;
  if (latencyMetric.test(metric)) {
    const latency = scope.latency;
    if (metric === 'min') return latency.min;
    if (metric === 'mean') return latency.mean;
    if (metric === 'max') return latency.max;
    return scope.histogram.percentile(Number(metric.slice(1)));
  }
  const status = statusMetric.exec(metric);
  if (status) {
    const count = Object.entries(scope.byStatus).filter(([s]) => statusMatches(s, status[1])).reduce((sum, [, n]) => sum + n, 0);
    const responses = Object.entries(scope.byStatus).filter(([s]) => /^\d{3}$/.test(s)).reduce((sum, [, n]) => sum + n, 0);
    return budget.percent ? (responses ? count / responses : 0) : count;
  }
  switch (metric) {
    case 'errors':
      // Of the requests sent (retries included) and the arrivals dropped.
      return budget.percent ? (scope.sent + scope.dropped ? scope.errors / (scope.sent + scope.dropped) : 0) : scope.errors;
    case 'dropped':
      return scope.dropped;
    case 'rps':
    case 'throughput':
      return scope.rps;
    case 'orders':
      return summary.checkouts.placed;
    case 'outOfStock':
      return summary.checkouts.outOfStock;
  }
  throw new Error(`unknown metric ${metric}`);
}

function format(budget: Budget, value: number): string {
  if (latencyMetric.test(budget.metric)) return `${Math.round(value * 100) / 100}ms`;
  if (budget.percent) return `${Math.round(value * 100 * 1000) / 1000}%`;
  if (budget.metric === 'rps' || budget.metric === 'throughput') return `${Math.round(value * 100) / 100}`;
  return String(value);
}

export function evaluateBudgets(budgets: readonly Budget[], summary: LoadSummary): BudgetResult[] {
  return budgets.map((budget) => {
    const actual = measure(budget, summary);
    const ok = compare(actual, budget.comparator, budget.threshold);
    const measured = format(budget, actual);
    return { budget, actual, ok, measured, description: `${budget.source}: ${measured}` };
  });
}
