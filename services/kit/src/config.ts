/**
 * Typed configuration from environment variables, validated once at start-up. The kit's settings are
 * declared in settings.ts (`kitSettings`: the README, compose and the cluster manifests are checked
 * against them) and parsed by its one parser; what spans several variables (the token keys by mode,
 * the internal credentials by service) is checked here.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { kitSettings, parseSettings, type Environment, type SettingValues } from './settings';
import { internalCredentialsOf, internalTokenVariable, serviceSpec, type ServiceName } from './topology';

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
  /** REQUEST_TIMEOUT_MS: a request's deadline (deadline.ts). */
  requestTimeoutMs: number;
  serviceUrls: { backend: string; cartService: string };
  serviceCallTimeoutMs: number;
  /** The kit's settings as parsed (settings.ts, `kitSettings`). */
  settings: SettingValues<typeof kitSettings>;
  /** Raw environment (a service's own settings are parsed from it at start-up: ServiceDefinition `settings`). */
  env: Readonly<Record<string, string | undefined>>;
}

export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'ES256';
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = kitSettings.JWT_ALGORITHM.values;

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

/** The kit's settings as a flat list (name, default, description, secret): see settings.ts for the declarations. */
export const variables: readonly VariableSpec[] = Object.entries(kitSettings).map(([name, setting]) => ({
  name,
  ...('default' in setting && setting.default !== undefined ? { default: String(setting.default) } : {}),
  description: setting.description,
  ...(setting.type === 'secret' ? { secret: true } : {}),
}));

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
  const secrets = options.secrets !== false;
  const { values: s, problems } = parseSettings(kitSettings, env);
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const environment = s.ENVIRONMENT;
  const debug = s.DEBUG;
  // Unset, LOG_LEVEL follows DEBUG.
  const logLevel: LogLevel = value('LOG_LEVEL') === undefined && debug ? 'debug' : s.LOG_LEVEL;

  const algorithm: JwtAlgorithm = s.JWT_ALGORITHM;
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
  if (problems.length) throw new ConfigError(problems);
  return {
    service,
    environment,
    debug,
    logLevel,
    host: s.HOST,
    port: s.PORT ?? serviceSpec(service).port,
    cassandra: {
      contactPoints: s.CASSANDRA_HOST.split(',').map((h) => h.trim()).filter(Boolean),
      port: s.CASSANDRA_PORT,
      keyspace: s.CASSANDRA_KEYSPACE,
      localDataCenter: s.CASSANDRA_DATACENTER,
      username: password ? s.CASSANDRA_USERNAME : undefined,
      password,
      replicationFactor: s.CASSANDRA_REPLICATION_FACTOR,
      requestTimeoutMs: s.CASSANDRA_REQUEST_TIMEOUT_MS,
    },
    jwt: { algorithm, expirationMinutes: s.JWT_EXPIRATION_MINUTES, secret, ...keys },
    internalTokens,
    shutdownTimeoutMs: s.SHUTDOWN_TIMEOUT_MS,
    requestTimeoutMs: s.REQUEST_TIMEOUT_MS,
    serviceUrls: { backend: s.BACKEND_URL, cartService: s.CART_SERVICE_URL },
    serviceCallTimeoutMs: s.SERVICE_CALL_TIMEOUT_MS,
    settings: s,
    env,
  };
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
