import test from 'ava';
import { call, dropKeyspace, startTestService, testEnv, tokenFor } from '@product-store/kit/testing';
import type { RunningService } from '@product-store/kit';
import { backend } from '../src/service';

let service: RunningService;
const env = testEnv();
const admin = tokenFor('admin');
const created = new Map<string, string>();

test.before(async () => {
  service = await startTestService(backend, env);
  for (let i = 0; i < 25; i++) {
    const category = i % 5 === 0 ? 'tea' : 'coffee';
    const res = await call(service.url, '/products', { method: 'POST', token: admin, body: { name: `Item ${i}`, price_cents: 100 + i, category, stock: i } });
    created.set(res.body.id, category);
  }
});
test.after.always(async () => {
  await service?.stop();
  await dropKeyspace(env.CASSANDRA_KEYSPACE!);
});

async function walk(query: string) {
  const pages: any[][] = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; text: string; body: any } = await call(service.url, `/products?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (res.status !== 200) throw new Error(res.text);
    pages.push(res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor && pages.length < 50);
  return pages;
}

test('pages cover the whole catalog once, in pages of the asked size', async (t) => {
  const pages = await walk('limit=10');
  t.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
  const ids = pages.flat().map((p) => p.id);
  t.is(new Set(ids).size, 25);
  t.deepEqual([...ids].sort(), [...created.keys()].sort());
  for (const product of pages.flat()) t.is(product.stock, Number(product.name.split(' ')[1]));
});

test('the default page is 20 and the last page has no cursor', async (t) => {
  const first = await call(service.url, '/products');
  t.is(first.body.items.length, 20);
  t.is(typeof first.body.next_cursor, 'string');
  const last = await call(service.url, `/products?cursor=${first.body.next_cursor}`);
  t.is(last.body.items.length, 5);
  t.is(last.body.next_cursor, null);
});

test('a page exactly at the end has no next cursor', async (t) => {
  const res = await call(service.url, '/products?limit=100');
  t.is(res.body.items.length, 25);
  t.is(res.body.next_cursor, null);
});

test('the category filter pages too', async (t) => {
  const pages = await walk('category=tea&limit=2');
  t.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
  t.true(pages.flat().every((p) => p.category === 'tea'));
  t.is((await call(service.url, '/products?category=nothing')).body.items.length, 0);
});

test('bad list parameters are 400', async (t) => {
  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=2.5', 'cursor=garbage', 'cursor=eyJhZnRlciI6MX0', 'category=', 'unknown=1', 'limit=1&limit=2']) {
    const res = await call(service.url, `/products?${query}`);
    t.is(res.status, 400, query);
    t.is(res.body.code, 'VALIDATION_FAILED', query);
  }
});
