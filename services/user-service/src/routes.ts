/** HTTP only: register, login, and the signed-in user's own account. */
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import { problems, readJson, type ServiceDeps } from '@product-store/kit';
import { decoy, hashPassword, loginSchema, passwordMatches, registerSchema, toPublicUser } from './accounts';
import { UserRepository } from './repository';

const invalidCredentials = () =>
  problems.unauthorized('The email or password is wrong.').withCode('INVALID_CREDENTIALS', 'Invalid credentials');

export function userRoutes({ db, auth, metrics }: ServiceDeps): Router {
  const users = new UserRepository(db);
  const router = new Router();
  const logins = metrics.counter('user_logins_total', 'Login attempts by outcome', ['outcome'] as const);
  const registrations = metrics.counter('user_registrations_total', 'Registrations by outcome', ['outcome'] as const);
  void decoy();

  router.post('/auth/register', async (ctx) => {
    const input = await readJson(ctx, registerSchema);
    if (await users.byEmail(input.email)) {
      registrations.inc({ outcome: 'email_taken' });
      throw problems.conflict('EMAIL_TAKEN', 'An account with this email already exists.');
    }
    const user = { id: randomUUID(), email: input.email, name: input.name, role: 'customer' as const, password_hash: await hashPassword(input.password), created_at: new Date().toISOString() };
    if (!(await users.create(user))) {
      registrations.inc({ outcome: 'email_taken' });
      throw problems.conflict('EMAIL_TAKEN', 'An account with this email already exists.');
    }
    registrations.inc({ outcome: 'created' });
    ctx.status = 201;
    ctx.set('Location', '/users/me');
    ctx.body = toPublicUser(user);
  });

  router.post('/auth/login', async (ctx) => {
    const input = await readJson(ctx, loginSchema);
    const user = await users.byEmail(input.email);
    // Unknown email and wrong password take the same path and the same time.
    const ok = await passwordMatches(user?.password_hash ?? (await decoy()), input.password);
    if (!user || !ok) {
      logins.inc({ outcome: 'failure' });
      throw invalidCredentials();
    }
    logins.inc({ outcome: 'success' });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = auth.issue({ id: user.id, role: user.role });
  });

  router.get('/users/me', auth.requireUser, async (ctx) => {
    const user = await users.byId(ctx.state.user.sub);
    if (!user) throw problems.unauthorized('This account no longer exists.');
    ctx.body = toPublicUser(user);
  });

  return router;
}
