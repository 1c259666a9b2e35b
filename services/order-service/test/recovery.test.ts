/**
 * Crashes at each step of a checkout or a cancellation, simulated by running the steps a request
 * runs and stopping part-way, then one recovery pass, with the real services and database.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { types, type Client } from '@product-store/kit';
import { tokenFor } from '@product-store/kit/testing';
import type { Dependencies } from '../src/clients';
import { priceLines, requestFingerprint } from '../src/orders';
import type { Recovery } from '../src/recovery';
import type { OrderRepository } from '../src/repository';
import { startCheckoutSeam, type shop } from './helpers';

const TIMEOUT_MS = 60_000;
let seam: Awaited<ReturnType<typeof startCheckoutSeam>> | undefined;
let s: ReturnType<typeof shop>;
let db: Client;
let repo: OrderRepository;
let deps: Dependencies;
let recovery: Recovery;
const later = () => Date.now() + TIMEOUT_MS + 1000;

test.before(async () => {
  seam = await startCheckoutSeam({ checkoutTimeoutMs: TIMEOUT_MS, idempotencyWaitMs: 300, recoveryWindowHours: 48 });
  ({ s, db, repo, deps, recovery } = seam);
});
test.after.always(() => seam?.stop());

/** Runs a checkout's steps up to (and including) the reservation, as a request that then dies. */
async function reservedThenCrashed(userId: string, key: string) {
  const orderId = types.TimeUuid.now().toString();
  const lines = await deps.cartLines(userId);
  await repo.claimKey(userId, key, { request_hash: requestFingerprint(undefined), order_id: orderId, created_at: new Date() });
  const now = new Date();
  await repo.startCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'reserving', lines, created_at: now, updated_at: now });
  const reserved = await deps.reserve(orderId, lines);
  if (!reserved.ok) throw new Error('reservation failed');
  return { orderId, lines, reserved, startedAt: now };
}

test.serial('crash after the reservation: recovery gives the stock back and frees the key', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(10);
  await s.fill(user, [[beans, 2]]);
  const key = randomUUID();
  await reservedThenCrashed(userId, key);
  t.is(await s.stockOf(beans), 8);
  const meanwhile = await s.checkout(user, key);
  t.is(meanwhile.status, 409);
  t.is(meanwhile.body.code, 'IDEMPOTENCY_IN_PROGRESS');

  t.is(await recovery.pass(Date.now()), 0, 'nothing is touched before the timeout');
  t.is(await s.stockOf(beans), 8);
  t.true((await recovery.pass(later())) >= 1);
  t.is(await s.stockOf(beans), 10);
  t.deepEqual((await s.orders('/orders', { token: user })).body.items, []);
  t.is((await s.carts('/cart', { token: user })).body.items.length, 1, 'the cart is kept');

  const retry = await s.checkout(user, key);
  t.is(retry.status, 201, 'the same key now places the order');
  t.is(await s.stockOf(beans), 8);
  await recovery.pass(later());
  t.is(await s.stockOf(beans), 8, 'a second pass changes nothing');
});

test.serial('crash after the commit point: recovery finishes the order, and the key replays it', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(10, 700);
  await s.fill(user, [[beans, 3]]);
  const key = randomUUID();
  const { orderId, reserved } = await reservedThenCrashed(userId, key);
  if (!reserved.ok) throw new Error('unreachable');
  t.true(await repo.confirmCheckout(orderId, priceLines(reserved.lines)));
  t.is((await s.orders(`/orders/${orderId}`, { token: user })).status, 404, 'the crash came before the order row');

  await recovery.pass(later());
  const order = await s.orders(`/orders/${orderId}`, { token: user });
  t.is(order.status, 200);
  t.is(order.body.status, 'confirmed');
  t.is(order.body.total_cents, 2100);
  t.deepEqual((await s.carts('/cart', { token: user })).body.items, []);
  const replay = await s.checkout(user, key);
  t.is(replay.status, 201);
  t.deepEqual(replay.body, order.body);
  t.is(await s.stockOf(beans), 7, 'reserved once');
});

test.serial("a request's order row arriving after recovery wrote the order and the client cancelled it changes nothing", async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(10);
  await s.fill(user, [[beans, 2]]);
  const key = randomUUID();
  const { orderId, reserved, startedAt } = await reservedThenCrashed(userId, key);
  if (!reserved.ok) throw new Error('unreachable');
  const priced = priceLines(reserved.lines);
  t.true(await repo.confirmCheckout(orderId, priced));
  // The request stalls after its commit point; recovery finishes the order, and the client cancels it.
  await recovery.pass(later());
  const cancelled = await s.orders(`/orders/${orderId}/cancel`, { method: 'POST', token: user });
  t.is(cancelled.status, 200);
  t.is(cancelled.body.status, 'cancelled');
  t.is(await s.stockOf(beans), 10);

  // The stalled request wakes and writes its order row: a plain write, under the order's fixed write
  // time (a day before its id), which recovery's write and the cancellation both outrank.
  const late = { id: orderId, status: 'confirmed' as const, ...priced, created_at: startedAt.toISOString() };
  await repo.insertOrder(userId, late);
  await repo.recordCommittedResponse(userId, key, { request_hash: requestFingerprint(undefined), order_id: orderId, created_at: startedAt }, late);
  const order = await s.orders(`/orders/${orderId}`, { token: user });
  t.is(order.body.status, 'cancelled', 'the order stays cancelled');
  t.is(order.body.created_at, startedAt.toISOString());
  t.is(await s.stockOf(beans), 10, 'and its stock stays given back');
  const replay = await s.checkout(user, key);
  t.is(replay.status, 201, 'the key replays the 201');
  t.is(replay.body.id, orderId);
});

test.serial("a request's order row is written under its fixed write time, a day before the order's id", async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  await s.fill(user, [[await s.product(5), 1]]);
  const placed = await s.checkout(user);
  t.is(placed.status, 201);
  const stamp = (await db.execute('SELECT WRITETIME(items) AS items FROM orders WHERE user_id = ? AND id = ?', [userId, placed.body.id], { prepare: true })).first().get('items');
  t.is(Number(stamp), (types.TimeUuid.fromString(placed.body.id).getDate().getTime() - 24 * 3600 * 1000) * 1000);
});

test.serial('a reservation that arrives after recovery gave up is refused: no stock is stranded', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(5);
  await s.fill(user, [[beans, 1]]);
  const key = randomUUID();
  const orderId = types.TimeUuid.now().toString();
  const lines = await deps.cartLines(userId);
  await repo.claimKey(userId, key, { request_hash: requestFingerprint(undefined), order_id: orderId, created_at: new Date() });
  const now = new Date();
  await repo.startCheckout({ order_id: orderId, user_id: userId, idempotency_key: key, state: 'reserving', lines, created_at: now, updated_at: now });
  await recovery.pass(later());
  const late = await deps.reserve(orderId, lines);
  t.false(late.ok);
  t.is(!late.ok && late.code, 'RESERVATION_RELEASED');
  t.is(await s.stockOf(beans), 5);
  t.false(await repo.confirmCheckout(orderId, { items: [], total_cents: 0, currency: 'USD' }), 'the request can no longer commit');
});

test.serial('crash between cancelling and giving stock back: recovery gives it back exactly once', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(10);
  await s.fill(user, [[beans, 4]]);
  const order = (await s.checkout(user)).body;
  t.is(await s.stockOf(beans), 6);
  await repo.addWork({ order_id: order.id, kind: 'cancel', user_id: userId, created_at: new Date() });
  t.true(await repo.cancelOrder(userId, order.id));
  t.is(await s.stockOf(beans), 6);
  await recovery.pass(later());
  t.is(await s.stockOf(beans), 10);
  await repo.addWork({ order_id: order.id, kind: 'cancel', user_id: userId, created_at: new Date() });
  await recovery.pass(later());
  t.is(await s.stockOf(beans), 10, 'released once');
  t.is((await s.orders(`/orders/${order.id}`, { token: user })).body.status, 'cancelled');
});

test.serial('a cancellation whose status change never happened leaves the order and its stock alone', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(10);
  await s.fill(user, [[beans, 1]]);
  const order = (await s.checkout(user)).body;
  await repo.addWork({ order_id: order.id, kind: 'cancel', user_id: userId, created_at: new Date() });
  await recovery.pass(later());
  t.is(await s.stockOf(beans), 9);
  t.is((await s.orders(`/orders/${order.id}`, { token: user })).body.status, 'confirmed');
});

test.serial('a key whose request died right after claiming it is freed once it is stale', async (t) => {
  const userId = randomUUID();
  const user = tokenFor('customer', userId);
  const beans = await s.product(5);
  await s.fill(user, [[beans, 1]]);
  const key = randomUUID();
  // The claim of a request that never got further, long enough ago.
  await db.execute(
    'INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, created_at) VALUES (?, ?, ?, ?, ?)',
    [types.Uuid.fromString(userId), key, requestFingerprint(undefined), types.TimeUuid.now(), new Date(Date.now() - 3 * TIMEOUT_MS)],
    { prepare: true },
  );
  const stuck = await s.checkout(user, key);
  t.is(stuck.status, 409);
  t.is(stuck.body.code, 'IDEMPOTENCY_IN_PROGRESS');
  const retry = await s.checkout(user, key);
  t.is(retry.status, 201, 'the retry runs');
  t.is(await s.stockOf(beans), 4);
});
