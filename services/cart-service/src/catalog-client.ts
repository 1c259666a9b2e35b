/** What cart-service asks of `backend`: current names, prices and currencies of products. */
import { createServiceClient, ownInternalToken, problems, type ServiceDeps } from '@product-store/kit';
import type { CatalogProduct } from './cart';

export interface CatalogClient {
  lookup(productIds: string[]): Promise<Map<string, CatalogProduct>>;
}

export function createCatalogClient({ config, log, onStop }: ServiceDeps): CatalogClient {
  const backend = createServiceClient({ name: 'backend', baseUrl: config.serviceUrls.backend, timeoutMs: config.serviceCallTimeoutMs, log, internalToken: ownInternalToken(config) });
  onStop(() => backend.close());
  return {
    async lookup(productIds) {
      if (productIds.length === 0) return new Map();
      // A read (POST only for its list of ids): safe to send again.
      const res = await backend.call<{ items: CatalogProduct[] }>('POST', '/internal/products/lookup', { product_ids: productIds }, { idempotent: true });
      if (res.status !== 200) {
        log.error('unexpected answer from a dependency', { dependency: 'backend', status: res.status, body: res.body });
        throw problems.unavailable('backend is unavailable; try again shortly.', 'DEPENDENCY_UNAVAILABLE');
      }
      return new Map(res.body.items.map((p) => [p.id, p]));
    },
  };
}
