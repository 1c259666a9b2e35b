/**
 * Checkout, cancellation and their recovery: what they share, and how they fit together.
 *
 * A checkout is a small saga over three services. Its commit point is one conditional update of the
 * checkout's `state` from `reserving` to `confirmed`; recovery, which fails checkouts that have been
 * `reserving` for too long, uses the same conditional update, so exactly one of them wins:
 *
 * - before the commit point, a failure leaves stock reserved at most until recovery releases it;
 * - after it, the order exists: recovery finishes what the request did not (the order row, the stored
 *   response for the Idempotency-Key, removing the lines from the cart).
 *
 * The order id doubles as the reservation id at `backend`, whose ledger applies a reservation and
 * its release at most once per product, and refuses a reservation that arrives after its release.
 *
 * placement.ts places orders (POST /orders), cancellation.ts cancels them, recovery.ts finishes what
 * either left undone; all three work through one OrderRepository (repository.ts), whose work queue
 * records what recovery must find.
 */
import type { Logger, Metrics } from '@product-store/kit';
import { Cancellation } from './cancellation';
import type { Dependencies } from './clients';
import { Placement } from './placement';
import { Recovery } from './recovery';
import type { OrderRepository } from './repository';

export interface CheckoutSettings {
  /** A checkout still `reserving` after this long is failed by recovery, and its stock released. */
  checkoutTimeoutMs: number;
  /** How far back recovery looks for unfinished work. */
  recoveryWindowHours: number;
  /** How long a duplicate request waits for the first one's response before answering 409. */
  idempotencyWaitMs: number;
  /**
   * How long POST /orders waits for its checkout before answering 503 CHECKOUT_PENDING with
   * Retry-After: the checkout goes on, and a retry under the same Idempotency-Key gets its outcome.
   * @default CHECKOUT_RESPONSE_DEADLINE_MS (10 s); without it (tests) the request waits for the end.
   */
  responseDeadlineMs?: number;
}

/** An answer to POST /orders: what the key's record stores and replays. */
export interface Outcome {
  status: number;
  body: unknown;
}

/** What the routes and the recovery worker share: one repository (one work-queue writer per process). */
export interface CheckoutParts {
  repo: OrderRepository;
  placement: Placement;
  cancellation: Cancellation;
  recovery: Recovery;
}

export function checkoutParts(repo: OrderRepository, deps: Dependencies, settings: CheckoutSettings, log: Logger, metrics: Metrics): CheckoutParts {
  return {
    repo,
    placement: new Placement(repo, deps, settings, log, metrics),
    cancellation: new Cancellation(repo, deps, log, metrics),
    recovery: new Recovery(repo, deps, settings, log, metrics),
  };
}
