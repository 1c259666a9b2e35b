/**
 * The OpenAPI 3.1 document of the public API (docs/api.md), built from the services' own zod schemas,
 * so the document cannot drift from what the services validate. `npm run openapi` writes it to
 * docs/openapi.json; a test fails when the committed file differs.
 */
import { z } from 'zod';
import { problemSchema, services, type ServiceName } from '@product-store/kit';
import { createProductSchema, listQuerySchema as productQuerySchema, patchProductSchema, productPageSchema, productSchema } from '../../services/backend/src/catalog';
import { addItemSchema, cartSchema, setQuantitySchema } from '../../services/cart-service/src/cart';
import { listQuerySchema as orderQuerySchema, orderPageSchema, orderSchema, placeOrderBodySchema } from '../../services/order-service/src/orders';
import { loginSchema, registerSchema, tokenSchema, userSchema } from '../../services/user-service/src/accounts';
import { version } from '../../package.json';

type Schema = z.ZodType;
type Auth = 'none' | 'user' | 'admin';

/** An OpenAPI link: the operation a response leads to, with where its parameters come from. */
interface Link {
  operationId: string;
  parameters?: Record<string, string>;
  requestBody?: unknown;
  description: string;
}

interface Operation {
  service: ServiceName;
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  auth: Auth;
  /** `example`: a request the operation accepts (the examples phase of schemathesis sends it). */
  request?: { schema: Schema; required: boolean; example?: unknown };
  success: { status: number; schema?: Schema; description: string; location?: boolean; example?: unknown; links?: Record<string, Link> };
  /** Error statuses, each with what it means here. */
  errors: Record<number, string>;
  /** The route's own zod schema of its query string: each property is a parameter. */
  query?: z.ZodObject;
  pathParams?: string[];
  /** An Idempotency-Key header: required, or `'optional'` (the cancel's, an extension of the contract). */
  idempotencyKey?: boolean | 'optional';
}

// Examples, one story: Ada registers, an admin lists a coffee, Ada buys two bags.
const userId = '8d1f3c52-7a4e-4b9d-a0c6-2e5f9b7d1a34';
const productId = '3f0c8a9e-5b7d-4c1a-9e2f-6d4b8a1c7e05';
const product = {
  id: productId, name: 'Ethiopian Yirgacheffe, 250 g', description: 'Whole beans, light roast.', price_cents: 1450, currency: 'USD',
  category: 'coffee', stock: 120, created_at: '2026-01-15T09:00:00.000Z', updated_at: '2026-01-15T09:00:00.000Z',
};
const line = { product_id: productId, name: product.name, price_cents: 1450, quantity: 2, line_total_cents: 2900 };
const cart = { items: [line], total_cents: 2900, currency: 'USD' };
const order = { id: '6b2e4d80-d29a-11f0-8de9-0242ac120002', status: 'confirmed', items: [line], total_cents: 2900, currency: 'USD', created_at: '2026-01-15T09:45:00.000Z' };

const bodyErrors = { 413: 'The body is over 64 KiB.', 415: 'The body is not application/json.' };

export const operations: Operation[] = [
  {
    service: 'user-service', method: 'post', path: '/auth/register', summary: 'Create a customer account', auth: 'none',
    request: { schema: registerSchema, required: true, example: { email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' } },
    success: {
      status: 201, schema: userSchema, description: 'The new account.',
      example: { id: userId, email: 'ada@example.com', name: 'Ada Lovelace', role: 'customer', created_at: '2026-01-15T09:30:00.000Z' },
      links: { login: { operationId: 'postAuthLogin', requestBody: { email: '$request.body#/email', password: '$request.body#/password' }, description: 'Sign in as the new account.' } },
    },
    errors: { 400: 'VALIDATION_FAILED (also for unknown fields such as `role`).', 409: 'EMAIL_TAKEN.', 429: 'The gateway rate-limits registrations.', ...bodyErrors },
  },
  {
    service: 'user-service', method: 'post', path: '/auth/login', summary: 'Exchange email and password for a bearer token', auth: 'none',
    request: { schema: loginSchema, required: true, example: { email: 'ada@example.com', password: 'correct horse battery' } },
    success: {
      status: 200, schema: tokenSchema, description: 'An access token; `expires_in` is in seconds.',
      example: { access_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl', token_type: 'Bearer', expires_in: 1800 },
    },
    errors: { 400: 'VALIDATION_FAILED: a blank email, a field missing or too long.', 401: 'INVALID_CREDENTIALS, the same for an unknown email and a wrong password.', 429: 'The gateway rate-limits logins.', ...bodyErrors },
  },
  {
    service: 'user-service', method: 'get', path: '/users/me', summary: 'The signed-in account', auth: 'user',
    success: { status: 200, schema: userSchema, description: 'The account of the token.', example: { id: userId, email: 'ada@example.com', name: 'Ada Lovelace', role: 'customer', created_at: '2026-01-15T09:30:00.000Z' } },
    errors: { 401: 'No valid token.' },
  },
  {
    service: 'backend', method: 'get', path: '/products', summary: 'List products, a page at a time', auth: 'none',
    query: productQuerySchema,
    success: { status: 200, schema: productPageSchema, description: 'A page of products; `next_cursor` is null on the last page.', example: { items: [product], next_cursor: 'eyJhZnRlciI6IjNmMGM4YTllLTViN2QtNGMxYS05ZTJmLTZkNGI4YTFjN2UwNSJ9' } },
    errors: { 400: 'VALIDATION_FAILED: limit out of 1..100, a cursor that is not a previous page\'s `next_cursor`, or an unknown parameter.' },
  },
  {
    service: 'backend', method: 'get', path: '/products/{id}', summary: 'One product', auth: 'none', pathParams: ['id'],
    success: { status: 200, schema: productSchema, description: 'The product.', example: product },
    errors: { 404: 'NOT_FOUND, also for a malformed id.' },
  },
  {
    service: 'backend', method: 'post', path: '/products', summary: 'Create a product (admin)', auth: 'admin',
    request: { schema: createProductSchema, required: true, example: { name: 'Ethiopian Yirgacheffe, 250 g', description: 'Whole beans, light roast.', price_cents: 1450, currency: 'USD', category: 'coffee', stock: 120 } },
    success: {
      status: 201, schema: productSchema, description: 'The new product.', location: true, example: product,
      links: {
        get: { operationId: 'getProductsById', parameters: { id: '$response.body#/id' }, description: 'The new product.' },
        patch: { operationId: 'patchProductsById', parameters: { id: '$response.body#/id' }, description: 'Change the new product.' },
        delete: { operationId: 'deleteProductsById', parameters: { id: '$response.body#/id' }, description: 'Remove the new product.' },
        addToCart: { operationId: 'postCartItems', requestBody: { product_id: '$response.body#/id', quantity: 1 }, description: 'Put the new product in a cart.' },
      },
    },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 403: 'Not an admin.', ...bodyErrors },
  },
  {
    service: 'backend', method: 'patch', path: '/products/{id}', summary: 'Change some fields of a product (admin)', auth: 'admin', pathParams: ['id'],
    request: { schema: patchProductSchema, required: true, example: { price_cents: 1390 } },
    success: { status: 200, schema: productSchema, description: 'The changed product.', example: { ...product, price_cents: 1390 } },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 403: 'Not an admin.', 404: 'NOT_FOUND.', 409: 'STOCK_CONFLICT: `stock_delta` would take the stock below 0 or above the maximum; `stock` is the stock now.', ...bodyErrors },
  },
  {
    service: 'backend', method: 'delete', path: '/products/{id}', summary: 'Remove a product from the catalog (admin)', auth: 'admin', pathParams: ['id'],
    success: { status: 204, description: 'Removed.' },
    errors: { 401: 'No valid token.', 403: 'Not an admin.', 404: 'NOT_FOUND.' },
  },
  {
    service: 'cart-service', method: 'get', path: '/cart', summary: "The caller's cart, at current catalog prices", auth: 'user',
    success: { status: 200, schema: cartSchema, description: 'The cart; empty: `items: []`, `total_cents: 0`.', example: cart },
    errors: { 401: 'No valid token.' },
  },
  {
    service: 'cart-service', method: 'post', path: '/cart/items', summary: 'Add a product (adds to its quantity when already there)', auth: 'user',
    request: { schema: addItemSchema, required: true, example: { product_id: productId, quantity: 2 } },
    success: {
      status: 201, schema: cartSchema, description: 'The cart after the change.', example: cart,
      links: {
        setQuantity: { operationId: 'putCartItemsByProductId', parameters: { product_id: '$request.body#/product_id' }, description: 'Change the quantity of the line.' },
        remove: { operationId: 'deleteCartItemsByProductId', parameters: { product_id: '$request.body#/product_id' }, description: 'Remove the line.' },
      },
    },
    errors: {
      400: 'VALIDATION_FAILED, also when the line would exceed 99 or the cart 50 products.', 401: 'No valid token.',
      404: 'PRODUCT_NOT_FOUND.', 409: 'CURRENCY_MISMATCH: a cart holds products of one currency.', ...bodyErrors,
    },
  },
  {
    service: 'cart-service', method: 'put', path: '/cart/items/{product_id}', summary: 'Set the quantity of a line', auth: 'user', pathParams: ['product_id'],
    request: { schema: setQuantitySchema, required: true, example: { quantity: 3 } },
    success: { status: 200, schema: cartSchema, description: 'The cart after the change.', example: cart },
    errors: { 400: 'VALIDATION_FAILED.', 401: 'No valid token.', 404: 'NOT_FOUND: the product is not in the cart.', ...bodyErrors },
  },
  {
    service: 'cart-service', method: 'delete', path: '/cart/items/{product_id}', summary: 'Remove a line', auth: 'user', pathParams: ['product_id'],
    success: { status: 200, schema: cartSchema, description: 'The cart after the change.', example: { items: [], total_cents: 0, currency: 'USD' } },
    errors: { 401: 'No valid token.', 404: 'NOT_FOUND: the product is not in the cart.' },
  },
  {
    service: 'cart-service', method: 'delete', path: '/cart', summary: 'Empty the cart', auth: 'user',
    success: { status: 204, description: 'Emptied.' },
    errors: { 401: 'No valid token.' },
  },
  {
    service: 'order-service', method: 'post', path: '/orders', summary: 'Check out the whole cart', auth: 'user', idempotencyKey: true,
    request: { schema: placeOrderBodySchema, required: false, example: {} },
    success: {
      status: 201, schema: orderSchema, description: 'The confirmed order: stock reserved for every line, prices frozen, the cart emptied. The same key replays this response.', location: true, example: order,
      links: {
        get: { operationId: 'getOrdersById', parameters: { id: '$response.body#/id' }, description: 'The new order.' },
        cancel: { operationId: 'postOrdersByIdCancel', parameters: { id: '$response.body#/id' }, description: 'Cancel the new order.' },
      },
    },
    errors: {
      400: 'IDEMPOTENCY_KEY_REQUIRED, IDEMPOTENCY_KEY_INVALID, or VALIDATION_FAILED for any field.', 401: 'No valid token.',
      409: 'OUT_OF_STOCK (`product_ids` lists the short products; nothing is reserved, the cart is kept), or IDEMPOTENCY_IN_PROGRESS.',
      422: 'CART_EMPTY, or IDEMPOTENCY_KEY_REUSED with a different body.', 503: 'A dependency is down (DEPENDENCY_UNAVAILABLE, DATABASE_UNAVAILABLE: nothing was ordered), or CHECKOUT_PENDING: the checkout is still running past the response deadline and goes on. Either way retry under the same key after Retry-After: it runs again, or replays the outcome.', ...bodyErrors,
    },
  },
  {
    service: 'order-service', method: 'get', path: '/orders', summary: "The caller's orders, newest first", auth: 'user', query: orderQuerySchema,
    success: { status: 200, schema: orderPageSchema, description: 'A page of orders.', example: { items: [order], next_cursor: null } },
    errors: { 400: 'VALIDATION_FAILED: limit out of 1..100, a cursor that is not a previous page\'s `next_cursor`, or an unknown parameter.', 401: 'No valid token.' },
  },
  {
    service: 'order-service', method: 'get', path: '/orders/{id}', summary: 'One of the caller\'s orders', auth: 'user', pathParams: ['id'],
    success: { status: 200, schema: orderSchema, description: 'The order.', example: order },
    errors: { 401: 'No valid token.', 404: "NOT_FOUND, also for another user's order." },
  },
  {
    service: 'order-service', method: 'post', path: '/orders/{id}/cancel', summary: 'Cancel an order and give its stock back', auth: 'user', pathParams: ['id'], idempotencyKey: 'optional',
    success: { status: 200, schema: orderSchema, description: 'The order, now `cancelled`; again for a retry with the Idempotency-Key of the cancel that cancelled it.', example: { ...order, status: 'cancelled' } },
    errors: { 400: 'IDEMPOTENCY_KEY_INVALID.', 401: 'No valid token.', 404: 'NOT_FOUND.', 409: 'ORDER_NOT_CANCELLABLE: already cancelled (by another cancel, or by one without the same Idempotency-Key).' },
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

const queryDescriptions: Record<string, string> = {
  limit: 'Page size.',
  cursor: '`next_cursor` of the previous page.',
  category: 'Only products of this category.',
};

/** The query parameters of a route, from the zod schema it validates its query string with. */
function queryParameters(schema: z.ZodObject) {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as { properties: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties).map(([name, property]) => ({
    name, in: 'query', required: json.required?.includes(name) ?? false, schema: property, description: queryDescriptions[name],
  }));
}

/** validIdempotencyKey: printable ASCII (idempotencyKeyPattern), and not only spaces. */
const idempotencyKeyDocPattern = '^[\\x20-\\x7E]*[\\x21-\\x7E][\\x20-\\x7E]*$';

function operationObject(op: Operation) {
  const problem = { 'application/problem+json': { schema: ref(problemSchema) } };
  // `security: []` says a public operation takes no token (the document has no global default).
  const auth = op.auth === 'none' ? { security: [] } : { security: [{ bearer: [] }] };
  const responses: Record<string, unknown> = {
    [op.success.status]: {
      description: op.success.description,
      headers: {
        'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
        ...(op.success.location ? { Location: { description: 'Where the new resource is.', schema: { type: 'string' } } } : {}),
      },
      ...(op.success.schema ? { content: { 'application/json': { schema: ref(op.success.schema), ...(op.success.example ? { example: op.success.example } : {}) } } } : {}),
      ...(op.success.links ? { links: op.success.links } : {}),
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
    ...(op.pathParams ?? []).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string', format: 'uuid' }, example: op.path.startsWith('/orders') ? order.id : productId })),
    ...(op.query ? queryParameters(op.query) : []),
    ...(op.idempotencyKey === true
      ? [{ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', minLength: 1, maxLength: 255, pattern: idempotencyKeyDocPattern }, description: 'Per user; remembered for at least 24 hours.', example: '5b0f7f0e-checkout-1' }]
      : []),
    ...(op.idempotencyKey === 'optional'
      ? [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255, pattern: idempotencyKeyDocPattern }, description: 'Optional; kept with the cancellation: a retry with the same key (its 200 was lost) gets 200 and the order again instead of 409.', example: '5b0f7f0e-cancel-1' }]
      : []),
  ];
  return {
    operationId: `${op.method}${op.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(\w)/g, (_, c: string) => c.toUpperCase())}`,
    summary: op.summary,
    tags: [op.service],
    ...auth,
    ...(parameters.length ? { parameters } : {}),
    ...(op.request
      ? { requestBody: { required: op.request.required, content: { 'application/json': { schema: ref(op.request.schema), ...(op.request.example !== undefined ? { example: op.request.example } : {}) } } } }
      : {}),
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
