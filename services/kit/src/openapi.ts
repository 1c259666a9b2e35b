/**
 * The OpenAPI operations of a service's routes (routes.ts), from which tools/openapi builds the public
 * document (docs/openapi.json); and each service's own part of that document, served at /openapi.json.
 */
import { z } from 'zod';
import document from '../../../docs/openapi.json';
import type { IdParam, PublicRoute, Route, RouteSet } from './routes';
import { problemSchema } from './schemas';
import { idempotencyKeyDocPattern } from './validation';

/** `#/components/schemas/<id>` of a schema registered with `.meta({ id })` (the document's components are those). */
export function schemaRef(schema: z.ZodType): { $ref: string } {
  const id = z.globalRegistry.get(schema)?.id;
  if (!id) throw new Error('every schema in the document needs a .meta({ id })');
  return { $ref: `#/components/schemas/${id}` };
}

/** `/products/:id` → `/products/{id}`. */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

/** `getProductsById`, `postOrdersByIdCancel`: from the method and the document's path. */
export const operationIdOf = (method: string, path: string) =>
  `${method}${path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(\w)/g, (_, c: string) => c.toUpperCase())}`;

/** The query parameters of a route, from the zod schema it validates its query string with. */
function queryParameters(schema: z.ZodObject, descriptions: Record<string, string> = {}) {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as { properties: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties).map(([name, property]) => ({
    name, in: 'query', required: json.required?.includes(name) ?? false, schema: property, description: descriptions[name],
  }));
}

function operationObject(service: string, route: PublicRoute) {
  const path = openApiPath(route.path);
  const problem = { 'application/problem+json': { schema: schemaRef(problemSchema) } };
  // `security: []` says a public operation takes no token (the document has no global default).
  const auth = route.auth === 'none' ? { security: [] } : { security: [{ bearer: [] }] };
  const { success } = route;
  const responses: Record<string, unknown> = {
    [success.status]: {
      description: success.description,
      headers: {
        'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
        ...(success.location ? { Location: { description: 'Where the new resource is.', schema: { type: 'string' } } } : {}),
      },
      ...(success.schema ? { content: { 'application/json': { schema: schemaRef(success.schema), ...(success.example ? { example: success.example } : {}) } } } : {}),
      ...(success.links ? { links: success.links } : {}),
    },
  };
  for (const [status, description] of Object.entries(route.errors)) {
    responses[status] = {
      description,
      ...(status === '401' ? { headers: { 'WWW-Authenticate': { schema: { type: 'string', example: 'Bearer realm="product-store"' } } } } : {}),
      content: problem,
    };
  }
  responses.default = { description: 'Any other error, as problem details (a 503 when a dependency is down).', content: problem };
  const key = route.idempotencyKey;
  const parameters = [
    ...Object.entries((route.params ?? {}) as Record<string, IdParam>).map(([name, param]) => ({ name, in: 'path', required: true, schema: { type: 'string', format: 'uuid' }, example: param.example })),
    ...(route.query ? queryParameters(route.query.schema, route.query.descriptions) : []),
    ...(key
      ? [{ name: 'Idempotency-Key', in: 'header', required: key.required, schema: { type: 'string', minLength: 1, maxLength: 255, pattern: idempotencyKeyDocPattern }, description: key.description, example: key.example }]
      : []),
  ];
  const body = route.body && route.body.documented !== false ? route.body : undefined;
  return {
    operationId: operationIdOf(route.method, path),
    summary: route.summary,
    tags: [service],
    ...auth,
    ...(parameters.length ? { parameters } : {}),
    ...(body ? { requestBody: { required: body.required, content: { 'application/json': { schema: schemaRef(body.schema), ...(body.example !== undefined ? { example: body.example } : {}) } } } } : {}),
    responses,
  };
}

export interface DocumentedOperation {
  service: string;
  method: string;
  /** The document's form: `/products/{id}`. */
  path: string;
  operation: ReturnType<typeof operationObject>;
}

const isPublic = (route: Route): route is PublicRoute => route.auth !== 'internal';

/** The OpenAPI operations of a service's public routes, in their order (internal routes are never documented). */
export function operationsOf(set: RouteSet<any>): DocumentedOperation[] {
  return set.routes.filter(isPublic).map((route) => ({ service: set.service, method: route.method, path: openApiPath(route.path), operation: operationObject(set.service, route) }));
}

type Document = typeof document;

/** The whole public API, which the gateway serves as its /openapi.json. */
export const wholeApi: Document = document;

interface OperationObject {
  tags: string[];
  operationId: string;
  responses: Record<string, { links?: Record<string, { operationId: string }> }>;
}

/**
 * The document narrowed to the operations tagged with this service (tags are the runtime names).
 * Links to another service's operations are left out: they name nothing in this part.
 */
export function openApiFor(service: string): Document {
  const mine = (operation: OperationObject) => operation.tags.includes(service);
  const all = Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations as Record<string, OperationObject>).map(([method, operation]) => ({ path, method, operation })),
  );
  const ids = new Set(all.filter(({ operation }) => mine(operation)).map(({ operation }) => operation.operationId));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { path, method, operation } of all) {
    if (!mine(operation)) continue;
    const responses = Object.fromEntries(
      Object.entries(operation.responses).map(([status, response]) => {
        if (!response.links) return [status, response];
        const links = Object.fromEntries(Object.entries(response.links).filter(([, link]) => ids.has(link.operationId)));
        const { links: _all, ...rest } = response;
        return [status, Object.keys(links).length ? { ...rest, links } : rest];
      }),
    );
    (paths[path] ??= {})[method] = { ...operation, responses };
  }
  return { ...document, tags: document.tags.filter((t) => t.name === service), paths: paths as Document['paths'] };
}
