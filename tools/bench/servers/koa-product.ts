/**
 * The ceiling of the `GET /products/{id}` ratio: Koa and @koa/router alone (no request id, logs,
 * metrics, validation or problem+json) running the route's own two queries through the driver alone
 * (tools/bench/cql-load.ts operationFor, with the kit's client options) and answering the same JSON
 * object. backend can be no faster than this; the bench reports it beside backend, so what HTTP and
 * Koa cost on this route is told apart from what the kit adds.
 */
import { createServer } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { benchClient, operationFor } from '../cql-load';

const db = benchClient({ host: process.env.CASSANDRA_HOST ?? '127.0.0.1', port: Number(process.env.CASSANDRA_PORT ?? 9042), keyspace: process.env.CASSANDRA_KEYSPACE ?? '' });
const app = new Koa();
const router = new Router();
router.get('/health', (ctx) => {
  ctx.body = { status: 'ok' };
});
router.get('/products/:id', async (ctx) => {
  const [entry, stock] = (await operationFor(db, { route: 'product', productId: ctx.params.id })()) as [Record<string, unknown> | undefined, Map<string, number>];
  if (!entry) {
    ctx.status = 404;
    return;
  }
  ctx.body = { ...entry, stock: stock.get(ctx.params.id) ?? 0 };
});
app.use(router.routes());
const server = createServer(app.callback());
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
db.connect().then(
  () => server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n')),
  (err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
process.once('SIGTERM', () => server.close(() => void db.shutdown().then(() => process.exit(0))));
