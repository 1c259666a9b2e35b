/**
 * The ceiling of the trivial-route ratio: Koa and @koa/router alone (no request id, logs, metrics or
 * problem+json) answering GET /health with the same JSON. The kit's app can be no faster than this;
 * the bench reports it beside the kit so the kit's own share of the gap to raw node:http is visible.
 */
import { createServer } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';

const app = new Koa();
const router = new Router();
router.get('/health', (ctx) => {
  ctx.body = { status: 'ok' };
});
app.use(router.routes());
app.use(router.allowedMethods());
const server = createServer(app.callback());
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 30_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
