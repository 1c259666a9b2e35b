import { version } from '../../../package.json';

/**
 * The one source of truth for the stack's runtime names and ports. The local runner, the gateway
 * configuration, compose and the cluster manifests all read it; nothing else repeats these values.
 */
export interface ServiceSpec {
  /** Runtime name: compose service, k8s Service, OTel service.name, Prometheus job. */
  readonly name: ServiceName;
  readonly port: number;
  readonly description: string;
  /** Folder under services/ holding its code. */
  readonly dir: string;
}

export type ServiceName = 'backend' | 'cart-service' | 'order-service' | 'user-service';

export const services: readonly ServiceSpec[] = [
  { name: 'backend', port: 8000, description: 'Product API: the catalog and its stock', dir: 'backend' },
  { name: 'cart-service', port: 8001, description: 'shopping cart', dir: 'cart-service' },
  { name: 'order-service', port: 8002, description: 'checkout and orders', dir: 'order-service' },
  { name: 'user-service', port: 8003, description: 'accounts and authentication (JWT)', dir: 'user-service' },
];

export function serviceSpec(name: ServiceName): ServiceSpec {
  const spec = services.find((s) => s.name === name);
  if (!spec) throw new Error(`unknown service ${name}`);
  return spec;
}

/** How the gateway exposes the public API: the one list of routes nginx and the Ingress are built from. */
export interface GatewayRoute {
  /** A path (`exact`) or a path prefix (`prefix`, ending in `/`). */
  readonly path: string;
  readonly match: 'exact' | 'prefix';
  readonly service: ServiceName;
  /** Routes that get the strict per-client rate limit (credential stuffing, sign-up abuse). */
  readonly rateLimit?: 'auth';
}

export const gatewayRoutes: readonly GatewayRoute[] = [
  { path: '/auth/login', match: 'exact', service: 'user-service', rateLimit: 'auth' },
  { path: '/auth/register', match: 'exact', service: 'user-service', rateLimit: 'auth' },
  { path: '/users/me', match: 'exact', service: 'user-service' },
  { path: '/products', match: 'exact', service: 'backend' },
  { path: '/products/', match: 'prefix', service: 'backend' },
  { path: '/cart', match: 'exact', service: 'cart-service' },
  { path: '/cart/', match: 'prefix', service: 'cart-service' },
  { path: '/orders', match: 'exact', service: 'order-service' },
  { path: '/orders/', match: 'prefix', service: 'order-service' },
];

/** The gateway's own paths, answered by backend under another path (nginx and the Ingress rewrite them). */
export const gatewayRewrites = [
  /** The operator guide's "Nginx+Backend" check: the backend's readiness (it checks Cassandra). */
  { path: '/health', service: 'backend', upstreamPath: '/ready' },
  /** The whole API's OpenAPI document, which every service carries. */
  { path: '/openapi.json', service: 'backend', upstreamPath: '/openapi/all.json' },
] as const satisfies ReadonlyArray<{ path: string; service: ServiceName; upstreamPath: string }>;

/** Gateway limits, shared by nginx and the Ingress. */
export const gatewayLimits = {
  maxBodyKilobytes: 64,
  /** Per client address on the `auth` routes. */
  authRatePerMinute: 30,
  authBurst: 10,
  /** Per client address on every other route. */
  apiRatePerSecond: 50,
  apiBurst: 100,
} as const;

/** The other parts of the stack and their ports (compose and clusters; the local stack may move them). */
export const infrastructure = {
  /** Published on 80/443; inside its container (non-root) nginx listens on 8080/8443. */
  nginx: { port: 80, tlsPort: 443, containerPort: 8080, containerTlsPort: 8443, localPort: 8080, statusPort: 8081 },
  nginxExporter: { port: 9113 },
  cassandra: { port: 9042, metricsPort: 7070 },
  prometheus: { port: 9090 },
  alertmanager: { port: 9093 },
  grafana: { port: 3000 },
  jaeger: { uiPort: 16686, otlpHttpPort: 4318, otlpGrpcPort: 4317 },
} as const;

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

/** The image of one of the project's own components (the four services and its Cassandra with the JMX exporter). */
export function imageOf(component: ServiceName | 'cassandra'): string {
  return `${images.registry}/${component}:${images.tag}`;
}
