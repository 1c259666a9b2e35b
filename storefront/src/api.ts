/**
 * The public API through the same origin (docs/api.md): JSON in and out, the session's bearer token,
 * and every problem+json answer turned into an ApiError with a message a shopper can act on.
 */

export interface Product {
  id: string;
  name: string;
  description: string;
  price_cents: number;
  currency: string;
  category: string;
  stock: number;
}
export interface Line {
  product_id: string;
  name: string;
  price_cents: number;
  quantity: number;
  line_total_cents: number;
}
export interface Cart {
  items: Line[];
  total_cents: number;
  currency: string;
}
export interface Order {
  id: string;
  status: 'confirmed' | 'cancelled' | string;
  items: Line[];
  total_cents: number;
  currency: string;
  created_at: string;
}
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
export interface User {
  id: string;
  email: string;
  name: string;
  role: 'customer' | 'admin';
}
export interface Session {
  token: string;
  user: User;
}

/** A problem+json answer (or a failure to get any answer: status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly problem: Record<string, unknown> = {},
    /** Seconds, from Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(detail);
  }
}

/** The session lives in sessionStorage: one tab, gone when the tab closes, never sent as a cookie. */
const SESSION_KEY = 'product-store.session';
export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}
export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

/** Called on any 401: the token is missing, expired or revoked, so the session is over. */
let onSignedOut: () => void = () => undefined;
export const whenSignedOut = (handler: () => void) => {
  onSignedOut = handler;
};

export async function api<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json', ...options.headers };
  const session = loadSession();
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), credentials: 'omit' });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The shop could not be reached. Check your connection and try again.');
  }
  const text = await response.text();
  let body: any = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (response.ok) return body as T;
  const retry = Number(response.headers.get('Retry-After'));
  const problem = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const error = new ApiError(
    response.status,
    typeof problem.code === 'string' ? problem.code : `HTTP_${response.status}`,
    typeof problem.detail === 'string' ? problem.detail : response.statusText,
    problem,
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
  if (response.status === 401 && session) {
    saveSession(null);
    // After the caller's own handling of this error, so that the signed-out notice is the one shown.
    setTimeout(onSignedOut, 0);
  }
  throw error;
}

/** What to tell the shopper about a failure: clear, specific where the code is known. */
export function explain(error: unknown, names: Record<string, string> = {}): string {
  if (!(error instanceof ApiError)) return 'Something went wrong. Please try again.';
  const wait = error.retryAfter ? ` Please wait ${error.retryAfter} second${error.retryAfter === 1 ? '' : 's'} and try again.` : ' Please try again shortly.';
  switch (error.code) {
    case 'NETWORK':
      return error.detail;
    case 'RATE_LIMITED':
      return `Too many requests from this address.${wait}`;
    case 'OUT_OF_STOCK': {
      const ids = Array.isArray(error.problem.product_ids) ? (error.problem.product_ids as string[]) : [];
      const which = ids.map((id) => names[id] ?? 'a product').join(', ');
      return `Not enough stock for ${which || 'some products'}. Nothing was ordered and your cart is unchanged: lower the quantity or remove it.`;
    }
    case 'CART_EMPTY':
      return 'Your cart is empty: add a product first.';
    case 'INVALID_CREDENTIALS':
      return 'That email and password do not match an account.';
    case 'EMAIL_TAKEN':
      return 'An account with that email already exists: sign in instead.';
    case 'STOCK_CONFLICT':
      return `The stock changed while you were editing (it is now ${String(error.problem.stock ?? 'different')}): nothing was saved. Check it and save again.`;
    case 'CURRENCY_MISMATCH':
      return 'Your cart has products priced in different currencies: remove the ones marked, then place the order.';
    case 'ORDER_NOT_CANCELLABLE':
      return 'This order can no longer be cancelled.';
    case 'IDEMPOTENCY_IN_PROGRESS':
    case 'CHECKOUT_PENDING':
      return 'Your order is still being placed. Wait a moment, then press Place order again: it will not be ordered twice.';
    case 'PRODUCT_NOT_FOUND':
    case 'NOT_FOUND':
      return 'That product or order no longer exists.';
    case 'SERVICE_UNAVAILABLE':
    case 'DATABASE_UNAVAILABLE':
      return `The shop is temporarily unavailable.${wait}`;
    case 'VALIDATION_FAILED': {
      const errors = Array.isArray(error.problem.errors) ? (error.problem.errors as Array<{ path?: string; message?: string }>) : [];
      const list = errors.map((e) => `${e.path ? `${e.path}: ` : ''}${e.message ?? ''}`).join('; ');
      return `Please check the form. ${list || error.detail}`.trim();
    }
  }
  if (error.status === 401) return 'You are signed out. Please sign in again.';
  if (error.status === 403) return 'Your account is not allowed to do that (the admin page needs an admin account).';
  if (error.status === 429) return `Too many requests.${wait}`;
  if (error.status >= 500) return `The shop had a problem.${wait}`;
  return error.detail || 'The request was refused.';
}

export const money = (cents: number, currency = 'USD') => {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
};

/** A fresh key for one checkout attempt (crypto.randomUUID needs a secure context: not plain-HTTP hosts). */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `checkout-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
