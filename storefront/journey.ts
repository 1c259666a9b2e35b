/**
 * The shopper's journey through the storefront in a real browser (playwright-core driving Debian's
 * Chromium): `npm run canary` runs it against any deployment, and the browser tests run it against a
 * local stack. Each step has a name; the first that fails ends the journey with a StepFailed naming it.
 *
 * The journey cleans up after itself: its order is cancelled (the stock goes back), and the product
 * it created with an admin account is deleted. It leaves one customer account per run behind (the
 * API has no way to delete one) unless it is given one to reuse.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless Debian Chromium: no sandbox (containers, root), no background traffic to Google. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    chromiumSandbox: false,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-default-apps', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(`${step}: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`);
  }
}

export interface Credentials {
  email: string;
  password: string;
}

export interface JourneyOptions {
  url: string;
  /** With it, the journey creates a product of its own on the admin page, buys it, and deletes it. */
  admin?: Credentials;
  /** A customer account to use (signed in, or registered on the first run); default: a new one. */
  customer?: Credentials;
  /** Folder for a screenshot of each main page. */
  screenshots?: string;
  /** Each step's outcome as it ends. */
  report?: (step: string, ms: number, error?: unknown) => void;
  /** Headers on every request of the journey's browser contexts (the tests: a client address of its own). */
  headers?: Record<string, string>;
  /** Per action and per wait. @default 15000 */
  timeoutMs?: number;
}

export interface JourneyResult {
  steps: string[];
  orderId: string;
  productName: string;
  customer: Credentials;
  /** Content-Security-Policy violations the browser reported (none expected). */
  cspViolations: string[];
}

/** A browser context for the storefront, recording CSP violations and failing on a page error. */
export async function storefrontContext(browser: Browser, options: { headers?: Record<string, string>; timeoutMs?: number } = {}) {
  const context = await browser.newContext({ extraHTTPHeaders: options.headers, viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(options.timeoutMs ?? 15_000);
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  context.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  context.on('weberror', (e) => pageErrors.push(e.error().message));
  return { context, cspViolations, pageErrors };
}

/** The notice the storefront shows (role=alert for errors, role=status for news). */
export const alertOf = (page: Page) => page.locator('main > [role=alert]');
export const statusOf = (page: Page) => page.locator('main > [role=status]');

export async function signIn(page: Page, url: string, who: Credentials): Promise<void> {
  await page.goto(`${url}/#/signin`);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await signedInOrRefused(page);
}

/** Waits for the outcome of a sign-in or registration: signed in, or the storefront's error, thrown. */
async function signedInOrRefused(page: Page): Promise<void> {
  const signOut = page.getByRole('button', { name: 'Sign out' });
  await signOut.or(alertOf(page)).first().waitFor();
  if (!(await signOut.isVisible())) throw new Error(`refused: ${await alertOf(page).textContent()}`);
}

export async function register(page: Page, url: string, who: Credentials & { name: string }): Promise<void> {
  await page.goto(`${url}/#/register`);
  await page.getByLabel('Name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Register' }).click();
  await signedInOrRefused(page);
}

export async function screenshot(page: Page, folder: string | undefined, name: string): Promise<void> {
  if (!folder) return;
  mkdirSync(folder, { recursive: true });
  await page.screenshot({ path: join(folder, `${name}.png`), fullPage: true });
}

export async function runJourney(browser: Browser, options: JourneyOptions): Promise<JourneyResult> {
  const url = options.url.replace(/\/+$/, '');
  const steps: string[] = [];
  const step = async <T>(name: string, action: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      const value = await action();
      steps.push(name);
      options.report?.(name, Date.now() - started);
      return value;
    } catch (err) {
      options.report?.(name, Date.now() - started, err);
      throw new StepFailed(name, err);
    }
  };
  const run = randomBytes(4).toString('hex');
  const contexts: BrowserContext[] = [];
  const violations: string[][] = [];
  const open = async () => {
    const made = await storefrontContext(browser, { headers: options.headers, timeoutMs: options.timeoutMs });
    contexts.push(made.context);
    violations.push(made.cspViolations);
    return made.context.newPage();
  };
  let adminPage: Page | undefined;
  let productName = '';
  try {
    const page = await open();
    await step('open the storefront', async () => {
      const response = await page.goto(`${url}/`);
      if (!response?.ok()) throw new Error(`GET / answered ${response?.status()}`);
      const csp = response.headers()['content-security-policy'] ?? '';
      if (!/script-src 'self'/.test(csp) || /unsafe-inline|unsafe-eval/.test(csp)) throw new Error(`no strict Content-Security-Policy on / (${csp || 'none'})`);
      await page.getByRole('heading', { name: 'Catalog', level: 1 }).waitFor();
      await page.getByRole('list', { name: 'Products' }).waitFor();
      await screenshot(page, options.screenshots, 'catalog');
    });

    if (options.admin) {
      const admin = options.admin;
      adminPage = await open();
      productName = `Canary check ${run}`;
      await step('admin: sign in', () => signIn(adminPage!, url, admin));
      await step('admin: create a product', async () => {
        await adminPage!.goto(`${url}/#/admin`);
        await adminPage!.getByLabel('Name', { exact: true }).fill(productName);
        await adminPage!.getByLabel('Description').fill('Created by the canary; deleted at the end of its run.');
        await adminPage!.getByLabel('Price', { exact: true }).fill('1.00');
        await adminPage!.getByLabel('Category', { exact: true }).fill('canary');
        await adminPage!.getByLabel('Stock', { exact: true }).fill('5');
        await adminPage!.getByRole('button', { name: 'Create product' }).click();
        await statusOf(adminPage!).getByText(`Created ${productName}`).waitFor();
        await screenshot(adminPage!, options.screenshots, 'admin');
      });
    }

    const customer = options.customer ?? { email: `canary-${Date.now()}-${run}@example.com`, password: `canary-${randomBytes(9).toString('base64url')}` };
    await step(options.customer ? 'sign in (or register) the customer' : 'register a new customer', async () => {
      if (options.customer) {
        await signIn(page, url, customer).catch(() => register(page, url, { ...customer, name: 'Canary' }));
        // What an earlier run that failed half-way left in the cart goes first.
        await page.goto(`${url}/#/cart`);
        await page.getByRole('heading', { name: 'Your cart', level: 1 }).waitFor();
        await page.getByText(/Your cart is empty|^Total:/).first().waitFor();
        while ((await page.getByRole('button', { name: /^Remove / }).count()) > 0) {
          const before = await page.getByRole('button', { name: /^Remove / }).count();
          await page.getByRole('button', { name: /^Remove / }).first().click();
          await page.getByRole('button', { name: /^Remove / }).nth(before - 1).waitFor({ state: 'detached' });
        }
      } else await register(page, url, { ...customer, name: 'Canary shopper' });
    });

    await step('find a product in the catalog', async () => {
      await page.goto(`${url}/#/`);
      const list = page.getByRole('list', { name: 'Products' });
      await list.waitFor();
      if (productName) {
        await page.getByLabel('Category').selectOption('canary');
        await list.getByRole('link', { name: productName }).click();
      } else {
        // Any product with stock: the first card that does not say "Out of stock".
        const card = list.getByRole('listitem').filter({ hasNotText: 'Out of stock' }).first();
        productName = (await card.getByRole('link').textContent())!.trim();
        await card.getByRole('link').click();
      }
      await page.getByRole('heading', { name: productName, level: 1 }).waitFor();
      await screenshot(page, options.screenshots, 'product');
    });

    await step('add it to the cart', async () => {
      await page.getByLabel('Quantity').fill('2');
      await page.getByRole('button', { name: 'Add to cart' }).click();
      await statusOf(page).getByText(`Added 2 × ${productName}`).waitFor();
    });

    await step('change the quantity in the cart', async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cart' }).click();
      const line = page.getByRole('row').filter({ has: page.getByRole('link', { name: productName }) });
      const price = (await line.getByRole('cell').nth(0).textContent())!.trim();
      const quantity = page.getByLabel(`Quantity of ${productName}`);
      await quantity.fill('1');
      await quantity.press('Tab');
      // The total follows the cart's answer: one of the product.
      await page.getByTestId('cart-total').filter({ hasText: new RegExp(`^${price.replace(/[.$]/g, '\\$&')}$`) }).waitFor();
      if ((await quantity.inputValue()) !== '1') throw new Error('the quantity did not change');
      await screenshot(page, options.screenshots, 'cart');
    });

    const orderId = await step('place the order', async () => {
      await page.getByRole('button', { name: 'Place order' }).click();
      await statusOf(page).getByText('Order placed').waitFor();
      await page.getByRole('heading', { name: 'Your orders', level: 1 }).waitFor();
      const first = page.getByRole('list', { name: 'Orders' }).locator('> li').first();
      await first.getByText('confirmed').waitFor();
      await first.getByText(productName).waitFor();
      await screenshot(page, options.screenshots, 'orders');
      return (await first.getAttribute('data-order-id'))!;
    });

    await step('cancel the order', async () => {
      const order = page.locator(`li[data-order-id="${orderId}"]`);
      await order.getByRole('button', { name: /^Cancel order/ }).click();
      await order.getByText('cancelled').waitFor();
    });

    if (adminPage) {
      await step('admin: delete the product', async () => {
        await adminPage!.goto(`${url}/#/admin`);
        await adminPage!.getByRole('button', { name: `Delete ${productName}` }).click();
        await adminPage!.getByRole('button', { name: `Confirm deleting ${productName}` }).click();
        await statusOf(adminPage!).getByText(`Deleted ${productName}`).waitFor();
      });
    }
    await step('no Content-Security-Policy violation', async () => {
      const found = violations.flat();
      if (found.length) throw new Error(found.join('; '));
    });
    return { steps, orderId, productName, customer, cspViolations: violations.flat() };
  } finally {
    for (const context of contexts) await context.close().catch(() => undefined);
  }
}
