/**
 * Every service's /metrics, as Prometheus scrapes it, passes the real `promtool check metrics` (the
 * Prometheus package's linter): no gauge named `_total`, no counter without it, help and type for
 * every family. prom-client's defaults once failed it (its active handles/requests/resources totals).
 */
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { call, startStack, tokenFor, type TestStack } from '@product-store/kit/testing';
import { services } from '@product-store/deploy';
import { backend } from '../../../services/backend/src/service';
import { cartService } from '../../../services/cart-service/src/service';
import { orderService } from '../../../services/order-service/src/service';
import { userService } from '../../../services/user-service/src/service';

let stack: TestStack;
test.before(async () => {
  stack = await startStack([backend, cartService, orderService, userService]);
  // Some traffic, so that the request histograms and the services' own metrics have series.
  const customer = tokenFor('customer');
  await call(stack.url('backend'), '/products');
  await call(stack.url('cart-service'), '/cart', { token: customer });
  await call(stack.url('order-service'), '/orders', { token: customer });
  await call(stack.url('user-service'), '/auth/login', { method: 'POST', body: { email: 'nobody@example.com', password: 'wrong-password' } });
});
test.after.always(() => stack?.stop());

for (const service of services) {
  test(`${service.name}: /metrics passes promtool check metrics`, async (t) => {
    const res = await fetch(`${stack.url(service.name)}/metrics`);
    t.is(res.status, 200);
    const text = await res.text();
    t.regex(text, /^http_request_duration_seconds_count\{/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    t.falsy(check.error, 'promtool is installed with Prometheus (apt-get install -y prometheus)');
    t.is(`${check.stdout}${check.stderr}`.trim(), '', 'promtool found nothing to say');
    t.is(check.status, 0);
    // The totals are the sums of the by-type gauges (the dashboards' "Active handles").
    t.regex(text, /^nodejs_active_handles\{/m);
    t.notRegex(text, /^nodejs_active_(handles|requests|resources)_total/m);
  });
}
