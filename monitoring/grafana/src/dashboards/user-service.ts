/** User Service: accounts and login. */
import { q, timeseries } from '../builder';
import { job, orZero, perMinute, rate, sel, sumBy } from '../promql';
import { serviceDashboard } from '../service';

const j = job('user-service');

export const userServiceDashboard = serviceDashboard({
  name: 'user-service',
  title: 'User Service',
  description: 'user-service: registration and login. RED by route, Node runtime, logins and registrations.',
  businessTitle: 'Accounts',
  business: [
    timeseries({
      title: 'Logins per minute by outcome',
      description: 'Login attempts per minute by outcome (success, failure). 0 before the first attempt.',
      unit: 'short',
      w: 8,
      stack: true,
      queries: [q(orZero(perMinute(sumBy(['outcome'], rate(sel('user_logins_total', j))))), '{{outcome}}')],
    }),
    timeseries({
      title: 'Login failures per minute',
      description: 'Failed login attempts per minute: a sudden rise suggests password guessing. 0 before the first failure.',
      unit: 'short',
      w: 8,
      queries: [q(orZero(perMinute(sumBy([], rate(sel('user_logins_total', j, 'outcome="failure"'))))), 'failures')],
      thresholds: [{ color: 'red', value: 10 }],
    }),
    timeseries({
      title: 'Registrations per minute by outcome',
      description: 'Registration attempts per minute by outcome (created, email_taken). 0 before the first attempt.',
      unit: 'short',
      w: 8,
      stack: true,
      queries: [q(orZero(perMinute(sumBy(['outcome'], rate(sel('user_registrations_total', j))))), '{{outcome}}')],
    }),
  ],
});
