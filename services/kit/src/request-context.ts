/**
 * Request ids (the client's when sane, else a new UUID), a per-request logger, its deadline
 * (deadline.ts), one access-log line, and the HTTP duration histogram: the kit's per-request work,
 * done in one middleware frame.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { Deadlines, type InFlight } from './deadline';
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
  /** REQUEST_TIMEOUT_MS: past it a request is answered 503 while its work goes on (deadline.ts); none when absent. */
  requestTimeoutMs?: number;
}

/**
 * Everything the kit does around a request: id, logger, `Connection: close` while draining, its
 * deadline, then, once the inner middleware (errors, routes) has settled the status, the histogram
 * and the access line. A request its deadline answered has them when it is answered, and a line of
 * its own when its work ends.
 */
export function requestHandling({ log, metrics, draining, requestTimeoutMs }: RequestHandlingOptions): Middleware {
  const record = (ctx: Context, ms: number) => {
    const route = routeLabel(ctx);
    const status = ctx.status;
    if (metrics) observeHttp(metrics, ctx.method, route, status, ms / 1000);
    if (!quietRoutes.has(route)) {
      ctx.state.log.info('request', {
        method: ctx.method,
        route,
        path: ctx.path,
        status,
        duration_ms: ms,
        user_id: ctx.state.user?.sub,
      });
    }
  };
  const deadlines =
    requestTimeoutMs === undefined
      ? undefined
      : new Deadlines(requestTimeoutMs, ({ ctx, started }) => {
          ctx.state.log.warn('request deadline passed: answered 503', { timeout_ms: requestTimeoutMs });
          record(ctx, performance.now() - started);
        });
  return async (ctx, next) => {
    const started = performance.now();
    const incoming = ctx.get('X-Request-Id');
    const requestId = incoming && saneRequestId.test(incoming) ? incoming : randomUUID();
    const state = ctx.state;
    state.requestId = requestId;
    state.log = log.child({ request_id: requestId });
    ctx.set('X-Request-Id', requestId);
    if (draining?.()) ctx.set('Connection', 'close');
    const inFlight: InFlight | undefined = deadlines && { ctx, started, expired: false, prev: undefined, next: undefined };
    if (inFlight) deadlines!.add(inFlight);
    try {
      await currentRequest.run({ requestId }, next);
    } finally {
      if (inFlight) deadlines!.delete(inFlight);
      // Answered by its deadline (and recorded then): the error handler inside has rendered, and logged
      // when unexpected, whatever the work ended with; the client has its 503.
      if (inFlight?.expired) state.log.warn('request went on after its deadline', { duration_ms: performance.now() - started });
      else record(ctx, performance.now() - started);
    }
  };
}
