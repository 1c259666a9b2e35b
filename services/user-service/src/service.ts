import type { ServiceDefinition } from '@product-store/kit';
import { ensureAdmin } from './admin';
import { migrations } from './migrations';
import { userRoutes } from './routes';
import { settings } from './settings';

export { DEVELOPMENT_ADMIN_PASSWORD } from './settings';

export const userService: ServiceDefinition<unknown, typeof settings> = {
  name: 'user-service',
  migrations,
  settings,
  routes: userRoutes,
  afterStart: ensureAdmin,
};
