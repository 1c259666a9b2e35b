/**
 * The bench's HTTP load client: a fixed number of keep-alive connections, each sending its next
 * request as soon as the previous answer is complete (closed loop), for a fixed time. Raw sockets and a
 * minimal HTTP/1.1 response parser, so one client process outruns a Node server on the other core and
 * both sides of a ratio see exactly the same client. Responses must carry Content-Length or be chunked.
 */
import { connect, type Socket } from 'node:net';
import { summarize, type LatencySummary } from './stats';

export interface HttpLoadSpec {
  /** http://host:port (no path). */
  url: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationMs: number;
  /** Requests before this many milliseconds count for nothing (JIT, connection set-up). */
  warmupMs?: number;
  /** Source addresses (e.g. 127.0.0.2 ... 127.0.0.200) spread over the connections. */
  localAddresses?: string[];
}

export interface HttpLoadResult {
  requests: number;
  seconds: number;
  rps: number;
  statuses: Record<string, number>;
  errors: number;
  latencyMs: LatencySummary;
}

function requestBytes(spec: HttpLoadSpec, host: string): Buffer {
  const headers: Record<string, string> = { Host: host, Connection: 'keep-alive', ...(spec.headers ?? {}) };
  if (spec.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(spec.body));
  const head = `${spec.method ?? 'GET'} ${spec.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.from(head + (spec.body ?? ''));
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Length of one complete response at the start of `buf` (headers and body), or -1 if incomplete. */
export function completeResponseLength(buf: Buffer): { length: number; status: number } | undefined {
  const headerEnd = buf.indexOf(CRLFCRLF);
  if (headerEnd < 0) return undefined;
  const head = buf.toString('latin1', 0, headerEnd);
  const status = Number(head.slice(9, 12));
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const bodyStart = headerEnd + 4;
  if (cl) {
    const length = bodyStart + Number(cl[1]);
    return buf.length >= length ? { length, status } : undefined;
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    let at = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
      at = lineEnd + 2 + size + 2;
      if (at > buf.length) return undefined;
      if (size === 0) return { length: at, status };
    }
  }
  // No body (204, 304) or a body we cannot delimit: treat as header-only.
  return { length: bodyStart, status };
}

export function runHttpLoad(spec: HttpLoadSpec): Promise<HttpLoadResult> {
  const target = new URL(spec.url);
  const port = Number(target.port || 80);
  const request = requestBytes(spec, target.host);
  const warmupMs = spec.warmupMs ?? 0;
  const started = performance.now();
  const measureFrom = started + warmupMs;
  const measureUntil = measureFrom + spec.durationMs;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let open = 0;

  return new Promise((resolve) => {
    const finish = () => {
      const seconds = spec.durationMs / 1000;
      resolve({ requests: latencies.length, seconds, rps: latencies.length / seconds, statuses, errors, latencyMs: summarize(latencies) });
    };
    const openConnection = (index: number) => {
      open++;
      const localAddress = spec.localAddresses?.length ? spec.localAddresses[index % spec.localAddresses.length] : undefined;
      const socket: Socket = connect({ host: target.hostname, port, ...(localAddress ? { localAddress } : {}) });
      socket.setNoDelay(true);
      let pending: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      const send = () => {
        if (performance.now() >= measureUntil) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      socket.on('connect', send);
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        const done = completeResponseLength(pending);
        if (!done) return;
        pending = pending.subarray(done.length);
        const now = performance.now();
        if (sentAt >= measureFrom && now <= measureUntil) {
          latencies.push(now - sentAt);
          statuses[done.status] = (statuses[done.status] ?? 0) + 1;
        }
        send();
      });
      socket.on('error', () => {
        errors++;
      });
      socket.on('close', () => {
        open--;
        // A connection the server closed early is replaced, so the count stays fixed.
        if (performance.now() < measureUntil) setTimeout(() => openConnection(index), 10);
        else if (open === 0) finish();
      });
    };
    for (let i = 0; i < spec.connections; i++) openConnection(i);
  });
}
