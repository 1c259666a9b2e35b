/**
 * backend's own settings (the kit's are in services/kit/src/settings.ts), declared once: the kit
 * validates them at start-up and hands them to the service typed (`deps.settings`); the deployment
 * spec puts them in compose's environment, .env.example and the cluster's ConfigMap; the README's
 * table is checked against them.
 */
import { defineSettings } from '@product-store/kit/settings';

export const settings = defineSettings({
  SEED_DEMO_CATALOG: { type: 'boolean', default: false, description: 'seed a small demo catalog when the catalog is empty (the local stack sets `true`)' },
  // At most a minute here; against the ledger's settle time it is checked when the repository is built
  // (repository.ts, checkStockLimits).
  STOCK_OPERATION_DEADLINE_MS: {
    type: 'integer',
    unit: 'ms',
    default: 2500,
    min: 100,
    max: 60_000,
    description: 'a stock change (its wait in line included) not done by then is a 503 `STOCK_BUSY`; keep it below `SERVICE_CALL_TIMEOUT_MS`',
  },
});
