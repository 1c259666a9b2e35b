/**
 * The kit's side of the trivial-route ratio: createApp exactly as startService builds it (request ids,
 * access logs, metrics, problem+json, the operational routes and a service router), served by node:http
 * with the same timeouts, without a database (readiness always succeeds). PORT on 127.0.0.1; logs
 * go to stdout as in a service.
 */
import { createServer } from 'node:http';
import Router from '@koa/router';
import { createApp, createLogger, createMetrics, kitSettings } from '@product-store/kit';

const log = createLogger({ level: 'info', bindings: { service: 'backend' } });
const metrics = createMetrics('backend');
const router = new Router();
router.get('/things/:id', (ctx) => {
  ctx.body = { id: ctx.params.id };
});
const { app } = createApp({ service: 'backend', log, metrics, router, readinessCheck: async () => undefined, requestTimeoutMs: kitSettings.REQUEST_TIMEOUT_MS.default });
const server = createServer(app.callback());
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 30_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => log.info('listening', { port: Number(process.env.PORT) }));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
