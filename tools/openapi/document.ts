/**
 * The OpenAPI 3.1 document of the public API (docs/api.md), built from the services' route
 * declarations (services/kit/src/routes.ts: each route's method, path, auth, schemas, statuses and
 * examples, next to its handler), so the document cannot drift from what the services route and
 * validate. `npm run openapi` writes it to docs/openapi.json; a test fails when the committed file differs.
 */
import { z } from 'zod';
import { operationsOf, services, type RouteSet, type ServiceName } from '@product-store/kit';
import { productApi } from '../../services/backend/src/routes';
import { cartApi } from '../../services/cart-service/src/routes';
import { orderApi } from '../../services/order-service/src/routes';
import { userApi } from '../../services/user-service/src/routes';
import { version } from '../../package.json';

/** Each service's route declarations, in the document's order (its paths are listed in the order first met). */
export const routeSets: Record<ServiceName, RouteSet<unknown>> = { 'user-service': userApi, backend: productApi, 'cart-service': cartApi, 'order-service': orderApi };

/** Every public operation: the public routes of every service (internal routes are never documented). */
export const operations = Object.values(routeSets).flatMap(operationsOf);

/** The components: every schema registered with an id (the routes' bodies and answers, and the kit's Problem). */
function componentSchemas(): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, { target: 'draft-2020-12', io: 'input', uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any' });
  return Object.fromEntries(
    Object.entries(schemas)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, { $schema: _schema, $id: _id, ...schema }]) => [id, schema]),
  );
}

export function buildDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) (paths[op.path] ??= {})[op.method] = op.operation;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Product Store API',
      version,
      description: 'The public REST API of Product Store, as served through the gateway. Errors are RFC 9457 problem details. Generated from the services\' own schemas by tools/openapi; the contract is docs/api.md.',
    },
    servers: [{ url: '/' }],
    tags: services.map((s) => ({ name: s.name, description: s.description })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      headers: { 'X-Request-Id': { description: "The client's request id if it sent a sane one, else a generated one.", schema: { type: 'string' } } },
      schemas: componentSchemas(),
    },
  };
}
