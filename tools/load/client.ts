/**
 * The HTTP client of the load generator: node:http(s) with one keep-alive agent per virtual
 * customer, its connections bound to the customer's source address (`localAddress`).
 */
import http from 'node:http';
import https from 'node:https';
import { gunzipSync } from 'node:zlib';

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body, when `read` was asked for (gunzipped). */
  body?: Buffer;
}

export class RequestFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export function makeAgent(url: URL, localAddress?: string): http.Agent {
  const options = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity, localAddress, scheduling: 'lifo' as const };
  return url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

export interface SendOptions {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** Read and keep the body (otherwise it is drained). */
  read?: boolean;
}

/** One request; rejects with a RequestFailure (`code`: timeout, ECONNREFUSED, ...) when no response came. */
export function send(base: URL, agent: http.Agent, options: SendOptions): Promise<ClientResponse> {
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'Accept-Encoding': 'gzip',
    'User-Agent': 'product-store-load/1',
    ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
    ...options.headers,
  };
  const lib = base.protocol === 'https:' ? https : http;
  return new Promise<ClientResponse>((resolve, reject) => {
    let settled = false;
    const fail = (code: string, message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new RequestFailure(code, message));
    };
    const req = lib.request(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port || (base.protocol === 'https:' ? 443 : 80),
        method: options.method,
        path: `${base.pathname.replace(/\/$/, '')}${options.path}`,
        headers,
        agent,
        localAddress: (agent as http.Agent & { options?: { localAddress?: string } }).options?.localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (options.read) chunks.push(chunk);
        });
        res.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ERESPONSE', err.message));
        res.on('aborted', () => fail('ECONNRESET', 'response aborted'));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          let body: Buffer | undefined;
          if (options.read) {
            body = Buffer.concat(chunks);
            if (res.headers['content-encoding'] === 'gzip' && body.length) {
              try {
                body = gunzipSync(body);
              } catch {
                /* a truncated body: the caller sees what there is */
              }
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    const timer = setTimeout(() => {
      fail('timeout', `no response within ${options.timeoutMs} ms`);
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'EREQUEST', err.message));
    req.end(payload);
  });
}

/** The JSON of a body, or undefined. */
export function json<T = any>(res: ClientResponse): T | undefined {
  if (!res.body || res.body.length === 0) return undefined;
  try {
    return JSON.parse(res.body.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
