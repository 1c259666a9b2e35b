/**
 * The OpenAPI 3.1 document of the public API (docs/api.md), built from the services' own zod schemas,
 * so the document cannot drift from what the services validate. `npm run openapi` writes it to
 * docs/openapi.json; a test fails when the committed file differs.
 */
import { z } from 'zod';
import { problemSchema, services, type ServiceName } from '../../services/kit/src';
import { createProductSchema, patchProductSchema, productPageSchema, productSchema } from '../../services/backend/src/catalog';
import { addItemSchema, cartSchema, setQuantitySchema } from '../../services/cart-service/src/cart';
import { orderPageSchema, orderSchema, placeOrderBodySchema } from '../../services/order-service/src/orders';
import { loginSchema, registerSchema, tokenSchema, userSchema } from '../../services/user-service/src/accounts';
import { version } from '../../package.json';

type Schema = z.ZodType;
type Auth = 'none' | 'user' | 'admin';

interface Operation {
  service: ServiceName;
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  auth: Auth;
  request?: { schema: Schema; required: boolean };
  success: { status: number; schema?: Schema; description: string; location?: boolean };
  /** Error statuses, each with what it means here. */
  errors: Record<number, string>;
  query?: Array<'limit' | 'cursor' | 'category'>;
  pathParams?: string[];
  idempotencyKey?: boolean;
}

const bodyErrors = { 413: 'The body is over 64 KiB.', 415: 'The body is not application/json.' };

export const operations: Operation[] = [
  {
    service: 'user-service', method: 'post', path: '/auth/register', summary: 'Create a customer account', auth: 'none',
    request: { schema: registerSchema, required: true },
    success: { status: 201, schema: userSchema, description: 'The new account.' },
    errors: { 400: 'VALIDATION_FAILED (also for unknown fields such as `role`).', 409: 'EMAIL_TAKEN.', ...bodyErrors },
  },
  {
    service: 'user-service', method: 'post', path: '/auth/login', summary: 'Exchange email and password for a bearer token', auth: 'none',
    request: { schema: loginSchema, required: true },
    success: { status: 200, schema: tokenSchema, description: 'An access token; `expires_in` is in seconds.' },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'INVALID_CREDENTIALS, the same for an unknown email and a wrong password.', 429: 'The gateway rate-limits logins.', ...bodyErrors },
  },
  {
    service: 'user-service', method: 'get', path: '/users/me', summary: 'The signed-in account', auth: 'user',
    success: { status: 200, schema: userSchema, description: 'The account of the token.' },
    errors: { 401: 'No valid token.' },
  },
  {
    service: 'backend', method: 'get', path: '/products', summary: 'List products, a page at a time', auth: 'none',
    query: ['limit', 'cursor', 'category'],
    success: { status: 200, schema: productPageSchema, description: 'A page of products; `next_cursor` is null on the last page.' },
    errors: { 400: 'VALIDATION_FAILED: limit out of 1..100, a foreign cursor or an unknown parameter.' },
  },
  {
    service: 'backend', method: 'get', path: '/products/{id}', summary: 'One product', auth: 'none', pathParams: ['id'],
    success: { status: 200, schema: productSchema, description: 'The product.' },
    errors: { 404: 'NOT_FOUND, also for a malformed id.' },
  },
  {
    service: 'backend', method: 'post', path: '/products', summary: 'Create a product (admin)', auth: 'admin',
    request: { schema: createProductSchema, required: true },
    success: { status: 201, schema: productSchema, description: 'The new product.', location: true },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 403: 'Not an admin.', ...bodyErrors },
  },
  {
    service: 'backend', method: 'patch', path: '/products/{id}', summary: 'Change some fields of a product (admin)', auth: 'admin', pathParams: ['id'],
    request: { schema: patchProductSchema, required: true },
    success: { status: 200, schema: productSchema, description: 'The changed product.' },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 403: 'Not an admin.', 404: 'NOT_FOUND.', ...bodyErrors },
  },
  {
    service: 'backend', method: 'delete', path: '/products/{id}', summary: 'Remove a product from the catalog (admin)', auth: 'admin', pathParams: ['id'],
    success: { status: 204, description: 'Removed.' },
    errors: { 401: 'No valid token.', 403: 'Not an admin.', 404: 'NOT_FOUND.' },
  },
  {
    service: 'cart-service', method: 'get', path: '/cart', summary: "The caller's cart, at current catalog prices", auth: 'user',
    success: { status: 200, schema: cartSchema, description: 'The cart; empty: `items: []`, `total_cents: 0`.' },
    errors: { 401: 'No valid token.' },
  },
  {
    service: 'cart-service', method: 'post', path: '/cart/items', summary: 'Add a product (adds to its quantity when already there)', auth: 'user',
    request: { schema: addItemSchema, required: true },
    success: { status: 201, schema: cartSchema, description: 'The cart after the change.' },
    errors: {
      400: 'VALIDATION_FAILED, also when the line would exceed 99 or the cart 50 products.', 401: 'No valid token.',
      404: 'PRODUCT_NOT_FOUND.', 409: 'CURRENCY_MISMATCH: a cart holds products of one currency.', ...bodyErrors,
    },
  },
  {
    service: 'cart-service', method: 'put', path: '/cart/items/{product_id}', summary: 'Set the quantity of a line', auth: 'user', pathParams: ['product_id'],
    request: { schema: setQuantitySchema, required: true },
    success: { status: 200, schema: cartSchema, description: 'The cart after the change.' },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 404: 'NOT_FOUND: the product is not in the cart.', ...bodyErrors },
  },
  {
    service: 'cart-service', method: 'delete', path: '/cart/items/{product_id}', summary: 'Remove a line', auth: 'user', pathParams: ['product_id'],
    success: { status: 200, schema: cartSchema, description: 'The cart after the change.' },
    errors: { 401: 'No valid token.', 404: 'NOT_FOUND: the product is not in the cart.' },
  },
  {
    service: 'cart-service', method: 'delete', path: '/cart', summary: 'Empty the cart', auth: 'user',
    success: { status: 204, description: 'Emptied.' },
    errors: { 401: 'No valid token.' },
  },
  {
    service: 'order-service', method: 'post', path: '/orders', summary: 'Check out the whole cart', auth: 'user', idempotencyKey: true,
    request: { schema: placeOrderBodySchema, required: false },
    success: { status: 201, schema: orderSchema, description: 'The confirmed order: stock reserved for every line, prices frozen, the cart emptied. The same key replays this response.', location: true },
    errors: {
      400: 'IDEMPOTENCY_KEY_REQUIRED, IDEMPOTENCY_KEY_INVALID, or VALIDATION_FAILED for any field.', 401: 'No valid token.',
      409: 'OUT_OF_STOCK (`product_ids` lists the short products; nothing is reserved, the cart is kept), or IDEMPOTENCY_IN_PROGRESS.',
      422: 'CART_EMPTY, or IDEMPOTENCY_KEY_REUSED with a different body.', 503: 'A dependency is down; nothing was ordered and the key may be retried.', ...bodyErrors,
    },
  },
  {
    service: 'order-service', method: 'get', path: '/orders', summary: "The caller's orders, newest first", auth: 'user', query: ['limit', 'cursor'],
    success: { status: 200, schema: orderPageSchema, description: 'A page of orders.' },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.' },
  },
  {
    service: 'order-service', method: 'get', path: '/orders/{id}', summary: 'One of the caller\'s orders', auth: 'user', pathParams: ['id'],
    success: { status: 200, schema: orderSchema, description: 'The order.' },
    errors: { 401: 'No valid token.', 404: "NOT_FOUND, also for another user's order." },
  },
  {
    service: 'order-service', method: 'post', path: '/orders/{id}/cancel', summary: 'Cancel an order and give its stock back', auth: 'user', pathParams: ['id'],
    success: { status: 200, schema: orderSchema, description: 'The order, now `cancelled`.' },
    errors: { 401: 'No valid token.', 404: 'NOT_FOUND.', 409: 'ORDER_NOT_CANCELLABLE: already cancelled.' },
  },
];

const ref = (schema: Schema) => {
  const id = z.globalRegistry.get(schema)?.id;
  if (!id) throw new Error('every schema in the document needs a .meta({ id })');
  return { $ref: `#/components/schemas/${id}` };
};

function componentSchemas(): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, { target: 'draft-2020-12', io: 'input', uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any' });
  return Object.fromEntries(
    Object.entries(schemas)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, { $schema: _schema, $id: _id, ...schema }]) => [id, schema]),
  );
}

const queryParameters = {
  limit: { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 }, description: 'Page size.' },
  cursor: { name: 'cursor', in: 'query', required: false, schema: { type: 'string', maxLength: 512 }, description: '`next_cursor` of the previous page.' },
  category: { name: 'category', in: 'query', required: false, schema: { type: 'string', minLength: 1, maxLength: 50 }, description: 'Only products of this category.' },
};

function operationObject(op: Operation) {
  const problem = { 'application/problem+json': { schema: ref(problemSchema) } };
  const auth = op.auth === 'none' ? {} : { security: [{ bearer: [] }] };
  const responses: Record<string, unknown> = {
    [op.success.status]: {
      description: op.success.description,
      headers: {
        'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
        ...(op.success.location ? { Location: { description: 'Where the new resource is.', schema: { type: 'string' } } } : {}),
      },
      ...(op.success.schema ? { content: { 'application/json': { schema: ref(op.success.schema) } } } : {}),
    },
  };
  for (const [status, description] of Object.entries(op.errors)) {
    responses[status] = {
      description,
      ...(status === '401' ? { headers: { 'WWW-Authenticate': { schema: { type: 'string', example: 'Bearer realm="product-store"' } } } } : {}),
      content: problem,
    };
  }
  responses.default = { description: 'Any other error, as problem details (a 503 when a dependency is down).', content: problem };
  const parameters = [
    ...(op.pathParams ?? []).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string', format: 'uuid' } })),
    ...(op.query ?? []).map((name) => queryParameters[name]),
    ...(op.idempotencyKey
      ? [{ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7E]+$' }, description: 'Per user; remembered for at least 24 hours.' }]
      : []),
  ];
  return {
    operationId: `${op.method}${op.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(\w)/g, (_, c: string) => c.toUpperCase())}`,
    summary: op.summary,
    tags: [op.service],
    ...auth,
    ...(parameters.length ? { parameters } : {}),
    ...(op.request ? { requestBody: { required: op.request.required, content: { 'application/json': { schema: ref(op.request.schema) } } } } : {}),
    responses,
  };
}

export function buildDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) (paths[op.path] ??= {})[op.method] = operationObject(op);
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
