/**
 * user-service's own settings (the kit's are in services/kit/src/settings.ts), declared once: the kit
 * validates them at start-up and hands them to the service typed (`deps.settings`); the deployment
 * spec puts them in compose's environment, .env.example and the cluster's ConfigMap (the password in
 * the Secret); the README's table is checked against them.
 */
import { defineSettings } from '@product-store/kit/settings';

export const MIN_ADMIN_PASSWORD_LENGTH = 12;
/** The local stack's documented development admin password; refused in production. */
export const DEVELOPMENT_ADMIN_PASSWORD = 'admin-dev-password';

export const settings = defineSettings({
  ADMIN_EMAIL: { type: 'email', description: 'the admin account ensured at start-up (with `ADMIN_PASSWORD`; neither set: none)' },
  ADMIN_PASSWORD: {
    type: 'secret',
    description: `the admin account's password, set at start-up when it no longer matches; in production at least ${MIN_ADMIN_PASSWORD_LENGTH} characters`,
    rule: (password, { environment }) => {
      if (environment !== 'production') return undefined;
      if (password.length < MIN_ADMIN_PASSWORD_LENGTH) return `ADMIN_PASSWORD must be at least ${MIN_ADMIN_PASSWORD_LENGTH} characters in production`;
      if (password === DEVELOPMENT_ADMIN_PASSWORD) return 'ADMIN_PASSWORD is the development default; set your own in production';
      return undefined;
    },
  },
});
