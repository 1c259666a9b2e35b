/** What the storefront tells a shopper for the API's problem codes (storefront/src/api.ts explain). */
import test from 'ava';
import { ApiError, explain } from '../src/api';

test('a checkout answered 503 CHECKOUT_PENDING says the order is still being placed and a retry will not order twice', (t) => {
  const pending = explain(new ApiError(503, 'CHECKOUT_PENDING', 'The checkout is still being processed.', {}, 2));
  t.is(pending, explain(new ApiError(409, 'IDEMPOTENCY_IN_PROGRESS', 'In progress.')));
  t.regex(pending, /not be ordered twice/);
});

test('an unknown code still gets a message, never the raw detail of a server error', (t) => {
  t.notRegex(explain(new ApiError(500, 'SOMETHING_NEW', 'stack trace here')), /stack trace/);
});
