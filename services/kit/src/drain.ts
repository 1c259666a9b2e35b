/**
 * Closing an HTTP server behind nginx without failing a request nginx sends it (the caller has already
 * turned readiness to 503 and made every answer carry `Connection: close`):
 *
 * 1. The listener closes at once: a new connection is refused. A refused connection carried nothing,
 *    so nginx sends the request to another replica, a POST too, and skips this one for fail_timeout.
 *    (Accepting for a while longer gains nothing behind nginx: every answer then closes its
 *    connection, so each request opens a new one, any of which can meet the listener's close.)
 * 2. Open connections stay open. A request that runs finishes; one that arrives on a kept-alive
 *    connection is served and its answer closes the connection. No connection is closed while the
 *    client may be sending a request on it: idle ones are closed only after `idleGraceMs`, which is
 *    longer than nginx keeps an idle upstream connection (topology `gatewayUpstream`), so by then nginx
 *    has dropped each of them itself. (A server that closes an idle connection races the client's
 *    next request on it: nginx retries a GET that meets a closed connection, never a POST.)
 * 3. After `timeoutMs` whatever still runs is cut.
 */
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';

export interface DrainOptions {
  /** Close no idle connection before this long. */
  idleGraceMs: number;
  /** Cut every connection left after this long. */
  timeoutMs: number;
}

/** Resolves once every connection is closed: 'drained', or 'timeout' when some had to be cut. */
export async function drainServer(server: Server, options: DrainOptions): Promise<'drained' | 'timeout'> {
  const timers: NodeJS.Timeout[] = [];
  const after = (ms: number, fn: () => void) => timers.push(setTimeout(fn, ms));
  // net.Server's close: stops accepting and calls back once the last connection is gone. (http.Server's
  // own close() also closes every idle connection at once, which is what must not happen here.)
  const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
  after(options.idleGraceMs, () => {
    server.closeIdleConnections();
    timers.push(setInterval(() => server.closeIdleConnections(), 100));
  });
  const timedOut = new Promise<'timeout'>((resolve) => after(options.timeoutMs, () => resolve('timeout')));
  try {
    const outcome = await Promise.race([closed.then(() => 'drained' as const), timedOut]);
    if (outcome === 'timeout') {
      server.closeAllConnections();
      await closed;
    }
    return outcome;
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}
