/**
 * Request input: JSON bodies (content type, size limit, strict schemas) and query parameters,
 * validated with zod. Failures become 4xx problems, never 500s.
 */
import type { Context } from 'koa';
import { z } from 'zod';
import { problems, type FieldError } from './errors';

export const MAX_BODY_BYTES = 64 * 1024;

const article = (noun: string) => (/^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`);
const expectedNames: Record<string, string> = { object: 'JSON object', int: 'integer', nan: 'number' };
const unitOf = (origin: string) => ({ string: ' characters', array: ' items', set: ' items', file: ' bytes' })[origin] ?? '';

/**
 * zod's own wording ("Invalid input: expected string, received undefined") for the checks a schema
 * gives no message of its own: what is expected, without the field, which `toFieldErrors` adds.
 */
export const expectationMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = article(expectedNames[issue.expected] ?? issue.expected);
      return issue.input === undefined ? `required, ${expected}` : `must be ${expected}`;
    }
    case 'too_small':
      return `must be at least ${issue.minimum}${unitOf(issue.origin)}`;
    case 'too_big':
      return `must be at most ${issue.maximum}${unitOf(issue.origin)}`;
    case 'invalid_format':
      return issue.format === 'regex' ? 'is not in the expected format' : `must be a valid ${issue.format}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'invalid_union':
      return 'matches none of the allowed shapes';
    default:
      return 'is not valid';
  }
};

const sentence = (message: string) => message.charAt(0).toLowerCase() + message.slice(1).replace(/\.$/, '');

/**
 * One entry per problem, its message naming the field ("quantity: must be an integer from 1 to 99");
 * a problem of the whole input is named after it (`where`: "body", "query string").
 */
export function toFieldErrors(error: z.ZodError, where = 'body'): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const path = base ? `${base}.${key}` : key;
        return { path, message: `${path}: unknown field` };
      });
    }
    return [{ path: base, message: `${base || where}: ${sentence(issue.message)}` }];
  });
}

export function parseWith<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(input, { error: expectationMessage });
  if (!result.success) throw problems.validation(toFieldErrors(result.error, where), `The request ${where} is not valid.`);
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
    if (Array.isArray(value)) throw problems.validation([{ path: key, message: `${key}: give this parameter once` }], 'The query string is not valid.');
    query[key] = value;
  }
  return parseWith(schema, query, 'query string');
}

/**
 * Characters no text field takes: C0 and C1 controls (NUL included), DEL, Unicode's bidirectional
 * embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069: they make a name display
 * as something else), and unpaired UTF-16 surrogates (not text; Cassandra would store U+FFFD). As
 * character classes of a `u`-flag regular expression, where \uD800-\uDFFF matches only a lone half
 * and the same source means the same in ECMA-262 (the document's JSON Schema) and Python. The
 * document's pattern leaves the surrogates out: Rust's regex (schemathesis validates with it) has no
 * surrogates, and JSON in UTF-8 can carry a lone one only as a `\\uD800` escape; its description says it.
 */
const refusedDocumented = '\\x00-\\x1F\\x7F-\\x9F\\u202A-\\u202E\\u2066-\\u2069';
const refusedLine = `${refusedDocumented}\\uD800-\\uDFFF`;
/** Multi-line text (descriptions) also takes tab, line feed and carriage return. */
const multilineDocumented = '\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F\\u202A-\\u202E\\u2066-\\u2069';
const refusedMultiline = `${multilineDocumented}\\uD800-\\uDFFF`;
/** What String.prototype.trim removes, besides the control characters already refused. */
const blank = ' \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF';

export interface TextOptions {
  /** Length in characters (Unicode code points, as JSON Schema counts them, not UTF-16 units). */
  min: number;
  max: number;
  /** Tab, line feed and carriage return allowed (descriptions). */
  multiline?: boolean;
  /** Leading and trailing whitespace removed before use; the field must then not be empty. */
  trim?: boolean;
}

/**
 * A text field as the document describes it: its length in code points and a pattern of the characters
 * it takes (and, trimmed, that it is not blank), so that a client or a fuzzer reading the document
 * agrees with the service on every string.
 */
export function textField({ min, max, multiline = false, trim = false }: TextOptions) {
  const badChar = new RegExp(`[${multiline ? refusedMultiline : refusedLine}]`, 'u');
  const refused = multiline ? multilineDocumented : refusedDocumented;
  const pattern = trim ? `^[^${refused}]*[^${refused}${blank}][^${refused}]*$` : `^[^${refused}]*$`;
  const lengths = min === 0 ? `at most ${max} characters` : `${min} to ${max} characters`;
  const checked = z.string().superRefine((value, ctx) => {
    const found = badChar.exec(value);
    if (found) {
      const code = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      ctx.addIssue({ code: 'custom', input: value, message: `must not contain control, bidirectional-override or unpaired surrogate characters (U+${code} at ${found.index})` });
      return;
    }
    const length = [...value].length;
    if (length < min || length > max) ctx.addIssue({ code: 'custom', input: value, message: `must be ${lengths}` });
    else if (trim && value.trim() === '') ctx.addIssue({ code: 'custom', input: value, message: 'must not be blank' });
  });
  const description = `${lengths}${trim ? ', not blank, trimmed' : ''}; no control characters${multiline ? ' other than tab, line feed and carriage return' : ''}, bidirectional embedding, override or isolate characters (U+202A-U+202E, U+2066-U+2069), or unpaired surrogates.`;
  return (trim ? checked.trim() : checked).meta({ minLength: Math.max(min, trim ? 1 : 0), maxLength: max, pattern, description: description.charAt(0).toUpperCase() + description.slice(1) });
}

/** Shared field shapes of the contract. */
export const fields = {
  uuid: () => z.uuid({ message: 'must be a UUID' }),
  limit: () => z.coerce.number({ message: 'must be an integer from 1 to 100' }).int('must be an integer from 1 to 100').min(1, 'must be an integer from 1 to 100').max(100, 'must be an integer from 1 to 100').default(20),
  /** `next_cursor` of a previous page: base64url (encodeCursor), never empty. */
  cursor: () => z.string().regex(/^[A-Za-z0-9_-]{1,512}$/, 'must be the next_cursor of a previous page').meta({ minLength: 1, maxLength: 512 }).optional(),
  text: textField,
};

/** Built once: a zod schema costs more to build than to run, and pathId runs on every request with an id in its path. */
const uuidSchema = fields.uuid();

/** Path ids: a malformed id names no resource, so it is a 404 like a missing one. */
export function pathId(value: string | undefined, what = 'resource'): string {
  if (!value || !uuidSchema.safeParse(value).success) throw problems.notFound(`No ${what} with this id.`);
  return value.toLowerCase();
}

/** What limit and cursor mean, wherever a route pages its list (QuerySpec descriptions). */
export const pageQueryDescriptions = {
  limit: 'Page size.',
  cursor: '`next_cursor` of the previous page.',
};

/** An Idempotency-Key: 1 to 255 printable ASCII characters, not only spaces. */
export const idempotencyKeyPattern = /^[\x20-\x7E]{1,255}$/;

export function validIdempotencyKey(value: string | undefined): value is string {
  return value !== undefined && idempotencyKeyPattern.test(value) && value.trim().length > 0;
}

/** The same rule as the document's pattern (its length is minLength and maxLength): printable ASCII, and not only spaces. */
export const idempotencyKeyDocPattern = '^[\\x20-\\x7E]*[\\x21-\\x7E][\\x20-\\x7E]*$';

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
  if (!result.success) throw problems.validation([{ path: 'cursor', message: 'cursor: not a cursor from a previous page' }], 'The query string is not valid.');
  return result.data;
}
