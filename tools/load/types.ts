/** The shapes the load generator's API speaks; see generator.ts for what they mean in a run. */
import type { Histogram, HistogramSnapshot } from './histogram';

/** The shop's operations, as the reference shops weigh them. */
export const operations = ['browse', 'view', 'cart', 'add', 'checkout'] as const;
export type Operation = (typeof operations)[number];
export type Mix = Record<Operation, number>;

/** browse 10, view a product 5, view the cart 3, add to cart 2, checkout 1. */
export const defaultMix: Mix = { browse: 10, view: 5, cart: 3, add: 2, checkout: 1 };

/** What happened to one request. */
export interface RequestRecord {
  /** The arrival's number in the schedule (follow-ups and retries share their arrival's). */
  seq: number;
  op: Operation | 'clear-cart' | 'relogin';
  method: string;
  /** The route template: `/products/:id`, never the id. */
  route: string;
  /** Milliseconds since the run started: when the request was due, sent, answered. */
  scheduledAt: number;
  sentAt: number;
  endedAt: number;
  /** From `scheduledAt` to the end of the response (retries: from their own send). */
  latencyMs: number;
  /** The HTTP status, or 0 when there was none (see `error`). */
  status: number;
  /** `timeout`, `ECONNREFUSED`, `ECONNRESET`, ... when no response came. */
  error?: string;
  /** The problem+json `code` of a non-2xx answer, when it had one. */
  code?: string;
  /** An outcome the contract promises under load, not a failure (a checkout's 409 OUT_OF_STOCK or 422 CART_EMPTY). */
  expected?: boolean;
  /** Which attempt of a checkout (0 the first). */
  attempt: number;
  customer: number;
  sourceAddress?: string;
  requestId: string;
}

/** Counters and latencies of a set of requests (the whole run, or one operation). */
export interface Stats {
  /** Arrivals due in the schedule. */
  scheduled: number;
  /** Requests sent (retries included). */
  sent: number;
  /** Requests answered with an HTTP status. */
  responses: number;
  /** Arrivals not sent because `maxInFlight` requests were in flight. */
  dropped: number;
  /** Requests without a response: refused, reset, timed out. */
  networkErrors: number;
  /** Failures: non-2xx answers other than expected outcomes, network errors and drops. */
  errors: number;
  /** Expected business outcomes (a checkout's 409 OUT_OF_STOCK or 422 CART_EMPTY). */
  expected: number;
  /** Responses by status (`"200"`, `"429"`), plus network errors by code (`"timeout"`, `"ECONNRESET"`). */
  byStatus: Record<string, number>;
  /** Responses per second over the run: the schedule's length, or until the last answer when later. */
  rps: number;
  /** Latency of every response (ms), from the scheduled time. */
  latency: HistogramSnapshot;
  /** The histogram itself, for other percentiles and for merging windows (left out of JSON). */
  histogram: Histogram;
}

/** An order placed during the run, as its customer saw it acknowledged. */
export interface PlacedOrder {
  orderId: string;
  idempotencyKey: string;
  customer: number;
  email: string;
  status: number;
  items: Array<{ product_id: string; quantity: number }>;
  total_cents: number;
  /** Attempts it took (1: the first one was answered 201). */
  attempts: number;
}

/** A checkout whose outcome the client never learnt (every attempt failed without a definite answer). */
export interface UnresolvedCheckout {
  idempotencyKey: string;
  customer: number;
  email: string;
  attempts: number;
  lastStatus: number;
  lastError?: string;
}

export interface LoadCustomer {
  index: number;
  email: string;
  password: string;
  /** The source address its connections are bound to (none: the system's choice). */
  sourceAddress?: string;
  token?: string;
  userId?: string;
}

export interface LoadProduct {
  id: string;
  /** The stock when the run began (known for products the run created; read otherwise). */
  initialStock: number;
  created: boolean;
}

export interface LoadSummary extends Stats {
  url: string;
  startedAt: string;
  endedAt: string;
  /** The schedule: target rate (requests/s) and length. */
  rate: number;
  durationMs: number;
  /** From the first arrival until the last response (ms). */
  elapsedMs: number;
  interrupted: boolean;
  byOperation: Record<Operation, Stats>;
  /** Requests outside the schedule: emptying a cart after OUT_OF_STOCK, signing in again. */
  followUps: Stats;
  checkouts: {
    attempted: number;
    placed: number;
    outOfStock: number;
    /** A checkout drawn when no customer had anything in the cart: it added to a cart instead. */
    substituted: number;
    retries: number;
    unresolved: UnresolvedCheckout[];
  };
  orders: PlacedOrder[];
  customers: LoadCustomer[];
  products: LoadProduct[];
  /** The source addresses used, and the most arrivals per second any one of them carried. */
  sourceAddresses: string[];
  perAddressRate: number;
  /** Setup requests (sign-ups, sign-ins, products), not in the measured counters. */
  setup: { requests: number; byStatus: Record<string, number>; durationMs: number };
  /** Per-request records, when asked for (`recordLimit`), oldest first. */
  records?: RequestRecord[];
  /** Records not kept because `recordLimit` was reached. */
  recordsOmitted?: number;
}

export interface Progress {
  elapsedMs: number;
  durationMs: number;
  scheduled: number;
  sent: number;
  responses: number;
  inFlight: number;
  dropped: number;
  /** Responses per second over the last progress interval. */
  rps: number;
  /** p99 latency so far (ms). */
  p99: number;
  /** Non-2xx answers and network errors so far, by status or code. */
  nonSuccess: Record<string, number>;
  ordersPlaced: number;
  outOfStock: number;
}
