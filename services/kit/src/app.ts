/**
 * The Koa application every service shares: request ids and access logs, metrics, problem+json
 * errors, the operational endpoints, then the service's own router. It is a value: tests drive it
 * without a database by passing their own readiness check.
 */
import Koa from 'koa';
import Router from '@koa/router';
import { errorHandler, problems } from './errors';
import { isRefusedPath } from './paths';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { requestHandling } from './request-context';

export interface AppOptions {
  service: string;
  log: Logger;
  metrics: Metrics;
  /** Throws (or rejects) when a dependency is unusable; /ready answers 503 then. */
  readinessCheck: () => Promise<void>;
  /** The service's own routes. */
  router: Router;
  /** The service's part of the OpenAPI document, served at /openapi.json. */
  openapi?: unknown;
  /** The whole API's document, served at /openapi/all.json (what the gateway shows as /openapi.json). */
  openapiAll?: unknown;
  /** TRUSTED_PROXIES (trusted-proxies.ts): when any, the client address is the one the gateway forwards. */
  trustedProxies?: readonly string[];
  /** REQUEST_TIMEOUT_MS: past it a request is answered 503 while its work goes on (deadline.ts); none when absent. */
  requestTimeoutMs?: number;
}

export interface ServiceApp {
  app: Koa;
  /** Turns readiness to 503 at once (called when shutdown begins). */
  markDraining(): void;
  isDraining(): boolean;
}

export function createApp(options: AppOptions): ServiceApp {
  const { log, metrics, router } = options;
  let draining = false;
  // X-Forwarded-* only with TRUSTED_PROXIES set, and of X-Forwarded-For only the last address: the one
  // the service's own gateway wrote (nginx and ingress-nginx replace the header with their client).
  // Without it anyone reaching a service port could choose ctx.ip, ctx.host and ctx.protocol.
  // With it, any direct caller of a service port is trusted the same way, not only the gateway: no
  // service decides anything by ctx.ip, and a per-address feature must not while those ports are reachable.
  const app = new Koa({ proxy: (options.trustedProxies?.length ?? 0) > 0, maxIpsCount: 1 });
  app.silent = true;
  app.on('error', (err, ctx) => {
    (ctx?.state?.log ?? log).error('unhandled error', { err, method: ctx?.method, path: ctx?.path });
  });

  // The operational endpoints: a handful of fixed paths, matched as @koa/router would match them
  // (case-insensitive, an optional trailing slash; GET and HEAD) with one map lookup instead of a
  // second router pass on every request.
  const ops = new Map<string, (ctx: Koa.Context) => void | Promise<void>>();
  ops.set('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  ops.set('/ready', async (ctx) => {
    if (draining) {
      ctx.status = 503;
      ctx.body = { status: 'shutting_down' };
      return;
    }
    try {
      await options.readinessCheck();
      ctx.body = { status: 'ready' };
    } catch (err) {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', detail: 'A dependency is not usable.' };
      log.warn('readiness check failed', { err: (err as Error).message });
    }
  });
  for (const [path, document] of [['/openapi.json', options.openapi], ['/openapi/all.json', options.openapiAll]] as const) {
    if (!document) continue;
    const text = JSON.stringify(document);
    ops.set(path, (ctx) => {
      ctx.type = 'application/json';
      ctx.body = text;
    });
  }
  ops.set('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  const operational: Koa.Middleware = (ctx, next) => {
    // Paths the gateway refuses are refused here too (paths.ts): a public entry without its rules
    // (a default ingress-nginx refuses configuration snippets) must not reach an internal route by one.
    if (isRefusedPath(ctx.originalUrl)) throw problems.notFound(`No route for ${ctx.method} ${ctx.path}.`);
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      let path = ctx.path.toLowerCase();
      if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
      const handler = ops.get(path);
      if (handler) {
        // What the router would record: the route label of metrics and logs.
        (ctx as { _matchedRoute?: string })._matchedRoute = path;
        return handler(ctx);
      }
    }
    return next();
  };

  // Request id, logger, deadline, access line, histogram and draining in one frame, around the problem+json renderer.
  app.use(requestHandling({ log, metrics, draining: () => draining, requestTimeoutMs: options.requestTimeoutMs }));
  app.use(errorHandler());
  app.use(operational);
  app.use(router.routes());
  app.use(router.allowedMethods());

  return { app, markDraining: () => { draining = true; }, isDraining: () => draining };
}
