/**
 * Where the project's images are published, their tag, and the third-party images the deployments
 * run. A deployment fact: the services never read it, so it lives here and not in the kit they bundle.
 */
import { version } from '../../package.json';
import type { ServiceName } from '@product-store/kit/topology';

/** Where the project's images are published, and their tag (the release version). */
export const images = {
  registry: 'ghcr.io/product-store',
  tag: version,
  /** Third-party images, pinned; compose and the cluster use exactly these. */
  thirdParty: {
    nginx: 'nginxinc/nginx-unprivileged:1.27-alpine',
    nginxExporter: 'nginx/nginx-prometheus-exporter:1.3.0',
    prometheus: 'prom/prometheus:v2.53.2',
    // 0.35.0: the first release that keeps the Telegram bot token out of its logs when a send fails
    // (prometheus/alertmanager#5254); earlier ones log the request URL, token included.
    alertmanager: 'prom/alertmanager:v0.35.0',
    grafana: 'grafana/grafana:11.2.2',
    jaeger: 'jaegertracing/all-in-one:1.62.0',
  },
} as const;

/**
 * The image of one of the project's own components: the four services, its Cassandra with the JMX
 * exporter, and the storefront (its static files in nginx-unprivileged).
 */
export function imageOf(component: ServiceName | 'cassandra' | 'storefront'): string {
  return `${images.registry}/${component}:${images.tag}`;
}
