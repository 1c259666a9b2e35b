import test from 'ava';
import { ConfigError, DEVELOPMENT_INTERNAL_TOKEN, DEVELOPMENT_JWT_SECRET, loadConfig } from '../src';

const strongSecret = 'x'.repeat(16) + 'y'.repeat(16) + 'z';

function refusal(env: Record<string, string>): string {
  const error = (() => {
    try {
      loadConfig('backend', env);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(error instanceof ConfigError)) throw new Error('expected a ConfigError');
  return error.message;
}

test('development defaults need no environment', (t) => {
  const config = loadConfig('backend', {});
  t.is(config.environment, 'development');
  t.is(config.port, 8000);
  t.deepEqual(config.cassandra.contactPoints, ['127.0.0.1']);
  t.is(config.cassandra.keyspace, 'product_store');
  t.is(config.jwt.algorithm, 'HS256');
  t.is(config.jwt.expirationMinutes, 30);
  t.is(config.jwt.secret, DEVELOPMENT_JWT_SECRET);
  t.is(loadConfig('order-service', {}).port, 8002);
});

test('production refuses a missing JWT secret', (t) => {
  t.regex(refusal({ ENVIRONMENT: 'production' }), /JWT_SECRET_KEY is required in production/);
});

test('production refuses a JWT secret shorter than 32 bytes', (t) => {
  t.regex(refusal({ ENVIRONMENT: 'production', JWT_SECRET_KEY: 'short-secret' }), /at least 32 bytes.*has 12/);
});

test("production refuses the guide's example secret and the development default", (t) => {
  t.regex(refusal({ ENVIRONMENT: 'production', JWT_SECRET_KEY: 'SuperSecretProductionJWTKey123456789' }), /published example/);
  t.regex(refusal({ ENVIRONMENT: 'production', JWT_SECRET_KEY: DEVELOPMENT_JWT_SECRET }), /published example/);
});

test('production refuses a missing, short or development internal token', (t) => {
  const base = { ENVIRONMENT: 'production', JWT_SECRET_KEY: strongSecret };
  t.regex(refusal(base), /INTERNAL_API_TOKEN is required in production/);
  t.regex(refusal({ ...base, INTERNAL_API_TOKEN: 'short' }), /INTERNAL_API_TOKEN must be at least 32 bytes/);
  t.regex(refusal({ ...base, INTERNAL_API_TOKEN: DEVELOPMENT_INTERNAL_TOKEN }), /development value/);
});

test('production starts with a strong secret', (t) => {
  const config = loadConfig('user-service', { ENVIRONMENT: 'production', JWT_SECRET_KEY: strongSecret, INTERNAL_API_TOKEN: strongSecret.toUpperCase(), JWT_EXPIRATION_MINUTES: '15' });
  t.is(config.jwt.secret, strongSecret);
  t.is(config.jwt.expirationMinutes, 15);
});

test('every invalid variable is named at once', (t) => {
  const message = refusal({ ENVIRONMENT: 'staging', CASSANDRA_PORT: 'abc', JWT_ALGORITHM: 'none', DEBUG: 'maybe', CASSANDRA_KEYSPACE: 'Bad-Name' });
  for (const name of ['ENVIRONMENT', 'CASSANDRA_PORT', 'JWT_ALGORITHM', 'DEBUG', 'CASSANDRA_KEYSPACE']) t.true(message.includes(name), name);
});

test('DEBUG turns on debug logs and a password turns on authentication', (t) => {
  const config = loadConfig('backend', { DEBUG: 'true', CASSANDRA_PASSWORD: 'pw', CASSANDRA_HOST: 'a, b' });
  t.is(config.logLevel, 'debug');
  t.is(config.cassandra.username, 'cassandra');
  t.deepEqual(config.cassandra.contactPoints, ['a', 'b']);
  t.is(loadConfig('backend', {}).cassandra.username, undefined);
});
