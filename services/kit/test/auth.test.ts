import { createHmac, randomUUID } from 'node:crypto';
import test from 'ava';
import jwt from 'jsonwebtoken';
import { createAuth, HttpProblem, TOKEN_AUDIENCE, TOKEN_ISSUER } from '../src';

const secret = 'a-test-secret-that-is-long-enough-0123456789';
const auth = createAuth({ jwt: { secret, algorithm: 'HS256', expirationMinutes: 30 }, internalToken: 'an-internal-token-that-is-long-enough-0123' });
const sub = randomUUID();

function rejected(t: import('ava').ExecutionContext, token: string, detail: RegExp) {
  const error = t.throws(() => auth.verify(token));
  t.true(error instanceof HttpProblem);
  const problem = error as HttpProblem;
  t.is(problem.status, 401);
  t.is(problem.headers['WWW-Authenticate'], 'Bearer realm="product-store"');
  t.regex(problem.detail ?? '', detail);
}

const sign = (claims: object, options: jwt.SignOptions = {}, key: string = secret) =>
  jwt.sign({ role: 'customer', exp: Math.floor(Date.now() / 1000) + 60, ...claims }, key, { algorithm: 'HS256', subject: sub, issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, jwtid: randomUUID(), ...options });

test('an issued token verifies and carries the contract claims', (t) => {
  const issued = auth.issue({ id: sub, role: 'admin' });
  t.is(issued.token_type, 'Bearer');
  t.is(issued.expires_in, 1800);
  const user = auth.verify(issued.access_token);
  t.deepEqual({ sub: user.sub, role: user.role }, { sub, role: 'admin' });
  const claims = jwt.decode(issued.access_token) as jwt.JwtPayload;
  t.is(claims.iss, 'product-store');
  t.is(claims.aud, 'product-store');
  t.is(claims.exp! - claims.iat!, 1800);
  t.truthy(claims.jti);
});

test('an expired token is 401', (t) => {
  rejected(t, sign({ exp: Math.floor(Date.now() / 1000) - 60 }), /expired/);
});

test('a token signed with another key is 401', (t) => {
  rejected(t, sign({}, {}, 'another-secret-that-is-long-enough-012345678'), /not valid/);
});

test('alg none is 401', (t) => {
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub, role: 'admin', iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 60, jti: 'x' })).toString('base64url');
  rejected(t, `${header}.${payload}.`, /not valid/);
});

test('another HMAC algorithm than the pinned one is 401', (t) => {
  rejected(t, sign({}, { algorithm: 'HS512' }), /not valid/);
});

test('wrong issuer or audience is 401', (t) => {
  rejected(t, sign({}, { issuer: 'someone-else' }), /not valid/);
  rejected(t, sign({}, { audience: 'another-app' }), /not valid/);
});

test('a token without a role or with an unknown role is 401', (t) => {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub, role: 'root', iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 60, jti: 'x' })).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  rejected(t, `${header}.${payload}.${signature}`, /not valid/);
});

test('garbage is 401', (t) => {
  rejected(t, 'not.a.token', /not valid/);
});
