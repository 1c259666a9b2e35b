import type { ServiceDefinition } from '@product-store/kit';
import { migrations } from './migrations';
import { STOCK_DEADLINE_VARIABLE as DEADLINE, stockLimits } from './repository';
import { productRoutes } from './routes';
import { seedDemoCatalog } from './seed';

export const backend: ServiceDefinition = {
  name: 'backend',
  migrations,
  checkConfig: ({ env }) => {
    const deadline = stockLimits(env).operationDeadlineMs;
    return Number.isInteger(deadline) && deadline >= 100 && deadline <= 60_000 ? [] : [`${DEADLINE} must be an integer number of milliseconds from 100 to 60000 (got "${env[DEADLINE]}")`];
  },
  routes: productRoutes,
  afterStart: async (deps) => {
    if (deps.config.env.SEED_DEMO_CATALOG === 'true') await seedDemoCatalog(deps);
  },
};
