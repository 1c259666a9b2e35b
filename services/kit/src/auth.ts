/**
 * JWT issuing and verification. The key object is built once; verification pins the algorithm and
 * checks issuer, audience and expiry, so `alg: none`, foreign signatures and stale tokens are 401.
 */
import { createHash, createSecretKey, randomUUID, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Middleware } from 'koa';
import jwt from 'jsonwebtoken';
import type { Config } from './config';
import { problems } from './errors';

export const TOKEN_ISSUER = 'product-store';
export const TOKEN_AUDIENCE = 'product-store';

export type Role = 'customer' | 'admin';

export interface AuthUser {
  sub: string;
  role: Role;
  jti: string;
}

export interface IssuedToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface Auth {
  issue(user: { id: string; role: Role }): IssuedToken;
  verify(token: string): AuthUser;
  /** Any signed-in user; sets ctx.state.user. */
  requireUser: Middleware;
  /** Signed in with the admin role. */
  requireAdmin: Middleware;
  /** Another service of the stack: the shared INTERNAL_API_TOKEN in X-Internal-Token. */
  requireInternal: Middleware;
}

export const INTERNAL_TOKEN_HEADER = 'X-Internal-Token';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const digest = (value: string) => createHash('sha256').update(value).digest();

export function createAuth(config: Pick<Config, 'jwt' | 'internalToken'>): Auth {
  const internalDigest = digest(config.internalToken);
  const key: KeyObject = createSecretKey(Buffer.from(config.jwt.secret, 'utf8'));
  const { algorithm, expirationMinutes } = config.jwt;
  const expiresIn = expirationMinutes * 60;

  const verify = (token: string): AuthUser => {
    let claims: jwt.JwtPayload | string;
    try {
      claims = jwt.verify(token, key, { algorithms: [algorithm], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, clockTolerance: 5 });
    } catch (err) {
      throw problems.unauthorized(err instanceof jwt.TokenExpiredError ? 'The token has expired.' : 'The token is not valid.');
    }
    if (typeof claims === 'string' || typeof claims.sub !== 'string' || !uuidPattern.test(claims.sub) || (claims.role !== 'customer' && claims.role !== 'admin') || typeof claims.jti !== 'string') {
      throw problems.unauthorized('The token is not valid.');
    }
    return { sub: claims.sub, role: claims.role, jti: claims.jti };
  };

  const authenticate = (header: string): AuthUser => {
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(header);
    if (!match) throw problems.unauthorized(header ? 'The Authorization header must be "Bearer <token>".' : 'A bearer token is required.');
    return verify(match[1]);
  };

  const requireUser: Middleware = async (ctx, next) => {
    ctx.state.user = authenticate(ctx.get('Authorization'));
    await next();
  };
  const requireAdmin: Middleware = async (ctx, next) => {
    const user = authenticate(ctx.get('Authorization'));
    ctx.state.user = user;
    if (user.role !== 'admin') throw problems.forbidden('This action needs the admin role.');
    await next();
  };

  const requireInternal: Middleware = async (ctx, next) => {
    // Compared as digests: constant time, whatever the length sent.
    if (!timingSafeEqual(digest(ctx.get(INTERNAL_TOKEN_HEADER)), internalDigest)) {
      throw problems.unauthorized('Internal endpoints are for the services of the stack.').withCode('INTERNAL_TOKEN_REQUIRED');
    }
    await next();
  };

  return {
    issue: ({ id, role }) => ({
      access_token: jwt.sign({ role }, key, { algorithm, subject: id, issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, expiresIn, jwtid: randomUUID() }),
      token_type: 'Bearer',
      expires_in: expiresIn,
    }),
    verify,
    requireUser,
    requireAdmin,
    requireInternal,
  };
}
