import type { ServiceDefinition } from '@product-store/kit';
import { ensureAdmin, MIN_ADMIN_PASSWORD_LENGTH } from './admin';
import { migrations } from './migrations';
import { userRoutes } from './routes';

/** The local stack's documented development admin password; refused in production. */
export const DEVELOPMENT_ADMIN_PASSWORD = 'admin-dev-password';

export const userService: ServiceDefinition = {
  name: 'user-service',
  migrations,
  checkConfig: ({ environment, env }) => {
    const password = env.ADMIN_PASSWORD;
    if (environment !== 'production' || !password) return [];
    if (password.length < MIN_ADMIN_PASSWORD_LENGTH) return [`ADMIN_PASSWORD must be at least ${MIN_ADMIN_PASSWORD_LENGTH} characters in production`];
    if (password === DEVELOPMENT_ADMIN_PASSWORD) return ['ADMIN_PASSWORD is the development default; set your own in production'];
    return [];
  },
  routes: userRoutes,
  afterStart: ensureAdmin,
};
