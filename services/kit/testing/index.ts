/**
 * Test helpers: each test file gets its own keyspace on the real Cassandra that `npm test` started
 * (or CASSANDRA_HOST names), services run as real HTTP servers on free ports, and tokens are signed
 * the way user-service signs them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  createAuth,
  createClient,
  ddlOptions,
  developmentInternalToken,
  DEVELOPMENT_JWT_SECRET,
  HttpProblem,
  INTERNAL_TOKEN_HEADER,
  loadConfig,
  parseWith,
  startService,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  type Role,
  type RunningService,
  type ServiceDefinition,
  type ServiceName,
} from '../src';
import type { z } from 'zod';

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

export async function startTestService(
  definition: ServiceDefinition,
  env: Record<string, string | undefined> = testEnv(),
  logSink?: (line: string) => void,
): Promise<RunningService> {
  return startService(definition, { env, logSink: logSink ?? (env.LOG_LEVEL === 'error' ? () => undefined : undefined) });
}

/** Drops the keyspace a test used. */
export async function dropKeyspace(keyspace: string): Promise<void> {
  const config = loadConfig('backend', { ...process.env, CASSANDRA_KEYSPACE: keyspace });
  const client = createClient(config.cassandra);
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], ddlOptions);
  } finally {
    await client.shutdown();
  }
}

const testAuth = createAuth({ jwt: { secret: TEST_JWT_SECRET, algorithm: 'HS256', expirationMinutes: 30, publicKeys: [] }, internalTokens: {} });

/** What a calling service sends to an internal endpoint (its development credential). */
export const internalHeadersOf = (caller: ServiceName) => ({ [INTERNAL_TOKEN_HEADER]: developmentInternalToken(caller) });
/** order-service's: the caller of the reservation and cart endpoints the tests exercise most. */
export const internalHeaders = internalHeadersOf('order-service');

export function tokenFor(role: Role, id: string = randomUUID()): string {
  return testAuth.issue({ id, role }).access_token;
}

/** Tokens every protected endpoint must answer with 401: each names the attack it stands for. */
export function attackTokens(role: Role = 'admin'): Array<[string, string]> {
  const sub = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, role, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat: now, exp: now + 600, jti: randomUUID() };
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const sign = (payload: object, secret = TEST_JWT_SECRET) => jwt.sign(payload, secret, { algorithm: 'HS256' });
  return [
    ['malformed', 'this-is-not-a-jwt'],
    ['expired', sign({ ...claims, iat: now - 7200, exp: now - 3600 })],
    ['wrong signature', sign(claims, 'another-secret-of-enough-length-0123456789')],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
    ['wrong issuer', sign({ ...claims, iss: 'evil' })],
    ['wrong audience', sign({ ...claims, aud: 'another-app' })],
  ];
}

export interface TestStack {
  env: Record<string, string | undefined>;
  services: Partial<Record<ServiceName, RunningService>>;
  url(name: ServiceName): string;
  stop(): Promise<void>;
}

/**
 * Starts the given services as real HTTP servers sharing one fresh keyspace, wired to each other the
 * way the stack wires them (BACKEND_URL, CART_SERVICE_URL). Dependencies start first.
 */
export async function startStack(
  definitions: ServiceDefinition[],
  overrides: Record<string, string | undefined> = {},
  logSink?: (service: ServiceName, line: string) => void,
): Promise<TestStack> {
  const env = testEnv(overrides);
  const services: Partial<Record<ServiceName, RunningService>> = {};
  const order: ServiceName[] = ['backend', 'cart-service', 'user-service', 'order-service'];
  const stack: TestStack = {
    env,
    services,
    url: (name) => {
      const running = services[name];
      if (!running) throw new Error(`${name} is not part of this test stack`);
      return running.url;
    },
    stop: async () => {
      for (const name of [...order].reverse()) await services[name]?.stop();
      await dropKeyspace(env.CASSANDRA_KEYSPACE!);
    },
  };
  try {
    for (const name of order) {
      const definition = definitions.find((d) => d.name === name);
      if (!definition) continue;
      services[name] = await startTestService(definition, {
        ...env,
        ...(services.backend ? { BACKEND_URL: services.backend.url } : {}),
        ...(services['cart-service'] ? { CART_SERVICE_URL: services['cart-service'].url } : {}),
      }, logSink && ((line) => logSink(name, line)));
    }
  } catch (err) {
    await stack.stop().catch(() => undefined);
    throw err;
  }
  return stack;
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

/** The field errors the kit's validation (parseWith) makes of this input: what a route answers for it. */
export function fieldErrorsOf(schema: z.ZodType, input: unknown, where?: string): Array<{ path: string; message: string }> {
  try {
    parseWith(schema, input, where);
  } catch (err) {
    if (err instanceof HttpProblem) return err.extra.errors as Array<{ path: string; message: string }>;
    throw err;
  }
  throw new Error('the input was accepted');
}
