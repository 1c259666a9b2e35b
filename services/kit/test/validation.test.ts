/**
 * The kit's validation: messages that name the field and say what is expected, and text fields that
 * refuse control, bidirectional-override and unpaired surrogate characters, with a document pattern
 * that says exactly what the service accepts.
 */
import test from 'ava';
import { z } from 'zod';
import { fields, parseWith } from '../src/validation';
import { fieldErrorsOf } from '../testing';

const errorsOf = fieldErrorsOf;

test('messages name the field and say what is expected, never zod\'s own wording', (t) => {
  const schema = z.strictObject({
    email: z.string(),
    quantity: z.number().int().min(1).max(99),
    tags: z.array(z.string()).max(2),
    kind: z.enum(['a', 'b']),
    id: fields.uuid(),
  });
  const errors = errorsOf(schema, { quantity: 'x', tags: ['a', 'b', 'c'], kind: 'c', id: 'nope', role: 'admin' });
  t.deepEqual(errors, [
    { path: 'email', message: 'email: required, a string' },
    { path: 'quantity', message: 'quantity: must be a number' },
    { path: 'tags', message: 'tags: must be at most 2 items' },
    { path: 'kind', message: 'kind: must be one of "a", "b"' },
    { path: 'id', message: 'id: must be a UUID' },
    { path: 'role', message: 'role: unknown field' },
  ]);
  t.deepEqual(errorsOf(schema.shape.quantity, 0.5), [{ path: '', message: 'body: must be an integer' }]);
  t.deepEqual(errorsOf(schema, undefined), [{ path: '', message: 'body: required, a JSON object' }]);
  t.deepEqual(errorsOf(z.strictObject({ limit: fields.limit() }), { limit: '500' }, 'query string'), [{ path: 'limit', message: 'limit: must be an integer from 1 to 100' }]);
  t.deepEqual(errorsOf(z.strictObject({ cursor: fields.cursor() }), { cursor: '' }, 'query string'), [{ path: 'cursor', message: 'cursor: must be the next_cursor of a previous page' }]);
});

const name = fields.text({ min: 1, max: 10, trim: true });
const description = fields.text({ min: 0, max: 10, multiline: true });

test('text fields refuse control, bidi override/isolate and unpaired surrogate characters, naming the field', (t) => {
  const schema = z.strictObject({ name });
  for (const bad of ['a\u0000b', 'a\u202Eb', '\u202A', '\u2066x', 'x\u2069', 'a\uD800', '\uDC00b', 'a\u0085', 'a\u007F', 'a\nb', 'a\tb']) {
    const errors = errorsOf(schema, { name: bad });
    t.is(errors.length, 1, JSON.stringify(bad));
    t.is(errors[0].path, 'name');
    t.regex(errors[0].message, /^name: must not contain control, bidirectional-override or unpaired surrogate characters \(U\+[0-9A-F]{4} at \d+\)$/, JSON.stringify(bad));
  }
  t.deepEqual(errorsOf(schema, { name: ' \u3000\u00A0 ' }), [{ path: 'name', message: 'name: must not be blank' }]);
  t.deepEqual(errorsOf(schema, { name: '' }), [{ path: 'name', message: 'name: must be 1 to 10 characters' }]);
  t.is(parseWith(schema, { name: ' Café ☕😀 ' }).name, 'Café ☕😀', 'trimmed; astral characters are text');
  t.is(parseWith(description, 'one\ntwo\r\n\tthree'.slice(0, 10)), 'one\ntwo\r\n\t');
  t.throws(() => parseWith(description, 'a\u0000'));
});

test('lengths are in code points, as JSON Schema counts them', (t) => {
  t.is(parseWith(name, '😀'.repeat(10)), '😀'.repeat(10));
  t.throws(() => parseWith(name, '😀'.repeat(11)));
});

test("the document's pattern and lengths accept exactly what the field accepts", (t) => {
  const corpus = [
    '', ' ', 'a', ' a ', '\u3000', 'a\u3000', '\uFEFF', '\u2028', 'x\u2028y', 'Café', '😀', '😀'.repeat(10), '😀'.repeat(11), 'x'.repeat(10), 'x'.repeat(11),
    'a\u0000', 'a\u001F', 'a\u007F', 'a\u0080', 'a\u009F', 'a\u00A0', 'a\u00A0b', 'a\n', 'a\r', 'a\t', '\n', 'a\u202A', 'a\u202E', 'a\u202F', 'a\u2066', 'a\u2069', 'a\u206A', 'a\u200F',
  ];
  for (const field of [name, description]) {
    const json = z.toJSONSchema(field, { io: 'input' }) as { pattern: string; minLength: number; maxLength: number };
    const pattern = new RegExp(json.pattern, 'u');
    for (const value of corpus) {
      const length = [...value].length;
      const documented = pattern.test(value) && length >= json.minLength && length <= json.maxLength;
      t.is(field.safeParse(value).success, documented, `${JSON.stringify(value)} against ${json.pattern}`);
    }
  }
});
