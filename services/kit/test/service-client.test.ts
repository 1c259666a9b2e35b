/**
 * The service client against a raw TCP server that plays a replica closing a kept-alive connection
 * under the next request written on it (a replica that died, or a drain cut at its timeout): the
 * server reads that request, then resets the connection without an answer. The client must send an
 * idempotent call again on a connection of its own, within the call's one timeout, and never a call
 * that is not idempotent.
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

interface Behaviour {
  /** Whether to reset the connection under this request (its number on the connection, from 1) instead of answering, and after how long. */
  resets(connection: number, served: number): { afterMs: number } | undefined;
  /** How long to wait before answering on this connection. @default none */
  answerAfterMs?(connection: number): number;
}

/** By default, the second request on the first connection is reset, unanswered. */
const secondOnFirst: Behaviour = { resets: (connection, served) => (connection === 1 && served === 2 ? { afterMs: 0 } : undefined) };

/** Answers every request with 200 and keeps the connection, except those `behaviour` resets. */
async function replicaClosingUnderARequest(behaviour: Behaviour = secondOnFirst): Promise<Played> {
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
        const reset = behaviour.resets(connection, served);
        if (reset) {
          setTimeout(() => socket.resetAndDestroy(), reset.afterMs);
          return;
        }
        const body = JSON.stringify({ connection, served });
        setTimeout(
          () => socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`),
          behaviour.answerAfterMs?.(connection) ?? 0,
        );
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
async function replicaAndClient(t: ExecutionContext, behaviour?: Behaviour, timeoutMs = 2000) {
  const replica = await replicaClosingUnderARequest(behaviour);
  const logged: string[] = [];
  const log = createLogger({ level: 'warn', sink: (line) => logged.push(line) });
  const backend = createServiceClient({ name: 'backend', baseUrl: replica.url, timeoutMs, log, internalToken: 'x'.repeat(32) });
  t.teardown(async () => {
    backend.close();
    await replica.close();
  });
  return { replica, backend, logged };
}

test('an idempotent call whose kept-alive connection is reset under it is sent again, on a new connection', async (t) => {
  const { replica, backend } = await replicaAndClient(t);
  t.deepEqual((await backend.call('GET', '/internal/a')).body, { connection: 1, served: 1 });
  const again = await backend.call('GET', '/internal/b');
  t.deepEqual(again.body, { connection: 2, served: 1 }, 'answered on a new connection');
  t.deepEqual(replica.requests, ['GET /internal/a HTTP/1.1', 'GET /internal/b HTTP/1.1', 'GET /internal/b HTTP/1.1']);
});

test('the second attempt opens a connection of its own: the pool may hold only connections to the closing replica', async (t) => {
  // Every connection's second request is reset: both pooled connections lead to it.
  const { replica, backend } = await replicaAndClient(t, { resets: (_connection, served) => (served >= 2 ? { afterMs: 0 } : undefined) });
  await Promise.all([backend.call('GET', '/internal/a'), backend.call('GET', '/internal/b')]);
  t.is(replica.connections, 2);
  const again = await backend.call('GET', '/internal/c');
  t.deepEqual(again.body, { connection: 3, served: 1 });
});

test('both attempts share the call\'s one timeout: a reset late in it leaves the second attempt only what is left', async (t) => {
  const { replica, backend, logged } = await replicaAndClient(
    t,
    { resets: (connection, served) => (connection === 1 && served === 2 ? { afterMs: 1000 } : undefined), answerAfterMs: (connection) => (connection === 1 ? 0 : 1000) },
    1500,
  );
  await backend.call('GET', '/internal/a');
  const err = await t.throwsAsync(backend.call('GET', '/internal/b'));
  t.is((err as HttpProblem).status, 503);
  t.is(replica.requests.length, 3, 'sent again once');
  t.regex(logged.join(''), /no answer within 1500 ms/, 'the call ended at its own timeout, not a fresh one for the second attempt');
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
