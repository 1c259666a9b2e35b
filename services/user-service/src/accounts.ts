/** Accounts: input shapes, the public form of a user, and password hashing (argon2id, OWASP parameters). */
import { hash, verify, Algorithm } from '@node-rs/argon2';
import { z } from 'zod';
import { timestamp, type Role } from '@product-store/kit';

export interface UserRecord {
  id: string;
  email: string;
  name: string;
  role: Role;
  password_hash: string;
  created_at: string;
}

export type PublicUser = Omit<UserRecord, 'password_hash'>;

/** OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane. Runs on libuv's pool, off the event loop. */
const argon2Options = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string) => hash(password, argon2Options);

export async function passwordMatches(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** Verified against when the email is unknown, so both failures cost the same time. */
let decoyHash: Promise<string> | undefined;
export const decoy = () => (decoyHash ??= hashPassword(`decoy-${Math.random()}`));

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

const email = z
  .string()
  .max(254, 'Must be at most 254 characters.')
  .transform(normalizeEmail)
  .pipe(z.email({ message: 'Must be a valid email address.' }));
const password = z.string().min(8, 'Must be 8 to 128 characters.').max(128, 'Must be 8 to 128 characters.');

export const registerSchema = z
  .strictObject({
    email,
    password,
    name: z.string().trim().min(1, 'Must be 1 to 100 characters.').max(100, 'Must be 1 to 100 characters.'),
  })
  .meta({ id: 'Register' });

export const loginSchema = z
  .strictObject({
    email: z.string().max(254).transform(normalizeEmail),
    password: z.string().max(128),
  })
  .meta({ id: 'Login' });

export const userSchema = z
  .strictObject({ id: z.uuid(), email: z.email(), name: z.string(), role: z.enum(['customer', 'admin']), created_at: timestamp() })
  .meta({ id: 'User' });

export const tokenSchema = z
  .strictObject({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int().positive() })
  .meta({ id: 'Token' });

export function toPublicUser({ password_hash: _hash, ...user }: UserRecord): PublicUser {
  return user;
}
