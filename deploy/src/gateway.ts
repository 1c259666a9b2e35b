/**
 * How the gateway exposes the public API: the routes, the paths it rewrites and its limits, from which
 * nginx (gateway/nginx.ts) and the cluster's Ingresses (charts/ingress.ts) are both built. The
 * upstream timings (`gatewayUpstream`) stay in the kit, whose graceful shutdown is timed against
 * them; index.ts re-exports them.
 */
import type { ServiceName } from '@product-store/kit/topology';

export interface GatewayRoute {
  /** A path (`exact`) or a path prefix (`prefix`, ending in `/`). */
  readonly path: string;
  readonly match: 'exact' | 'prefix';
  readonly service: ServiceName;
  /** Routes that get the strict per-client rate limit (credential stuffing, sign-up abuse). */
  readonly rateLimit?: 'auth';
}

/** The one list of public routes nginx and the Ingress are built from. */
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
