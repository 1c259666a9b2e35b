import type { ServiceDefinition } from '@product-store/kit';
import { ledgerCompaction, type LedgerCompaction } from './compaction';
import { migrations } from './migrations';
import { checkStockLimits, ProductRepository, stockLimits } from './repository';
import { productRoutes } from './routes';
import { seedDemoCatalog } from './seed';
import { settings } from './settings';

/** What the routes and the compaction worker share. */
export interface BackendParts {
  repo: ProductRepository;
  compaction: LedgerCompaction;
}

export const backend: ServiceDefinition<BackendParts, typeof settings> = {
  name: 'backend',
  migrations,
  settings,
  setup: ({ db, settings: own, log }) => {
    const limits = stockLimits(own);
    checkStockLimits(limits);
    const repo = new ProductRepository(db, limits);
    return { repo, compaction: ledgerCompaction(repo, log) };
  },
  routes: productRoutes,
  workers: (_deps, { compaction }) => [compaction],
  afterStart: async (deps) => {
    if (deps.settings.SEED_DEMO_CATALOG) await seedDemoCatalog(deps);
  },
};
