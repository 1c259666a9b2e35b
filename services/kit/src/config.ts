/**
 * Typed configuration from environment variables, validated once at start-up. The `variables` table
 * is the documented list (README, compose and the cluster manifests are checked against it).
 */
import { serviceSpec, type ServiceName } from './topology';

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
  jwt: {
    secret: string;
    algorithm: 'HS256' | 'HS384' | 'HS512';
    expirationMinutes: number;
  };
  /** Shared by the services: their calls to each other's internal endpoints carry it. */
  internalToken: string;
  shutdownTimeoutMs: number;
  serviceUrls: { backend: string; cartService: string };
  serviceCallTimeoutMs: number;
  /** Raw environment, for a service's own variables (read through `optional`/`required` helpers). */
  env: Readonly<Record<string, string | undefined>>;
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
/** The development token for calls between services; a service in production refuses it. */
export const DEVELOPMENT_INTERNAL_TOKEN = 'development-only-internal-token-0123456789';
/** The example value printed in the operator's guide: refused in production. */
const GUIDE_EXAMPLE_JWT_SECRET = 'SuperSecretProductionJWTKey123456789';
export const MIN_JWT_SECRET_BYTES = 32;

export const variables: readonly VariableSpec[] = [
  { name: 'ENVIRONMENT', default: 'development', description: '`development`, `test` or `production`; production refuses weak secrets' },
  { name: 'DEBUG', default: 'false', description: 'verbose logs (`LOG_LEVEL=debug`)' },
  { name: 'LOG_LEVEL', default: 'info', description: '`debug`, `info`, `warn` or `error`' },
  { name: 'HOST', default: '0.0.0.0', description: 'address the service listens on' },
  { name: 'PORT', description: "the service's port (8000-8003 by default, per service)" },
  { name: 'CASSANDRA_HOST', default: '127.0.0.1', description: 'Cassandra contact points, comma-separated' },
  { name: 'CASSANDRA_PORT', default: '9042', description: 'Cassandra native protocol port' },
  { name: 'CASSANDRA_KEYSPACE', default: 'product_store', description: 'keyspace holding every table' },
  { name: 'CASSANDRA_DATACENTER', default: 'datacenter1', description: 'local data centre for the driver' },
  { name: 'CASSANDRA_USERNAME', default: 'cassandra', description: 'user for PasswordAuthenticator (only used with a password)' },
  { name: 'CASSANDRA_PASSWORD', description: 'password for PasswordAuthenticator; empty: no authentication', secret: true },
  { name: 'CASSANDRA_REPLICATION_FACTOR', default: '1', description: 'replication factor the keyspace is created with' },
  { name: 'CASSANDRA_REQUEST_TIMEOUT_MS', default: '2000', description: 'client-side timeout per query' },
  { name: 'JWT_SECRET_KEY', description: 'HMAC key for tokens, at least 32 bytes (`openssl rand -base64 48`); required in production', secret: true },
  { name: 'INTERNAL_API_TOKEN', description: 'shared by the services for their internal endpoints, at least 32 bytes (`openssl rand -hex 32`); required in production', secret: true },
  { name: 'JWT_ALGORITHM', default: 'HS256', description: '`HS256`, `HS384` or `HS512`' },
  { name: 'JWT_EXPIRATION_MINUTES', default: '30', description: 'token lifetime' },
  { name: 'BACKEND_URL', default: 'http://127.0.0.1:8000', description: 'where cart-service and order-service reach `backend`' },
  { name: 'CART_SERVICE_URL', default: 'http://127.0.0.1:8001', description: 'where order-service reaches `cart-service`' },
  { name: 'SERVICE_CALL_TIMEOUT_MS', default: '3000', description: 'timeout of one call to another service' },
  { name: 'SHUTDOWN_TIMEOUT_MS', default: '8000', description: 'how long in-flight requests may run after SIGTERM' },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', description: 'OTLP/HTTP endpoint for traces (read by instrumentation.ts); unset: no tracing' },
  { name: 'OTEL_SERVICE_NAME', description: "service name on the spans; defaults to the service's runtime name" },
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(service: ServiceName, env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const problems: string[] = [];
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

  let secret = value('JWT_SECRET_KEY');
  if (environment === 'production') {
    if (!secret) problems.push('JWT_SECRET_KEY is required in production (generate one: openssl rand -base64 48)');
    else if (Buffer.byteLength(secret) < MIN_JWT_SECRET_BYTES) problems.push(`JWT_SECRET_KEY must be at least ${MIN_JWT_SECRET_BYTES} bytes in production (it has ${Buffer.byteLength(secret)})`);
    else if (secret === GUIDE_EXAMPLE_JWT_SECRET || secret === DEVELOPMENT_JWT_SECRET) problems.push('JWT_SECRET_KEY is a published example value; generate your own (openssl rand -base64 48)');
  }
  secret ??= DEVELOPMENT_JWT_SECRET;

  let internalToken = value('INTERNAL_API_TOKEN');
  if (environment === 'production') {
    if (!internalToken) problems.push('INTERNAL_API_TOKEN is required in production (generate one: openssl rand -hex 32)');
    else if (Buffer.byteLength(internalToken) < MIN_JWT_SECRET_BYTES) problems.push(`INTERNAL_API_TOKEN must be at least ${MIN_JWT_SECRET_BYTES} bytes in production`);
    else if (internalToken === DEVELOPMENT_INTERNAL_TOKEN) problems.push('INTERNAL_API_TOKEN is the development value; generate your own (openssl rand -hex 32)');
  }
  internalToken ??= DEVELOPMENT_INTERNAL_TOKEN;

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
    jwt: {
      secret,
      algorithm: oneOf('JWT_ALGORITHM', ['HS256', 'HS384', 'HS512'] as const, 'HS256'),
      expirationMinutes: integer('JWT_EXPIRATION_MINUTES', 30, 1, 24 * 60),
    },
    internalToken,
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
