/**
 * The runtime facts a running service needs: the services' names and ports, who may call which
 * internal endpoint and with which credential, its Cassandra role, and the gateway's upstream timings
 * its graceful shutdown waits for. Everything only a deployment reads (images, replicas, routes,
 * limits, the other components' ports) is in the deployment spec, deploy/ (`@product-store/deploy`),
 * which re-exports these: the kit is bundled into every service image and carries no deployment.
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
