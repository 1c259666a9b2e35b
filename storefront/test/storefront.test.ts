/**
 * The storefront in a real browser (playwright-core driving Debian's Chromium, headless) against a
 * real local stack: the four services, nginx serving the built storefront at `/` with its CSP, and
 * the test's own keyspace. nginx trusts 127.0.0.1 for X-Forwarded-For here, so each browser context
 * is a client address of its own to the gateway's rate limits (the tests click fast; one test
 * exhausts its own address's login limit on purpose). Screenshots of the main pages go to
 * .data/screenshots/ on every run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Browser, Page } from 'playwright-core';
import { call, dropKeyspace, testKeyspace } from '@product-store/kit/testing';
import { freeStackPorts, startLocalStack, type RunningStack } from '../../tools/stack/stack';
import { storefrontCsp } from '../../gateway/nginx';
import { buildStorefront, scriptBudgetBytes } from '../build';
import { alertOf, chromiumPath, launchBrowser, register, runJourney, screenshot, signIn, statusOf, storefrontContext } from '../journey';

const repoRoot = join(__dirname, '..', '..');
const screenshots = join(repoRoot, '.data', 'screenshots');
const keyspace = testKeyspace('storefront');
const admin = { email: 'admin@example.com', password: 'storefront-test-admin-password' };
let stack: RunningStack;
let browser: Browser;
let url: string;
let adminToken: string;
const logs: string[] = [];

/** A client address of its own for each browser context (TEST-NET-2, never routed). */
let clients = 0;
const clientHeaders = () => ({ 'X-Forwarded-For': `198.51.100.${++clients}` });
const newCustomer = (label: string) => ({ name: `Test ${label}`, email: `${label}-${Date.now()}-${clients}@example.com`, password: 'a-long-test-password' });

async function newPage(headers = clientHeaders()) {
  const made = await storefrontContext(browser, { headers });
  const page = await made.context.newPage();
  return { page, ...made, headers };
}

/** The error the storefront shows next (waiting for it), so that a wrong one fails with its text. */
async function alertText(page: Page, previous = ''): Promise<string> {
  const handle = await page.waitForFunction((before) => {
    const alert = document.querySelector('main > [role=alert]');
    const text = alert?.textContent?.trim() ?? '';
    return text && text !== before ? text : undefined;
  }, previous);
  return (await handle.jsonValue()) as string;
}

/** The bearer token the storefront holds for its signed-in user, to check the API's side. */
const tokenOf = (page: Page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('product-store.session')!).token as string);

async function createProduct(fields: { name: string; category: string; stock: number; price_cents?: number }) {
  const created = await call(stack.url('backend'), '/products', { method: 'POST', token: adminToken, body: { price_cents: 1500, ...fields } });
  if (created.status !== 201) throw new Error(`creating ${fields.name}: ${created.status} ${created.text}`);
  return created.body as { id: string; name: string; stock: number; price_cents: number };
}
const stockOf = async (id: string) => (await call(stack.url('backend'), `/products/${id}`)).body.stock as number;

test.before(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: run scripts/install-prerequisites.sh (Debian's chromium package)`);
  stack = await startLocalStack({
    dataDir: mkdtempSync(join(tmpdir(), 'product-store-storefront-')),
    env: { ...process.env, ENVIRONMENT: 'test', LOG_LEVEL: 'warn', CASSANDRA_KEYSPACE: keyspace, SEED_DEMO_CATALOG: 'true', ADMIN_EMAIL: admin.email, ADMIN_PASSWORD: admin.password },
    ports: await freeStackPorts(),
    replicas: 1,
    withoutMonitoring: true,
    trustedProxies: ['127.0.0.1'],
    sink: (name, line) => logs.push(`[${name}] ${line}`),
  });
  url = stack.url('gateway');
  const login = await call(stack.url('user-service'), '/auth/login', { method: 'POST', body: admin });
  adminToken = login.body.access_token;
  // Six demo products and eight more: two pages of the catalog's twelve.
  for (let i = 1; i <= 8; i++) await createProduct({ name: `Kitchen item ${i}`, category: 'kitchen', stock: 50, price_cents: 1000 + i });
  browser = await launchBrowser();
});

test.after.always(async () => {
  await browser?.close();
  await stack?.stop();
  await dropKeyspace(keyspace).catch(() => undefined);
});

test.serial('nginx serves the storefront at / with a strict CSP; the API routes and the refused paths are unchanged', async (t) => {
  const index = await fetch(`${url}/`);
  t.is(index.status, 200);
  t.is(index.headers.get('content-security-policy'), storefrontCsp);
  t.notRegex(storefrontCsp, /unsafe-inline|unsafe-eval|\*/);
  t.is(index.headers.get('cache-control'), 'no-cache');
  t.is(index.headers.get('x-frame-options'), 'DENY');
  const html = await index.text();
  const script = /src="\/(assets\/app-[^"]+\.js)"/.exec(html)?.[1];
  t.truthy(script, html);
  const asset = await fetch(`${url}/${script}`, { headers: { 'Accept-Encoding': 'gzip' } });
  t.is(asset.status, 200);
  t.regex(asset.headers.get('content-type') ?? '', /javascript/);
  t.regex(asset.headers.get('cache-control') ?? '', /immutable/);
  t.is(asset.headers.get('content-encoding'), 'gzip');

  // The API keeps its own answers and CSP; what names no file is nginx's problem+json 404.
  const products = await fetch(`${url}/products`);
  t.is(products.status, 200);
  t.regex(products.headers.get('content-type') ?? '', /^application\/json/);
  t.is(products.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
  t.is((await fetch(`${url}/health`)).status, 200);
  for (const path of ['/metrics', '/ready', '/internal/carts/x', '/assets/', '/nothing-here', '/assets/..%2Fproducts']) {
    const answer = await fetch(`${url}${path}`);
    t.is(answer.status, 404, path);
    t.regex(answer.headers.get('content-type') ?? '', /^application\/problem\+json/, path);
  }
  const post = await fetch(`${url}/`, { method: 'POST', body: '{}' });
  t.is(post.status, 405, 'a static page takes no POST');
  t.is(post.headers.get('allow'), 'GET, HEAD');
  t.regex(post.headers.get('content-type') ?? '', /^application\/problem\+json/);
  t.is((await fetch(`${url}/nothing-here`, { method: 'POST', body: '{}' })).status, 404, 'what names no file is 404 whatever the method');

  const build = buildStorefront();
  t.true(build.scriptGzipBytes < scriptBudgetBytes, `${build.scriptGzipBytes} bytes of script gzipped`);
  t.log(`script: ${build.scriptGzipBytes} bytes gzipped (budget ${scriptBudgetBytes})`);
});

test.serial("a newcomer's whole purchase: the canary's journey, then the catalog's pages and filter and the cart's changes", async (t) => {
  const journey = await runJourney(browser, { url, headers: clientHeaders(), screenshots });
  t.deepEqual(journey.steps.slice(-3), ['place the order', 'cancel the order', 'no Content-Security-Policy violation']);

  const { page, cspViolations, pageErrors } = await newPage();
  const who = newCustomer('newcomer');
  await register(page, url, who);
  await screenshot(page, screenshots, 'signed-in');
  // Cursor pagination: 14 products over two pages of 12; the filter narrows to one category.
  const products = page.getByRole('list', { name: 'Products' }).getByRole('listitem');
  await products.first().waitFor();
  t.is(await products.count(), 12);
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Products"] > li').length === 2);
  t.true(await page.getByRole('button', { name: 'Previous page' }).isEnabled());
  t.true(await page.getByRole('button', { name: 'Next page' }).isDisabled());
  await page.getByRole('button', { name: 'Previous page' }).click();
  await page.getByLabel('Category').selectOption('kitchen');
  await page.getByRole('link', { name: 'Kitchen item 8' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Products"] > li').length === 8);
  t.true(await page.getByRole('button', { name: 'Next page' }).isDisabled());

  // Two products in the cart, one removed: the lines and the totals follow.
  for (const [name, quantity] of [['Kitchen item 1', '3'], ['Kitchen item 2', '1']] as const) {
    await page.goto(`${url}/#/`);
    await page.getByLabel('Category').selectOption('kitchen');
    await page.waitForFunction(() => document.querySelectorAll('ul[aria-label="Products"] > li').length === 8);
    await page.getByRole('link', { name }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor();
    await page.getByLabel('Quantity').fill(quantity);
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await statusOf(page).getByText(`Added ${quantity} × ${name}`).waitFor();
  }
  await page.goto(`${url}/#/cart`);
  await page.getByTestId('cart-total').filter({ hasText: '$40.05' }).waitFor(); // 3 × 10.01 + 10.02
  await page.getByRole('button', { name: 'Remove Kitchen item 2' }).click();
  await page.getByTestId('cart-total').filter({ hasText: '$30.03' }).waitFor();
  t.is(await page.getByRole('row').count(), 2, 'the header and one line');
  await page.getByRole('button', { name: 'Place order' }).click();
  await statusOf(page).getByText('Order placed: $30.03').waitFor();

  const orders = await call(url, '/orders', { token: await tokenOf(page), headers: clientHeaders() });
  t.is(orders.body.items.length, 1);
  t.like(orders.body.items[0], { status: 'confirmed', total_cents: 3003 });
  t.deepEqual(cspViolations, []);
  t.deepEqual(pageErrors, []);
});

test.serial('an admin creates a product on the admin page, a customer buys it, the admin sees the stock go down', async (t) => {
  const adminSide = await newPage();
  await signIn(adminSide.page, url, admin);
  await adminSide.page.getByRole('link', { name: 'Admin' }).click();
  await adminSide.page.getByLabel('Name', { exact: true }).fill('Brass desk lamp');
  await adminSide.page.getByLabel('Description').fill('Warm light, for reading.');
  await adminSide.page.getByLabel('Price', { exact: true }).fill('49.90');
  await adminSide.page.getByLabel('Category', { exact: true }).fill('lighting');
  await adminSide.page.getByLabel('Stock', { exact: true }).fill('3');
  await adminSide.page.getByRole('button', { name: 'Create product' }).click();
  await statusOf(adminSide.page).getByText('Created Brass desk lamp ($49.90, 3 in stock).').waitFor();
  await screenshot(adminSide.page, screenshots, 'admin-created');

  const shopper = await newPage();
  await register(shopper.page, url, newCustomer('lamp-buyer'));
  await shopper.page.getByLabel('Category').selectOption('lighting');
  await shopper.page.getByRole('link', { name: 'Brass desk lamp' }).click();
  await shopper.page.getByText('3 in stock').waitFor();
  await shopper.page.getByRole('button', { name: 'Add to cart' }).click();
  await statusOf(shopper.page).getByText('Added 1 × Brass desk lamp').waitFor();
  await shopper.page.goto(`${url}/#/cart`);
  await shopper.page.getByRole('button', { name: 'Place order' }).click();
  await statusOf(shopper.page).getByText('Order placed: $49.90').waitFor();

  await adminSide.page.reload();
  await adminSide.page.waitForFunction(() => (document.querySelector('input[aria-label="Stock of Brass desk lamp"]') as HTMLInputElement | null)?.value === '2');
  // The price and the stock change on the admin page, and a customer never reaches it.
  await adminSide.page.getByLabel('Stock of Brass desk lamp').fill('10');
  await adminSide.page.getByRole('button', { name: 'Save Brass desk lamp' }).click();
  await statusOf(adminSide.page).getByText('Saved Brass desk lamp: $49.90, 10 in stock.').waitFor();
  // The stock moves while the admin edits (an order, another admin): the page's save is refused, nothing overwritten.
  const lamp = (await call(stack.url('backend'), '/products?category=lighting')).body.items.find((p: { name: string }) => p.name === 'Brass desk lamp');
  t.is((await call(stack.url('backend'), `/products/${lamp.id}`, { method: 'PATCH', token: adminToken, body: { stock_delta: -1 } })).status, 200);
  await adminSide.page.getByLabel('Stock of Brass desk lamp').fill('20');
  await adminSide.page.getByRole('button', { name: 'Save Brass desk lamp' }).click();
  await alertOf(adminSide.page).getByText('The stock changed while you were editing (it is now 9)').waitFor();
  t.is(await stockOf(lamp.id), 9);
  t.false(await shopper.page.getByRole('link', { name: 'Admin' }).isVisible());
  await shopper.page.goto(`${url}/#/admin`);
  await shopper.page.getByText("This page is for the shop's administrators.").waitFor();

  // The canary's journey with an admin account: its own product, bought, cancelled and deleted.
  const journey = await runJourney(browser, { url, admin, headers: clientHeaders() });
  t.true(journey.steps.includes('admin: delete the product'));
  t.is((await call(url, `/products?category=canary`)).body.items.length, 0);
  t.deepEqual([...adminSide.cspViolations, ...shopper.cspViolations], []);
});

test.serial('out of stock: the shopper is told which product, nothing is ordered and the cart is kept', async (t) => {
  const scarce = await createProduct({ name: 'Last espresso cup', category: 'scarce', stock: 1 });
  const { page, cspViolations } = await newPage();
  await register(page, url, newCustomer('scarce'));
  await page.goto(`${url}/#/product/${scarce.id}`);
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await statusOf(page).getByText('Added 2 × Last espresso cup').waitFor();
  await page.goto(`${url}/#/cart`);
  await page.getByRole('button', { name: 'Place order' }).click();
  t.regex(await alertText(page), /^Not enough stock for Last espresso cup\. Nothing was ordered and your cart is unchanged/);
  await screenshot(page, screenshots, 'out-of-stock');
  t.is(await page.getByLabel('Quantity of Last espresso cup').inputValue(), '2', 'the cart is kept');
  t.is((await call(url, '/orders', { token: await tokenOf(page), headers: clientHeaders() })).body.items.length, 0);
  t.is(await stockOf(scarce.id), 1);
  // Lowered to what is left, the same cart goes through (a new checkout attempt, a new key).
  await page.getByLabel('Quantity of Last espresso cup').fill('1');
  await page.getByLabel('Quantity of Last espresso cup').press('Tab');
  await page.getByTestId('cart-total').filter({ hasText: '$15.00' }).waitFor();
  await page.getByRole('button', { name: 'Place order' }).click();
  await statusOf(page).getByText('Order placed').waitFor();
  t.is(await stockOf(scarce.id), 0);
  await page.goto(`${url}/#/`);
  await page.getByLabel('Category').selectOption('scarce');
  await page.getByRole('listitem').filter({ hasText: 'Last espresso cup' }).getByText('Out of stock').waitFor();
  t.deepEqual(cspViolations, []);
});

test.serial('checkout: a double click places one order, and a retry after a lost answer sends the same Idempotency-Key', async (t) => {
  const product = await createProduct({ name: 'Double-click mug', category: 'mugs', stock: 20 });
  const { page, cspViolations } = await newPage();
  await register(page, url, newCustomer('double'));
  const keys: string[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/orders') keys.push(r.headers()['idempotency-key']);
  });
  const addToCart = async (quantity: string) => {
    await page.goto(`${url}/#/product/${product.id}`);
    await page.getByLabel('Quantity').fill(quantity);
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await statusOf(page).getByText(`Added ${quantity} × Double-click mug`).waitFor();
    await page.goto(`${url}/#/cart`);
  };

  await addToCart('2');
  await page.getByRole('button', { name: 'Place order' }).dblclick();
  await statusOf(page).getByText('Order placed').waitFor();
  const token = await tokenOf(page);
  const ordersNow = async () => (await call(url, '/orders', { token, headers: clientHeaders() })).body.items as Array<{ id: string; status: string }>;
  t.is((await ordersNow()).length, 1, 'one order for a double click');
  t.is(await stockOf(product.id), 18);
  t.true(keys.length >= 1 && keys.every((k) => k === keys[0]), `keys: ${keys.join(', ')}`);

  // The first answer is lost on the way back (the order is placed); the shopper presses again.
  keys.length = 0;
  await addToCart('3');
  let lost = false;
  await page.route(`${url}/orders`, async (route) => {
    if (route.request().method() !== 'POST' || lost) return route.continue();
    lost = true;
    const answer = await route.fetch();
    t.is(answer.status(), 201, 'the server placed the order');
    await route.abort('connectionreset');
  });
  await page.getByRole('button', { name: 'Place order' }).click();
  await alertOf(page).getByText('The shop could not be reached').waitFor();
  await screenshot(page, screenshots, 'checkout-lost-answer');
  await page.getByRole('button', { name: 'Place order' }).click();
  await statusOf(page).getByText('Order placed').waitFor();
  t.is(keys.length, 2);
  t.is(keys[0], keys[1], 'the retry carries the first attempt\'s key');
  t.is((await ordersNow()).length, 2, 'the retry did not place a second order');
  t.is(await stockOf(product.id), 15);

  // A new checkout after that is a new attempt: a new key.
  keys.length = 0;
  await page.unroute(`${url}/orders`);
  await addToCart('1');
  await page.getByRole('button', { name: 'Place order' }).click();
  await statusOf(page).getByText('Order placed').waitFor();
  t.is((await ordersNow()).length, 3);
  t.notDeepEqual(keys, []);
  t.deepEqual(cspViolations, []);
});

/** Presses Tab until the focused element matches (at most `max` times); fails when it never does. */
async function tabTo(
  page: Page,
  description: string,
  matches: (el: { tag: string; id: string; text: string; label: string; inProducts: boolean; soldOut: boolean }) => boolean,
  max = 40,
): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const el = await page.evaluate(() => {
      const a = document.activeElement as HTMLElement | null;
      const item = a?.closest('ul[aria-label="Products"] > li');
      return {
        tag: a?.tagName.toLowerCase() ?? '',
        id: a?.id ?? '',
        text: (a?.textContent ?? '').trim(),
        label: a?.getAttribute('aria-label') ?? '',
        inProducts: !!item,
        soldOut: !!item?.querySelector('.stock.out'),
      };
    });
    if (matches(el)) return;
  }
  throw new Error(`Tab never reached ${description}`);
}

test.serial('keyboard only: register, buy and cancel without the mouse, with a visible focus', async (t) => {
  const { page, cspViolations } = await newPage();
  const who = newCustomer('keyboard');
  await page.goto(`${url}/#/register`);
  await page.getByRole('heading', { name: 'Create an account' }).waitFor();
  await tabTo(page, 'the name field', (e) => e.id === 'name');
  await page.keyboard.type(who.name);
  await page.keyboard.press('Tab');
  await page.keyboard.type(who.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(who.password);
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  await page.getByRole('heading', { name: 'Catalog' }).waitFor();
  await page.getByRole('list', { name: 'Products' }).waitFor();
  // The catalog lists products in the database's (token) order: the first one may be a product an
  // earlier test sold out, which a checkout would refuse.
  await tabTo(page, 'a product in stock', (e) => e.tag === 'a' && e.inProducts && !e.soldOut);
  const product = await page.evaluate(() => document.activeElement!.textContent!.trim());
  // The focus is visible (the :focus-visible outline), not just present.
  t.not(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle), 'none');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: product, level: 1 }).waitFor();
  await tabTo(page, 'Add to cart', (e) => e.tag === 'button' && e.text === 'Add to cart');
  await page.keyboard.press('Enter');
  await statusOf(page).getByText(`Added 1 × ${product}`).waitFor();
  await tabTo(page, 'the Cart link', (e) => e.tag === 'a' && e.text === 'Cart');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Your cart' }).waitFor();
  await tabTo(page, 'Place order', (e) => e.tag === 'button' && e.text === 'Place order');
  await page.keyboard.press('Enter');
  await statusOf(page).getByText('Order placed').waitFor();
  await tabTo(page, 'Cancel order', (e) => e.tag === 'button' && e.text === 'Cancel order');
  await page.keyboard.press('Enter');
  await statusOf(page).getByText(/is cancelled/).waitFor();
  t.is((await call(url, '/orders', { token: await tokenOf(page), headers: clientHeaders() })).body.items[0].status, 'cancelled');
  t.deepEqual(cspViolations, []);
});

test.serial('problem+json errors get clear messages: signed out, email taken, bad credentials, rate limited', async (t) => {
  const { page, headers } = await newPage();
  const who = newCustomer('errors');
  await register(page, url, who);
  // A token the API no longer accepts (expired, or signed with a retired key): the session ends.
  await page.evaluate(() => {
    const session = JSON.parse(sessionStorage.getItem('product-store.session')!);
    sessionStorage.setItem('product-store.session', JSON.stringify({ ...session, token: 'expired.token.value' }));
  });
  await page.goto(`${url}/#/cart`);
  t.is(await alertText(page), 'You are signed out (your session ended). Please sign in again.');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await screenshot(page, screenshots, 'signed-out');

  await page.goto(`${url}/#/register`);
  await page.getByLabel('Name').fill('Again');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill('another-long-password');
  await page.getByRole('button', { name: 'Register' }).click();
  t.regex(await alertText(page), /^An account with that email already exists/);

  await page.goto(`${url}/#/signin`);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const refused = await alertText(page);
  t.is(refused, 'That email and password do not match an account.');

  // This context's address spends its login budget (burst 10), then the storefront says to wait.
  let limited = 0;
  for (let i = 0; i < 15; i++) {
    const answer = await call(url, '/auth/login', { method: 'POST', body: { email: who.email, password: 'not-the-password' }, headers });
    if (answer.status === 429) limited++;
  }
  t.true(limited > 0, 'the gateway limited the address');
  await page.getByRole('button', { name: 'Sign in' }).click();
  t.regex(await alertText(page, refused), /^Too many requests from this address\. Please wait \d+ seconds? and try again\.$/);
  await screenshot(page, screenshots, 'rate-limited');
  t.pass();
});

test.serial('accessibility: axe-core finds no serious or critical violation on any page', async (t) => {
  const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const audit = async (page: Page, name: string) => {
    // Evaluated through the DevTools protocol, which the page's CSP does not govern (a <script> would be refused).
    await page.evaluate(axeSource);
    const result = await page.evaluate(() =>
      (globalThis as any).axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
    );
    const bad = (result.violations as Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }>)
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${name}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    t.deepEqual(bad, [], name);
  };
  const guest = await newPage();
  for (const [path, heading, name] of [['/#/', 'Catalog', 'catalog'], ['/#/signin', 'Sign in', 'sign-in'], ['/#/register', 'Create an account', 'register']] as const) {
    await guest.page.goto(`${url}${path}`);
    await guest.page.getByRole('heading', { name: heading, level: 1 }).waitFor();
    if (name === 'catalog') await guest.page.getByRole('list', { name: 'Products' }).waitFor();
    await audit(guest.page, name);
    await screenshot(guest.page, screenshots, name);
  }

  const shopper = await newPage();
  await register(shopper.page, url, newCustomer('axe'));
  const coffee = (await call(stack.url('backend'), '/products?category=coffee')).body.items[0] as { id: string };
  await shopper.page.goto(`${url}/#/product/${coffee.id}`);
  await shopper.page.getByRole('button', { name: 'Add to cart' }).waitFor();
  await audit(shopper.page, 'product');
  await shopper.page.getByRole('button', { name: 'Add to cart' }).click();
  await statusOf(shopper.page).waitFor();
  await audit(shopper.page, 'product with a notice');
  await shopper.page.goto(`${url}/#/cart`);
  await shopper.page.getByRole('button', { name: 'Place order' }).waitFor();
  await audit(shopper.page, 'cart');
  await shopper.page.getByRole('button', { name: 'Place order' }).click();
  await shopper.page.getByRole('button', { name: /^Cancel order/ }).waitFor();
  await audit(shopper.page, 'orders');

  const adminSide = await newPage();
  await signIn(adminSide.page, url, admin);
  await adminSide.page.goto(`${url}/#/admin`);
  await adminSide.page.getByRole('button', { name: 'Create product' }).waitFor();
  await audit(adminSide.page, 'admin');
  t.deepEqual([...guest.cspViolations, ...shopper.cspViolations, ...adminSide.cspViolations], []);
});

/** `npm run canary` as an operator runs it: its output and exit code. */
function canary(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'storefront', 'canary.ts'), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

test.serial('npm run canary: exit 0 when the journey passes, 1 naming the failing step, 2 without --url', async (t) => {
  const passed = await canary(['--url', url]);
  t.is(passed.code, 0, passed.output);
  t.regex(passed.output, /ok {3}place the order/);
  t.regex(passed.output, /passed: \d+ steps, order [0-9a-f-]{36} placed and cancelled/);

  const failed = await canary(['--url', url], { CANARY_ADMIN_EMAIL: admin.email, CANARY_ADMIN_PASSWORD: 'not-the-admin-password' });
  t.is(failed.code, 1, failed.output);
  t.regex(failed.output, /FAILED at step "admin: sign in": refused: That email and password do not match an account\./);

  const usage = await canary([]);
  t.is(usage.code, 2, usage.output);
});
