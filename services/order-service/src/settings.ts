/**
 * order-service's own settings (the kit's are in services/kit/src/settings.ts), declared once: the kit
 * validates them at start-up and hands them to the service typed (`deps.settings`); the deployment
 * spec puts them in compose's environment, .env.example and the cluster's ConfigMap; the README's
 * table is checked against them.
 */
import { defineSettings } from '@product-store/kit/settings';

/** Any of the checkout's timings: from a tenth of a second to an hour. */
const timing = { type: 'integer', unit: 'ms', min: 100, max: 3_600_000 } as const;

export const settings = defineSettings({
  CHECKOUT_TIMEOUT_MS: { ...timing, default: 30_000, description: 'a checkout unfinished after this long is rolled back (or forward) by recovery' },
  CHECKOUT_RECOVERY_INTERVAL_MS: { ...timing, default: 5_000, description: 'how often recovery looks for unfinished work' },
  // Older work than this means recovery was down for days.
  CHECKOUT_RECOVERY_WINDOW_HOURS: { type: 'integer', default: 48, min: 1, max: 720, description: 'how far back recovery looks for unfinished work' },
  IDEMPOTENCY_WAIT_MS: { ...timing, default: 5_000, description: "how long a duplicate request waits for the first one's response before a 409" },
  CHECKOUT_RESPONSE_DEADLINE_MS: {
    ...timing,
    default: 10_000,
    description: 'POST /orders answers by then: a checkout still running goes on, the client gets 503 `CHECKOUT_PENDING` (Retry-After) and its retry under the same key the outcome',
  },
});
