import type { ServiceDefinition } from '@product-store/kit';
import { Checkouts } from './checkout';
import { createDependencies } from './clients';
import { migrations } from './migrations';
import { RecoveryLease } from './recovery-lease';
import { OrderRepository } from './repository';
import { orderRoutes } from './routes';

/** order-service's own variables, with their defaults. */
export const orderSettings = {
  CHECKOUT_TIMEOUT_MS: 30_000,
  CHECKOUT_RECOVERY_INTERVAL_MS: 5_000,
  IDEMPOTENCY_WAIT_MS: 5_000,
};

/** How far back recovery looks for unfinished work; older work means recovery was down for days. */
const RECOVERY_WINDOW_HOURS = { name: 'CHECKOUT_RECOVERY_WINDOW_HOURS', default: 48, min: 1, max: 720 } as const;

function windowHours(env: Readonly<Record<string, string | undefined>>): number {
  return env[RECOVERY_WINDOW_HOURS.name] ? Number(env[RECOVERY_WINDOW_HOURS.name]) : RECOVERY_WINDOW_HOURS.default;
}

function setting(env: Readonly<Record<string, string | undefined>>, name: keyof typeof orderSettings): number {
  return env[name] ? Number(env[name]) : orderSettings[name];
}

export const orderService: ServiceDefinition = {
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
  routes: (deps) => {
    const { env } = deps.config;
    const repo = new OrderRepository(deps.db);
    const checkouts = new Checkouts(
      repo,
      createDependencies(deps),
      {
        checkoutTimeoutMs: setting(env, 'CHECKOUT_TIMEOUT_MS'),
        idempotencyWaitMs: setting(env, 'IDEMPOTENCY_WAIT_MS'),
        recoveryWindowHours: windowHours(env),
      },
      deps.log,
      deps.metrics,
    );
    // Recovery: once at start-up, then on a timer, on the one replica that holds the recovery lease
    // (recovery-lease.ts): the work per interval does not grow with the replicas, and another replica
    // takes over within the lease's TTL when the holder dies. Every step is idempotent, so passes that
    // overlap at a hand-over do no harm. On stop, no new pass starts, the one under way ends before the
    // database client closes, and the lease is given up for another replica's next pass.
    const interval = setting(env, 'CHECKOUT_RECOVERY_INTERVAL_MS');
    const lease = new RecoveryLease(deps.db, interval);
    const leading = deps.metrics.gauge('checkout_recovery_leader', 'Whether this replica held the recovery lease at its last pass (1) or left the pass to the holder (0)');
    let current: Promise<void> | undefined;
    let stopping = false;
    let held = false;
    const pass = () =>
      (current ??= (async () => {
        try {
          held = await lease.acquire();
          leading.set(held ? 1 : 0);
          if (held) await checkouts.recover(Date.now(), () => stopping);
          else checkouts.leftToLeader();
        } catch (err) {
          deps.log.warn('recovery pass failed', { err: (err as Error).message });
        }
      })().finally(() => (current = undefined)));
    const timer = setInterval(() => void pass(), interval);
    timer.unref();
    void pass();
    deps.onStop(async () => {
      stopping = true;
      clearInterval(timer);
      await current;
      if (held) await lease.release();
    });
    return orderRoutes(deps, repo, checkouts);
  },
};
