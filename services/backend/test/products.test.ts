import test from 'ava';
import { call, dropKeyspace, startTestService, testEnv, tokenFor, type CallOptions } from '@product-store/kit/testing';
import type { RunningService } from '@product-store/kit';
import { backend } from '../src/service';

let service: RunningService;
const env = testEnv();
const admin = tokenFor('admin');
const customer = tokenFor('customer');
const api = (path: string, options?: CallOptions) => call(service.url, path, options);
const valid = { name: 'Grinder', description: 'Steel burrs', price_cents: 12900, currency: 'EUR', category: 'equipment', stock: 5 };

test.before(async () => {
  service = await startTestService(backend, env);
});
test.after.always(async () => {
  await service?.stop();
  await dropKeyspace(env.CASSANDRA_KEYSPACE!);
});

const create = async (body: object = valid) => {
  const res = await api('/products', { method: 'POST', token: admin, body });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.text}`);
  return res.body;
};

test('an admin creates a product: 201, Location, the full Product', async (t) => {
  const res = await api('/products', { method: 'POST', token: admin, body: valid });
  t.is(res.status, 201);
  t.is(res.headers.get('location'), `/products/${res.body.id}`);
  t.like(res.body, valid);
  t.regex(res.body.id, /^[0-9a-f-]{36}$/);
  t.truthy(Date.parse(res.body.created_at));
  t.is(res.body.created_at, res.body.updated_at);
  t.deepEqual(Object.keys(res.body).sort(), ['category', 'created_at', 'currency', 'description', 'id', 'name', 'price_cents', 'stock', 'updated_at']);
  const fetched = await api(`/products/${res.body.id}`);
  t.is(fetched.status, 200);
  t.deepEqual(fetched.body, res.body);
});

test('description and currency have defaults', async (t) => {
  const product = await create({ name: 'Filters', price_cents: 0, category: 'supplies', stock: 0 });
  t.is(product.description, '');
  t.is(product.currency, 'USD');
  t.is(product.price_cents, 0);
});

test('creating needs an admin: 401 without a token, 403 for a customer', async (t) => {
  const anonymous = await api('/products', { method: 'POST', body: valid });
  t.is(anonymous.status, 401);
  t.is(anonymous.body.code, 'UNAUTHORIZED');
  t.regex(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
  const asCustomer = await api('/products', { method: 'POST', token: customer, body: valid });
  t.is(asCustomer.status, 403);
  t.is(asCustomer.body.code, 'FORBIDDEN');
});

test('invalid products are 400 with the failing fields', async (t) => {
  const cases: Array<[object, string]> = [
    [{ ...valid, name: '' }, 'name'],
    [{ ...valid, name: 'x'.repeat(201) }, 'name'],
    [{ ...valid, price_cents: -1 }, 'price_cents'],
    [{ ...valid, price_cents: 12.5 }, 'price_cents'],
    [{ ...valid, price_cents: '100' }, 'price_cents'],
    [{ ...valid, stock: -3 }, 'stock'],
    [{ ...valid, category: 'c'.repeat(51) }, 'category'],
    [{ ...valid, currency: 'usd' }, 'currency'],
    [{ ...valid, id: '2c6b4f0e-0000-4000-8000-000000000000' }, 'id'],
    [{ ...valid, created_at: '2020-01-01T00:00:00Z' }, 'created_at'],
    [(({ category: _c, ...rest }) => rest)(valid), 'category'],
  ];
  for (const [body, field] of cases) {
    const res = await api('/products', { method: 'POST', token: admin, body });
    t.is(res.status, 400, JSON.stringify(body));
    t.is(res.body.code, 'VALIDATION_FAILED');
    t.true(res.body.errors.some((e: { path: string }) => e.path === field), `${field}: ${res.text}`);
  }
});

test('malformed JSON, another content type and a large body are rejected', async (t) => {
  t.is((await api('/products', { method: 'POST', token: admin, rawBody: '{"name":' })).status, 400);
  t.is((await api('/products', { method: 'POST', token: admin, rawBody: 'name=x', contentType: 'text/plain' })).status, 415);
  t.is((await api('/products', { method: 'POST', token: admin, body: { ...valid, description: 'd'.repeat(70_000) } })).status, 413);
});

test('get: 404 NOT_FOUND for an unknown id and for a malformed one', async (t) => {
  for (const id of ['6f1c1d1e-4a4b-4c4d-8e8f-909192939495', 'not-a-uuid', '1']) {
    const res = await api(`/products/${id}`);
    t.is(res.status, 404);
    t.is(res.body.code, 'NOT_FOUND');
  }
});

test('patch changes only the given fields and updated_at', async (t) => {
  const product = await create();
  const res = await api(`/products/${product.id}`, { method: 'PATCH', token: admin, body: { price_cents: 9900, stock: 42 } });
  t.is(res.status, 200);
  t.is(res.body.price_cents, 9900);
  t.is(res.body.stock, 42);
  t.is(res.body.name, product.name);
  t.is(res.body.created_at, product.created_at);
  t.true(Date.parse(res.body.updated_at) >= Date.parse(product.updated_at));
  t.deepEqual((await api(`/products/${product.id}`)).body, res.body);
});

test('patch errors: 400 empty or unknown fields, 401, 403, 404', async (t) => {
  const product = await create();
  const path = `/products/${product.id}`;
  t.is((await api(path, { method: 'PATCH', token: admin, body: {} })).status, 400);
  const unknown = await api(path, { method: 'PATCH', token: admin, body: { id: 'x' } });
  t.is(unknown.status, 400);
  t.true(unknown.body.errors.some((e: { path: string; message: string }) => e.path === 'id' && e.message === 'id: unknown field'));
  t.is((await api(path, { method: 'PATCH', token: admin, body: { stock: -1 } })).status, 400);
  t.is((await api(path, { method: 'PATCH', body: { stock: 1 } })).status, 401);
  t.is((await api(path, { method: 'PATCH', token: customer, body: { stock: 1 } })).status, 403);
  t.is((await api('/products/6f1c1d1e-4a4b-4c4d-8e8f-909192939495', { method: 'PATCH', token: admin, body: { stock: 1 } })).status, 404);
  t.is((await api('/products/nope', { method: 'PATCH', token: admin, body: { stock: 1 } })).status, 404);
});

test('delete: 204, then 404; 401 and 403 without the admin role', async (t) => {
  const product = await create();
  const path = `/products/${product.id}`;
  t.is((await api(path, { method: 'DELETE' })).status, 401);
  t.is((await api(path, { method: 'DELETE', token: customer })).status, 403);
  const deleted = await api(path, { method: 'DELETE', token: admin });
  t.is(deleted.status, 204);
  t.is(deleted.text, '');
  t.is((await api(path)).status, 404);
  t.is((await api(path, { method: 'DELETE', token: admin })).status, 404);
  t.is((await api(path, { method: 'PATCH', token: admin, body: { name: 'back' } })).status, 404, 'a patch does not resurrect it');
});
