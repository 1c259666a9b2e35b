import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, DEVELOPMENT_JWT_SECRET, developmentInternalToken, loadConfig, type ServiceName } from '../src';

const strongSecret = 'x'.repeat(16) + 'y'.repeat(16) + 'z';

function refusal(env: Record<string, string>, service: ServiceName = 'backend'): string {
  const error = (() => {
    try {
      loadConfig(service, env);
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

const cartToken = 'c'.repeat(40);
const orderToken = 'o'.repeat(40);

test('production refuses a missing, short, development or shared internal credential', (t) => {
  const base = { ENVIRONMENT: 'production', JWT_SECRET_KEY: strongSecret };
  // backend checks the credentials of its two callers.
  t.regex(refusal(base), /INTERNAL_TOKEN_CART_SERVICE is required in production/);
  t.regex(refusal(base), /INTERNAL_TOKEN_ORDER_SERVICE is required in production/);
  t.regex(refusal({ ...base, INTERNAL_API_TOKEN: strongSecret }), /INTERNAL_API_TOKEN, one token for every service, is no longer read/);
  t.regex(refusal({ ...base, INTERNAL_TOKEN_CART_SERVICE: 'short', INTERNAL_TOKEN_ORDER_SERVICE: orderToken }), /INTERNAL_TOKEN_CART_SERVICE must be at least 32 bytes/);
  t.regex(refusal({ ...base, INTERNAL_TOKEN_CART_SERVICE: developmentInternalToken('cart-service'), INTERNAL_TOKEN_ORDER_SERVICE: orderToken }), /development value/);
  t.regex(refusal({ ...base, INTERNAL_TOKEN_CART_SERVICE: orderToken, INTERNAL_TOKEN_ORDER_SERVICE: orderToken }), /must differ/);
});

test('each service holds its own internal credential and its callers\', no other', (t) => {
  const env = { INTERNAL_TOKEN_CART_SERVICE: cartToken, INTERNAL_TOKEN_ORDER_SERVICE: orderToken };
  t.deepEqual(loadConfig('backend', env).internalTokens, { 'cart-service': cartToken, 'order-service': orderToken });
  t.deepEqual(loadConfig('cart-service', env).internalTokens, { 'cart-service': cartToken, 'order-service': orderToken });
  t.deepEqual(loadConfig('order-service', env).internalTokens, { 'order-service': orderToken });
  t.deepEqual(loadConfig('user-service', env).internalTokens, {});
  // user-service needs none in production.
  t.notThrows(() => loadConfig('user-service', { ENVIRONMENT: 'production', JWT_SECRET_KEY: strongSecret }));
});

test('production starts with a strong secret', (t) => {
  const config = loadConfig('user-service', { ENVIRONMENT: 'production', JWT_SECRET_KEY: strongSecret, JWT_EXPIRATION_MINUTES: '15' });
  t.is(config.jwt.secret, strongSecret);
  t.is(config.jwt.expirationMinutes, 15);
});

const pem = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
};

test('ES256: user-service alone takes the private key; the others take public keys', (t) => {
  const current = pem();
  const previous = pem();
  const oneLine = (text: string) => text.trim().replace(/\n/g, '\\n');
  const signer = loadConfig('user-service', { ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: oneLine(current.privatePem) });
  t.truthy(signer.jwt.privateKey);
  t.is(signer.jwt.secret, undefined);
  t.is(signer.jwt.publicKeys.length, 1);
  const verifier = loadConfig('order-service', { ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256', JWT_PUBLIC_KEYS: current.publicPem + previous.publicPem, INTERNAL_TOKEN_ORDER_SERVICE: orderToken });
  t.is(verifier.jwt.privateKey, undefined);
  t.is(verifier.jwt.publicKeys.length, 2);
  const es = { ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256', INTERNAL_TOKEN_ORDER_SERVICE: orderToken };
  t.regex(refusal({ ...es, JWT_PUBLIC_KEYS: current.publicPem, JWT_PRIVATE_KEY: current.privatePem }, 'order-service'), /JWT_PRIVATE_KEY must be given to user-service alone/);
  t.regex(refusal(es, 'order-service'), /JWT_PUBLIC_KEYS is required with JWT_ALGORITHM=ES256/);
  t.regex(refusal({ ...es, JWT_PUBLIC_KEYS: current.privatePem }, 'order-service'), /holds a private key/);
  t.regex(refusal({ ...es, JWT_PUBLIC_KEYS: 'not a key' }, 'order-service'), /holds no PEM block/);
  t.regex(refusal({ ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256' }, 'user-service'), /JWT_PRIVATE_KEY is required/);
  t.regex(refusal({ ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' }, 'user-service'), /must be one P-256/);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const message = refusal({ ENVIRONMENT: 'production', JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: rsa }, 'user-service');
  t.regex(message, /must be one P-256/);
  t.false(message.includes(rsa.split('\n')[1]), 'no key material in the message');
  // HS256 takes no private key (a mix-up, not something to ignore).
  t.regex(refusal({ JWT_PRIVATE_KEY: current.privatePem }, 'user-service'), /only read with JWT_ALGORITHM=ES256/);
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
