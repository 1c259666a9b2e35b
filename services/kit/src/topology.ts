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

/**
 * Who may call which internal endpoint (`/internal/...`, never routed by the gateway): each caller has
 * a credential of its own (INTERNAL_TOKEN_<CALLER>), and a service refuses it, 403, on an endpoint not
 * listed for that caller here. The kit's requireInternal reads this table by the matched route; the
 * deployments give each service the credentials of its callers and its own, and no other.
 */
export const internalEndpoints: Readonly<Partial<Record<ServiceName, Readonly<Record<string, readonly ServiceName[]>>>>> = {
  backend: {
    'POST /internal/products/lookup': ['cart-service'],
    'POST /internal/reservations': ['order-service'],
    'POST /internal/reservations/:id/release': ['order-service'],
  },
  'cart-service': {
    'GET /internal/carts/:user_id': ['order-service'],
    'POST /internal/carts/:user_id/remove': ['order-service'],
  },
};

/**
 * The Cassandra role a service logs in as in a deployment: its name as a CQL identifier
 * (`cart_service`), allowed SELECT and MODIFY on its own tables only (database-roles.ts).
 */
export function serviceRole(service: ServiceName): string {
  return service.replace(/-/g, '_');
}

/** The services that call internal endpoints: each has its own credential. */
export const internalCallers: readonly ServiceName[] = [
  ...new Set(Object.values(internalEndpoints).flatMap((endpoints) => Object.values(endpoints ?? {}).flat())),
].sort();

/** The variable holding a caller's credential: INTERNAL_TOKEN_ORDER_SERVICE. */
export function internalTokenVariable(caller: ServiceName): string {
  return `INTERNAL_TOKEN_${caller.toUpperCase().replace(/-/g, '_')}`;
}

/** The credentials a service holds: its own (to call) and its callers' (to check), no other. */
export function internalCredentialsOf(service: ServiceName): ServiceName[] {
  const callers = Object.values(internalEndpoints[service] ?? {}).flat();
  return internalCallers.filter((c) => c === service || callers.includes(c));
}

/**
 * How many copies of each service run behind nginx in compose and in the local stack, so that one can
 * restart (SIGTERM, a rolling update) while the other serves. A cluster's autoscaler decides its own
 * count (from 2, charts/service.ts).
 */
export const serviceReplicas = 2;

/** One copy of a service: a compose service and a process of the local stack. */
export interface Replica {
  readonly service: ServiceName;
  /** 1, 2, ... */
  readonly index: number;
  /**
   * Compose service and local process name: the first replica keeps the service's own name (every
   * operator command, log and check that names `backend` still works), the others are `<name>-<index>`.
   */
  readonly name: string;
  /** Its port in the local stack, where every replica shares 127.0.0.1: the service's port + 10 per replica after the first. */
  readonly localPort: number;
}

export function replicasOf(name: ServiceName, count: number = serviceReplicas): Replica[] {
  const spec = serviceSpec(name);
  return Array.from({ length: count }, (_, i) => ({
    service: name,
    index: i + 1,
    name: i === 0 ? name : `${name}-${i + 1}`,
    localPort: spec.port + 10 * i,
  }));
}

/** The replica a compose service or local process name stands for (`backend-2` → backend's second). */
export function replicaByName(name: string): Replica | undefined {
  for (const s of services) {
    const found = replicasOf(s.name).find((r) => r.name === name);
    if (found) return found;
  }
  return undefined;
}

/**
 * In the local stack the services reach each other through nginx too (one address in front of a
 * service's replicas, as a Docker DNS name or a cluster Service is elsewhere): its internal listener
 * for a service is on 127.0.0.1 at the service's port + 100 (8100 for backend).
 */
export function localInternalPort(name: ServiceName): number {
  return serviceSpec(name).port + 100;
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

/**
 * How nginx spreads requests over a service's replicas, and what a service's graceful shutdown is
 * timed against (services/kit/src/service.ts reads it too).
 *
 * - A replica that refuses a connection, times out or answers 502 is skipped for `failTimeout`
 *   after `maxFails` such answers (nginx's passive health; OSS nginx has no active checks), and the
 *   request goes to the next replica (`tries` attempts in all) when it is idempotent. nginx never
 *   retries a POST or PATCH once it has sent it (its default, kept: nginx cannot tell that POST
 *   /orders carries an Idempotency-Key); a connection refused means nothing was sent, so that one is
 *   retried whatever the method.
 * - nginx keeps idle connections to a replica for `keepaliveTimeoutSeconds`; the services keep them
 *   for much longer (65 s), so nginx is always the side that closes an idle one. A draining service
 *   closes no idle connection before `keepaliveTimeoutSeconds` + `drainMarginMs` after SIGTERM: by
 *   then nginx has dropped every idle connection it could send a request on.
 */
export const gatewayUpstream = {
  maxFails: 1,
  failTimeoutSeconds: 2,
  tries: 2,
  connectTimeoutMs: 1000,
  keepaliveConnections: 32,
  keepaliveTimeoutSeconds: 1,
  drainMarginMs: 500,
} as const;

/** The other parts of the stack and their ports (compose and clusters; the local stack may move them). */
export const infrastructure = {
  /** Published on 80/443; inside its container (non-root) nginx listens on 8080/8443. */
  nginx: { port: 80, tlsPort: 443, containerPort: 8080, containerTlsPort: 8443, localPort: 8080, statusPort: 8081 },
  /** The storefront image's own nginx (images/storefront): behind the compose gateway and the cluster's Ingress. */
  storefront: { port: 8080 },
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

/**
 * The image of one of the project's own components: the four services, its Cassandra with the JMX
 * exporter, and the storefront (its static files in nginx-unprivileged).
 */
export function imageOf(component: ServiceName | 'cassandra' | 'storefront'): string {
  return `${images.registry}/${component}:${images.tag}`;
}
