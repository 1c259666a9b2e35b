/** Request ids (the client's when sane, else a new UUID), a per-request logger, and one access-log line. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from './logger';
import { routeLabel } from './metrics';

const saneRequestId = /^[A-Za-z0-9._:-]{8,128}$/;

/** The request being served, for work below the routes (e.g. calls to other services) to pass on. */
export const currentRequest = new AsyncLocalStorage<{ requestId: string }>();

export function requestContext(log: Logger): Middleware {
  return async (ctx, next) => {
    const incoming = ctx.get('X-Request-Id');
    const requestId = saneRequestId.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ request_id: requestId });
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await currentRequest.run({ requestId }, next);
    } finally {
      const route = routeLabel(ctx);
      if (route !== '/health' && route !== '/ready' && route !== '/metrics') {
        ctx.state.log.info('request', {
          method: ctx.method,
          route,
          path: ctx.path,
          status: ctx.status,
          duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
          user_id: ctx.state.user?.sub,
        });
      }
    }
  };
}
