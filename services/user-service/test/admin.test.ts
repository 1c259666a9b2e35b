import test from 'ava';
import { ConfigError, startService } from '@product-store/kit';
import { call, dropKeyspace, startTestService, testEnv } from '@product-store/kit/testing';
import { DEVELOPMENT_ADMIN_PASSWORD, userService } from '../src/service';

const env = testEnv({ ADMIN_EMAIL: 'Root@Example.com', ADMIN_PASSWORD: 'first-admin-password' });
test.after.always(() => dropKeyspace(env.CASSANDRA_KEYSPACE!));

const loginRole = async (url: string, password: string) => {
  const res = await call(url, '/auth/login', { method: 'POST', body: { email: 'root@example.com', password } });
  if (res.status !== 200) return res.status;
  return (await call(url, '/users/me', { token: res.body.access_token })).body.role;
};

test.serial('the admin account is created at start-up and re-ensured with a changed password', async (t) => {
  const first = await startTestService(userService, env);
  try {
    t.is(await loginRole(first.url, 'first-admin-password'), 'admin');
  } finally {
    await first.stop();
  }
  const second = await startTestService(userService, { ...env, ADMIN_PASSWORD: 'second-admin-password' });
  try {
    t.is(await loginRole(second.url, 'second-admin-password'), 'admin');
    t.is(await loginRole(second.url, 'first-admin-password'), 401);
  } finally {
    await second.stop();
  }
});

test('a customer who registered ADMIN_EMAIL first is not promoted: the account is left as it is, and the start logs an error', async (t) => {
  const customerEnv = testEnv();
  const service = await startTestService(userService, customerEnv);
  try {
    const registered = await call(service.url, '/auth/register', { method: 'POST', body: { email: 'root@example.com', password: 'customer-password', name: 'R' } });
    t.is(registered.status, 201);
  } finally {
    await service.stop();
  }
  const logs: string[] = [];
  const again = await startTestService(userService, { ...customerEnv, LOG_LEVEL: 'info', ADMIN_EMAIL: 'Root@example.com', ADMIN_PASSWORD: 'operator-admin-password' }, (line) => logs.push(line));
  try {
    t.is(await loginRole(again.url, 'customer-password'), 'customer', 'still a customer, with its own password');
    t.is(await loginRole(again.url, 'operator-admin-password'), 401, 'ADMIN_PASSWORD was not given to that account');
    const error = logs.map((l) => JSON.parse(l)).find((l) => l.level === 'error' && /NOT promoted/.test(l.msg));
    t.truthy(error, logs.join('\n'));
    t.is(error.email, 'root@example.com');
    t.regex(error.action, /runbook/);
  } finally {
    await again.stop();
    await dropKeyspace(customerEnv.CASSANDRA_KEYSPACE!);
  }
});

test('production refuses a short or development admin password before touching the database', async (t) => {
  const production = { ...env, ENVIRONMENT: 'production', JWT_SECRET_KEY: 'p'.repeat(40), INTERNAL_API_TOKEN: 'i'.repeat(40), CASSANDRA_HOST: '192.0.2.1' };
  for (const password of ['short', DEVELOPMENT_ADMIN_PASSWORD]) {
    const error = await t.throwsAsync(() => startService(userService, { env: { ...production, ADMIN_PASSWORD: password }, logSink: () => undefined }));
    t.true(error instanceof ConfigError, error?.message);
    t.regex(error!.message, /ADMIN_PASSWORD/);
  }
});
