/**
 * The shop's promises, checked through the public API after a load run: every order a customer saw
 * acknowledged is in that customer's list, one order per Idempotency-Key, and for every product the
 * stock it started with = its stock now + the quantities in non-cancelled orders (so nothing is held
 * without an order, and nothing was sold twice).
 */
import type { ExecutionContext } from 'ava';
import type { LoadSummary } from '../generator';

export interface ListedOrder {
  id: string;
  status: string;
  items: Array<{ product_id: string; quantity: number }>;
}

export async function getJson(url: string, token?: string): Promise<any> {
  const res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(15_000) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Every order of a customer, from the API, page by page. */
export async function ordersOf(gateway: string, token: string): Promise<ListedOrder[]> {
  const all: ListedOrder[] = [];
  let cursor: string | null = null;
  do {
    const page: any = await getJson(`${gateway}/orders?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/**
 * Checks the promises and returns every order listed. `exact`: the lists hold no order the customers
 * did not see acknowledged (true without faults; after a crash, recovery may complete a checkout whose
 * client never got its answer).
 */
export async function assertShopInvariants(t: ExecutionContext, gateway: string, summary: LoadSummary, options: { exact: boolean }): Promise<Map<string, ListedOrder>> {
  t.is(new Set(summary.orders.map((o) => o.idempotencyKey)).size, summary.orders.length, 'one order per Idempotency-Key');
  t.is(new Set(summary.orders.map((o) => o.orderId)).size, summary.orders.length, 'one key per order');
  const listed = new Map<string, ListedOrder>();
  const missing: string[] = [];
  for (const c of summary.customers) {
    for (const o of await ordersOf(gateway, c.token!)) listed.set(o.id, o);
    for (const o of summary.orders.filter((x) => x.customer === c.index)) if (!listed.has(o.orderId)) missing.push(`${o.orderId} (key ${o.idempotencyKey}, ${c.email})`);
  }
  t.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged orders are missing from their owner's list`);
  if (options.exact) t.is(listed.size, summary.orders.length, 'no order the customers did not see acknowledged');
  else t.true(listed.size >= summary.orders.length);

  const wrong: string[] = [];
  for (const p of summary.products) {
    const now = (await getJson(`${gateway}/products/${p.id}`)).stock as number;
    const ordered = [...listed.values()].filter((o) => o.status !== 'cancelled').flatMap((o) => o.items).filter((i) => i.product_id === p.id).reduce((a, i) => a + i.quantity, 0);
    if (now < 0 || p.initialStock !== now + ordered) wrong.push(`${p.id}: started with ${p.initialStock}, has ${now}, ordered ${ordered}`);
  }
  t.deepEqual(wrong, [], 'initial stock = stock now + quantities in non-cancelled orders, for every product');
  return listed;
}
