/**
 * Test helpers: each test file gets its own keyspace on the real Cassandra that `npm test` started
 * (or CASSANDRA_HOST names), services run as real HTTP servers on free ports, and tokens are signed
 * the way user-service signs them.
 */
import { randomBytes } from 'node:crypto';
import { createAuth, createClient, DEVELOPMENT_JWT_SECRET, loadConfig, startService, type Role, type RunningService, type ServiceDefinition } from '../src';

export const TEST_JWT_SECRET = DEVELOPMENT_JWT_SECRET;

export function testKeyspace(prefix = 'test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Environment for a service under test: a fresh keyspace unless one is given, a free port, quiet logs. */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...process.env,
    ENVIRONMENT: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    HOST: '127.0.0.1',
    PORT: '0',
    CASSANDRA_KEYSPACE: testKeyspace(),
    JWT_SECRET_KEY: TEST_JWT_SECRET,
    ...overrides,
  };
}

export async function startTestService(definition: ServiceDefinition, env: Record<string, string | undefined> = testEnv()): Promise<RunningService> {
  return startService(definition, { env, logSink: env.LOG_LEVEL === 'error' ? () => undefined : undefined });
}

/** Drops the keyspace a test used. */
export async function dropKeyspace(keyspace: string): Promise<void> {
  const config = loadConfig('backend', { ...process.env, CASSANDRA_KEYSPACE: keyspace });
  const client = createClient(config.cassandra);
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
}

const testAuth = createAuth({ jwt: { secret: TEST_JWT_SECRET, algorithm: 'HS256', expirationMinutes: 30 } });

export function tokenFor(role: Role, id = crypto.randomUUID()): string {
  return testAuth.issue({ id, role }).access_token;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Raw body text sent as is (with `contentType`). */
  rawBody?: string;
  contentType?: string;
  token?: string;
  headers?: Record<string, string>;
}

export interface CallResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** One HTTP call; the body is parsed as JSON when the response says it is JSON. */
export async function call<T = any>(baseUrl: string, path: string, options: CallOptions = {}): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) {
    body = options.rawBody;
    headers['Content-Type'] = options.contentType ?? 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] = options.contentType ?? 'application/json';
  }
  const response = await fetch(`${baseUrl}${path}`, { method: options.method ?? 'GET', headers, body });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, headers: response.headers, text, body: type.includes('json') && text ? JSON.parse(text) : (text as T) };
}
