/** HTTP only: register, login, and the signed-in user's own account, each declared once with its schema (kit routes.ts). */
import { randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import { bodyErrors, defineRoutes, problems, routeFor, type Auth, type ServiceDeps } from '@product-store/kit';
import type { Counter } from 'prom-client';
import { decoy, hashPassword, loginSchema, passwordMatches, registerSchema, toPublicUser, tokenSchema, userSchema } from './accounts';
import { UserRepository } from './repository';

/** What the handlers share. */
interface Accounts {
  users: UserRepository;
  auth: Auth;
  logins: Counter<'outcome'>;
  registrations: Counter<'outcome'>;
}

const invalidCredentials = () =>
  problems.unauthorized('The email or password is wrong.').withCode('INVALID_CREDENTIALS', 'Invalid credentials');

// The document's examples: Ada registers and signs in.
const ada = { id: '8d1f3c52-7a4e-4b9d-a0c6-2e5f9b7d1a34', email: 'ada@example.com', name: 'Ada Lovelace', role: 'customer', created_at: '2026-01-15T09:30:00.000Z' };

const route = routeFor<Accounts>();

export const userApi = defineRoutes('user-service', [
  route({
    method: 'post', path: '/auth/register', summary: 'Create a customer account', auth: 'none',
    body: { schema: registerSchema, required: true, example: { email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' } },
    success: {
      status: 201, schema: userSchema, description: 'The new account.', example: ada,
      links: { login: { operationId: 'postAuthLogin', requestBody: { email: '$request.body#/email', password: '$request.body#/password' }, description: 'Sign in as the new account.' } },
    },
    errors: { 400: 'VALIDATION_FAILED (also for unknown fields such as `role`).', 409: 'EMAIL_TAKEN.', 429: 'The gateway rate-limits registrations.', ...bodyErrors },
    handler: async (ctx, { body }, { users, registrations }) => {
      if (await users.byEmail(body.email)) {
        registrations.inc({ outcome: 'email_taken' });
        throw problems.conflict('EMAIL_TAKEN', 'An account with this email already exists.');
      }
      const user = { id: randomUUID(), email: body.email, name: body.name, role: 'customer' as const, password_hash: await hashPassword(body.password), created_at: new Date().toISOString() };
      if (!(await users.create(user))) {
        registrations.inc({ outcome: 'email_taken' });
        throw problems.conflict('EMAIL_TAKEN', 'An account with this email already exists.');
      }
      registrations.inc({ outcome: 'created' });
      ctx.set('Location', '/users/me');
      return toPublicUser(user);
    },
  }),
  route({
    method: 'post', path: '/auth/login', summary: 'Exchange email and password for a bearer token', auth: 'none',
    body: { schema: loginSchema, required: true, example: { email: 'ada@example.com', password: 'correct horse battery' } },
    success: {
      status: 200, schema: tokenSchema, description: 'An access token; `expires_in` is in seconds.',
      example: { access_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl', token_type: 'Bearer', expires_in: 1800 },
    },
    errors: { 400: 'VALIDATION_FAILED: a blank email, a field missing or too long.', 401: 'INVALID_CREDENTIALS, the same for an unknown email and a wrong password.', 429: 'The gateway rate-limits logins.', ...bodyErrors },
    handler: async (ctx, { body }, { users, auth, logins }) => {
      const user = await users.byEmail(body.email);
      // Unknown email and wrong password take the same path and the same time.
      const ok = await passwordMatches(user?.password_hash ?? (await decoy()), body.password);
      if (!user || !ok) {
        logins.inc({ outcome: 'failure' });
        throw invalidCredentials();
      }
      logins.inc({ outcome: 'success' });
      ctx.set('Cache-Control', 'no-store');
      return auth.issue({ id: user.id, role: user.role });
    },
  }),
  route({
    method: 'get', path: '/users/me', summary: 'The signed-in account', auth: 'user',
    success: { status: 200, schema: userSchema, description: 'The account of the token.', example: ada },
    errors: { 401: 'No valid token.' },
    handler: async (ctx, _input, { users }) => {
      const user = await users.byId(ctx.state.user.sub);
      if (!user) throw problems.unauthorized('This account no longer exists.');
      return toPublicUser(user);
    },
  }),
]);

export function userRoutes({ db, auth, metrics }: ServiceDeps): Router {
  void decoy();
  return userApi.router(auth, {
    users: new UserRepository(db),
    auth,
    logins: metrics.counter('user_logins_total', 'Login attempts by outcome', ['outcome'] as const),
    registrations: metrics.counter('user_registrations_total', 'Registrations by outcome', ['outcome'] as const),
  });
}
