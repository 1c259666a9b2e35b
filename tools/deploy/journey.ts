/**
 * The purchase journey of a deployment, through its gateway, as an operator checks a fresh install:
 * the admin signs in and creates a product, a new customer registers, signs in, puts it in the cart,
 * checks out under an Idempotency-Key (twice: the retry gives the same order), and finds the order in
 * the list; the stock went down by what was bought.
 *
 *   node --import tsx tools/deploy/journey.ts --url http://127.0.0.1 --admin-email E --admin-password P
 *
 * Prints one JSON object (the ids it created and every step's status) and exits 0; on the first step
 * that does not answer as the contract says, exits 1 naming that step and what came back.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

export interface JourneyResult {
  productId: string;
  orderId: string;
  customerEmail: string;
  steps: Array<{ step: string; status: number }>;
}

export class JourneyError extends Error {
  constructor(
    readonly step: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${step}: HTTP ${status} ${body.slice(0, 300)}`);
  }
}

export async function purchaseJourney(base: string, admin: { email: string; password: string }): Promise<JourneyResult> {
  const steps: JourneyResult['steps'] = [];
  const call = async (step: string, expected: number, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    steps.push({ step, status: res.status });
    if (res.status !== expected) throw new JourneyError(step, res.status, text);
    return text ? JSON.parse(text) : undefined;
  };
  const login = async (who: string, email: string, password: string) => (await call(`${who} signs in`, 200, 'POST', '/auth/login', { body: { email, password } })).access_token as string;

  await call('the gateway answers /health', 200, 'GET', '/health');
  const adminToken = await login('admin', admin.email, admin.password);
  const product = await call('admin creates a product', 201, 'POST', '/products', {
    token: adminToken,
    body: { name: `Journey beans ${randomUUID().slice(0, 8)}`, description: 'created by the deployment journey', price_cents: 1250, category: 'coffee', stock: 5 },
  });
  await call('the product is in the catalog', 200, 'GET', `/products/${product.id}`);

  const email = `journey-${randomUUID()}@example.com`;
  const password = 'a long journey password';
  await call('a customer registers', 201, 'POST', '/auth/register', { body: { email, password, name: 'Journey Customer' } });
  const token = await login('the customer', email, password);
  await call('the customer sees their account', 200, 'GET', '/users/me', { token });
  const cart = await call('the customer adds 2 to the cart', 201, 'POST', '/cart/items', { token, body: { product_id: product.id, quantity: 2 } });
  if (cart.total_cents !== 2500) throw new JourneyError('the cart is priced from the catalog', 201, JSON.stringify(cart));

  const key = randomUUID();
  const order = await call('the customer checks out', 201, 'POST', '/orders', { token, headers: { 'Idempotency-Key': key } });
  const replay = await call('a retry of the checkout', 201, 'POST', '/orders', { token, headers: { 'Idempotency-Key': key } });
  if (replay.id !== order.id) throw new JourneyError('a retry gives the same order', 201, JSON.stringify({ order: order.id, replay: replay.id }));
  const list = await call('the customer lists their orders', 200, 'GET', '/orders', { token });
  if (!list.items.some((o: { id: string }) => o.id === order.id)) throw new JourneyError('the order is in the list', 200, JSON.stringify(list));
  const after = await call('the stock went down', 200, 'GET', `/products/${product.id}`);
  if (after.stock !== 3) throw new JourneyError('the stock went down by what was bought', 200, JSON.stringify(after));
  const emptied = await call('the cart is empty after checkout', 200, 'GET', '/cart', { token });
  if (emptied.items.length !== 0) throw new JourneyError('the cart is empty after checkout', 200, JSON.stringify(emptied));
  return { productId: product.id, orderId: order.id, customerEmail: email, steps };
}

if (require.main === module) {
  const { values } = parseArgs({ options: { url: { type: 'string' }, 'admin-email': { type: 'string' }, 'admin-password': { type: 'string' } } });
  const url = (values.url ?? 'http://127.0.0.1').replace(/\/$/, '');
  const email = values['admin-email'] ?? process.env.ADMIN_EMAIL;
  const password = values['admin-password'] ?? process.env.ADMIN_PASSWORD;
  if (!email || !password) {
    process.stderr.write('usage: journey.ts --url URL --admin-email EMAIL --admin-password PASSWORD (or ADMIN_EMAIL / ADMIN_PASSWORD)\n');
    process.exit(2);
  }
  purchaseJourney(url, { email, password }).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (err) => {
      process.stderr.write(`journey failed at ${err instanceof JourneyError ? err.message : (err as Error).message}\n`);
      process.exit(1);
    },
  );
}
