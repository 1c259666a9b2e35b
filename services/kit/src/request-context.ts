/**
 * Request ids (the client's when sane, else a new UUID), a per-request logger, one access-log line,
 * and the HTTP duration histogram: the kit's per-request work, done in one middleware frame.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from './logger';
import { observeHttp, routeLabel, type Metrics } from './metrics';

declare module 'koa' {
  /** What this frame puts in ctx.state for the middleware and routes inside it. */
  interface DefaultState {
    requestId: string;
    /** The request's logger (its lines carry request_id). */
    log: Logger;
    /** The route label of metrics and logs, when a handler sets its own (metrics.ts routeLabel). */
    routeLabel?: string;
  }
}

const saneRequestId = /^[A-Za-z0-9._:-]{8,128}$/;

/** The request being served, for work below the routes (e.g. calls to other services) to pass on. */
export const currentRequest = new AsyncLocalStorage<{ requestId: string }>();

/** Routes probed often and answered without work: no access-log line for them. */
const quietRoutes = new Set(['/health', '/ready', '/metrics']);

export interface RequestHandlingOptions {
  log: Logger;
  /** Records http_request_duration_seconds when given. */
  metrics?: Metrics;
  /** When it returns true, answers carry `Connection: close` (the server is draining). */
  draining?: () => boolean;
}

/**
 * Everything the kit does around a request: id, logger, `Connection: close` while draining, then,
 * once the inner middleware (errors, routes) has settled the status, the histogram and the access line.
 */
export function requestHandling({ log, metrics, draining }: RequestHandlingOptions): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    const incoming = ctx.get('X-Request-Id');
    const requestId = incoming && saneRequestId.test(incoming) ? incoming : randomUUID();
    const state = ctx.state;
    state.requestId = requestId;
    const requestLog = log.child({ request_id: requestId });
    state.log = requestLog;
    ctx.set('X-Request-Id', requestId);
    if (draining?.()) ctx.set('Connection', 'close');
    try {
      await currentRequest.run({ requestId }, next);
    } finally {
      const route = routeLabel(ctx);
      const status = ctx.status;
      const ms = performance.now() - started;
      if (metrics) observeHttp(metrics, ctx.method, route, status, ms / 1000);
      if (!quietRoutes.has(route)) {
        (state.log ?? requestLog).info('request', {
          method: ctx.method,
          route,
          path: ctx.path,
          status,
          duration_ms: ms,
          user_id: state.user?.sub,
        });
      }
    }
  };
}
