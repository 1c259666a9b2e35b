/**
 * PromQL helpers. Expressions keep Grafana's $__rate_interval so rates follow the scrape interval and zoom.
 *
 * Series that exist only after an event (a labelled counter's first increment, a 5xx response, a
 * checkout failure) are written so the panel still has data before that event: ratios take a zero
 * numerator where the error series is missing, and single series fall back to `vector(0)`.
 */

export const RATE_INTERVAL = '$__rate_interval';

/** The service's own scrape and probe routes: excluded where a figure stands for user traffic. */
export const OPS_ROUTES = 'route!~"/metrics|/health|/ready"';

/** The HTTP histogram every service exposes (prom-client, seconds). */
export const HTTP = 'http_request_duration_seconds';

/** `metric{m1,m2}` */
export const sel = (metric: string, ...matchers: string[]): string => `${metric}{${matchers.join(',')}}`;

export const job = (name: string): string => `job="${name}"`;

export const rate = (selector: string, window = RATE_INTERVAL): string => `rate(${selector}[${window}])`;

export const sumBy = (labels: string[], inner: string): string => (labels.length ? `sum by (${labels.join(', ')}) (${inner})` : `sum(${inner})`);

export const maxBy = (labels: string[], inner: string): string => (labels.length ? `max by (${labels.join(', ')}) (${inner})` : `max(${inner})`);

/** Per second to per minute. */
export const perMinute = (expr: string): string => `${expr} * 60`;

/**
 * The expression, or a single 0 when it has no series at all (e.g. a counter not yet incremented).
 * `on()` matters: a plain `or vector(0)` would add the label-less 0 next to every labelled series.
 */
export const orZero = (expr: string): string => `${expr.includes(' or ') ? `(${expr})` : expr} or on() vector(0)`;

/**
 * Share of requests answered with 5xx, grouped by `by`. Where no 5xx series exists yet the numerator is
 * 0 for every group that has traffic; groups without traffic in the window drop out instead of NaN.
 */
export function errorRatio(by: string[], ...matchers: string[]): string {
  const all = sumBy(by, rate(sel(`${HTTP}_count`, ...matchers)));
  const failed = sumBy(by, rate(sel(`${HTTP}_count`, ...matchers, 'status_code=~"5.."')));
  return orZero(`(${failed} or 0 * ${all}) / (${all} > 0)`);
}

/** A latency quantile from the HTTP histogram, grouped by `by` (le is added). */
export function httpQuantile(quantile: number, by: string[], ...matchers: string[]): string {
  return `histogram_quantile(${quantile}, ${sumBy(['le', ...by], rate(sel(`${HTTP}_bucket`, ...matchers)))})`;
}
