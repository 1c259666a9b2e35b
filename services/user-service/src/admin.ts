/**
 * The admin account named by ADMIN_EMAIL/ADMIN_PASSWORD is ensured at start-up: created if missing,
 * given the admin role, and its password set to ADMIN_PASSWORD when it no longer matches.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceDeps } from '@product-store/kit';
import { hashPassword, normalizeEmail, passwordMatches } from './accounts';
import { UserRepository } from './repository';

export const MIN_ADMIN_PASSWORD_LENGTH = 12;

export async function ensureAdmin({ db, config, log }: ServiceDeps): Promise<void> {
  const email = config.env.ADMIN_EMAIL?.trim();
  const password = config.env.ADMIN_PASSWORD;
  if (!email || !password) {
    log.info('no admin account ensured: ADMIN_EMAIL and ADMIN_PASSWORD are not both set');
    return;
  }
  const users = new UserRepository(db);
  const normalized = normalizeEmail(email);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await users.byEmail(normalized);
    if (existing) {
      const changes = {
        ...(existing.role !== 'admin' ? { role: 'admin' as const } : {}),
        ...((await passwordMatches(existing.password_hash, password)) ? {} : { password_hash: await hashPassword(password) }),
      };
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
