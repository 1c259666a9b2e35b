/**
 * Login and registration input: whatever is sent, a 4xx problem naming the field, never a 500. A
 * blank email used to reach Cassandra as an empty partition key (500).
 */
import test from 'ava';
import { call, startStack, type TestStack } from '@product-store/kit/testing';
import { userService } from '../src/service';

let stack: TestStack;
const post = (path: string, body: unknown) => call(stack.url('user-service'), path, { method: 'POST', body });

test.before(async () => {
  stack = await startStack([userService]);
});
test.after.always(() => stack?.stop());

test('login with a blank email is a 400 naming email, not a 500', async (t) => {
  for (const email of ['', ' ', '   ', '\t', '\u3000']) {
    const res = await post('/auth/login', { email, password: 'x' });
    t.is(res.status, 400, JSON.stringify(email));
    t.regex(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    t.is(res.body.code, 'VALIDATION_FAILED');
    t.deepEqual(res.body.errors.map((e: { path: string }) => e.path), ['email'], JSON.stringify(email));
    t.regex(res.body.errors[0].message, /^email: /);
  }
});

test('login and register: missing or mistyped fields are named, with what is expected', async (t) => {
  const missing = await post('/auth/login', {});
  t.is(missing.status, 400);
  t.deepEqual(missing.body.errors, [
    { path: 'email', message: 'email: required, a string' },
    { path: 'password', message: 'password: required, a string' },
  ]);
  const typed = await post('/auth/register', { email: 7, password: 'long enough', name: 'Ada' });
  t.deepEqual(typed.body.errors, [{ path: 'email', message: 'email: must be a string' }]);
  const nothing = await call(stack.url('user-service'), '/auth/login', { method: 'POST' });
  t.is(nothing.status, 400);
  t.deepEqual(nothing.body.errors, [{ path: '', message: 'body: required, a JSON object' }]);
  for (const res of [missing, typed, nothing]) t.false(JSON.stringify(res.body).includes('Invalid input'));
});

test('login with an email that names no account, however odd, is the same 401', async (t) => {
  for (const email of ['not-an-email', 'x'.repeat(254), 'ünïcode@exämple.com']) {
    const res = await post('/auth/login', { email, password: 'whatever-password' });
    t.is(res.status, 401, email);
    t.is(res.body.code, 'INVALID_CREDENTIALS');
  }
});

test('register refuses control and bidi characters in the name, and an email with spaces around it', async (t) => {
  const good = { email: `valid-${Date.now()}@example.com`, password: 'long enough', name: 'Ada' };
  for (const name of ['Ada\u0000', '\u202Enimda', 'Ada\u2066', 'Ada\nLovelace', '   ']) {
    const res = await post('/auth/register', { ...good, name });
    t.is(res.status, 400, JSON.stringify(name));
    t.deepEqual(res.body.errors.map((e: { path: string }) => e.path), ['name']);
  }
  // A lone surrogate can only arrive as a JSON escape.
  const lone = await call(stack.url('user-service'), '/auth/register', { method: 'POST', rawBody: JSON.stringify({ ...good, name: 'x' }).replace('"name":"x"', '"name":"x\\ud800"') });
  t.is(lone.status, 400);
  t.deepEqual(lone.body.errors.map((e: { path: string }) => e.path), ['name']);
  for (const email of [` ${good.email}`, `${good.email}\u00A0`, `${'x'.repeat(65)}@example.com`]) {
    const res = await post('/auth/register', { ...good, email });
    t.is(res.status, 400, JSON.stringify(email));
    t.deepEqual(res.body.errors.map((e: { path: string }) => e.path), ['email']);
  }
  t.is((await post('/auth/register', good)).status, 201);
});
