import type { Migration } from '@product-store/kit';

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'users and unique emails',
    statements: [
      'CREATE TABLE IF NOT EXISTS users (id uuid PRIMARY KEY, email text, name text, role text, password_hash text, created_at timestamp)',
      // The email claim: a conditional insert here is what makes emails unique, even under races.
      'CREATE TABLE IF NOT EXISTS users_by_email (email text PRIMARY KEY, user_id uuid)',
    ],
  },
];
