/**
 * Everything the charts know about the ingress controller, ingress-nginx, in one place: it is in
 * end-of-maintenance, and moving to another controller or to the Gateway API should touch only
 * this file, the ingress chart and the Prometheus `nginx` job.
 */
import { kubernetesPrometheusTarget } from '../../monitoring/prometheus/config';
import { NAMESPACE } from '@product-store/deploy';

const metricsScrape = kubernetesPrometheusTarget(NAMESPACE).scrape('nginx');
if (!('dns' in metricsScrape)) throw new Error('the cluster Prometheus target must find ingress-nginx through DNS');

export const ingressNginx = {
  ingressClassName: 'nginx',
  /** Where the controller runs: its metrics Service is `<name>.<namespace>.svc.cluster.local`. */
  namespace: metricsScrape.dns.name.split('.')[1],
  /** The controller pods' labels (the official manifests and Helm chart). */
  controllerLabels: { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'controller' },
  metricsPort: metricsScrape.dns.port,
} as const;

/** The ingress-nginx annotations the charts use; values are always strings. */
export const nginxAnnotations = {
  /** Requests per second per client address; bursts up to rps × limit-burst-multiplier pass without delay. */
  limitRps: 'nginx.ingress.kubernetes.io/limit-rps',
  /** Requests per minute per client address; bursts up to rpm × limit-burst-multiplier. */
  limitRpm: 'nginx.ingress.kubernetes.io/limit-rpm',
  /** An integer ≥ 1 (default 5). */
  limitBurstMultiplier: 'nginx.ingress.kubernetes.io/limit-burst-multiplier',
  proxyBodySize: 'nginx.ingress.kubernetes.io/proxy-body-size',
  clientBodyBufferSize: 'nginx.ingress.kubernetes.io/client-body-buffer-size',
  enableCors: 'nginx.ingress.kubernetes.io/enable-cors',
  proxyHttpVersion: 'nginx.ingress.kubernetes.io/proxy-http-version',
  proxyNextUpstream: 'nginx.ingress.kubernetes.io/proxy-next-upstream',
  /**
   * Replaces the whole matched path. On any Ingress of a host, it makes ingress-nginx match every
   * path of that host as a case-insensitive regular expression prefix (`~* "^<path>"`).
   */
  rewriteTarget: 'nginx.ingress.kubernetes.io/rewrite-target',
  sslRedirect: 'nginx.ingress.kubernetes.io/ssl-redirect',
  /**
   * nginx directives added to every location of the Ingress. Refused by the controller unless its
   * ConfigMap sets `allow-snippet-annotations: "true"` and `annotations-risk-level: Critical`.
   */
  configurationSnippet: 'nginx.ingress.kubernetes.io/configuration-snippet',
} as const;

export type NginxAnnotation = keyof typeof nginxAnnotations;

/** Annotations by their short names, e.g. `{ limitRps: 50 }`. */
export function annotate(values: Partial<Record<NginxAnnotation, string | number | boolean>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [nginxAnnotations[k as NginxAnnotation], String(v)]));
}

/**
 * ingress-nginx's burst is the limit times an integer multiplier, so a burst below the limit cannot
 * be expressed: the nearest multiplier, at least 1.
 */
export function burstMultiplier(limit: number, burst: number): number {
  return Math.max(1, Math.round(burst / limit));
}
