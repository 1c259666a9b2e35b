import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import test from 'ava';
import jwt from 'jsonwebtoken';
import { createAuth, HttpProblem, keyId, TOKEN_AUDIENCE, TOKEN_ISSUER } from '../src';

const secret = 'a-test-secret-that-is-long-enough-0123456789';
const auth = createAuth({ jwt: { secret, algorithm: 'HS256', expirationMinutes: 30, publicKeys: [] }, internalTokens: {} });
const sub = randomUUID();

function rejected(t: import('ava').ExecutionContext, token: string, detail: RegExp, by = auth) {
  const error = t.throws(() => by.verify(token));
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

// --- ES256: user-service signs, the other services verify with public keys only ------------------

const pair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const es256 = (keys: { privateKey?: import('node:crypto').KeyObject; publicKeys: import('node:crypto').KeyObject[] }) =>
  createAuth({ jwt: { algorithm: 'ES256', expirationMinutes: 30, ...keys }, internalTokens: {} });

test('ES256: a token of user-service verifies with its public key alone, and names the key', (t) => {
  const { privateKey, publicKey } = pair();
  const signer = es256({ privateKey, publicKeys: [publicKey] });
  const verifier = es256({ publicKeys: [publicKey] });
  const token = signer.issue({ id: sub, role: 'admin' }).access_token;
  const { header } = jwt.decode(token, { complete: true })!;
  t.is(header.alg, 'ES256');
  t.is(header.kid, keyId(publicKey));
  t.deepEqual({ ...verifier.verify(token), jti: undefined }, { sub, role: 'admin', jti: undefined });
  // A verifier has no key to sign with.
  t.throws(() => verifier.issue({ id: sub, role: 'admin' }), { message: /user-service alone issues tokens/ });
});

test('ES256: a rotation verifies tokens of the previous key and the new one; a removed key is 401', (t) => {
  const previous = pair();
  const current = pair();
  const oldToken = es256({ privateKey: previous.privateKey, publicKeys: [previous.publicKey] }).issue({ id: sub, role: 'customer' }).access_token;
  const newToken = es256({ privateKey: current.privateKey, publicKeys: [current.publicKey] }).issue({ id: sub, role: 'customer' }).access_token;
  const during = es256({ publicKeys: [current.publicKey, previous.publicKey] });
  t.is(during.verify(oldToken).sub, sub);
  t.is(during.verify(newToken).sub, sub);
  const after = es256({ publicKeys: [current.publicKey] });
  t.is(after.verify(newToken).sub, sub);
  rejected(t, oldToken, /not valid/, after);
});

test('ES256: forged tokens are 401 (HMAC with the public key, no kid, unknown kid, another key)', (t) => {
  const { privateKey, publicKey } = pair();
  const verifier = es256({ publicKeys: [publicKey] });
  const kid = keyId(publicKey);
  const claims = { role: 'admin', exp: Math.floor(Date.now() / 1000) + 60 };
  const options = { subject: sub, issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, jwtid: randomUUID() };
  // The algorithm-confusion attack: an HS256 token keyed with the public key's PEM.
  const pemSecret = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  rejected(t, jwt.sign(claims, pemSecret, { ...options, algorithm: 'HS256', keyid: kid, allowInsecureKeySizes: true } as jwt.SignOptions), /not valid/, verifier);
  rejected(t, jwt.sign(claims, privateKey, { ...options, algorithm: 'ES256' }), /not valid/, verifier);
  rejected(t, jwt.sign(claims, privateKey, { ...options, algorithm: 'ES256', keyid: 'unknown' }), /not valid/, verifier);
  const stranger = pair();
  rejected(t, jwt.sign(claims, stranger.privateKey, { ...options, algorithm: 'ES256', keyid: kid }), /not valid/, verifier);
  // And the HS256 verifier of the guide's mode takes no ES256 token.
  rejected(t, jwt.sign(claims, privateKey, { ...options, algorithm: 'ES256', keyid: kid }), /not valid/);
});
