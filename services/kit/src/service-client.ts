/**
 * Calls to another service of the stack: pooled keep-alive connections, a timeout per call, the
 * caller's request id passed on (and trace context, by the HTTP instrumentation). A dependency that
 * is down, slow or failing becomes a 503 problem for the client, never a hang or a 500.
 */
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { INTERNAL_TOKEN_HEADER } from './auth';
import type { Config } from './config';
import { problems } from './errors';
import type { Logger } from './logger';
import { currentRequest } from './request-context';

export interface ServiceResponse<T = unknown> {
  status: number;
  body: T;
}

/** Failures of calls whose request never reached the service (it refused the connection). */
const undelivered = new WeakSet<Error>();

/**
 * True when a call failed before its request reached the service: the service did nothing (a
 * refused connection sends no byte). Any other failure (a timeout, a reset) may come after the
 * service acted.
 */
export function neverDelivered(err: unknown): boolean {
  return err instanceof Error && undelivered.has(err);
}

export interface CallOptions {
  /**
   * Whether sending the request twice does what sending it once does: such a call is sent again when
   * the kept-alive connection it went out on turns out closed by the service (see `attempt` below).
   * @default true for GET, HEAD, PUT, DELETE and OPTIONS (HTTP's idempotent methods), false otherwise
   */
  idempotent?: boolean;
}

const idempotentMethods = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** How a connection the other side has closed fails a request written on it. */
const closedConnectionCodes = new Set(['ECONNRESET', 'EPIPE']);

export interface ServiceClient {
  readonly name: string;
  /** `T`: what the caller expects the body to be; unknown until the caller has checked it. */
  call<T = unknown>(method: string, path: string, body?: unknown, options?: CallOptions): Promise<ServiceResponse<T>>;
  close(): void;
}

/**
 * The credential this service sends on its calls to internal endpoints (INTERNAL_TOKEN_<SERVICE>):
 * its own, which the called service checks against the endpoints it lets this service call.
 */
export function ownInternalToken(config: Pick<Config, 'service' | 'internalTokens'>): string {
  const token = config.internalTokens[config.service];
  if (!token) throw new Error(`${config.service} calls no internal endpoint (topology internalEndpoints): it has no credential`);
  return token;
}

export function createServiceClient(options: { name: string; baseUrl: string; timeoutMs: number; log: Logger; /** ownInternalToken(config) */ internalToken: string }): ServiceClient {
  const base = new URL(options.baseUrl);
  const secure = base.protocol === 'https:';
  // Idle sockets close after 1 s, before a draining replica closes its idle connections (drain.ts,
  // 1.5 s): normally no request goes out on a connection the server is closing (but see `attempt`).
  const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 64, maxFreeSockets: 16, timeout: 1000 };
  const agent = secure ? new HttpsAgent(agentOptions) : new Agent(agentOptions);
  const send = secure ? httpsRequest : request;
  const unavailable = (why: string) => {
    options.log.warn('dependency unavailable', { dependency: options.name, reason: why });
    return problems.unavailable(`${options.name} is unavailable; try again shortly.`, 'DEPENDENCY_UNAVAILABLE');
  };

  interface Call {
    method: string;
    path: string;
    headers: Record<string, string>;
    payload: Buffer | undefined;
    idempotent: boolean;
    /** The call's one timeout, over every attempt: SERVICE_CALL_TIMEOUT_MS bounds the call, not each attempt. */
    signal: AbortSignal;
  }

  /**
   * One attempt. The first is sent once more, at once and within the same timeout, when it got no
   * answer because
   *  - the connection was refused: the request reached no one (a replica stopping or not yet
   *    listening; a new connection may reach another address of the name), or
   *  - it went out on a kept-alive connection that the service closed under it (a reset before any
   *    answer): the idle timers above keep clear of a draining replica's, but a late timer on a busy
   *    event loop, a replica that died or a drain cut at its timeout still close connections a request
   *    is on. Only an idempotent call is sent again then: the reset does not prove the service never
   *    read it.
   * The second attempt opens a connection of its own (no pool): the pool's other idle connections may
   * lead to the same closing replica.
   */
  const attempt = <T>(call: Call, first: boolean) =>
    new Promise<ServiceResponse<T>>((resolve, reject) => {
      let answered = false;
      const req = send(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          path: call.path,
          method: call.method,
          headers: call.headers,
          agent: first ? agent : false,
          signal: call.signal,
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(unavailable(err.message)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 500) {
              reject(unavailable(`answered ${status}`));
              return;
            }
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status, body: (text ? JSON.parse(text) : undefined) as T });
            } catch {
              reject(unavailable(`answered ${status} with a body that is not JSON`));
            }
          });
        },
      );
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const refused = code === 'ECONNREFUSED';
        const closedUnderIt = !answered && req.reusedSocket && closedConnectionCodes.has(code);
        if (first && !call.signal.aborted && (refused || (closedUnderIt && call.idempotent))) {
          options.log.debug('sending a call again', { dependency: options.name, path: call.path, reason: refused ? 'connection refused' : 'kept-alive connection closed by the service' });
          resolve(attempt<T>(call, false));
          return;
        }
        const problem = unavailable(err.name === 'AbortError' ? `no answer within ${options.timeoutMs} ms` : err.message);
        if (refused) undelivered.add(problem);
        reject(problem);
      });
      req.end(call.payload);
    });

  const call = <T>(method: string, path: string, body?: unknown, callOptions: CallOptions = {}) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { Accept: 'application/json', [INTERNAL_TOKEN_HEADER]: options.internalToken };
    const requestId = currentRequest.getStore()?.requestId;
    if (requestId) headers['X-Request-Id'] = requestId;
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const idempotent = callOptions.idempotent ?? idempotentMethods.has(method.toUpperCase());
    return attempt<T>({ method, path, headers, payload, idempotent, signal: AbortSignal.timeout(options.timeoutMs) }, true);
  };

  return { name: options.name, call, close: () => agent.destroy() };
}
