/**
 * The kit's route declarations (routes.ts): one declaration registers the Koa route behind the auth
 * middleware its `auth` names, parses its path ids, Idempotency-Key, query and body with the kit's
 * validation (the same statuses, codes and messages that name the field) in one order, answers with
 * the declared success status, and yields the OpenAPI operation (openapi.ts) from the same schemas.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { z } from 'zod';
import { bodyErrors, createApp, createAuth, createLogger, createMetrics, defineRoutes, developmentInternalToken, idParam, operationsOf, pageQueryDescriptions, routeFor } from '../src';
import { call, fieldErrorsOf, internalHeadersOf, tokenFor } from '../testing';

const widgetSchema = z.strictObject({ name: z.string().min(1), count: z.number().int().min(1).max(9) }).meta({ id: 'RoutesTestWidget' });
const widgetOut = z.strictObject({ id: z.string(), name: z.string(), count: z.number() }).meta({ id: 'RoutesTestWidgetOut' });
const emptySchema = z.strictObject({}).meta({ id: 'RoutesTestEmpty' });
const listSchema = z.strictObject({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: z.string().optional() });

/** What the handlers share: here, a record of what they were given. */
interface Seen {
  calls: unknown[];
}
const route = routeFor<Seen>();
const widgetId = '3f0c8a9e-5b7d-4c1a-9e2f-6d4b8a1c7e05';

const api = defineRoutes('backend', [
  route({
    method: 'get', path: '/widgets', summary: 'List widgets', auth: 'none',
    query: { schema: listSchema, descriptions: pageQueryDescriptions },
    success: { status: 200, description: 'A page.' },
    errors: { 400: 'VALIDATION_FAILED.' },
    handler: (_ctx, { query }) => ({ query }),
  }),
  route({
    method: 'post', path: '/widgets/:id', summary: 'Make a widget', auth: 'admin', params: { id: idParam('widget', { example: widgetId }) },
    body: { schema: widgetSchema, required: true, example: { name: 'w', count: 1 } },
    success: { status: 201, schema: widgetOut, description: 'The widget.', location: true },
    errors: { 400: 'VALIDATION_FAILED.', ...bodyErrors },
    handler: (ctx, { params, body }) => {
      ctx.set('Location', `/widgets/${params.id}`);
      return { id: params.id, ...body };
    },
  }),
  route({
    method: 'delete', path: '/widgets/:id', summary: 'Remove a widget', auth: 'user', params: { id: idParam('widget', { accepts: (id) => id[14] === '4' }) },
    success: { status: 204, description: 'Removed.' },
    errors: { 404: 'NOT_FOUND.' },
    handler: (ctx, { params }, seen) => {
      seen.calls.push({ user: ctx.state.user.sub, id: params.id });
    },
  }),
  route({
    method: 'post', path: '/checkouts', summary: 'Check out', auth: 'user',
    idempotencyKey: { required: true, description: 'Per user.', example: 'k-1' },
    body: { schema: emptySchema, required: false, example: {}, deferred: true },
    success: { status: 201, description: 'Done.' },
    errors: { 400: 'IDEMPOTENCY_KEY_REQUIRED.' },
    handler: (ctx, { idempotencyKey, body }) => {
      // As POST /orders: the raw body first (a replay needs none of it valid), then the check.
      if (idempotencyKey === 'replay') {
        ctx.status = 409;
        ctx.body = { replayed: body.raw ?? null };
        return;
      }
      return { key: idempotencyKey, body: body.parse() ?? null };
    },
  }),
  route({
    method: 'post', path: '/widgets/:id/retire', summary: 'Retire a widget', auth: 'user', params: { id: idParam('widget') },
    idempotencyKey: { required: false, description: 'Optional.', example: 'k-2' },
    body: { schema: emptySchema, required: false, documented: false },
    success: { status: 200, description: 'Retired.' },
    errors: {},
    handler: (_ctx, { idempotencyKey, body }) => ({ key: idempotencyKey ?? null, body: body ?? null }),
  }),
  route({
    method: 'post', path: '/internal/products/lookup', summary: 'Internal', auth: 'internal',
    body: { schema: z.strictObject({ ids: z.array(z.string()) }), required: true },
    handler: (ctx, { body }) => ({ caller: ctx.state.internalCaller, ids: body.ids }),
  }),
]);

const seen: Seen = { calls: [] };
let server: Server;
let base: string;

test.before(async () => {
  // As backend: the internal lookup is listed for cart-service (topology internalEndpoints).
  const auth = createAuth({
    service: 'backend',
    jwt: { secret: 'development-only-secret-change-me-0123456789', algorithm: 'HS256', expirationMinutes: 5, publicKeys: [] },
    internalTokens: { 'cart-service': developmentInternalToken('cart-service'), 'order-service': developmentInternalToken('order-service') },
  });
  const { app } = createApp({
    service: 'test',
    log: createLogger({ level: 'error', sink: () => undefined }),
    metrics: createMetrics('test'),
    readinessCheck: async () => undefined,
    router: api.router(auth, seen),
  });
  server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after.always(() => server?.close());

const admin = tokenFor('admin');
const customer = tokenFor('customer');

test('auth: the middleware the declaration names, before any input is read', async (t) => {
  t.is((await call(base, '/widgets')).status, 200, "'none' takes no token");
  const noToken = await call(base, `/widgets/${widgetId}`, { method: 'POST', body: { name: '' } });
  t.is(noToken.status, 401, "'admin' without a token is 401, not the body's 400");
  const notAdmin = await call(base, `/widgets/${widgetId}`, { method: 'POST', body: { name: '' }, token: customer });
  t.is(notAdmin.status, 403);
  t.is(notAdmin.body.code, 'FORBIDDEN');
  t.is((await call(base, `/widgets/${widgetId}`, { method: 'DELETE' })).status, 401, "'user' without a token");
  const internal = await call(base, '/internal/products/lookup', { method: 'POST', body: { ids: [] } });
  t.is(internal.status, 401);
  t.is(internal.body.code, 'INTERNAL_TOKEN_REQUIRED');
  t.is((await call(base, '/internal/products/lookup', { method: 'POST', body: { ids: [] }, headers: internalHeadersOf('order-service') })).body.code, 'INTERNAL_CALLER_FORBIDDEN');
  const ok = await call(base, '/internal/products/lookup', { method: 'POST', body: { ids: ['a'] }, headers: internalHeadersOf('cart-service') });
  t.is(ok.status, 200);
  t.deepEqual(ok.body, { caller: 'cart-service', ids: ['a'] });
});

test('the handler gets the parsed input and answers with the declared success status', async (t) => {
  const made = await call(base, `/widgets/${widgetId.toUpperCase()}`, { method: 'POST', body: { name: 'w', count: 2 }, token: admin });
  t.is(made.status, 201);
  t.deepEqual(made.body, { id: widgetId, name: 'w', count: 2 }, 'the path id lower-cased, as pathId does');
  t.is(made.headers.get('location'), `/widgets/${widgetId}`);
  const list = await call(base, '/widgets?limit=5');
  t.deepEqual(list.body, { query: { limit: 5 } }, 'the query coerced and defaulted by its schema');
  const removed = await call(base, '/widgets/6b2e4d80-d29a-41f0-8de9-0242ac120002', { method: 'DELETE', token: customer });
  t.is(removed.status, 204, 'a handler that returns nothing on a 204 route');
  t.is(removed.text, '');
  t.is(seen.calls.length, 1);
});

test('validation errors are the kit\'s, from the declared schemas, naming the field', async (t) => {
  const body = await call(base, `/widgets/${widgetId}`, { method: 'POST', body: { name: '', count: 10, colour: 'red' }, token: admin });
  t.is(body.status, 400);
  t.is(body.body.code, 'VALIDATION_FAILED');
  t.is(body.body.detail, 'The request body is not valid.');
  t.deepEqual(body.body.errors, fieldErrorsOf(widgetSchema, { name: '', count: 10, colour: 'red' }));
  t.deepEqual(body.body.errors.map((e: { message: string }) => e.message), ['name: must be at least 1 characters', 'count: must be at most 9', 'colour: unknown field']);
  const missing = await call(base, `/widgets/${widgetId}`, { method: 'POST', token: admin });
  t.deepEqual(missing.body.errors, [{ path: '', message: 'body: required, a JSON object' }], 'a required body');
  const query = await call(base, '/widgets?limit=0&colour=red');
  t.is(query.body.detail, 'The request query string is not valid.');
  t.deepEqual(query.body.errors, fieldErrorsOf(listSchema, { limit: '0', colour: 'red' }, 'query string'));
  const twice = await call(base, '/widgets?limit=1&limit=2');
  t.deepEqual(twice.body.errors, [{ path: 'limit', message: 'limit: give this parameter once' }]);
  t.is((await call(base, `/widgets/${widgetId}`, { method: 'POST', rawBody: 'name=x', contentType: 'application/x-www-form-urlencoded', token: admin })).status, 415);
  t.is((await call(base, `/widgets/${widgetId}`, { method: 'POST', rawBody: '{"name": ', token: admin })).body.code, 'MALFORMED_JSON');
});

test('path ids: malformed, or refused by `accepts`, name nothing: 404 before the body is read', async (t) => {
  const malformed = await call(base, '/widgets/nope', { method: 'POST', body: { name: '' }, token: admin });
  t.is(malformed.status, 404);
  t.is(malformed.body.detail, 'No widget with this id.');
  const refused = await call(base, '/widgets/6b2e4d80-d29a-11f0-8de9-0242ac120002', { method: 'DELETE', token: customer });
  t.is(refused.status, 404);
  t.is(refused.body.detail, 'No widget with this id.');
});

test('Idempotency-Key: required or optional, checked before the body; a deferred body is validated when the handler asks', async (t) => {
  const none = await call(base, '/checkouts', { method: 'POST', body: { x: 1 }, token: customer });
  t.deepEqual([none.status, none.body.code, none.body.detail], [400, 'IDEMPOTENCY_KEY_REQUIRED', 'Send an Idempotency-Key header of 1 to 255 printable characters.']);
  const tooLong = await call(base, '/checkouts', { method: 'POST', body: {}, token: customer, headers: { 'Idempotency-Key': 'k'.repeat(256) } });
  t.is(tooLong.body.code, 'IDEMPOTENCY_KEY_INVALID');
  const placed = await call(base, '/checkouts', { method: 'POST', token: customer, headers: { 'Idempotency-Key': 'k-1' } });
  t.deepEqual([placed.status, placed.body], [201, { key: 'k-1', body: null }], 'no body is valid when not required');
  const invalid = await call(base, '/checkouts', { method: 'POST', body: { x: 1 }, token: customer, headers: { 'Idempotency-Key': 'k-1' } });
  t.deepEqual(invalid.body.errors, [{ path: 'x', message: 'x: unknown field' }], 'parse() is the same validation');
  const replay = await call(base, '/checkouts', { method: 'POST', body: { x: 1 }, token: customer, headers: { 'Idempotency-Key': 'replay' } });
  t.deepEqual([replay.status, replay.body], [409, { replayed: { x: 1 } }], 'a handler may answer through ctx: its status is kept');
  const optional = await call(base, `/widgets/${widgetId}/retire`, { method: 'POST', token: customer });
  t.deepEqual(optional.body, { key: null, body: null });
  const badOptional = await call(base, `/widgets/${widgetId}/retire`, { method: 'POST', token: customer, headers: { 'Idempotency-Key': '\u00e9' } });
  t.deepEqual([badOptional.status, badOptional.body.code, badOptional.body.detail], [400, 'IDEMPOTENCY_KEY_INVALID', 'An Idempotency-Key header must be 1 to 255 printable characters.']);
  t.is((await call(base, `/widgets/${widgetId}/retire`, { method: 'POST', token: customer, body: { x: 1 } })).status, 400, 'an undocumented body is still validated');
});

test('internal routes, and only they, are under /internal/ with auth internal', (t) => {
  const handler = () => undefined;
  t.throws(() => defineRoutes('backend', [route({ method: 'get', path: '/internal/x', summary: 'x', auth: 'user', success: { status: 200, description: '' }, errors: {}, handler })]), { message: /internal routes/ });
  t.throws(() => defineRoutes('backend', [route({ method: 'get', path: '/x', summary: 'x', auth: 'internal', handler })]), { message: /internal routes/ });
});

test('every path parameter is declared, and only those', (t) => {
  const handler = () => undefined;
  const declare = (path: string, params: Record<string, ReturnType<typeof idParam>>) =>
    defineRoutes('backend', [route({ method: 'get', path, summary: 'x', auth: 'none', params, success: { status: 200, description: '' }, errors: {}, handler })]);
  t.throws(() => declare('/x/:id', {}), { message: /params/ });
  t.throws(() => declare('/x', { id: idParam('x') }), { message: /params/ });
  t.throws(() => declare('/x/:id', { other: idParam('x') }), { message: /params/ });
  t.notThrows(() => declare('/x/:id', { id: idParam('x') }));
});

test('the OpenAPI operations come from the same declarations; internal routes are left out', (t) => {
  const operations = operationsOf(api);
  t.deepEqual(operations.map((o) => `${o.method} ${o.path} ${o.operation.operationId}`), [
    'get /widgets getWidgets',
    'post /widgets/{id} postWidgetsById',
    'delete /widgets/{id} deleteWidgetsById',
    'post /checkouts postCheckouts',
    'post /widgets/{id}/retire postWidgetsByIdRetire',
  ]);
  const [list, make, remove, checkout, retire] = operations.map((o) => o.operation as any);
  t.deepEqual(list.security, []);
  t.deepEqual(list.parameters.map((p: any) => [p.name, p.in, p.required, p.description]), [['limit', 'query', false, 'Page size.'], ['cursor', 'query', false, '`next_cursor` of the previous page.']]);
  t.deepEqual(list.parameters[0].schema, { default: 20, type: 'integer', minimum: 1, maximum: 100 }, "the query schema's own JSON Schema");
  t.deepEqual(make.security, [{ bearer: [] }]);
  t.deepEqual(make.parameters, [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' }, example: widgetId }]);
  t.deepEqual(make.requestBody, { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/RoutesTestWidget' }, example: { name: 'w', count: 1 } } } });
  t.deepEqual(make.responses['201'].content, { 'application/json': { schema: { $ref: '#/components/schemas/RoutesTestWidgetOut' } } });
  t.truthy(make.responses['201'].headers.Location);
  t.deepEqual(Object.keys(make.responses), ['201', '400', '413', '415', 'default']);
  t.is(remove.responses['204'].content, undefined);
  t.deepEqual(checkout.parameters.map((p: any) => [p.name, p.in, p.required]), [['Idempotency-Key', 'header', true]]);
  t.is(checkout.requestBody.required, false);
  t.deepEqual(retire.parameters.map((p: any) => [p.name, p.required]), [['id', true], ['Idempotency-Key', false]]);
  t.is(retire.requestBody, undefined, 'documented: false');
});

test('a schema without a .meta({ id }) cannot be documented', (t) => {
  const bare = defineRoutes('backend', [
    route({ method: 'post', path: '/bare', summary: 'x', auth: 'none', body: { schema: z.strictObject({}), required: true }, success: { status: 204, description: '' }, errors: {}, handler: () => undefined }),
  ]);
  t.throws(() => operationsOf(bare), { message: /\.meta\(\{ id \}\)/ });
});
