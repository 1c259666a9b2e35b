import type { ServiceDefinition } from '@product-store/kit';
import { migrations } from './migrations';
import { productRoutes } from './routes';
import { seedDemoCatalog } from './seed';

export const backend: ServiceDefinition = {
  name: 'backend',
  migrations,
  routes: productRoutes,
  afterStart: async (deps) => {
    if (deps.config.env.SEED_DEMO_CATALOG === 'true') await seedDemoCatalog(deps);
  },
};
