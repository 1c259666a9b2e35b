/**
 * order-service's own settings (src/settings.ts): refused at start-up with the messages they always
 * had, every problem at once, and handed to the service typed.
 */
import test from 'ava';
import { ConfigError, startService } from '@product-store/kit';
import { dropKeyspace, startTestService, testEnv } from '@product-store/kit/testing';
import { orderService } from '../src/service';

test('invalid settings refuse the start, each named, all at once', async (t) => {
  const env = { ...testEnv(), CHECKOUT_TIMEOUT_MS: '50', IDEMPOTENCY_WAIT_MS: 'soon', CHECKOUT_RECOVERY_WINDOW_HOURS: '0', SERVICE_CALL_TIMEOUT_MS: '99999999' };
  const error = await t.throwsAsync(startService(orderService, { env, logSink: () => undefined }), { instanceOf: ConfigError });
  t.deepEqual(error!.problems, [
    'SERVICE_CALL_TIMEOUT_MS must be an integer number of milliseconds from 100 to 60000 (got "99999999")',
    'CHECKOUT_TIMEOUT_MS must be an integer number of milliseconds from 100 to 3600000 (got "50")',
    'CHECKOUT_RECOVERY_WINDOW_HOURS must be an integer from 1 to 720 (got "0")',
    'IDEMPOTENCY_WAIT_MS must be an integer number of milliseconds from 100 to 3600000 (got "soon")',
  ]);
});

test('its settings reach it typed, the defaults where unset', async (t) => {
  const env = testEnv({ CHECKOUT_TIMEOUT_MS: '45000', CHECKOUT_RECOVERY_WINDOW_HOURS: '24' });
  const service = await startTestService(orderService, env);
  try {
    t.deepEqual(service.deps.settings, {
      CHECKOUT_TIMEOUT_MS: 45_000,
      CHECKOUT_RECOVERY_INTERVAL_MS: 5_000,
      CHECKOUT_RECOVERY_WINDOW_HOURS: 24,
      IDEMPOTENCY_WAIT_MS: 5_000,
      CHECKOUT_RESPONSE_DEADLINE_MS: 10_000,
    });
  } finally {
    await service.stop();
    await dropKeyspace(env.CASSANDRA_KEYSPACE!);
  }
});
