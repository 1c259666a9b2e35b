/**
 * A request's deadline (REQUEST_TIMEOUT_MS): a request not answered by then gets a 503 problem
 * `REQUEST_TIMEOUT` with `Retry-After` at once, instead of holding its client (and the gateway's
 * connection) until the gateway's own timeout answers 504, or the client gives up knowing nothing.
 * A backstop: each query (CASSANDRA_REQUEST_TIMEOUT_MS) and each call to another service
 * (SERVICE_CALL_TIMEOUT_MS) has its own timeout, and a checkout its own, shorter response deadline
 * (CHECKOUT_RESPONSE_DEADLINE_MS, 503 `CHECKOUT_PENDING`); this one bounds the whole request,
 * whatever it waits for.
 *
 * The work itself cannot be cancelled mid-way (a query sent is sent), so it goes on and its outcome
 * is recorded as it would have been: the client learns it by retrying. A checkout retried under the
 * same `Idempotency-Key` gets 409 `IDEMPOTENCY_IN_PROGRESS` while it runs, then its stored answer;
 * every other endpoint's retry is safe as it is.
 *
 * Cheap on the request path: no timer and no promise per request (on Node 20 each is an async
 * resource that AsyncLocalStorage's hooks see; a setTimeout and a Promise.race per request cost
 * 13% of the trivial route's throughput). A request joins a list in arrival order, leaves it when
 * answered, and one timer, running only while requests are in flight, expires those past their
 * deadline: every request has the same timeout, so the list is in deadline order and a sweep stops at
 * the first one still in time. A deadline is met within `tickMs` after it passes.
 */
import type { Context } from 'koa';
import { problemResponse, problems } from './errors';

export interface InFlight {
  readonly ctx: Context;
  /** performance.now() at arrival. */
  readonly started: number;
  /** Set once the deadline has answered for it. */
  expired: boolean;
  /** Its neighbours in arrival order (Deadlines' own list). */
  prev?: InFlight;
  next?: InFlight;
}

/** Requests in flight, in arrival order: a doubly linked list through the requests themselves (no hashing, no allocation). */
export class Deadlines {
  private head: InFlight | undefined;
  private tail: InFlight | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly tickMs: number;

  /** `onExpired` is called for each request answered by the deadline (request-context.ts records it). */
  constructor(
    readonly timeoutMs: number,
    private readonly onExpired: (request: InFlight) => void,
  ) {
    this.tickMs = Math.max(10, Math.min(250, Math.floor(timeoutMs / 10)));
  }

  add(request: InFlight): void {
    request.prev = this.tail;
    if (this.tail) this.tail.next = request;
    else this.head = request;
    this.tail = request;
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      // A service stops by closing its server; a pending sweep keeps nothing alive.
      this.timer.unref();
    }
  }

  /** Removes a request (once answered); a request already removed is left alone. */
  delete(request: InFlight): void {
    if (request.prev) request.prev.next = request.next;
    else if (this.head === request) this.head = request.next;
    else return;
    if (request.next) request.next.prev = request.prev;
    else this.tail = request.prev;
    request.prev = request.next = undefined;
  }

  private sweep(): void {
    const due = performance.now() - this.timeoutMs;
    while (this.head && this.head.started <= due) {
      const request = this.head;
      this.delete(request);
      if (answerExpired(request.ctx, this.timeoutMs)) {
        request.expired = true;
        this.onExpired(request);
      }
    }
    if (!this.head) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * Writes the 503 at once and tells Koa not to respond (`ctx.respond = false`): whatever the work sets
 * on the context later never reaches the client, which has its answer. False when the answer had
 * already begun (a streamed body): that request runs to its end.
 */
function answerExpired(ctx: Context, timeoutMs: number): boolean {
  if (ctx.headerSent || !ctx.res.writable) return false;
  const problem = problems.unavailable(
    `The request was not done within ${timeoutMs} ms and may still complete: retry it (a checkout under the same Idempotency-Key).`,
    'REQUEST_TIMEOUT',
  );
  ctx.respond = false;
  ctx.res.end(JSON.stringify(problemResponse(ctx, problem)));
  return true;
}
