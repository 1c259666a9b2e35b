/**
 * Typed configuration from environment variables, validated once at start-up. The `variables` table
 * is the documented list (README, compose and the cluster manifests are checked against it).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { internalCallers, internalCredentialsOf, internalTokenVariable, serviceSpec, type ServiceName } from './topology';

export type Environment = 'development' | 'test' | 'production';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  service: ServiceName;
  environment: Environment;
  debug: boolean;
  logLevel: LogLevel;
  host: string;
  port: number;
  cassandra: {
    contactPoints: string[];
    port: number;
    keyspace: string;
    localDataCenter: string;
    username?: string;
    password?: string;
    replicationFactor: number;
    requestTimeoutMs: number;
  };
  jwt: JwtConfig;
  /**
   * Credentials for internal endpoints, by calling service: this service's own (sent on its calls)
   * and those of the services allowed to call it (topology internalEndpoints), no other.
   */
  internalTokens: Partial<Record<ServiceName, string>>;
  shutdownTimeoutMs: number;
  serviceUrls: { backend: string; cartService: string };
  serviceCallTimeoutMs: number;
  /** Raw environment, for a service's own variables (read through `optional`/`required` helpers). */
  env: Readonly<Record<string, string | undefined>>;
}

export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'ES256';
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'HS384', 'HS512', 'ES256'];

/**
 * HS*: one shared secret signs and verifies, so every service that holds it can sign (the operator
 * guide's mode). ES256: user-service alone holds the private key; the others verify with public keys.
 */
export interface JwtConfig {
  algorithm: JwtAlgorithm;
  expirationMinutes: number;
  /** HS*: the HMAC key. */
  secret?: string;
  /** ES256, user-service only: the signing key. */
  privateKey?: KeyObject;
  /** ES256: the keys tokens are verified with (the signing key's own first; more during a rotation). */
  publicKeys: KeyObject[];
}

export interface VariableSpec {
  name: string;
  default?: string;
  description: string;
  /** A secret: never committed, never logged. */
  secret?: boolean;
}

/** The development secret; a service in production refuses it like any other weak one. */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-change-me-0123456789';
/** A caller's development credential for internal endpoints; a service in production refuses it. */
export const developmentInternalToken = (caller: ServiceName) => `development-only-internal-token-${caller}-0123456789`;
/** The example value printed in the operator's guide: refused in production. */
const GUIDE_EXAMPLE_JWT_SECRET = 'SuperSecretProductionJWTKey123456789';
export const MIN_JWT_SECRET_BYTES = 32;

export const variables: readonly VariableSpec[] = [
  { name: 'ENVIRONMENT', default: 'development', description: '`development`, `test` or `production`; production refuses weak secrets' },
  { name: 'DEBUG', default: 'false', description: 'verbose logs (`LOG_LEVEL=debug`)' },
  { name: 'LOG_LEVEL', default: 'info', description: '`debug`, `info`, `warn` or `error`' },
  { name: 'HOST', default: '127.0.0.1', description: 'address the service listens on: loopback by default (a development machine does not serve its published development secrets to its network); the images, compose and the cluster set `0.0.0.0`' },
  { name: 'PORT', description: "the service's port (8000-8003 by default, per service)" },
  { name: 'CASSANDRA_HOST', default: '127.0.0.1', description: 'Cassandra contact points, comma-separated' },
  { name: 'CASSANDRA_PORT', default: '9042', description: 'Cassandra native protocol port' },
  { name: 'CASSANDRA_KEYSPACE', default: 'product_store', description: 'keyspace holding every table' },
  { name: 'CASSANDRA_DATACENTER', default: 'datacenter1', description: 'local data centre for the driver' },
  { name: 'CASSANDRA_USERNAME', default: 'cassandra', description: 'user for PasswordAuthenticator (only used with a password)' },
  { name: 'CASSANDRA_PASSWORD', description: 'password for PasswordAuthenticator; empty: no authentication', secret: true },
  { name: 'CASSANDRA_SERVICE_PASSWORD', description: "the migration step only (`main.js migrate`): the password it gives the service's own role", secret: true },
  { name: 'CASSANDRA_REPLICATION_FACTOR', default: '1', description: 'replication factor the keyspace is created with' },
  { name: 'CASSANDRA_REQUEST_TIMEOUT_MS', default: '2000', description: 'client-side timeout per query' },
  { name: 'JWT_SECRET_KEY', description: 'HS256/384/512: HMAC key for tokens, at least 32 bytes (`openssl rand -base64 48`); required in production', secret: true },
  { name: 'JWT_PRIVATE_KEY', description: 'ES256: the P-256 signing key (PEM, newlines may be written `\\n`); user-service only, refused by the others', secret: true },
  { name: 'JWT_PUBLIC_KEYS', description: 'ES256: the public keys (PEM, one or more) tokens are verified with; user-service adds its own key\'s' },
  ...internalCallers.map((caller) => ({
    name: internalTokenVariable(caller),
    description: `${caller}'s credential for the internal endpoints it calls, at least 32 bytes (\`openssl rand -hex 32\`); held by ${caller} and the services it calls; required in production`,
    secret: true,
  })),
  { name: 'JWT_ALGORITHM', default: 'HS256', description: '`HS256`, `HS384`, `HS512` (one shared secret) or `ES256` (user-service alone signs)' },
  { name: 'JWT_EXPIRATION_MINUTES', default: '30', description: 'token lifetime' },
  { name: 'BACKEND_URL', default: 'http://127.0.0.1:8000', description: 'where cart-service and order-service reach `backend`' },
  { name: 'CART_SERVICE_URL', default: 'http://127.0.0.1:8001', description: 'where order-service reaches `cart-service`' },
  { name: 'SERVICE_CALL_TIMEOUT_MS', default: '3000', description: 'timeout of one call to another service' },
  { name: 'SHUTDOWN_TIMEOUT_MS', default: '8000', description: 'how long in-flight requests may run after SIGTERM' },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', description: 'OTLP/HTTP endpoint for traces (read by instrumentation.ts); unset: no tracing' },
  { name: 'OTEL_SERVICE_NAME', description: "service name on the spans; defaults to the service's runtime name" },
  { name: 'TRUSTED_PROXIES', default: '', description: 'addresses or CIDRs of the load balancers in front of the gateway, comma-separated; empty: none. nginx then reads the client address from their X-Forwarded-For, and the services the one address their gateway forwards' },
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * `secrets: false`: the tokens' keys and the internal credentials are neither read nor required (the
 * migration step, which only talks to Cassandra, holds none of them).
 */
export function loadConfig(service: ServiceName, env: Readonly<Record<string, string | undefined>> = process.env, options: { secrets?: boolean } = {}): Config {
  const problems: string[] = [];
  const secrets = options.secrets !== false;
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const withDefault = (name: string): string => value(name) ?? variables.find((v) => v.name === name)?.default ?? '';
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = value(name) ?? fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      problems.push(`${name} must be one of ${allowed.join(', ')} (got "${v}")`);
      return fallback;
    }
    return v as T;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const boolean = (name: string): boolean => {
    const raw = (value(name) ?? 'false').toLowerCase();
    if (!['true', 'false', '1', '0', 'yes', 'no'].includes(raw)) problems.push(`${name} must be true or false (got "${raw}")`);
    return ['true', '1', 'yes'].includes(raw);
  };

  const url = (name: string): string => {
    const v = withDefault(name);
    try {
      const parsed = new URL(v);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme');
    } catch {
      problems.push(`${name} must be an http(s) URL (got "${v}")`);
    }
    return v.replace(/\/+$/, '');
  };

  const environment = oneOf<Environment>('ENVIRONMENT', ['development', 'test', 'production'], 'development');
  const debug = boolean('DEBUG');
  const logLevel = oneOf<LogLevel>('LOG_LEVEL', ['debug', 'info', 'warn', 'error'], debug ? 'debug' : 'info');

  const algorithm = oneOf('JWT_ALGORITHM', JWT_ALGORITHMS, 'HS256');
  let secret = algorithm === 'ES256' || !secrets ? undefined : value('JWT_SECRET_KEY');
  if (environment === 'production' && algorithm !== 'ES256' && secrets) {
    if (!secret) problems.push('JWT_SECRET_KEY is required in production (generate one: openssl rand -base64 48)');
    else if (Buffer.byteLength(secret) < MIN_JWT_SECRET_BYTES) problems.push(`JWT_SECRET_KEY must be at least ${MIN_JWT_SECRET_BYTES} bytes in production (it has ${Buffer.byteLength(secret)})`);
    else if (secret === GUIDE_EXAMPLE_JWT_SECRET || secret === DEVELOPMENT_JWT_SECRET) problems.push('JWT_SECRET_KEY is a published example value; generate your own (openssl rand -base64 48)');
  }
  if (algorithm !== 'ES256') secret ??= DEVELOPMENT_JWT_SECRET;
  const keys = algorithm === 'ES256' && secrets ? signingKeys(service, value('JWT_PRIVATE_KEY'), value('JWT_PUBLIC_KEYS'), problems) : { publicKeys: [] };
  if (algorithm !== 'ES256' && value('JWT_PRIVATE_KEY')) problems.push(`JWT_PRIVATE_KEY is only read with JWT_ALGORITHM=ES256 (got ${algorithm})`);

  const internalTokens: Partial<Record<ServiceName, string>> = {};
  for (const caller of secrets ? internalCredentialsOf(service) : []) {
    const name = internalTokenVariable(caller);
    const token = value(name);
    if (environment === 'production') {
      if (!token) {
        problems.push(
          `${name} is required in production (generate one: openssl rand -hex 32)` +
            (value('INTERNAL_API_TOKEN') ? '; INTERNAL_API_TOKEN, one token for every service, is no longer read: each calling service has its own' : ''),
        );
      } else if (Buffer.byteLength(token) < MIN_JWT_SECRET_BYTES) problems.push(`${name} must be at least ${MIN_JWT_SECRET_BYTES} bytes in production`);
      else if (token === developmentInternalToken(caller)) problems.push(`${name} is the development value; generate your own (openssl rand -hex 32)`);
    }
    internalTokens[caller] = token ?? developmentInternalToken(caller);
  }
  const held = Object.entries(internalTokens);
  for (const [i, [caller, token]] of held.entries()) {
    const twin = held.slice(i + 1).find(([, other]) => other === token);
    if (twin) problems.push(`${internalTokenVariable(caller as ServiceName)} and ${internalTokenVariable(twin[0] as ServiceName)} must differ: each caller has its own credential`);
  }

  const password = value('CASSANDRA_PASSWORD');
  const config: Config = {
    service,
    environment,
    debug,
    logLevel,
    host: withDefault('HOST'),
    port: integer('PORT', serviceSpec(service).port, 0, 65535),
    cassandra: {
      contactPoints: withDefault('CASSANDRA_HOST').split(',').map((h) => h.trim()).filter(Boolean),
      port: integer('CASSANDRA_PORT', 9042, 1, 65535),
      keyspace: withDefault('CASSANDRA_KEYSPACE'),
      localDataCenter: withDefault('CASSANDRA_DATACENTER'),
      username: password ? withDefault('CASSANDRA_USERNAME') : undefined,
      password,
      replicationFactor: integer('CASSANDRA_REPLICATION_FACTOR', 1, 1, 9),
      requestTimeoutMs: integer('CASSANDRA_REQUEST_TIMEOUT_MS', 2000, 100, 60_000),
    },
    jwt: { algorithm, expirationMinutes: integer('JWT_EXPIRATION_MINUTES', 30, 1, 24 * 60), secret, ...keys },
    internalTokens,
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', 8000, 0, 60_000),
    serviceUrls: { backend: url('BACKEND_URL'), cartService: url('CART_SERVICE_URL') },
    serviceCallTimeoutMs: integer('SERVICE_CALL_TIMEOUT_MS', 3000, 100, 60_000),
    env,
  };
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(config.cassandra.keyspace)) {
    problems.push(`CASSANDRA_KEYSPACE must be a lower-case CQL identifier (got "${config.cassandra.keyspace}")`);
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/** PEM blocks of a variable; env files hold one line, so `\\n` stands for a newline. */
function pemBlocks(raw: string): string[] {
  return raw.replace(/\\n/g, '\n').match(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g) ?? [];
}

const isP256 = (key: KeyObject) => key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';

/**
 * ES256 keys, in any environment (there is no development key pair): user-service needs the private
 * key, the others need public keys and must not hold the private one. A key that does not parse, or
 * is not P-256, refuses the start; no key material is ever put in a message.
 */
function signingKeys(service: ServiceName, privatePem: string | undefined, publicPem: string | undefined, problems: string[]): Pick<JwtConfig, 'privateKey' | 'publicKeys'> {
  const publicKeys: KeyObject[] = [];
  let privateKey: KeyObject | undefined;
  if (service !== 'user-service') {
    if (privatePem) problems.push('JWT_PRIVATE_KEY must be given to user-service alone: the other services verify tokens with JWT_PUBLIC_KEYS');
  } else if (!privatePem) {
    problems.push('JWT_PRIVATE_KEY is required with JWT_ALGORITHM=ES256 (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)');
  } else {
    const [block, ...more] = pemBlocks(privatePem);
    try {
      if (!block || more.length) throw new Error('one PEM block');
      privateKey = createPrivateKey(block);
      if (!isP256(privateKey)) throw new Error('P-256');
      publicKeys.push(createPublicKey(privateKey));
    } catch {
      privateKey = undefined;
      problems.push('JWT_PRIVATE_KEY must be one P-256 (prime256v1) private key in PEM');
    }
  }
  for (const block of pemBlocks(publicPem ?? '')) {
    if (/PRIVATE KEY/.test(block.split('\n')[0])) {
      problems.push('JWT_PUBLIC_KEYS holds a private key: give the services the public key only (openssl pkey -pubout)');
      continue;
    }
    try {
      const key = createPublicKey(block);
      if (!isP256(key)) throw new Error('P-256');
      publicKeys.push(key);
    } catch {
      problems.push('JWT_PUBLIC_KEYS must hold P-256 (prime256v1) public keys in PEM');
    }
  }
  if (publicPem && !pemBlocks(publicPem).length) problems.push('JWT_PUBLIC_KEYS holds no PEM block (-----BEGIN PUBLIC KEY-----)');
  if (service !== 'user-service' && !publicKeys.length && !publicPem) problems.push('JWT_PUBLIC_KEYS is required with JWT_ALGORITHM=ES256: the public key of user-service\'s JWT_PRIVATE_KEY');
  return { privateKey, publicKeys };
}
