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

/**
 * V8 flags every service process runs with: the image's CMD (the Dockerfile, checked against this by
 * deploy/test/images.test.ts), so compose and the cluster, and the local stack and the bench.
 *
 * The young generation sized once, at start: two 8 MB semi-spaces (V8 reports a 16 MB new space, or
 * 8 MB while it releases the idle one), never grown. Left to itself V8 starts small and grows the
 * young generation with the allocation rate, to a 32 MB new space; backend, which answers most of the
 * traffic, went from 8 to 16 MB in the middle of a 10-minute soak, and that was its 9–10% RSS growth
 * (docs/performance.md). Sized here, a process's memory after start-up no longer depends on how busy
 * it has been. (`--min-semi-space-size` is refused in NODE_OPTIONS, so these are arguments to node.)
 */
export const serviceSemiSpaceMb = 8;
export const serviceNodeFlags = [`--min-semi-space-size=${serviceSemiSpaceMb}`, `--max-semi-space-size=${serviceSemiSpaceMb}`] as const;

/** A service image's command (its CMD), from its working directory /app. */
export const serviceImageCommand = ['node', ...serviceNodeFlags, '--enable-source-maps', '--require', './dist/instrumentation.js', 'dist/main.js'] as const;
