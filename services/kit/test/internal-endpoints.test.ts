/**
 * The topology's internalEndpoints is the one list of who may call what: every `/internal/` route of
 * a service is guarded by requireInternal and listed there (an unlisted one is closed to all, which
 * would break a caller), and every listed one exists. Each calling service calls only what is listed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { internalCallers, internalCredentialsOf, internalEndpoints, services, type RouteSet, type ServiceName } from '../src';
import { productApi } from '../../backend/src/routes';
import { cartApi } from '../../cart-service/src/routes';
import { orderApi } from '../../order-service/src/routes';
import { userApi } from '../../user-service/src/routes';

/** Each service's route declarations (kit routes.ts): its router is built from them and nothing else (tools/openapi/test). */
const routeSets: Record<ServiceName, RouteSet<unknown>> = { backend: productApi, 'cart-service': cartApi, 'order-service': orderApi, 'user-service': userApi };

const servicesDir = join(__dirname, '..', '..');
const source = (dir: string, file: string) => readFileSync(join(servicesDir, dir, 'src', file), 'utf8');

test('every internal route is guarded and listed, and every listed one exists', (t) => {
  for (const s of services) {
    const routes = routeSets[s.name].routes.filter((r) => r.path.startsWith('/internal/'));
    const declared = Object.keys(internalEndpoints[s.name] ?? {}).sort();
    t.deepEqual(routes.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort(), declared, s.name);
    // auth 'internal' is requireInternal (routes.ts); defineRoutes refuses an /internal/ route without it.
    for (const r of routes) t.is(r.auth, 'internal', `${s.name} ${r.path}`);
  }
});

test('a caller calls only the internal endpoints listed for it', (t) => {
  const clients: Record<string, string[]> = { 'cart-service': ['catalog-client.ts'], 'order-service': ['clients.ts'] };
  t.deepEqual(Object.keys(clients).sort(), [...internalCallers]);
  for (const [caller, files] of Object.entries(clients)) {
    const calls = files.flatMap((f) => [...source(caller, f).matchAll(/\.call(?:<[^>]*>)?\('(\w+)', [`']([^`']+)[`']/g)]);
    t.true(calls.length > 0, caller);
    for (const [, method, path] of calls) {
      const pattern = `${method} ${path.replace(/\$\{[^}]+\}/g, ':param')}`;
      const listed = Object.values(internalEndpoints).some((endpoints) =>
        Object.entries(endpoints ?? {}).some(([endpoint, callers]) => endpoint.replace(/:\w+/g, ':param') === pattern && callers.includes(caller as never)),
      );
      t.true(listed, `${caller}: ${pattern}`);
    }
  }
});

test('user-service holds no internal credential; the others hold their own and their callers\'', (t) => {
  t.deepEqual(internalCredentialsOf('user-service'), []);
  t.deepEqual(internalCredentialsOf('order-service'), ['order-service']);
  t.deepEqual(internalCredentialsOf('cart-service'), ['cart-service', 'order-service']);
  t.deepEqual(internalCredentialsOf('backend'), ['cart-service', 'order-service']);
});
