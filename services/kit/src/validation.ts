/**
 * Request input: JSON bodies (content type, size limit, strict schemas) and query parameters,
 * validated with zod. Failures become 4xx problems, never 500s.
 */
import type { Context } from 'koa';
import { z } from 'zod';
import { problems, type FieldError } from './errors';

export const MAX_BODY_BYTES = 64 * 1024;

export function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: base ? `${base}.${key}` : key, message: 'Unknown field.' }));
    }
    return [{ path: base, message: issue.message }];
  });
}

export function parseWith<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw problems.validation(toFieldErrors(result.error), `The request ${where} is not valid.`);
  return result.data;
}

async function readRaw(ctx: Context, limit: number): Promise<Buffer | undefined> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw problems.tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw problems.tooLarge(limit);
    chunks.push(chunk);
  }
  return size === 0 ? undefined : Buffer.concat(chunks, size);
}

/** Reads a JSON body within the size limit; `undefined` when there is none. */
export async function readBody(ctx: Context, limit = MAX_BODY_BYTES): Promise<unknown> {
  const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get('Transfer-Encoding') !== '';
  if (hasBody && !ctx.is('application/json', 'application/*+json')) {
    await readRaw(ctx, limit);
    throw problems.unsupportedMediaType();
  }
  const raw = hasBody ? await readRaw(ctx, limit) : undefined;
  if (!raw) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw problems.malformedJson();
  }
}

/**
 * Reads and validates a JSON body. An absent body is `undefined` before validation, so a schema that
 * allows no body says so (e.g. `.optional()`).
 */
export async function readJson<S extends z.ZodType>(ctx: Context, schema: S, limit = MAX_BODY_BYTES): Promise<z.infer<S>> {
  return parseWith(schema, await readBody(ctx, limit));
}

export function parseQuery<S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> {
  const query: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ctx.query)) {
    if (Array.isArray(value)) throw problems.validation([{ path: key, message: 'Give this parameter once.' }], 'The query string is not valid.');
    query[key] = value;
  }
  return parseWith(schema, query, 'query string');
}

/** Shared field shapes of the contract. */
export const fields = {
  uuid: () => z.uuid({ message: 'Must be a UUID.' }),
  limit: () => z.coerce.number({ message: 'Must be an integer from 1 to 100.' }).int('Must be an integer from 1 to 100.').min(1, 'Must be an integer from 1 to 100.').max(100, 'Must be an integer from 1 to 100.').default(20),
  cursor: () => z.string().min(1).max(512).optional(),
};

/** Path ids: a malformed id names no resource, so it is a 404 like a missing one. */
export function pathId(value: string | undefined, what = 'resource'): string {
  if (!value || !fields.uuid().safeParse(value).success) throw problems.notFound(`No ${what} with this id.`);
  return value.toLowerCase();
}

/** Opaque list cursors: base64url JSON of the last key seen; anything else is a 400. */
export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<S extends z.ZodType>(cursor: string | undefined, schema: S): z.infer<S> | undefined {
  if (cursor === undefined) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const result = schema.safeParse(decoded);
  if (!result.success) throw problems.validation([{ path: 'cursor', message: 'Not a cursor from a previous page.' }], 'The query string is not valid.');
  return result.data;
}
