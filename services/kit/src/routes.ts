/**
 * Routes declared once, with their schema (as Fastify's schema-first routes are): a route is its method,
 * path, who may call it, the schemas of its path, query, Idempotency-Key and body, what it answers, and
 * its handler. The same declaration registers the Koa route with its auth middleware and its validation
 * (the handler gets the parsed input), and yields its OpenAPI operation (openapi.ts `operationsOf`),
 * from which tools/openapi builds docs/openapi.json: the document cannot say what the service does not do.
 *
 * Validation is the kit's (validation.ts), in one order for every route: auth, path ids (a malformed
 * one is a 404), the Idempotency-Key header, the query string, the body. A handler that returns a value
 * answers with it under the route's success status; one that answers otherwise (a replayed outcome)
 * writes ctx itself and returns nothing; a 204 route returns nothing.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { z } from 'zod';
import type { Auth } from './auth';
import { problems } from './errors';
import type { ServiceName } from './topology';
import { parseQuery, parseWith, pathId, readBody, validIdempotencyKey } from './validation';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: anyone, a signed-in user, an admin, or another service of the stack (never public). */
export type Access = 'none' | 'user' | 'admin' | 'internal';

/** A path parameter: a UUID naming a resource; a malformed one names none, so it is a 404 like a missing one. */
export interface IdParam {
  /** What it names, for the 404's detail: "No <what> with this id.". */
  what: string;
  /** An id the document shows. */
  example?: string;
  /** A further rule of the ids this route knows (order ids are time-based UUIDs); false is the same 404. */
  accepts?: (id: string) => boolean;
}

export const idParam = (what: string, options: Omit<IdParam, 'what'> = {}): IdParam => ({ what, ...options });

export interface QuerySpec<S extends z.ZodObject = z.ZodObject> {
  /** Each property is a query parameter; unknown ones are refused when the schema is strict. */
  schema: S;
  /** What each parameter means, for the document. */
  descriptions?: Record<string, string>;
}

export interface BodySpec<S extends z.ZodType = z.ZodType> {
  /** A JSON body (application/json, at most 64 KiB); the document references it by its `.meta({ id })`. */
  schema: S;
  /** False: no body is valid too (validated as `schema.optional()`). */
  required: boolean;
  /** A request the route accepts (the examples phase of schemathesis sends it). */
  example?: unknown;
  /**
   * The handler validates (`body.parse()`) when it chooses: POST /orders replays a known
   * Idempotency-Key's outcome even for a body no new order could take. The JSON is read first as always.
   */
  deferred?: boolean;
  /** False: validated, but left out of the document (the cancel refuses a body other than `{}`; the contract names none). */
  documented?: boolean;
}

/** The errors of any route that reads a body (readBody), for its `errors`. */
export const bodyErrors = { 413: 'The body is over 64 KiB.', 415: 'The body is not application/json.' };

export interface IdempotencyKeySpec {
  /** Required (400 IDEMPOTENCY_KEY_REQUIRED without one), or optional (checked only when sent). */
  required: boolean;
  description: string;
  example: string;
}

/** An OpenAPI link: the operation a response leads to, with where its parameters come from. */
export interface Link {
  operationId: string;
  parameters?: Record<string, string>;
  requestBody?: unknown;
  description: string;
}

export interface SuccessSpec<S extends z.ZodType | undefined = z.ZodType | undefined> {
  status: number;
  /** The body's schema (none: no body, as for 204). */
  schema?: S;
  description: string;
  /** A Location header says where the new resource is. */
  location?: boolean;
  example?: unknown;
  links?: Record<string, Link>;
}

type Params<P> = { [K in keyof P]: string };
type Query<Q> = Q extends QuerySpec<infer S> ? z.output<S> : undefined;
/** A deferred body: its JSON as read, and its validation (the same 400 as an eager one). */
export interface DeferredBody<T> {
  raw: unknown;
  parse(): T;
}
type Body<B> = B extends BodySpec<infer S>
  ? B extends { deferred: true }
    ? DeferredBody<B extends { required: true } ? z.output<S> : z.output<S> | undefined>
    : B extends { required: true }
      ? z.output<S>
      : z.output<S> | undefined
  : undefined;
type Key<K> = K extends { required: true } ? string : K extends IdempotencyKeySpec ? string | undefined : undefined;

/** What a handler gets: the route's input, parsed and validated. */
export interface RouteInput<P, Q, B, K> {
  params: Params<P>;
  query: Query<Q>;
  body: Body<B>;
  idempotencyKey: Key<K>;
}

/** The success schema's type; unchecked for a route that declares none (an internal one's answer is its callers' business). */
type Answer<S> = S extends z.ZodType ? z.input<S> : unknown;

interface RouteBase<C, P, Q, B, K, S> {
  method: Method;
  /** Koa's form: `/products/:id` (the document's is `/products/{id}`). */
  path: string;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  idempotencyKey?: K;
  /**
   * Returns the success body (sent with the success status), or nothing: a 204, or an answer the
   * handler wrote to ctx itself. `context` is what the service gives its routes (repositories, clients).
   */
  handler(ctx: Context, input: RouteInput<P, Q, B, K>, context: C): Promise<Answer<S> | void> | Answer<S> | void;
}

/** A public route: in the document, with what it answers. */
export interface PublicRoute<C = any, P = any, Q = any, B = any, K = any, S extends z.ZodType | undefined = any> extends RouteBase<C, P, Q, B, K, S> {
  auth: Exclude<Access, 'internal'>;
  success: SuccessSpec<S>;
  /** Error statuses, each with what it means here. */
  errors: Record<number, string>;
}

/** A route for the other services only (`/internal/...`): never in the public document, never routed by the gateway. */
export interface InternalRoute<C = any, P = any, Q = any, B = any, K = any, S extends z.ZodType | undefined = any> extends RouteBase<C, P, Q, B, K, S> {
  auth: 'internal';
  success?: SuccessSpec<S>;
  errors?: Record<number, string>;
}

export type Route<C = any, P = any, Q = any, B = any, K = any, S extends z.ZodType | undefined = any> = PublicRoute<C, P, Q, B, K, S> | InternalRoute<C, P, Q, B, K, S>;

/**
 * `const route = routeFor<MyContext>()`: declares routes whose handlers get MyContext. (Curried so that
 * the context is named once and the rest is inferred from each declaration.)
 */
export function routeFor<C>() {
  function route<
    P extends Record<string, IdParam> = {},
    Q extends QuerySpec | undefined = undefined,
    B extends BodySpec | undefined = undefined,
    K extends IdempotencyKeySpec | undefined = undefined,
    S extends z.ZodType | undefined = undefined,
  >(spec: PublicRoute<C, P, Q, B, K, S> | InternalRoute<C, P, Q, B, K, S>): Route<C> {
    return spec;
  }
  return route;
}

/** A service's routes: registered on a Koa router by `router`, documented by openapi.ts `operationsOf`. */
export interface RouteSet<C> {
  /** The OpenAPI tag of its operations. */
  service: ServiceName;
  routes: readonly Route<C>[];
  /** A router with every route, its auth middleware and its validation; handlers get `context`. */
  router(auth: Auth, context: C): Router;
}

function guard(auth: Auth, access: Access): Middleware[] {
  switch (access) {
    case 'none':
      return [];
    case 'user':
      return [auth.requireUser];
    case 'admin':
      return [auth.requireAdmin];
    case 'internal':
      return [auth.requireInternal];
  }
}

function parseParams(ctx: Context, params: Record<string, IdParam> | undefined): Record<string, string> {
  const parsed: Record<string, string> = {};
  for (const [name, param] of Object.entries(params ?? {})) {
    const id = pathId(ctx.params[name], param.what);
    if (param.accepts && !param.accepts(id)) throw problems.notFound(`No ${param.what} with this id.`);
    parsed[name] = id;
  }
  return parsed;
}

function readKey(ctx: Context, spec: IdempotencyKeySpec | undefined): string | undefined {
  if (!spec) return undefined;
  const key = ctx.get('Idempotency-Key') || undefined;
  if (spec.required && !validIdempotencyKey(key)) {
    throw problems.badRequest(key === undefined ? 'IDEMPOTENCY_KEY_REQUIRED' : 'IDEMPOTENCY_KEY_INVALID', 'Send an Idempotency-Key header of 1 to 255 printable characters.');
  }
  if (key !== undefined && !validIdempotencyKey(key)) throw problems.badRequest('IDEMPOTENCY_KEY_INVALID', 'An Idempotency-Key header must be 1 to 255 printable characters.');
  return key;
}

async function bodyOf(ctx: Context, spec: BodySpec | undefined, schema: z.ZodType | undefined): Promise<unknown> {
  if (!spec || !schema) return undefined;
  const raw = await readBody(ctx);
  if (spec.deferred) return { raw, parse: () => parseWith(schema, raw) } satisfies DeferredBody<unknown>;
  return parseWith(schema, raw);
}

/** The Koa middleware of one route: its input parsed in the kit's order, then its handler. */
function handle<C>(route: Route<C>, context: C): Middleware {
  // Built here, once per route: a zod schema costs more to build than to run.
  const bodySchema = route.body && (route.body.required ? route.body.schema : route.body.schema.optional());
  return async (ctx) => {
    const params = parseParams(ctx, route.params);
    const idempotencyKey = readKey(ctx, route.idempotencyKey);
    const query = route.query ? parseQuery(ctx, (route.query as QuerySpec).schema) : undefined;
    const body = await bodyOf(ctx, route.body, bodySchema);
    const answer = await route.handler(ctx, { params, query, body, idempotencyKey } as RouteInput<unknown, unknown, unknown, unknown>, context);
    if (answer !== undefined) {
      ctx.status = route.success?.status ?? 200;
      ctx.body = answer;
    } else if (route.success?.status === 204) {
      ctx.status = 204;
    }
  };
}

export function defineRoutes<C>(service: ServiceName, routes: readonly Route<C>[]): RouteSet<C> {
  for (const route of routes) {
    const name = `${route.method.toUpperCase()} ${route.path}`;
    if (route.path.startsWith('/internal/') !== (route.auth === 'internal')) {
      throw new Error(`${name}: internal routes, and only they, are under /internal/ and take auth 'internal'`);
    }
    // Every path parameter is declared (so it is validated and documented), and only those.
    const inPath = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]).sort();
    if (inPath.join() !== Object.keys(route.params ?? {}).sort().join()) throw new Error(`${name}: declare its path parameters in \`params\`, and only those`);
  }
  return {
    service,
    routes,
    router(auth, context) {
      const router = new Router();
      for (const route of routes) router[route.method](route.path, ...guard(auth, route.auth), handle(route, context));
      return router;
    },
  };
}
