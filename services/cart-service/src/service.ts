import type { ServiceDefinition } from '@product-store/kit';
import { migrations } from './migrations';
import { cartRoutes } from './routes';

export const cartService: ServiceDefinition = {
  name: 'cart-service',
  migrations,
  routes: cartRoutes,
};
