/**
 * The services refuse, as the gateway does, raw paths that proxies and routers read differently: a
 * public entry without the gateway's rules (a default ingress-nginx) must not reach an internal route
 * through `/internal/...%2F..`, nor any route through a dot segment, `//`, `;` or a backslash.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import Router from '@koa/router';
import { createApp, createLogger, createMetrics } from '../src';
import { isRefusedPath } from '../src/paths';

let server: Server;
let port: number;
const reached: string[] = [];

test.before(async () => {
  const router = new Router();
  router.get('/cart', (ctx) => {
    reached.push(ctx.originalUrl);
    ctx.body = { public: true };
  });
  router.all('/internal/carts/:id', (ctx) => {
    reached.push(ctx.originalUrl);
    ctx.body = { internal: true };
  });
  router.all('/internal/carts/:id/:rest', (ctx) => {
    reached.push(ctx.originalUrl);
    ctx.body = { internal: true };
  });
  const { app } = createApp({ service: 'test', log: createLogger({ level: 'error', sink: () => undefined }), metrics: createMetrics('test'), readinessCheck: async () => undefined, router });
  server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

test.after.always(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends the path exactly as written (fetch would normalize dot segments). */
function raw(path: string, method = 'GET'): Promise<{ status: number; type: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sneaky = [
  '/cart/..%2F..%2Finternal/carts/x',
  '/internal/carts/..%2F..%2Fcart',
  '/internal/carts/%2e%2e/cart',
  '/internal/carts/x%2Fy',
  '/internal/carts/x%5cy',
  '/cart/../internal/carts/x',
  '/cart/./',
  '//cart',
  '/cart;jsessionid=1',
  '/internal/carts/x;y',
  '/cart\\..\\internal',
  '/CART/%2E%2E/internal/carts/x',
];

test.serial('every sneaky path is a 404 problem and reaches no route', async (t) => {
  for (const path of sneaky) {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await raw(path, method);
      t.is(res.status, 404, `${method} ${path}`);
      t.true(res.type.startsWith('application/problem+json'), `${method} ${path}: ${res.type}`);
      t.is(res.body.code, 'NOT_FOUND');
    }
  }
  t.deepEqual(reached, []);
});

test.serial('plain paths, and odd characters in the query, still reach their routes', async (t) => {
  t.is((await raw('/cart')).status, 200);
  t.is((await raw('/cart?next=..%2F..%2F;x//y')).status, 200);
  t.is((await raw('/internal/carts/abc', 'POST')).status, 200);
  t.is((await raw('/health')).status, 200);
  t.deepEqual(reached, ['/cart', '/cart?next=..%2F..%2F;x//y', '/internal/carts/abc']);
});

test('the pattern is the one the gateway renders', async (t) => {
  const { refusedPath } = await import('../../../gateway/nginx');
  const { refusedPath: kitPattern } = await import('../src/paths');
  t.is(refusedPath, kitPattern);
  t.true(isRefusedPath('/a/..%2fb'));
  t.false(isRefusedPath('/products/0b6e2f0c-6f2a-4c6b-9d8e-2f1f1f1f1f1f?cursor=a%2Fb'));
});
