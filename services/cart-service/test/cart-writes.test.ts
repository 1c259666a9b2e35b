/**
 * How cart-service writes several lines at once (one Paxos round, not one per line racing the others
 * on the same partition), what checkout's cleanup takes off the cart (only what the order took), and
 * that a contended add gives up with a 503 instead of looping.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { Client } from 'cassandra-driver';
import { HttpProblem, types, type RunningService } from '@product-store/kit';
import { call, internalHeadersOf, startStack, tokenFor, type TestStack } from '@product-store/kit/testing';
import { backend } from '../../backend/src/service';
import { cartService } from '../src/service';
import { CartRepository } from '../src/repository';

let stack: TestStack;
const admin = tokenFor('admin');
const internal = internalHeadersOf('order-service');
const cart = (path: string, options?: Parameters<typeof call>[2]) => call(stack.url('cart-service'), path, options);

test.before(async () => {
  stack = await startStack([backend, cartService]);
});
test.after.always(() => stack?.stop());

const db = () => (stack.services['cart-service'] as RunningService).deps.db as unknown as Client;

/**
 * Counts the conditional statements (Paxos rounds) cart-service sends to Cassandra while `work` runs:
 * the real client, watched, not replaced. A batch is one round. Tests using it are serial, so no
 * other test's statements are counted.
 */
async function paxosRounds(work: () => Promise<unknown>): Promise<number> {
  const client = db();
  const execute = client.execute.bind(client);
  const batch = client.batch.bind(client);
  let rounds = 0;
  const conditional = (query: string) => /\sIF\s/i.test(query);
  (client as any).execute = (query: string, ...rest: unknown[]) => {
    if (conditional(query)) rounds++;
    return (execute as any)(query, ...rest);
  };
  (client as any).batch = (queries: Array<{ query: string }>, ...rest: unknown[]) => {
    if (queries.some((q) => conditional(q.query))) rounds++;
    return (batch as any)(queries, ...rest);
  };
  try {
    await work();
  } finally {
    (client as any).execute = execute;
    (client as any).batch = batch;
  }
  return rounds;
}

async function product(fields: object = {}) {
  const res = await call(stack.url('backend'), '/products', { method: 'POST', token: admin, body: { name: 'P', price_cents: 100, category: 'c', stock: 100, ...fields } });
  if (res.status !== 201) throw new Error(res.text);
  return res.body.id as string;
}
const add = (token: string, product_id: string, quantity: number) => cart('/cart/items', { method: 'POST', token, body: { product_id, quantity } });
const quantities = async (token: string) =>
  Object.fromEntries(((await cart('/cart', { token })).body.items as Array<{ product_id: string; quantity: number }>).map((i) => [i.product_id, i.quantity]));
const userOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub as string;
const readForCheckout = async (token: string) => (await cart(`/internal/carts/${userOf(token)}`, { headers: internal })).body.lines as Array<{ product_id: string; quantity: number; version: string }>;
const cleanUp = (token: string, body: object) => cart(`/internal/carts/${userOf(token)}/remove`, { method: 'POST', headers: internal, body });

test.serial('DELETE /cart of ten lines is one Paxos round, and empties the cart', async (t) => {
  const user = tokenFor('customer');
  const ids = await Promise.all(Array.from({ length: 10 }, () => product()));
  for (const id of ids) await add(user, id, 1);
  const rounds = await paxosRounds(async () => t.is((await cart('/cart', { method: 'DELETE', token: user })).status, 204));
  t.is(rounds, 1);
  t.deepEqual(await quantities(user), {});
});

test.serial("checkout's cleanup of five lines is one Paxos round; GET /cart drops gone products without one", async (t) => {
  const user = tokenFor('customer');
  const ids = await Promise.all(Array.from({ length: 6 }, () => product()));
  for (const id of ids) await add(user, id, 2);
  const read = (await readForCheckout(user)).filter((l) => l.product_id !== ids[5]);
  t.is(await paxosRounds(async () => t.is((await cleanUp(user, { order_id: types.TimeUuid.now().toString(), lines: read })).status, 204)), 1);
  t.deepEqual(await quantities(user), { [ids[5]]: 2 });

  const gone = await product();
  await add(user, gone, 1);
  await call(stack.url('backend'), `/products/${gone}`, { method: 'DELETE', token: admin });
  t.is(await paxosRounds(() => cart('/cart', { token: user })), 0);
  t.deepEqual(Object.keys(await quantities(user)), [ids[5]]);
});

test('the cleanup after an order takes only what the order took, however late and however often it runs', async (t) => {
  const user = tokenFor('customer');
  const [kept, grown, readded, fresh] = await Promise.all([product(), product(), product(), product()]);
  await add(user, kept, 2);
  await add(user, grown, 2);
  await add(user, readded, 1);
  const read = await readForCheckout(user); // what the checkout ordered
  const orderId = types.TimeUuid.now().toString();
  // After the checkout read the cart, before the cleanup (e.g. recovery's, much later):
  await add(user, grown, 3); // 2 ordered + 3 more
  t.is((await cart(`/cart/items/${readded}`, { method: 'DELETE', token: user })).status, 200);
  await add(user, readded, 4); // a new line of a product the order had
  await add(user, fresh, 1); // a product the order did not have
  for (let run = 0; run < 3; run++) t.is((await cleanUp(user, { order_id: orderId, lines: read })).status, 204);
  t.deepEqual(await quantities(user), { [grown]: 3, [readded]: 4, [fresh]: 1 });
  t.false(kept in (await quantities(user)));
});

test("a repeated cleanup of an earlier order takes nothing, even after a later order took from the same line", async (t) => {
  const user = tokenFor('customer');
  const id = await product();
  await add(user, id, 2);
  const [first, second] = [types.TimeUuid.now().toString(), types.TimeUuid.now().toString()];
  const read1 = await readForCheckout(user); // order 1 takes 2
  await add(user, id, 3);
  t.is((await cleanUp(user, { order_id: first, lines: read1 })).status, 204); // its 204 is lost
  t.deepEqual(await quantities(user), { [id]: 3 });
  const read2 = await readForCheckout(user); // order 2 takes the 3
  await add(user, id, 1);
  t.is((await cleanUp(user, { order_id: second, lines: read2 })).status, 204);
  t.deepEqual(await quantities(user), { [id]: 1 });
  // Recovery sends order 1's cleanup again: its 2 were taken already.
  for (const [order, lines] of [[first, read1], [second, read2]] as const) t.is((await cleanUp(user, { order_id: order, lines })).status, 204);
  t.deepEqual(await quantities(user), { [id]: 1 }, 'the unit added after both orders stays');
});

test('a cleanup of a line changed by PUT keeps only what exceeds the order; one that races the user is computed again', async (t) => {
  const user = tokenFor('customer');
  const [a, b] = await Promise.all([product(), product()]);
  await add(user, a, 5);
  await add(user, b, 5);
  const read = await readForCheckout(user);
  await cart(`/cart/items/${a}`, { method: 'PUT', token: user, body: { quantity: 3 } }); // less than ordered: nothing left
  const orderId = types.TimeUuid.now().toString();
  // The user's adds race the cleanup: whatever the interleaving, what they added stays.
  const [cleaned, ...adds] = await Promise.all([cleanUp(user, { order_id: orderId, lines: read }), add(user, b, 1), add(user, b, 1)]);
  t.is(cleaned.status, 204);
  const added = adds.filter((r) => r.status === 201).length;
  t.is(added, 2);
  t.deepEqual(await quantities(user), { [b]: added });
});

test('the cleanup still takes product ids from a caller without versions, and refuses a malformed body with a 400', async (t) => {
  const user = tokenFor('customer');
  const [a, b] = await Promise.all([product(), product()]);
  await add(user, a, 1);
  await add(user, b, 1);
  t.is((await cleanUp(user, { product_ids: [a] })).status, 204);
  t.deepEqual(await quantities(user), { [b]: 1 });
  for (const body of [{}, { order_id: randomUUID(), lines: [{ product_id: b, quantity: 1, version: 'nope' }] }, { order_id: 'x', lines: [] }, { product_ids: [a], lines: [] }]) {
    const res = await cleanUp(user, body);
    t.is(res.status, 400, JSON.stringify(body));
    t.regex(res.headers.get('content-type') ?? '', /problem\+json/);
  }
});

test('a contended add gives up after its attempts with 503 CART_BUSY and Retry-After; no unit is lost or counted twice', async (t) => {
  const repo = new CartRepository(db() as any, { attempts: 1 });
  const userId = randomUUID();
  const productId = await product();
  const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => repo.add(userId, productId, 1, 99)));
  const busy = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
  t.true(busy.length > 0, 'some of 20 racing adds of one line lose their only attempt');
  for (const err of busy) {
    t.true(err instanceof HttpProblem);
    t.is(err.status, 503);
    t.is(err.code, 'CART_BUSY');
    t.is(err.headers['Retry-After'], '1');
  }
  const lines = await repo.lines(userId);
  t.is(lines[0]?.quantity, 20 - busy.length);
});
