/**
 * RFC 9457 problem details. Every error a client sees is an HttpProblem, rendered once by
 * `errorHandler`; anything else is a bug, logged with its stack and answered as a bare 500.
 */
import type { Context, Middleware } from 'koa';

export interface FieldError {
  path: string;
  message: string;
}

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
    this.name = 'HttpProblem';
  }

  /** The same problem under a more specific code and title. */
  withCode(code: string, title = this.title): HttpProblem {
    return new HttpProblem(this.status, code, title, this.detail, this.extra, this.headers);
  }

  /** The same problem with more members in its body (e.g. the ids it concerns). */
  withExtra(extra: Record<string, unknown>): HttpProblem {
    return new HttpProblem(this.status, this.code, this.title, this.detail, { ...this.extra, ...extra }, this.headers);
  }

  body(): Record<string, unknown> {
    return {
      type: `https://product-store.dev/problems/${this.code.toLowerCase().replace(/_/g, '-')}`,
      title: this.title,
      status: this.status,
      detail: this.detail ?? this.title,
      code: this.code,
      ...this.extra,
    };
  }
}

export const problems = {
  validation: (errors: FieldError[], detail = 'The request is not valid.') =>
    new HttpProblem(400, 'VALIDATION_FAILED', 'Validation failed', detail, { errors }),
  badRequest: (code: string, detail: string) => new HttpProblem(400, code, 'Bad request', detail),
  malformedJson: () => new HttpProblem(400, 'MALFORMED_JSON', 'Malformed JSON', 'The request body is not valid JSON.'),
  unauthorized: (detail = 'A valid bearer token is required.') =>
    new HttpProblem(401, 'UNAUTHORIZED', 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer realm="product-store"' }),
  forbidden: (detail = 'Your role does not allow this.') => new HttpProblem(403, 'FORBIDDEN', 'Forbidden', detail),
  notFound: (detail = 'The resource does not exist.', code = 'NOT_FOUND') => new HttpProblem(404, code, 'Not found', detail),
  methodNotAllowed: (allowed: string) =>
    new HttpProblem(405, 'METHOD_NOT_ALLOWED', 'Method not allowed', `Allowed: ${allowed}.`, {}, { Allow: allowed }),
  conflict: (code: string, detail: string, extra: Record<string, unknown> = {}) => new HttpProblem(409, code, 'Conflict', detail, extra),
  tooLarge: (limit: number) => new HttpProblem(413, 'PAYLOAD_TOO_LARGE', 'Payload too large', `Request bodies are limited to ${limit} bytes.`),
  unsupportedMediaType: () =>
    new HttpProblem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', 'Send the body as application/json.'),
  unprocessable: (code: string, detail: string) => new HttpProblem(422, code, 'Unprocessable request', detail),
  unavailable: (detail = 'A dependency is unavailable; try again shortly.', code = 'SERVICE_UNAVAILABLE') =>
    new HttpProblem(503, code, 'Service unavailable', detail, {}, { 'Retry-After': '1' }),
};

const internalError = new HttpProblem(500, 'INTERNAL_ERROR', 'Internal server error', 'An unexpected error occurred; it has been logged.');

/** Cassandra's Unavailable, Overloaded, WriteTimeout and ReadTimeout responses. */
const unavailableResponseCodes = new Set([0x1000, 0x1001, 0x1100, 0x1200]);

/**
 * Turns driver errors meaning "the database cannot answer now" into a 503 rather than a 500: no host,
 * a timeout, a busy or dropped connection (a query in flight when its socket closes fails with
 * `DriverError: Socket was closed`, marked isSocketError), and Cassandra's own "not now" answers.
 */
export function isUnavailableError(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  if (name === 'NoHostAvailableError' || name === 'OperationTimedOutError' || name === 'BusyConnectionError') return true;
  if (name === 'DriverError' && (err as { isSocketError?: boolean }).isSocketError === true) return true;
  return name === 'ResponseError' && unavailableResponseCodes.has((err as { code?: number }).code ?? -1);
}

/** Renders thrown errors as problem+json. Koa's own HTTP errors (e.g. from ctx.throw) keep their status. */
export function errorHandler(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined || ctx.body === null) {
        if (ctx.status === 404) throw problems.notFound(`No route for ${ctx.method} ${ctx.path}.`);
        if (ctx.status === 405 || ctx.status === 501) throw problems.methodNotAllowed(ctx.response.get('Allow'));
      }
    } catch (err) {
      let problem: HttpProblem;
      if (err instanceof HttpProblem) problem = err;
      else if (isUnavailableError(err)) {
        problem = problems.unavailable('The database is unavailable; try again shortly.', 'DATABASE_UNAVAILABLE');
        ctx.state.log?.warn('database unavailable', { err });
      } else {
        const status = (err as { status?: number; expose?: boolean }).status;
        if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
          problem = new HttpProblem(status, 'BAD_REQUEST', 'Bad request', (err as Error).message);
        } else {
          problem = internalError;
          ctx.app.emit('error', err, ctx);
        }
      }
      ctx.body = problemResponse(ctx, problem);
    }
  };
}

/** Puts a problem's status, headers and content type on the response, and gives the body to send. */
export function problemResponse(ctx: Context, problem: HttpProblem): Record<string, unknown> {
  ctx.status = problem.status;
  ctx.set(problem.headers);
  ctx.type = 'application/problem+json';
  return problem.body();
}
