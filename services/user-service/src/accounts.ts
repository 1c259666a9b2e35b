/** Accounts: input shapes, the public form of a user, and password hashing (argon2id, OWASP parameters). */
import { hash, verify, Algorithm } from '@node-rs/argon2';
import { z } from 'zod';
import { fields, timestamp, type Role } from '@product-store/kit';

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

/**
 * A new account's email: an address as zod's email check has it (ASCII; the document has its pattern
 * and `format: email`), nothing around it, stored lower-case.
 */
const emailMessage = 'must be a valid email address such as name@example.com, without spaces around it';
const email = z
  .email({ error: (issue) => (issue.code === 'invalid_type' ? undefined : emailMessage) })
  .max(254, 'must be at most 254 characters')
  // RFC 5321's limits, which `format: email` validators apply and zod's pattern does not.
  // It also runs after a failed check, so it reads any string.
  .refine((value) => value.indexOf('@') <= 64 && (value.split('@')[1] ?? '').split('.').every((label) => label.length <= 63), { message: emailMessage })
  .transform((value) => value.toLowerCase());

/** Any characters; the length is in code points, as JSON Schema counts it. */
const password = (min: number, max: number, message: string) =>
  z
    .string()
    .refine((value) => [...value].length >= min && [...value].length <= max, { message })
    .meta({ minLength: min, maxLength: max });

export const registerSchema = z
  .strictObject({
    email,
    password: password(8, 128, 'must be 8 to 128 characters'),
    name: fields.text({ min: 1, max: 100, trim: true }),
  })
  .meta({ id: 'Register' });

/**
 * Login looks the email up as given (trimmed, lower-case): any address that cannot be an account's is
 * simply not found (401), but a blank one is a 400, never a query with an empty partition key.
 */
export const loginSchema = z
  .strictObject({
    email: fields.text({ min: 1, max: 254, trim: true }).transform(normalizeEmail),
    password: password(0, 128, 'must be at most 128 characters'),
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
