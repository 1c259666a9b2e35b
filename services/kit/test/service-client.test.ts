/**
 * The service client against a raw TCP server that plays a replica closing a kept-alive connection
 * just as the next request is written on it (a draining replica closing its idle connections): the
 * server reads that request, then resets the connection without an answer. The client must send an
 * idempotent call again on a new connection, and never a call that is not.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { createLogger, createServiceClient, HttpProblem, neverDelivered } from '../src';

interface Played {
  url: string;
  connections: number;
  /** Request lines, in the order they arrived. */
  requests: string[];
  close(): Promise<void>;
}

/** Answers every request with 200 and keeps the connection, except the second request on the first connection: reset, unanswered. */
async function replicaClosingUnderTheSecondRequest(): Promise<Played> {
  const played = { connections: 0, requests: [] as string[] };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const connection = ++played.connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    let served = 0;
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        played.requests.push(head.split('\r\n')[0]);
        served++;
        if (connection === 1 && served === 2) {
          socket.resetAndDestroy();
          return;
        }
        const body = JSON.stringify({ connection, served });
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return played.connections;
    },
    requests: played.requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The replica above and a client of it, both closed when the test ends. */
async function replicaAndClient(t: ExecutionContext) {
  const replica = await replicaClosingUnderTheSecondRequest();
  const backend = createServiceClient({ name: 'backend', baseUrl: replica.url, timeoutMs: 2000, log: createLogger({ level: 'error' }), internalToken: 'x'.repeat(32) });
  t.teardown(async () => {
    backend.close();
    await replica.close();
  });
  return { replica, backend };
}

test('an idempotent call whose kept-alive connection is reset under it is sent again, on a new connection', async (t) => {
  const { replica, backend } = await replicaAndClient(t);
  t.deepEqual((await backend.call('GET', '/internal/a')).body, { connection: 1, served: 1 });
  const again = await backend.call('GET', '/internal/b');
  t.deepEqual(again.body, { connection: 2, served: 1 }, 'answered on a new connection');
  t.deepEqual(replica.requests, ['GET /internal/a HTTP/1.1', 'GET /internal/b HTTP/1.1', 'GET /internal/b HTTP/1.1']);
});

test('a POST declared idempotent (a read) is sent again the same way', async (t) => {
  const { replica, backend } = await replicaAndClient(t);
  await backend.call('POST', '/internal/products/lookup', { product_ids: [] }, { idempotent: true });
  const again = await backend.call('POST', '/internal/products/lookup', { product_ids: [] }, { idempotent: true });
  t.deepEqual(again.body, { connection: 2, served: 1 });
  t.is(replica.requests.length, 3);
});

test('a POST that is not idempotent is never sent twice: the caller gets a 503 whose delivery is unknown', async (t) => {
  const { replica, backend } = await replicaAndClient(t);
  await backend.call('POST', '/internal/reservations', { reservation_id: 'a' });
  const err = await t.throwsAsync(backend.call('POST', '/internal/reservations', { reservation_id: 'b' }));
  t.true(err instanceof HttpProblem);
  t.is((err as HttpProblem).status, 503);
  t.false(neverDelivered(err), 'the service may have read it');
  t.deepEqual(replica.requests, ['POST /internal/reservations HTTP/1.1', 'POST /internal/reservations HTTP/1.1']);
  t.is(replica.connections, 1);
});

test('a refused connection is a 503 marked never delivered, after one more try', async (t) => {
  // A port just freed: nothing listens there.
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  const lines: string[] = [];
  const backend = createServiceClient({
    name: 'backend',
    baseUrl: `http://127.0.0.1:${port}`,
    timeoutMs: 2000,
    log: createLogger({ level: 'debug', sink: (line) => lines.push(line) }),
    internalToken: 'x'.repeat(32),
  });
  t.teardown(() => backend.close());
  const err = await t.throwsAsync(backend.call('POST', '/internal/reservations', {}));
  t.is((err as HttpProblem).status, 503);
  t.true(neverDelivered(err));
  t.is(lines.filter((l) => l.includes('sending a call again')).length, 1, lines.join('\n'));
});
