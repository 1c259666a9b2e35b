/**
 * Settings: the environment variables a service reads, each declared once (name, type, default,
 * range or rule, description). The kit declares its own (`kitSettings`, read by every service) and each
 * service its own (`services/<service>/src/settings.ts`, its ServiceDefinition's `settings`). The same
 * declarations are validated at start-up by `parseSettings` (every problem listed in one refusal) and
 * read by the deployment spec (deploy/src/components.ts: compose's environment and .env.example, the
 * cluster's ConfigMap and Secret) and the README's tables' drift test.
 *
 * This module imports nothing but the topology: the deployment spec loads it (and the services'
 * declarations) without loading Koa or the Cassandra driver (deploy/test/boundaries.test.ts).
 */
import { internalCallers, internalTokenVariable } from './topology';

export type Environment = 'development' | 'test' | 'production';
export const ENVIRONMENTS: readonly Environment[] = ['development', 'test', 'production'];

/** What a rule sees besides the value: production rules refuse what development accepts. */
export interface SettingContext {
  environment: Environment;
}

/** A problem with a set value (the whole message, naming the variable), or undefined. */
type Rule<T> = (value: T, context: SettingContext) => string | undefined;

interface Described {
  /** What it does: the README's meaning column and the comment above it in .env.example. */
  description: string;
}

/** An integer in [min, max]; `unit: 'ms'` says so in its refusal. */
export interface IntegerSetting extends Described {
  type: 'integer';
  unit?: 'ms';
  default?: number;
  min: number;
  max: number;
  rule?: Rule<number>;
}

/** `true`/`false` (also `1`/`0`, `yes`/`no`), false when unset. */
export interface BooleanSetting extends Described {
  type: 'boolean';
  default: boolean;
}

export interface EnumSetting<V extends string = string> extends Described {
  type: 'enum';
  values: readonly V[];
  default: V;
}

/**
 * Text: `string`, `url` (http or https; a trailing slash dropped), `email` (trimmed; no format check:
 * a refusal there would be new, and the account it names is checked where it is used).
 */
export interface TextSetting extends Described {
  type: 'string' | 'url' | 'email';
  default?: string;
  rule?: Rule<string>;
}

/**
 * A secret: never committed, never logged, a Secret (not the ConfigMap) in a cluster. Its value is
 * taken as given (a password may have spaces at its ends); blank is unset.
 */
export interface SecretSetting extends Described {
  type: 'secret';
  rule?: Rule<string>;
}

export type Setting = IntegerSetting | BooleanSetting | EnumSetting | TextSetting | SecretSetting;
export type Settings = Readonly<Record<string, Setting>>;

/** The typed value of one declaration. */
export type SettingValue<S extends Setting> = S extends IntegerSetting
  ? S extends { default: number } ? number : number | undefined
  : S extends BooleanSetting
    ? boolean
    : S extends EnumSetting<infer V>
      ? V
      : S extends { default: string } ? string : string | undefined;

export type SettingValues<S extends Settings> = { readonly [K in keyof S]: SettingValue<S[K]> };

/** Declares settings, keeping each one's literal types (an enum's values, whether it has a default). */
export function defineSettings<const S extends Settings>(settings: S): S {
  return settings;
}

/** The default as an environment file writes it; '' when there is none. */
export function defaultText(setting: Setting): string {
  return 'default' in setting && setting.default !== undefined ? String(setting.default) : '';
}

const TRUE = ['true', '1', 'yes'];
const BOOLEAN = [...TRUE, 'false', '0', 'no'];

/**
 * Reads and validates every declared setting: unset (absent or blank) takes the default; a value that
 * does not parse, or that its rule refuses, is a problem and its default stands in (so the caller can
 * go on collecting problems). The caller refuses the start when there is any.
 */
export function parseSettings<S extends Settings>(
  declarations: S,
  env: Readonly<Record<string, string | undefined>>,
  context: SettingContext = { environment: 'development' },
): { values: SettingValues<S>; problems: string[] } {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(declarations)) {
    const given = env[name];
    const raw = given === undefined || given.trim() === '' ? undefined : given.trim();
    const check = <T>(value: T, rule?: Rule<T>): T => {
      const problem = rule?.(value, context);
      if (problem) problems.push(problem);
      return value;
    };
    switch (setting.type) {
      case 'integer': {
        const n = Number(raw);
        if (raw === undefined) values[name] = setting.default;
        else if (!Number.isInteger(n) || n < setting.min || n > setting.max) {
          problems.push(`${name} must be an integer${setting.unit === 'ms' ? ' number of milliseconds' : ''} from ${setting.min} to ${setting.max} (got "${raw}")`);
          values[name] = setting.default;
        } else values[name] = check(n, setting.rule);
        break;
      }
      case 'boolean': {
        const v = (raw ?? String(setting.default)).toLowerCase();
        if (!BOOLEAN.includes(v)) problems.push(`${name} must be true or false (got "${v}")`);
        values[name] = BOOLEAN.includes(v) ? TRUE.includes(v) : setting.default;
        break;
      }
      case 'enum': {
        const v = raw ?? setting.default;
        if (!setting.values.includes(v)) problems.push(`${name} must be one of ${setting.values.join(', ')} (got "${v}")`);
        values[name] = setting.values.includes(v) ? v : setting.default;
        break;
      }
      case 'url': {
        const v = raw ?? setting.default;
        if (v === undefined) break;
        try {
          const parsed = new URL(v);
          if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme');
        } catch {
          problems.push(`${name} must be an http(s) URL (got "${v}")`);
        }
        values[name] = check(v.replace(/\/+$/, ''), setting.rule);
        break;
      }
      case 'string':
      case 'email': {
        const v = raw ?? setting.default;
        values[name] = v === undefined ? undefined : check(v, setting.rule);
        break;
      }
      case 'secret': {
        values[name] = raw === undefined ? undefined : check(given as string, setting.rule);
        break;
      }
    }
  }
  return { values: values as SettingValues<S>, problems };
}

/**
 * The values of declarations already validated at start-up (for code that is handed the raw
 * environment, e.g. a test's): throws what the start would have refused.
 */
export function readSettings<S extends Settings>(declarations: S, env: Readonly<Record<string, string | undefined>>, context?: SettingContext): SettingValues<S> {
  const { values, problems } = parseSettings(declarations, env, context);
  if (problems.length) throw new Error(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return values;
}

/**
 * The kit's settings, read by every service (config.ts turns them into `Config`; the token keys and the
 * internal credentials have rules across variables and services, checked there).
 */
export const kitSettings = defineSettings({
  ENVIRONMENT: { type: 'enum', values: ENVIRONMENTS, default: 'development', description: '`development`, `test` or `production`; production refuses weak secrets' },
  DEBUG: { type: 'boolean', default: false, description: 'verbose logs (`LOG_LEVEL=debug`)' },
  LOG_LEVEL: { type: 'enum', values: ['debug', 'info', 'warn', 'error'], default: 'info', description: '`debug`, `info`, `warn` or `error`' },
  HOST: {
    type: 'string',
    default: '127.0.0.1',
    description: 'address the service listens on: loopback by default (a development machine does not serve its published development secrets to its network); the images, compose and the cluster set `0.0.0.0`',
  },
  PORT: { type: 'integer', min: 0, max: 65535, description: "the service's port (8000-8003 by default, per service)" },
  CASSANDRA_HOST: { type: 'string', default: '127.0.0.1', description: 'Cassandra contact points, comma-separated' },
  CASSANDRA_PORT: { type: 'integer', default: 9042, min: 1, max: 65535, description: 'Cassandra native protocol port' },
  CASSANDRA_KEYSPACE: {
    type: 'string',
    default: 'product_store',
    description: 'keyspace holding every table',
    rule: (v) => (/^[a-z][a-z0-9_]{0,47}$/.test(v) ? undefined : `CASSANDRA_KEYSPACE must be a lower-case CQL identifier (got "${v}")`),
  },
  CASSANDRA_DATACENTER: { type: 'string', default: 'datacenter1', description: 'local data centre for the driver' },
  CASSANDRA_USERNAME: { type: 'string', default: 'cassandra', description: 'user for PasswordAuthenticator (only used with a password)' },
  CASSANDRA_PASSWORD: { type: 'secret', description: 'password for PasswordAuthenticator; empty: no authentication' },
  CASSANDRA_SERVICE_PASSWORD: { type: 'secret', description: "the migration step only (`main.js migrate`): the password it gives the service's own role" },
  CASSANDRA_REPLICATION_FACTOR: { type: 'integer', default: 1, min: 1, max: 9, description: 'replication factor the keyspace is created with' },
  CASSANDRA_REQUEST_TIMEOUT_MS: { type: 'integer', unit: 'ms', default: 2000, min: 100, max: 60_000, description: 'client-side timeout per query' },
  JWT_SECRET_KEY: { type: 'secret', description: 'HS256/384/512: HMAC key for tokens, at least 32 bytes (`openssl rand -base64 48`); required in production' },
  JWT_PRIVATE_KEY: { type: 'secret', description: 'ES256: the P-256 signing key (PEM, newlines may be written `\\n`); user-service only, refused by the others' },
  // Public, but kept with the secrets in a deployment (deploy/src/components.ts says why).
  JWT_PUBLIC_KEYS: { type: 'string', description: "ES256: the public keys (PEM, one or more) tokens are verified with; user-service adds its own key's" },
  ...Object.fromEntries(
    internalCallers.map((caller) => [
      internalTokenVariable(caller),
      {
        type: 'secret',
        description: `${caller}'s credential for the internal endpoints it calls, at least 32 bytes (\`openssl rand -hex 32\`); held by ${caller} and the services it calls; required in production`,
      } satisfies SecretSetting,
    ]),
  ),
  JWT_ALGORITHM: { type: 'enum', values: ['HS256', 'HS384', 'HS512', 'ES256'], default: 'HS256', description: '`HS256`, `HS384`, `HS512` (one shared secret) or `ES256` (user-service alone signs)' },
  JWT_EXPIRATION_MINUTES: { type: 'integer', default: 30, min: 1, max: 24 * 60, description: 'token lifetime' },
  BACKEND_URL: { type: 'url', default: 'http://127.0.0.1:8000', description: 'where cart-service and order-service reach `backend`' },
  CART_SERVICE_URL: { type: 'url', default: 'http://127.0.0.1:8001', description: 'where order-service reaches `cart-service`' },
  SERVICE_CALL_TIMEOUT_MS: { type: 'integer', unit: 'ms', default: 3000, min: 100, max: 60_000, description: 'timeout of one call to another service' },
  REQUEST_TIMEOUT_MS: {
    type: 'integer',
    unit: 'ms',
    default: 12_000,
    min: 1000,
    max: 120_000,
    description:
      "a request not answered by then gets 503 `REQUEST_TIMEOUT` (Retry-After) while its work goes on; keep it above order-service's `CHECKOUT_RESPONSE_DEADLINE_MS` and below the gateway's 30 s",
  },
  SHUTDOWN_TIMEOUT_MS: { type: 'integer', unit: 'ms', default: 8000, min: 0, max: 60_000, description: 'how long in-flight requests may run after SIGTERM' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { type: 'string', description: 'OTLP/HTTP endpoint for traces (read by instrumentation.ts); unset: no tracing' },
  OTEL_SERVICE_NAME: { type: 'string', description: "service name on the spans; defaults to the service's runtime name" },
  TRUSTED_PROXIES: {
    type: 'string',
    default: '',
    description:
      'addresses or CIDRs of the load balancers in front of the gateway, comma-separated; empty: none. nginx then reads the client address from their X-Forwarded-For, and the services the one address their gateway forwards',
  },
});
