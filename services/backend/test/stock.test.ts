import { randomUUID } from 'node:crypto';
import test from 'ava';
import { call, dropKeyspace, internalHeaders, startTestService, testEnv, tokenFor } from '@product-store/kit/testing';
import type { RunningService } from '@product-store/kit';
import { backend } from '../src/service';

let service: RunningService;
// Called directly with 100 concurrent reservations of one product, not through a caller's 3 s timeout.
const env = testEnv({ STOCK_OPERATION_DEADLINE_MS: '20000' });
const admin = tokenFor('admin');

test.before(async () => {
  service = await startTestService(backend, env);
});
test.after.always(async () => {
  await service?.stop();
  await dropKeyspace(env.CASSANDRA_KEYSPACE!);
});

async function product(stock: number, price_cents = 500) {
  const res = await call(service.url, '/products', { method: 'POST', token: admin, body: { name: 'P', price_cents, category: 'c', stock } });
  return res.body.id as string;
}
const stockOf = async (id: string) => (await call(service.url, `/products/${id}`)).body.stock as number;
const reserve = (reservation_id: string, lines: Array<{ product_id: string; quantity: number }>) =>
  call(service.url, '/internal/reservations', { method: 'POST', body: { reservation_id, lines }, headers: internalHeaders });
const release = (reservationId: string, product_ids: string[]) =>
  call(service.url, `/internal/reservations/${reservationId}/release`, { method: 'POST', body: { product_ids }, headers: internalHeaders });

test('100 concurrent single-unit reservations of a stock of 20: exactly 20 succeed, stock ends at 0', async (t) => {
  const id = await product(20);
  const results = await Promise.all(Array.from({ length: 100 }, () => reserve(randomUUID(), [{ product_id: id, quantity: 1 }])));
  const statuses = results.map((r) => r.status);
  t.is(statuses.filter((s) => s === 200).length, 20);
  t.is(statuses.filter((s) => s === 409).length, 80);
  t.true(results.filter((r) => r.status === 409).every((r) => r.body.code === 'OUT_OF_STOCK' && r.body.product_ids[0] === id));
  t.is(await stockOf(id), 0);
});

test('a reservation returns the frozen catalog lines and applies once however often it is repeated', async (t) => {
  const id = await product(10, 1234);
  const rid = randomUUID();
  const first = await reserve(rid, [{ product_id: id, quantity: 3 }]);
  t.is(first.status, 200);
  t.deepEqual(first.body, { reservation_id: rid, lines: [{ product_id: id, quantity: 3, name: 'P', price_cents: 1234, currency: 'USD' }] });
  const repeats = await Promise.all(Array.from({ length: 10 }, () => reserve(rid, [{ product_id: id, quantity: 3 }])));
  t.true(repeats.every((r) => r.status === 200));
  t.is(await stockOf(id), 7);
});

test('all or nothing: one short line leaves every stock untouched', async (t) => {
  const plenty = await product(10);
  const scarce = await product(1);
  const res = await reserve(randomUUID(), [{ product_id: plenty, quantity: 4 }, { product_id: scarce, quantity: 2 }]);
  t.is(res.status, 409);
  t.is(res.body.code, 'OUT_OF_STOCK');
  t.deepEqual(res.body.product_ids, [scarce]);
  t.is(await stockOf(plenty), 10);
  t.is(await stockOf(scarce), 1);
});

test('a missing product is 404 PRODUCT_NOT_FOUND and nothing is reserved', async (t) => {
  const id = await product(5);
  const ghost = randomUUID();
  const res = await reserve(randomUUID(), [{ product_id: id, quantity: 1 }, { product_id: ghost, quantity: 1 }]);
  t.is(res.status, 404);
  t.is(res.body.code, 'PRODUCT_NOT_FOUND');
  t.deepEqual(res.body.product_ids, [ghost]);
  t.is(await stockOf(id), 5);
});

test('release gives stock back exactly once, even when repeated concurrently', async (t) => {
  const id = await product(10);
  const rid = randomUUID();
  await reserve(rid, [{ product_id: id, quantity: 4 }]);
  t.is(await stockOf(id), 6);
  const releases = await Promise.all(Array.from({ length: 10 }, () => release(rid, [id])));
  t.true(releases.every((r) => r.status === 200));
  const outcomes = releases.map((r) => r.body.lines[0].outcome);
  t.is(outcomes.filter((o) => o === 'released').length, 1);
  t.is(outcomes.filter((o) => o === 'already_released').length, 9);
  t.is(await stockOf(id), 10);
  const again = await reserve(rid, [{ product_id: id, quantity: 4 }]);
  t.is(again.status, 409, 'a released reservation is final');
  t.is(again.body.code, 'RESERVATION_RELEASED');
  t.is(await stockOf(id), 10);
});

test('releasing an unknown reservation changes nothing', async (t) => {
  const id = await product(3);
  const res = await release(randomUUID(), [id]);
  t.is(res.status, 200);
  t.is(res.body.lines[0].outcome, 'unknown');
  t.is(await stockOf(id), 3);
});

test('a reservation that arrives after its release is refused, so a late request cannot hold stock', async (t) => {
  const id = await product(3);
  const rid = randomUUID();
  t.is((await release(rid, [id])).body.lines[0].outcome, 'unknown');
  const late = await reserve(rid, [{ product_id: id, quantity: 2 }]);
  t.is(late.status, 409);
  t.is(late.body.code, 'RESERVATION_RELEASED');
  t.is(await stockOf(id), 3);
});

test('concurrent reservations and an admin restock never lose an update', async (t) => {
  const id = await product(50);
  const reservations = Array.from({ length: 20 }, () => reserve(randomUUID(), [{ product_id: id, quantity: 1 }]));
  const results = await Promise.all(reservations);
  t.true(results.every((r) => r.status === 200));
  const patched = await call(service.url, `/products/${id}`, { method: 'PATCH', token: admin, body: { stock: 100 } });
  t.is(patched.body.stock, 100);
  await reserve(randomUUID(), [{ product_id: id, quantity: 5 }]);
  t.is(await stockOf(id), 95);
});

test('a replica that remembers an old stock still decides right: a refused write corrects it, and only a SERIAL read says short', async (t) => {
  // A second backend on the same keyspace: another process, with its own remembered stock.
  const other = await startTestService(backend, env);
  try {
    const id = await product(10);
    t.is((await reserve(randomUUID(), [{ product_id: id, quantity: 3 }])).status, 200); // remembers 7
    const lowered = await call(other.url, `/products/${id}`, { method: 'PATCH', token: admin, body: { stock: 2 } });
    t.is(lowered.body.stock, 2);
    // Remembered 7, really 2: the conditional write is refused with the real value, and 5 is short.
    const short = await reserve(randomUUID(), [{ product_id: id, quantity: 5 }]);
    t.is(short.status, 409);
    t.is(short.body.code, 'OUT_OF_STOCK');
    const raised = await call(other.url, `/products/${id}`, { method: 'PATCH', token: admin, body: { stock: 100 } });
    t.is(raised.body.stock, 100);
    // Remembered 2, really 100: "short" by memory is checked at SERIAL before it is answered.
    t.is((await reserve(randomUUID(), [{ product_id: id, quantity: 50 }])).status, 200);
    t.is(await stockOf(id), 50);
  } finally {
    await other.stop();
  }
});

test('invalid reservations are 400', async (t) => {
  const id = await product(3);
  const bad = [
    { reservation_id: 'x', lines: [{ product_id: id, quantity: 1 }] },
    { reservation_id: randomUUID(), lines: [] },
    { reservation_id: randomUUID(), lines: [{ product_id: id, quantity: 0 }] },
    { reservation_id: randomUUID(), lines: [{ product_id: id, quantity: 1 }, { product_id: id, quantity: 2 }] },
    { reservation_id: randomUUID(), lines: [{ product_id: id, quantity: 1, price_cents: 1 }] },
  ];
  for (const body of bad) {
    const res = await call(service.url, '/internal/reservations', { method: 'POST', body, headers: internalHeaders });
    t.is(res.status, 400, JSON.stringify(body));
  }
  t.is(await stockOf(id), 3);
});

test('a stock change that cannot finish before its deadline is a 503, and stock stays consistent', async (t) => {
  const hurried = await startTestService(backend, { ...env, PORT: '0', STOCK_OPERATION_DEADLINE_MS: '100' });
  try {
    const res = await call(hurried.url, '/products', { method: 'POST', token: admin, body: { name: 'Hot', price_cents: 1, category: 'c', stock: 1000 } });
    const id = res.body.id as string;
    // Enough that the line (one conditional write at a time, about a millisecond each on a quiet
    // machine) is longer than the deadline however fast the machine is, and within the queue's 500.
    const results = await Promise.all(
      Array.from({ length: 400 }, () => call(hurried.url, '/internal/reservations', { method: 'POST', body: { reservation_id: randomUUID(), lines: [{ product_id: id, quantity: 1 }] }, headers: internalHeaders })),
    );
    const reserved = results.filter((r) => r.status === 200).length;
    const busy = results.filter((r) => r.status === 503);
    t.true(busy.length > 0, 'some waited too long in line');
    t.true(busy.every((r) => r.body.code === 'STOCK_BUSY'));
    t.is(reserved + busy.length, 400);
    t.is((await call(hurried.url, `/products/${id}`)).body.stock, 1000 - reserved);
  } finally {
    await hurried.stop();
  }
});

test('the stock endpoints are for the services only: 401 without the internal token', async (t) => {
  const id = await product(3);
  const res = await call(service.url, '/internal/reservations', { method: 'POST', body: { reservation_id: randomUUID(), lines: [{ product_id: id, quantity: 1 }] } });
  t.is(res.status, 401);
  t.is(res.body.code, 'INTERNAL_TOKEN_REQUIRED');
  t.is((await call(service.url, `/internal/reservations/${randomUUID()}/release`, { method: 'POST', body: { product_ids: [id] }, token: admin })).status, 401);
  t.is(await stockOf(id), 3);
});
