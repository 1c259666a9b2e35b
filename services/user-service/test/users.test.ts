import test from 'ava';
import jwt from 'jsonwebtoken';
import { attackTokens, call, startStack, type CallOptions, type TestStack } from '@product-store/kit/testing';
import { userService } from '../src/service';

let stack: TestStack;
const api = (path: string, options?: CallOptions) => call(stack.url('user-service'), path, options);
const register = (body: object) => api('/auth/register', { method: 'POST', body });
const login = (email: string, password: string) => api('/auth/login', { method: 'POST', body: { email, password } });
let counter = 0;
const uniqueEmail = () => `user${Date.now()}${counter++}@example.com`;

test.before(async () => {
  stack = await startStack([userService], { JWT_EXPIRATION_MINUTES: '15' });
});
test.after.always(() => stack?.stop());

test('register: 201 with the public User, email stored lower-case, never a password or hash', async (t) => {
  const email = uniqueEmail();
  const res = await register({ email: email.toUpperCase(), password: 'correct horse', name: 'Ada' });
  t.is(res.status, 201);
  t.deepEqual(Object.keys(res.body).sort(), ['created_at', 'email', 'id', 'name', 'role']);
  t.is(res.body.email, email);
  t.is(res.body.role, 'customer');
  t.false(/password|hash|argon/i.test(res.text));
});

test('register validates every field and rejects role and unknown fields', async (t) => {
  const good = { email: uniqueEmail(), password: 'long enough', name: 'Ada' };
  const cases: Array<[object, string]> = [
    [{ ...good, email: 'not-an-email' }, 'email'],
    [{ ...good, password: 'short' }, 'password'],
    [{ ...good, password: 'x'.repeat(129) }, 'password'],
    [{ ...good, name: '' }, 'name'],
    [{ ...good, name: 'n'.repeat(101) }, 'name'],
    [{ ...good, role: 'admin' }, 'role'],
    [{ ...good, id: '00000000-0000-4000-8000-000000000000' }, 'id'],
    [{ email: good.email, password: good.password }, 'name'],
  ];
  for (const [body, path] of cases) {
    const res = await register(body);
    t.is(res.status, 400, JSON.stringify(body));
    t.is(res.body.code, 'VALIDATION_FAILED');
    t.true(res.body.errors.some((e: { path: string }) => e.path === path), `${path}: ${res.text}`);
  }
  t.is((await login(good.email, good.password)).status, 401, 'none of them created an account');
});

test('an email is taken case-insensitively: 409 EMAIL_TAKEN', async (t) => {
  const email = uniqueEmail();
  t.is((await register({ email, password: 'password-1', name: 'A' })).status, 201);
  const again = await register({ email: email.toUpperCase(), password: 'password-2', name: 'B' });
  t.is(again.status, 409);
  t.is(again.body.code, 'EMAIL_TAKEN');
});

test('ten racing registrations of one email create exactly one account', async (t) => {
  const email = uniqueEmail();
  const variants = Array.from({ length: 10 }, (_, i) => (i % 2 ? email.toUpperCase() : email));
  const results = await Promise.all(variants.map((e, i) => register({ email: e, password: `password-${i}`, name: `N${i}` })));
  t.is(results.filter((r) => r.status === 201).length, 1);
  t.is(results.filter((r) => r.status === 409).length, 9);
  const winner = results.findIndex((r) => r.status === 201);
  t.is((await login(email, `password-${winner}`)).status, 200);
});

test('login issues a token with the contract claims and lifetime', async (t) => {
  const email = uniqueEmail();
  const user = (await register({ email, password: 'password-1', name: 'A' })).body;
  const res = await login(email.toUpperCase(), 'password-1');
  t.is(res.status, 200);
  t.is(res.body.token_type, 'Bearer');
  t.is(res.body.expires_in, 15 * 60);
  t.is(res.headers.get('cache-control'), 'no-store');
  const claims = jwt.decode(res.body.access_token, { complete: true })!;
  t.is(claims.header.alg, 'HS256');
  const payload = claims.payload as jwt.JwtPayload;
  t.is(payload.sub, user.id);
  t.is(payload.role, 'customer');
  t.is(payload.iss, 'product-store');
  t.is(payload.aud, 'product-store');
  t.is(payload.exp! - payload.iat!, 15 * 60);
  t.truthy(payload.jti);
  const me = await api('/users/me', { token: res.body.access_token });
  t.is(me.status, 200);
  t.deepEqual(me.body, user);
});

test('an unknown email and a wrong password get the same 401, in about the same time', async (t) => {
  const email = uniqueEmail();
  await register({ email, password: 'password-1', name: 'A' });
  const unknown = await login(uniqueEmail(), 'password-1');
  const wrong = await login(email, 'password-2');
  for (const res of [unknown, wrong]) {
    t.is(res.status, 401);
    t.is(res.body.code, 'INVALID_CREDENTIALS');
  }
  t.deepEqual(unknown.body, wrong.body);
  // Both paths run one argon2id verification; without the decoy an unknown email would answer ~10x faster.
  const time = async (fn: () => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < 9; i++) {
      const started = process.hrtime.bigint();
      await fn();
      samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    return samples.sort((a, b) => a - b)[4];
  };
  const unknownMs = await time(() => login(uniqueEmail(), 'password-1'));
  const wrongMs = await time(() => login(email, 'password-2'));
  t.true(unknownMs > wrongMs * 0.5 && unknownMs < wrongMs * 2, `median unknown ${unknownMs} ms, wrong ${wrongMs} ms`);
});

test('login input errors are 400', async (t) => {
  t.is((await api('/auth/login', { method: 'POST', body: { email: 'a@b.c' } })).status, 400);
  t.is((await api('/auth/login', { method: 'POST', body: { email: 'a@b.c', password: 'x', remember: true } })).status, 400);
  t.is((await api('/auth/login', { method: 'POST', rawBody: '{' })).status, 400);
  t.is((await api('/auth/login', { method: 'POST', rawBody: 'email=a', contentType: 'application/x-www-form-urlencoded' })).status, 415);
});

test('/users/me: 401 without a token and for every forged or stale token', async (t) => {
  const anonymous = await api('/users/me');
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
  for (const [attack, token] of attackTokens('customer')) {
    const res = await api('/users/me', { token });
    t.is(res.status, 401, attack);
    t.is(res.body.code, 'UNAUTHORIZED', attack);
  }
});
