/**
 * Open-loop checkouts: arrivals scheduled at fixed intervals (rate per second) for a fixed time,
 * whatever the answers do. Each arrival adds one line to a cart (POST /cart/items) and checks out
 * (POST /orders under a new Idempotency-Key). Its latency runs from its *scheduled* time to the order's
 * answer, so a slow server cannot slow the client down and hide its own queueing (no coordinated
 * omission). A customer (token) does one checkout at a time; an arrival that finds every customer busy
 * waits for one, and that wait counts in its latency.
 */
import { Agent, request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { summarize, type LatencySummary } from './stats';

export interface CheckoutSpec {
  /** Where POST /cart/items goes (the gateway, or cart-service directly). */
  cartUrl: string;
  /** Where POST /orders goes (the gateway, or order-service directly). */
  ordersUrl: string;
  /** Bearer tokens of distinct customers. */
  tokens: string[];
  productIds: string[];
  ratePerSecond: number;
  durationMs: number;
  /** Source addresses, one per customer in turn (the gateway limits requests per address). */
  localAddresses?: string[];
  /** Give up on one request after this long (counted as an error). @default 10 s */
  requestTimeoutMs?: number;
}

export interface CheckoutResult {
  ratePerSecond: number;
  scheduled: number;
  completed: number;
  /** Checkouts answered 201 per second of the run. */
  throughput: number;
  seconds: number;
  /** Answers of POST /orders (and of POST /cart/items under "cart:"), by status; "error" for no answer. */
  statuses: Record<string, number>;
  /** Latency of every arrival, from its scheduled time to its last answer, whatever the status. */
  latencyMs: LatencySummary;
  /** How late the scheduler fired arrivals (client health: should stay near 0). */
  schedulerLagMs: LatencySummary;
}

function call(agent: Agent, url: string, method: string, token: string, body: string | undefined, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, {
      method,
      agent,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers },
      timeout: timeoutMs,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

export async function runCheckouts(spec: CheckoutSpec): Promise<CheckoutResult> {
  const timeoutMs = spec.requestTimeoutMs ?? 10_000;
  const customers = spec.tokens.map((token, i) => ({
    token,
    agent: new Agent({ keepAlive: true, maxSockets: 2, ...(spec.localAddresses?.length ? { localAddress: spec.localAddresses[i % spec.localAddresses.length] } : {}) }),
  }));
  const free = [...customers];
  const waiting: Array<(c: (typeof customers)[number]) => void> = [];
  const acquire = () => new Promise<(typeof customers)[number]>((resolve) => {
    const c = free.pop();
    if (c) resolve(c);
    else waiting.push(resolve);
  });
  const release = (c: (typeof customers)[number]) => {
    const next = waiting.shift();
    if (next) next(c);
    else free.push(c);
  };

  const total = Math.max(1, Math.round((spec.ratePerSecond * spec.durationMs) / 1000));
  const interval = 1000 / spec.ratePerSecond;
  const latencies: number[] = [];
  const lags: number[] = [];
  const statuses: Record<string, number> = {};
  const count = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);
  let created = 0;
  const inFlight: Promise<void>[] = [];

  const arrival = async (scheduled: number, index: number) => {
    const customer = await acquire();
    try {
      const product = spec.productIds[index % spec.productIds.length];
      const added = await call(customer.agent, `${spec.cartUrl}/cart/items`, 'POST', customer.token, JSON.stringify({ product_id: product, quantity: 1 }), {}, timeoutMs);
      if (added !== 201) {
        count(`cart:${added || 'error'}`);
        return;
      }
      const status = await call(customer.agent, `${spec.ordersUrl}/orders`, 'POST', customer.token, undefined, { 'Idempotency-Key': randomUUID() }, timeoutMs);
      count(String(status || 'error'));
      if (status === 201) created++;
    } finally {
      // Every arrival's latency counts, answered 201 or not: failures must not make the tail look short.
      latencies.push(performance.now() - scheduled);
      release(customer);
    }
  };

  const start = performance.now() + 50;
  await new Promise<void>((done) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        const scheduled = start + next * interval;
        lags.push(now - scheduled);
        inFlight.push(arrival(scheduled, next));
        next++;
      }
      if (next >= total) return done();
      setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    setTimeout(tick, 50);
  });
  await Promise.all(inFlight);
  for (const c of customers) c.agent.destroy();
  const seconds = spec.durationMs / 1000;
  return {
    ratePerSecond: spec.ratePerSecond,
    scheduled: total,
    completed: created,
    throughput: created / seconds,
    seconds,
    statuses,
    latencyMs: summarize(latencies),
    schedulerLagMs: summarize(lags),
  };
}
