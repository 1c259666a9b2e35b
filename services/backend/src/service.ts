import type { ServiceDefinition } from '@product-store/kit';
import { ledgerCompaction, type LedgerCompaction } from './compaction';
import { migrations } from './migrations';
import { checkStockLimits, ProductRepository, STOCK_DEADLINE_VARIABLE as DEADLINE, stockLimits } from './repository';
import { productRoutes } from './routes';
import { seedDemoCatalog } from './seed';

/** What the routes and the compaction worker share. */
export interface BackendParts {
  repo: ProductRepository;
  compaction: LedgerCompaction;
}

export const backend: ServiceDefinition<BackendParts> = {
  name: 'backend',
  migrations,
  checkConfig: ({ env }) => {
    const deadline = stockLimits(env).operationDeadlineMs;
    return Number.isInteger(deadline) && deadline >= 100 && deadline <= 60_000 ? [] : [`${DEADLINE} must be an integer number of milliseconds from 100 to 60000 (got "${env[DEADLINE]}")`];
  },
  setup: ({ db, config, log }) => {
    const limits = stockLimits(config.env);
    checkStockLimits(limits);
    const repo = new ProductRepository(db, limits);
    return { repo, compaction: ledgerCompaction(repo, log) };
  },
  routes: productRoutes,
  workers: (_deps, { compaction }) => [compaction],
  afterStart: async (deps) => {
    if (deps.config.env.SEED_DEMO_CATALOG === 'true') await seedDemoCatalog(deps);
  },
};
