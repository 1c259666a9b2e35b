/**
 * A stand-in for the gateway's anonymous routes (GET /products, GET /products/{id}), for the load
 * generator's own tests: it records who asked and when, and can be slow, serial or failing.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface FakeShop {
  url: string;
  /** Every request: its source address, path and arrival time (performance clock). */
  seen: Array<{ address: string; path: string; at: number }>;
  close(): Promise<void>;
}

export interface FakeShopOptions {
  /** Time to answer each request (ms). */
  serviceMs?: number;
  /** Answer one request at a time (a server with a single worker): later ones queue. */
  serial?: boolean;
  /** The status of GET /products/{id}. */
  viewStatus?: number;
}

export const productIds = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];

export async function startFakeShop(options: FakeShopOptions = {}): Promise<FakeShop> {
  const seen: FakeShop['seen'] = [];
  let queue = Promise.resolve();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const answer = (req: IncomingMessage): { status: number; body: unknown } => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/products') return { status: 200, body: { items: productIds.map((id) => ({ id, stock: 10 })), next_cursor: null } };
    const m = /^\/products\/([^/]+)$/.exec(url.pathname);
    if (m && options.viewStatus && options.viewStatus !== 200) return { status: options.viewStatus, body: { status: options.viewStatus, code: 'DEPENDENCY_UNAVAILABLE' } };
    if (m && productIds.includes(m[1])) return { status: 200, body: { id: m[1], stock: 10 } };
    return { status: 404, body: { status: 404, code: 'NOT_FOUND' } };
  };
  const server: Server = createServer((req, res) => {
    seen.push({ address: req.socket.remoteAddress ?? '', path: req.url ?? '', at: performance.now() });
    const work = async () => {
      if (options.serviceMs) await sleep(options.serviceMs);
      const { status, body } = answer(req);
      res.writeHead(status, { 'Content-Type': status < 400 ? 'application/json' : 'application/problem+json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    if (options.serial) queue = queue.then(work);
    else void work();
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
