import type { ServiceDefinition } from '@product-store/kit';
import { checkoutParts, type CheckoutParts } from './checkout';
import { createDependencies } from './clients';
import { migrations } from './migrations';
import { recoveryWorker } from './recovery';
import { RecoveryLease } from './recovery-lease';
import { OrderRepository } from './repository';
import { orderRoutes } from './routes';
import { settings } from './settings';

export const orderService: ServiceDefinition<CheckoutParts, typeof settings> = {
  name: 'order-service',
  migrations,
  settings,
  setup: (deps) =>
    checkoutParts(
      new OrderRepository(deps.db),
      createDependencies(deps),
      {
        checkoutTimeoutMs: deps.settings.CHECKOUT_TIMEOUT_MS,
        idempotencyWaitMs: deps.settings.IDEMPOTENCY_WAIT_MS,
        responseDeadlineMs: deps.settings.CHECKOUT_RESPONSE_DEADLINE_MS,
        recoveryWindowHours: deps.settings.CHECKOUT_RECOVERY_WINDOW_HOURS,
      },
      deps.log,
      deps.metrics,
    ),
  routes: orderRoutes,
  workers: (deps, parts) => {
    const intervalMs = deps.settings.CHECKOUT_RECOVERY_INTERVAL_MS;
    return [
      recoveryWorker(parts.recovery, new RecoveryLease(deps.db, intervalMs), { intervalMs, log: deps.log, metrics: deps.metrics }),
      // Checkouts answered 503 CHECKOUT_PENDING still run after their request: they end before the clients close.
      { name: 'pending checkouts', start: () => undefined, stop: () => parts.placement.settled() },
    ];
  },
};
