import { readFileSync } from 'node:fs';
import test from 'ava';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { call, fieldErrorsOf, startStack, tokenFor, type CallOptions, type CallResult, type TestStack } from '@product-store/kit/testing';
import type { Route, RouteSet, ServiceName } from '@product-store/kit';
import { z } from 'zod';
import { backend } from '../../../services/backend/src/service';
import { cartService } from '../../../services/cart-service/src/service';
import { orderService } from '../../../services/order-service/src/service';
import { userService } from '../../../services/user-service/src/service';
import { routeSets } from '../document';
import { documentPath, render } from '../generate';

const document = JSON.parse(readFileSync(documentPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'openapi.json', components: document.components });

interface Documented {
  template: string;
  method: string;
  pattern: RegExp;
  responses: Record<string, { content?: Record<string, { schema: { $ref: string } }> }>;
}
const documented: Documented[] = Object.entries(document.paths as Record<string, Record<string, Documented['responses'] & any>>).flatMap(([template, operations]) =>
  Object.entries(operations).map(([method, op]) => ({
    template,
    method: method.toUpperCase(),
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    responses: op.responses,
  })),
);
const exercised = new Set<string>();

let stack: TestStack;
test.before(async () => {
  stack = await startStack([backend, cartService, userService, orderService]);
});
test.after.always(() => stack?.stop());

/** One real call, checked against the document: the status is documented and the body matches its schema. */
async function checked(t: import('ava').ExecutionContext, service: ServiceName, path: string, options: CallOptions = {}): Promise<CallResult> {
  const res = await call(stack.url(service), path, options);
  const method = options.method ?? 'GET';
  const bare = path.split('?')[0];
  const op = documented.find((d) => d.method === method && d.pattern.test(bare));
  if (!op) {
    t.fail(`${method} ${bare} is not in the document`);
    return res;
  }
  const response = op.responses[String(res.status)] ?? (res.status >= 500 ? op.responses.default : undefined);
  t.truthy(response, `${method} ${op.template} answered ${res.status}, which the document does not list`);
  exercised.add(`${method} ${op.template} ${res.status}`);
  const [type, media] = Object.entries(response?.content ?? {})[0] ?? [];
  if (!media) {
    t.is(res.text, '', `${method} ${op.template} ${res.status} has no documented body`);
    return res;
  }
  t.true((res.headers.get('content-type') ?? '').startsWith(type), `${method} ${op.template} ${res.status}: content type ${res.headers.get('content-type')}`);
  const validate = ajv.getSchema(`openapi.json${media.schema.$ref}`)!;
  t.true(validate(res.body), `${method} ${op.template} ${res.status}: ${ajv.errorsText(validate.errors)}\n${res.text}`);
  return res;
}

test('docs/openapi.json is what the services\' schemas generate (run `npm run openapi`)', (t) => {
  t.is(readFileSync(documentPath, 'utf8'), render());
});

test('the validator is not vacuous: wrong shapes fail', (t) => {
  const product = ajv.getSchema('openapi.json#/components/schemas/Product')!;
  t.false(product({}));
  t.false(product({ id: 'x', name: 'n', description: '', price_cents: -1, currency: 'usd', category: 'c', stock: 0, created_at: 'now', updated_at: 'now' }));
  const problem = ajv.getSchema('openapi.json#/components/schemas/Problem')!;
  t.false(problem({ status: 400, stack: 'Error: at x' }));
});

type OperationObject = {
  operationId: string;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; schema: Record<string, unknown>; example?: unknown }>;
  requestBody?: { content: Record<string, { schema: { $ref: string }; example?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: { $ref: string }; example?: unknown }>; links?: Record<string, { operationId: string }> }>;
};
const operationObjects = Object.values(document.paths as Record<string, Record<string, OperationObject>>).flatMap((ops) => Object.values(ops));
const component = (name: string) => document.components.schemas[name];

test('the document says what the services refuse: no empty PATCH, no empty cursor, a register email is an email', (t) => {
  t.is(component('PatchProduct').minProperties, 1);
  t.deepEqual(component('PatchProduct').not, { required: ['stock', 'stock_delta'] });
  t.is(component('Register').properties.email.format, 'email');
  t.truthy(component('Register').properties.email.pattern);
  for (const schema of [component('Login').properties.email, component('Register').properties.name, component('CreateProduct').properties.name, component('CreateProduct').properties.category]) {
    t.is(schema.minLength, 1);
    t.truthy(schema.pattern, 'a pattern of the characters it takes');
  }
  const cursors = operationObjects.flatMap((op) => op.parameters ?? []).filter((p) => p.name === 'cursor');
  t.is(cursors.length, 2);
  for (const cursor of cursors) t.is(cursor.schema.minLength, 1);
  const key = operationObjects.flatMap((op) => op.parameters ?? []).find((p) => p.name === 'Idempotency-Key')!;
  t.false(new RegExp(key.schema.pattern as string).test('   '), 'a blank key is refused');
});

test('every operation says its security: [] for the public ones, the bearer token for the others', (t) => {
  const publicOnes = operationObjects.filter((op) => Array.isArray(op.security) && op.security.length === 0).map((op) => op.operationId).sort();
  t.deepEqual(publicOnes, ['getProducts', 'getProductsById', 'postAuthLogin', 'postAuthRegister']);
  for (const op of operationObjects) t.true(Array.isArray(op.security), op.operationId);
});

test('every example matches its schema, every operation has them, and every link names an operation', (t) => {
  const ids = new Set(operationObjects.map((op) => op.operationId));
  let examples = 0;
  for (const op of operationObjects) {
    const media = [...Object.values(op.requestBody?.content ?? {}), ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {}))];
    for (const { schema, example } of media) {
      if (example === undefined) continue;
      examples++;
      const validate = ajv.getSchema(`openapi.json${schema.$ref}`)!;
      t.true(validate(example), `${op.operationId} ${schema.$ref}: ${ajv.errorsText(validate.errors)}`);
    }
    const success = Object.entries(op.responses).find(([status]) => status.startsWith('2'))![1];
    if (success.content) t.not(Object.values(success.content)[0].example, undefined, `${op.operationId} has a response example`);
    if (op.requestBody) t.not(Object.values(op.requestBody.content)[0].example, undefined, `${op.operationId} has a request example`);
    for (const p of op.parameters ?? []) if (p.in === 'path') t.not(p.example, undefined, `${op.operationId} ${p.name}`);
    for (const response of Object.values(op.responses)) for (const link of Object.values(response.links ?? {})) t.true(ids.has(link.operationId), link.operationId);
  }
  t.true(examples > 20);
});

test("each service's part keeps only links to its own operations", async (t) => {
  for (const name of Object.keys(stack.services) as ServiceName[]) {
    const part = (await call(stack.url(name), '/openapi.json')).body;
    const ops = Object.values(part.paths as Record<string, Record<string, OperationObject>>).flatMap((o) => Object.values(o));
    const ids = new Set(ops.map((op) => op.operationId));
    for (const op of ops) for (const response of Object.values(op.responses)) for (const link of Object.values(response.links ?? {})) t.true(ids.has(link.operationId), `${name}: ${link.operationId}`);
  }
});

test('every public route of every service is documented, and every documented operation exists', (t) => {
  for (const [name, running] of Object.entries(stack.services)) {
    const routes = running!.router.stack
      .filter((layer) => !layer.path.toString().startsWith('/internal/'))
      .flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path.toString().replace(/:(\w+)/g, '{$1}')}`));
    const inDocument = documented.filter((d) => (document.paths[d.template][d.method.toLowerCase()].tags as string[]).includes(name)).map((d) => `${d.method} ${d.template}`);
    t.deepEqual(routes.sort(), inDocument.sort(), name);
  }
});

test('every route a service registers is one of its declarations (so it is documented, or internal), and each is registered', (t) => {
  for (const [name, running] of Object.entries(stack.services)) {
    const registered = running!.router.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path.toString()}`));
    const declared = routeSets[name as ServiceName].routes.map((r) => `${r.method.toUpperCase()} ${r.path}`);
    t.deepEqual(registered.sort(), declared.sort(), name);
  }
});

/** An id each route's path parameters accept (its example, else a random UUID): the request gets past them to its input. */
function pathOf(route: Route): string {
  return route.path.replace(/:(\w+)/g, (_, name: string) => route.params?.[name]?.example ?? crypto.randomUUID());
}

test("a service's validation errors come from the schemas its declaration documents, naming the field", async (t) => {
  const tokens = { none: undefined, user: tokenFor('customer'), admin: tokenFor('admin') };
  let checkedRoutes = 0;
  for (const [service, set] of Object.entries(routeSets) as Array<[ServiceName, RouteSet<unknown>]>) {
    for (const route of set.routes) {
      if (route.auth === 'internal' || (!route.body && !route.query)) continue;
      const op = document.paths[route.path.replace(/:(\w+)/g, '{$1}')][route.method];
      const token = tokens[route.auth];
      const headers = route.idempotencyKey ? { 'Idempotency-Key': `openapi-invalid-${crypto.randomUUID()}` } : undefined;
      if (route.body) {
        const input = { unexpected_field: 1 };
        const res = await call(stack.url(service), pathOf(route), { method: route.method.toUpperCase(), body: input, token, headers });
        t.is(res.status, 400, `${route.method} ${route.path}`);
        t.deepEqual(res.body.errors, fieldErrorsOf(route.body.required ? route.body.schema : route.body.schema.optional(), input), `${route.method} ${route.path}`);
        t.true((res.body.errors as Array<{ path: string; message: string }>).every((e) => e.message.startsWith(`${e.path || 'body'}: `)), 'each message names its field');
        if (route.body.documented !== false) t.is(op.requestBody.content['application/json'].schema.$ref, `#/components/schemas/${z.globalRegistry.get(route.body.schema)!.id}`);
      }
      if (route.query) {
        const res = await call(stack.url(service), `${pathOf(route)}?unexpected=1&limit=0`, { method: route.method.toUpperCase(), token, headers });
        t.is(res.status, 400, `${route.method} ${route.path}?`);
        t.deepEqual(res.body.errors, fieldErrorsOf(route.query.schema, { unexpected: '1', limit: '0' }, 'query string'), `${route.method} ${route.path}?`);
        t.deepEqual(op.parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name), Object.keys(route.query.schema.shape));
      }
      checkedRoutes++;
    }
  }
  t.is(checkedRoutes, 10, 'every public route with a body or a query');
});

test('each service serves its own part of the document at /openapi.json', async (t) => {
  for (const name of Object.keys(stack.services) as ServiceName[]) {
    const res = await call(stack.url(name), '/openapi.json');
    t.is(res.status, 200);
    t.is(res.body.openapi, '3.1.0');
    const tags = Object.values(res.body.paths as Record<string, Record<string, { tags: string[] }>>).flatMap((ops) => Object.values(ops).flatMap((op) => op.tags));
    t.true(tags.length > 0);
    t.true(tags.every((tag) => tag === name), name);
  }
});

test('real responses of every operation match the document', async (t) => {
  const admin = tokenFor('admin');
  const json = (method: string, body: unknown, token?: string, headers?: Record<string, string>): CallOptions => ({ method, body, token, headers });

  // user-service
  const email = `openapi-${Date.now()}@example.com`;
  await checked(t, 'user-service', '/auth/register', json('POST', { email, password: 'password-1', name: 'Doc' }));
  await checked(t, 'user-service', '/auth/register', json('POST', { email, password: 'password-1', name: 'Doc' }));
  await checked(t, 'user-service', '/auth/register', json('POST', { email: 'x', password: 'p', name: '' }));
  const login = await checked(t, 'user-service', '/auth/login', json('POST', { email, password: 'password-1' }));
  await checked(t, 'user-service', '/auth/login', json('POST', { email, password: 'wrong-password' }));
  await checked(t, 'user-service', '/auth/login', json('POST', { email }));
  const user: string = login.body.access_token;
  await checked(t, 'user-service', '/users/me', { token: user });
  await checked(t, 'user-service', '/users/me');

  // backend
  const created = await checked(t, 'backend', '/products', json('POST', { name: 'Doc beans', price_cents: 500, category: 'doc', stock: 3 }, admin));
  const id: string = created.body.id;
  await checked(t, 'backend', '/products', json('POST', { name: '', price_cents: -1 }, admin));
  await checked(t, 'backend', '/products', json('POST', { name: 'x', price_cents: 1, category: 'c', stock: 1 }));
  await checked(t, 'backend', '/products', json('POST', { name: 'x', price_cents: 1, category: 'c', stock: 1 }, user));
  await checked(t, 'backend', '/products?limit=1');
  await checked(t, 'backend', '/products?limit=0');
  await checked(t, 'backend', `/products/${id}`);
  await checked(t, 'backend', '/products/nope');
  await checked(t, 'backend', `/products/${id}`, json('PATCH', { price_cents: 600 }, admin));
  await checked(t, 'backend', `/products/${crypto.randomUUID()}`, json('PATCH', { price_cents: 600 }, admin));
  const doomed = (await call(stack.url('backend'), '/products', json('POST', { name: 'Doomed', price_cents: 1, category: 'doc', stock: 1 }, admin))).body.id;
  await checked(t, 'backend', `/products/${doomed}`, { method: 'DELETE', token: admin });
  await checked(t, 'backend', `/products/${doomed}`, { method: 'DELETE', token: admin });

  // cart-service
  await checked(t, 'cart-service', '/cart', { token: user });
  await checked(t, 'cart-service', '/cart/items', json('POST', { product_id: id, quantity: 1 }, user));
  await checked(t, 'cart-service', '/cart/items', json('POST', { product_id: crypto.randomUUID(), quantity: 1 }, user));
  await checked(t, 'cart-service', '/cart/items', json('POST', { product_id: id, quantity: 0 }, user));
  await checked(t, 'cart-service', `/cart/items/${id}`, json('PUT', { quantity: 2 }, user));
  await checked(t, 'cart-service', `/cart/items/${crypto.randomUUID()}`, json('PUT', { quantity: 2 }, user));
  await checked(t, 'cart-service', `/cart/items/${id}`, { method: 'DELETE', token: user });
  await checked(t, 'cart-service', `/cart/items/${id}`, { method: 'DELETE', token: user });
  await checked(t, 'cart-service', '/cart', { method: 'DELETE', token: user });
  await checked(t, 'cart-service', '/cart');

  // order-service
  const key = (k: string) => ({ 'Idempotency-Key': k });
  await checked(t, 'order-service', '/orders', json('POST', undefined, user, key('empty')));
  await call(stack.url('cart-service'), '/cart/items', json('POST', { product_id: id, quantity: 2 }, user));
  const order = await checked(t, 'order-service', '/orders', json('POST', {}, user, key('first')));
  await checked(t, 'order-service', '/orders', json('POST', { status: 'x' }, user, key('first')));
  await checked(t, 'order-service', '/orders', json('POST', {}, user));
  await call(stack.url('cart-service'), '/cart/items', json('POST', { product_id: id, quantity: 5 }, user));
  await checked(t, 'order-service', '/orders', json('POST', {}, user, key('short')));
  await checked(t, 'order-service', '/orders?limit=5', { token: user });
  await checked(t, 'order-service', '/orders?limit=500', { token: user });
  await checked(t, 'order-service', `/orders/${order.body.id}`, { token: user });
  await checked(t, 'order-service', `/orders/${order.body.id}`, { token: tokenFor('customer') });
  await checked(t, 'order-service', `/orders/${order.body.id}/cancel`, { method: 'POST', token: user });
  await checked(t, 'order-service', `/orders/${order.body.id}/cancel`, { method: 'POST', token: user });

  for (const d of documented) {
    const success = Object.keys(d.responses).find((s) => s.startsWith('2'));
    t.true(exercised.has(`${d.method} ${d.template} ${success}`), `${d.method} ${d.template} ${success} was not exercised`);
  }
  for (const expected of ['POST /orders 409', 'POST /orders 422', 'POST /auth/register 409', 'POST /orders/{id}/cancel 409', 'POST /products 403']) {
    t.true(exercised.has(expected), expected);
  }
});
