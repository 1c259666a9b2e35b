import type { ServiceDefinition } from '@product-store/kit';
import { checkoutParts, type CheckoutParts } from './checkout';
import { createDependencies } from './clients';
import { migrations } from './migrations';
import { recoveryWorker } from './recovery';
import { RecoveryLease } from './recovery-lease';
import { OrderRepository } from './repository';
import { orderRoutes } from './routes';

/** order-service's own variables, with their defaults. */
export const orderSettings = {
  CHECKOUT_TIMEOUT_MS: 30_000,
  CHECKOUT_RECOVERY_INTERVAL_MS: 5_000,
  IDEMPOTENCY_WAIT_MS: 5_000,
  CHECKOUT_RESPONSE_DEADLINE_MS: 10_000,
};

/** How far back recovery looks for unfinished work; older work means recovery was down for days. */
const RECOVERY_WINDOW_HOURS = { name: 'CHECKOUT_RECOVERY_WINDOW_HOURS', default: 48, min: 1, max: 720 } as const;

function windowHours(env: Readonly<Record<string, string | undefined>>): number {
  return env[RECOVERY_WINDOW_HOURS.name] ? Number(env[RECOVERY_WINDOW_HOURS.name]) : RECOVERY_WINDOW_HOURS.default;
}

function setting(env: Readonly<Record<string, string | undefined>>, name: keyof typeof orderSettings): number {
  return env[name] ? Number(env[name]) : orderSettings[name];
}

export const orderService: ServiceDefinition<CheckoutParts> = {
  name: 'order-service',
  migrations,
  checkConfig: ({ env }) => [
    ...(Object.keys(orderSettings) as Array<keyof typeof orderSettings>)
      .filter((name) => !(Number.isInteger(setting(env, name)) && setting(env, name) >= 100 && setting(env, name) <= 3_600_000))
      .map((name) => `${name} must be an integer number of milliseconds from 100 to 3600000 (got "${env[name]}")`),
    ...(Number.isInteger(windowHours(env)) && windowHours(env) >= RECOVERY_WINDOW_HOURS.min && windowHours(env) <= RECOVERY_WINDOW_HOURS.max
      ? []
      : [`${RECOVERY_WINDOW_HOURS.name} must be an integer from ${RECOVERY_WINDOW_HOURS.min} to ${RECOVERY_WINDOW_HOURS.max} (got "${env[RECOVERY_WINDOW_HOURS.name]}")`]),
  ],
  setup: (deps) => {
    const { env } = deps.config;
    return checkoutParts(
      new OrderRepository(deps.db),
      createDependencies(deps),
      {
        checkoutTimeoutMs: setting(env, 'CHECKOUT_TIMEOUT_MS'),
        idempotencyWaitMs: setting(env, 'IDEMPOTENCY_WAIT_MS'),
        responseDeadlineMs: setting(env, 'CHECKOUT_RESPONSE_DEADLINE_MS'),
        recoveryWindowHours: windowHours(env),
      },
      deps.log,
      deps.metrics,
    );
  },
  routes: orderRoutes,
  workers: (deps, parts) => {
    const intervalMs = setting(deps.config.env, 'CHECKOUT_RECOVERY_INTERVAL_MS');
    return [recoveryWorker(parts.recovery, new RecoveryLease(deps.db, intervalMs), { intervalMs, log: deps.log, metrics: deps.metrics })];
  },
};
