/**
 * JWT issuing and verification. The key objects are built once; verification pins the algorithm and
 * checks issuer, audience and expiry, so `alg: none`, foreign signatures and stale tokens are 401.
 *
 * With ES256 only user-service holds the private key; every token carries the `kid` of its key
 * (the RFC 7638 thumbprint of the public key), and a verifier picks among its JWT_PUBLIC_KEYS by it,
 * so a new key pair can be rolled out while tokens of the previous one are still valid.
 */
import { createHash, createSecretKey, randomUUID, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Middleware } from 'koa';
import jwt from 'jsonwebtoken';
import type { Config } from './config';
import { internalEndpoints, type ServiceName } from './topology';
import { problems } from './errors';

export const TOKEN_ISSUER = 'product-store';
export const TOKEN_AUDIENCE = 'product-store';

export type Role = 'customer' | 'admin';

export interface AuthUser {
  sub: string;
  role: Role;
  jti: string;
}

declare module 'koa' {
  /** What the kit's auth middleware puts in ctx.state, typed once for every service's routes. */
  interface DefaultState {
    /** The signed-in user: set by requireUser and requireAdmin, absent on routes without them. */
    user: AuthUser;
    /** The calling service: set by requireInternal. */
    internalCaller?: ServiceName;
  }
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
  /**
   * Another service of the stack, by its own credential in X-Internal-Token: 401 without a known one,
   * 403 when the topology's internalEndpoints do not list that caller for the matched route.
   */
  requireInternal: Middleware;
}

export const INTERNAL_TOKEN_HEADER = 'X-Internal-Token';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The `kid` of a public key: its JWK thumbprint (RFC 7638), SHA-256, base64url. */
export function keyId(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  // The required members only, in lexicographic order, no whitespace.
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

export function createAuth(config: Pick<Config, 'jwt' | 'internalTokens'> & { service?: ServiceName }): Auth {
  const { algorithm, expirationMinutes } = config.jwt;
  const expiresIn = expirationMinutes * 60;
  const asymmetric = algorithm === 'ES256';
  if (!asymmetric && !config.jwt.secret) throw new Error(`JWT_ALGORITHM ${algorithm} needs JWT_SECRET_KEY`);
  const secretKey = asymmetric ? undefined : createSecretKey(Buffer.from(config.jwt.secret!, 'utf8'));
  const verifyKeys = new Map<string, KeyObject>(config.jwt.publicKeys.map((k) => [keyId(k), k]));
  const signing: { key: KeyObject; kid?: string } | undefined = asymmetric
    ? config.jwt.privateKey && { key: config.jwt.privateKey, kid: keyId(config.jwt.publicKeys[0]) }
    : { key: secretKey! };

  /** The key a token is checked with: the secret, or the public key its `kid` names (none: not valid). */
  const keyFor = (token: string): KeyObject | undefined => {
    if (!asymmetric) return secretKey;
    const kid = jwt.decode(token, { complete: true })?.header.kid;
    return typeof kid === 'string' ? verifyKeys.get(kid) : undefined;
  };

  const verify = (token: string): AuthUser => {
    let claims: jwt.JwtPayload | string;
    try {
      const key = keyFor(token);
      if (!key) throw new Error('no key for this token');
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
    // The scheme is case-insensitive (RFC 9110 11.1): `bearer` and `BEARER` are Bearer.
    const match = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i.exec(header);
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

  const credentials = Object.entries(config.internalTokens).map(([caller, token]) => ({ caller: caller as ServiceName, digest: digest(token!) }));
  const endpoints = (config.service && internalEndpoints[config.service]) || {};
  const requireInternal: Middleware = async (ctx, next) => {
    // A request that came through a public proxy never reaches an internal endpoint, whatever it
    // carries: the gateway's public servers and the cluster's ingress-nginx both set X-Forwarded-Host
    // (a client cannot remove it), calls between services come direct or through the gateway's
    // internal listeners, which do not. 404, as the contract says of internal routes through the
    // gateway; this holds where the proxy's own rules (a default ingress-nginx refuses configuration
    // snippets) do not strip a client's X-Internal-Token.
    if (ctx.get('X-Forwarded-Host')) throw problems.notFound(`No route for ${ctx.method} ${ctx.path}.`);
    // Compared as digests: constant time, whatever the length sent; every credential is compared.
    const sent = digest(ctx.get(INTERNAL_TOKEN_HEADER));
    let caller: ServiceName | undefined;
    for (const c of credentials) if (timingSafeEqual(sent, c.digest)) caller = c.caller;
    if (!caller) throw problems.unauthorized('Internal endpoints are for the services of the stack.').withCode('INTERNAL_TOKEN_REQUIRED');
    const endpoint = `${ctx.method} ${(ctx as { _matchedRoute?: string })._matchedRoute ?? ctx.path}`;
    if (!endpoints[endpoint]?.includes(caller)) {
      throw problems.forbidden(`${caller} may not call ${endpoint}.`).withCode('INTERNAL_CALLER_FORBIDDEN');
    }
    ctx.state.internalCaller = caller;
    await next();
  };

  return {
    issue: ({ id, role }) => {
      if (!signing) throw new Error('this service holds no signing key: with ES256, user-service alone issues tokens');
      return {
        access_token: jwt.sign({ role }, signing.key, {
          algorithm,
          subject: id,
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          expiresIn,
          jwtid: randomUUID(),
          ...(signing.kid ? { keyid: signing.kid } : {}),
        }),
        token_type: 'Bearer',
        expires_in: expiresIn,
      };
    },
    verify,
    requireUser,
    requireAdmin,
    requireInternal,
  };
}
