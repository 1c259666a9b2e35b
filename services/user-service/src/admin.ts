/**
 * The admin account named by ADMIN_EMAIL/ADMIN_PASSWORD is ensured at start-up: created if missing,
 * and its password set to ADMIN_PASSWORD when it no longer matches.
 *
 * An existing account with that email that is not an admin is never promoted: anyone can register
 * any email, so whoever registered ADMIN_EMAIL first (before the first start, or after the admin
 * account was removed) would become admin at the next start. That account is left exactly as it is
 * (role and password), the service starts without an admin, and the start-up logs an error that says
 * what to do (docs/runbook.md, "The admin account"). The service still starts: refusing to would let
 * any registration take the accounts service down.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceDeps } from '@product-store/kit';
import { hashPassword, normalizeEmail, passwordMatches } from './accounts';
import { UserRepository } from './repository';
import type { settings } from './settings';

export { MIN_ADMIN_PASSWORD_LENGTH } from './settings';

export async function ensureAdmin({ db, settings: { ADMIN_EMAIL: email, ADMIN_PASSWORD: password }, log }: ServiceDeps<typeof settings>): Promise<void> {
  if (!email || !password) {
    log.info('no admin account ensured: ADMIN_EMAIL and ADMIN_PASSWORD are not both set');
    return;
  }
  const users = new UserRepository(db);
  const normalized = normalizeEmail(email);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await users.byEmail(normalized);
    if (existing && existing.role !== 'admin') {
      log.error('ADMIN_EMAIL names an existing account that is not an admin: it is NOT promoted and there is no admin account', {
        email: normalized,
        user_id: existing.id,
        role: existing.role,
        action:
          'if that account is yours, promote it by hand (docs/runbook.md, "The admin account"); otherwise set ADMIN_EMAIL to an address nobody registered and restart',
      });
      return;
    }
    if (existing) {
      const changes = (await passwordMatches(existing.password_hash, password)) ? {} : { password_hash: await hashPassword(password) };
      await users.update(existing.id, changes);
      log.info('admin account ensured', { email: normalized, changed: Object.keys(changes) });
      return;
    }
    const created = await users.create({ id: randomUUID(), email: normalized, name: 'Administrator', role: 'admin', password_hash: await hashPassword(password), created_at: new Date().toISOString() });
    if (created) {
      log.info('admin account created', { email: normalized });
      return;
    }
  }
  throw new Error('could not ensure the admin account');
}
