/** CQL for accounts. */
import { conditional, idempotent, types, type Client, type Role } from '@product-store/kit';
import type { UserRecord } from './accounts';

const Uuid = types.Uuid;

function toRecord(row: types.Row): UserRecord {
  return {
    id: row.get('id').toString(),
    email: row.get('email'),
    name: row.get('name'),
    role: row.get('role'),
    password_hash: row.get('password_hash'),
    created_at: (row.get('created_at') as Date).toISOString(),
  };
}

export class UserRepository {
  constructor(private readonly db: Client) {}

  async byId(id: string): Promise<UserRecord | undefined> {
    const row = (await this.db.execute('SELECT id, email, name, role, password_hash, created_at FROM users WHERE id = ?', [Uuid.fromString(id)], idempotent)).first();
    return row ? toRecord(row) : undefined;
  }

  async byEmail(email: string): Promise<UserRecord | undefined> {
    const claim = (await this.db.execute('SELECT user_id FROM users_by_email WHERE email = ?', [email], idempotent)).first();
    return claim ? this.byId(claim.get('user_id').toString()) : undefined;
  }

  /**
   * Writes the user, then claims the email with a conditional insert. When the claim is lost to
   * another registration, the unreachable user row is removed and false is returned.
   */
  async create(user: UserRecord): Promise<boolean> {
    const id = Uuid.fromString(user.id);
    await this.db.execute(
      'INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [id, user.email, user.name, user.role, user.password_hash, new Date(user.created_at)],
      idempotent,
    );
    const claim = await this.db.execute('INSERT INTO users_by_email (email, user_id) VALUES (?, ?) IF NOT EXISTS', [user.email, id], conditional);
    if (claim.wasApplied()) return true;
    await this.db.execute('DELETE FROM users WHERE id = ?', [id], idempotent);
    return false;
  }

  async update(id: string, changes: { role?: Role; password_hash?: string }): Promise<void> {
    const columns = Object.keys(changes) as Array<keyof typeof changes>;
    if (columns.length === 0) return;
    await this.db.execute(
      `UPDATE users SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`,
      [...columns.map((c) => changes[c]), Uuid.fromString(id)],
      idempotent,
    );
  }
}
