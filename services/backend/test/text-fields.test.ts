/**
 * Product text as admins send it: names, categories and descriptions refuse control characters (a
 * description keeps tab and line breaks), Unicode bidi override and isolate characters, and unpaired
 * surrogates, with a 400 naming the field; a PATCH must change something; a cursor is never empty.
 */
import test from 'ava';
import { call, dropKeyspace, startTestService, testEnv, tokenFor, type CallOptions } from '@product-store/kit/testing';
import type { RunningService } from '@product-store/kit';
import { backend } from '../src/service';

let service: RunningService;
const env = testEnv();
const admin = tokenFor('admin');
const api = (path: string, options?: CallOptions) => call(service.url, path, options);
const valid = { name: 'Grinder', description: 'Steel burrs', price_cents: 12900, currency: 'EUR', category: 'equipment', stock: 5 };

test.before(async () => {
  service = await startTestService(backend, env);
});
test.after.always(async () => {
  await service?.stop();
  await dropKeyspace(env.CASSANDRA_KEYSPACE!);
});

const refused: Array<[string, string]> = [
  ['name', 'Grinder\u0000'],
  ['name', '\u202Eredni\u0072G'],
  ['name', 'Grinder\u2067'],
  ['name', 'Grin\nder'],
  ['name', 'Grinder\u0085'],
  ['category', 'equip\u202Ement'],
  ['category', '\u2066equipment'],
  ['category', '\u3000'],
  ['description', 'Steel\u0000burrs'],
  ['description', 'Steel \u202Dburrs'],
  ['description', 'bell\u0007'],
];

test('create and patch refuse control, bidi override/isolate characters with a 400 naming the field', async (t) => {
  const created = await api('/products', { method: 'POST', token: admin, body: valid });
  t.is(created.status, 201);
  for (const [field, value] of refused) {
    for (const [method, path, body] of [['POST', '/products', { ...valid, [field]: value }], ['PATCH', `/products/${created.body.id}`, { [field]: value }]] as const) {
      const res = await api(path, { method, token: admin, body });
      t.is(res.status, 400, `${method} ${field} ${JSON.stringify(value)}`);
      t.is(res.body.code, 'VALIDATION_FAILED');
      t.deepEqual(res.body.errors.map((e: { path: string }) => e.path), [field]);
      t.regex(res.body.errors[0].message, new RegExp(`^${field}: `));
    }
  }
  t.is((await api(`/products/${created.body.id}`)).body.name, 'Grinder', 'nothing was changed');
});

test('unpaired surrogates (JSON escapes) are refused; paired ones are text', async (t) => {
  for (const escaped of ['\\ud800', '\\udfff', 'x\\udc00y']) {
    const res = await api('/products', { method: 'POST', token: admin, rawBody: JSON.stringify(valid).replace('"Grinder"', `"Grinder${escaped}"`) });
    t.is(res.status, 400, escaped);
    t.deepEqual(res.body.errors.map((e: { path: string }) => e.path), ['name']);
  }
  const paired = await api('/products', { method: 'POST', token: admin, rawBody: JSON.stringify(valid).replace('"Grinder"', '"Grinder \\ud83d\\ude00"') });
  t.is(paired.status, 201);
  t.is(paired.body.name, 'Grinder 😀');
});

test('a description keeps tabs and line breaks; names are trimmed', async (t) => {
  const res = await api('/products', { method: 'POST', token: admin, body: { ...valid, name: '  Grinder  ', description: 'Steel burrs.\n\tConical, 38 mm.\r\n' } });
  t.is(res.status, 201);
  t.is(res.body.name, 'Grinder');
  t.is(res.body.description, 'Steel burrs.\n\tConical, 38 mm.\r\n');
});

test('PATCH with no field is a 400; an empty cursor is a 400', async (t) => {
  const created = await api('/products', { method: 'POST', token: admin, body: valid });
  const empty = await api(`/products/${created.body.id}`, { method: 'PATCH', token: admin, body: {} });
  t.is(empty.status, 400);
  t.deepEqual(empty.body.errors, [{ path: '', message: 'body: give at least one field to change' }]);
  for (const query of ['cursor=', 'cursor=%20', 'cursor=not%20base64!']) {
    const res = await api(`/products?${query}`);
    t.is(res.status, 400, query);
    t.deepEqual(res.body.errors.map((e: { path: string }) => e.path), ['cursor']);
  }
});
