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

/** Environment variable through which a service finds another one, e.g. BACKEND_URL. */
export function serviceUrlVariable(name: ServiceName): string {
  return `${name.toUpperCase().replace(/-/g, '_')}_URL`;
}
