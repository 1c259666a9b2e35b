/**
 * How many copies of each service run behind nginx in compose and in the local stack, and what each
 * copy is called and where it listens there. A cluster's autoscaler decides its own count (from 2,
 * charts/service.ts).
 */
import { serviceSpec, services, type ServiceName } from '@product-store/kit/topology';

/** Copies of each service, so that one can restart (SIGTERM, a rolling update) while the other serves. */
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
