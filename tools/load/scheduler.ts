/**
 * The open-loop scheduler: arrivals at fixed times (t0, t0 + 1/rate, t0 + 2/rate, ...) whatever the
 * server does, so a slow server cannot slow the client down and hide its own slowness (coordinated
 * omission). Each arrival is handed over with its due time; whoever issues the request measures
 * latency from that due time, so time spent waiting for the timer, the event loop or a socket counts.
 *
 * When `maxInFlight` arrivals are still running, a due arrival is dropped (and reported) rather than
 * queued without bound.
 */
import { performance } from 'node:perf_hooks';

export interface Arrival {
  seq: number;
  /** When it was due, on the `performance.now()` clock. */
  due: number;
  /** When it was due, in ms since the first arrival. */
  offset: number;
}

export interface OpenLoopOptions {
  /** Arrivals per second. */
  rate: number;
  durationMs: number;
  maxInFlight: number;
  signal?: AbortSignal;
  issue: (arrival: Arrival) => Promise<void>;
  onDrop?: (arrival: Arrival) => void;
  /** Called once when the first arrival is due (t0 on the performance clock). */
  onStart?: (t0: number) => void;
}

export interface OpenLoopResult {
  scheduled: number;
  dispatched: number;
  dropped: number;
  /** The first arrival's due time, on the performance clock. */
  t0: number;
  /** From t0 until the last arrival finished. */
  elapsedMs: number;
  /** Whether the signal stopped the schedule early. */
  interrupted: boolean;
  /** The most a dispatch lagged behind its due time (ms): the client's own health. */
  maxDispatchLagMs: number;
}

/** The number of arrivals a schedule holds: those due strictly before its end. */
export function arrivalsIn(rate: number, durationMs: number): number {
  return Math.max(0, Math.ceil((durationMs * rate) / 1000 - 1e-9));
}

export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { rate, durationMs, maxInFlight, signal } = options;
  if (!(rate > 0)) throw new Error('rate must be above 0');
  if (!(maxInFlight >= 1)) throw new Error('maxInFlight must be at least 1');
  const interval = 1000 / rate;
  const total = arrivalsIn(rate, durationMs);
  const running = new Set<Promise<void>>();
  let seq = 0;
  let dispatched = 0;
  let dropped = 0;
  let maxDispatchLagMs = 0;
  const t0 = performance.now();
  options.onStart?.(t0);

  const dispatch = (arrival: Arrival) => {
    if (running.size >= maxInFlight) {
      dropped++;
      options.onDrop?.(arrival);
      return;
    }
    dispatched++;
    maxDispatchLagMs = Math.max(maxDispatchLagMs, performance.now() - arrival.due);
    const p: Promise<void> = options.issue(arrival).catch(() => undefined).finally(() => running.delete(p));
    running.add(p);
  };

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    if (signal?.aborted) return finish();
    signal?.addEventListener('abort', finish);
    const tick = () => {
      timer = undefined;
      if (signal?.aborted) return;
      const now = performance.now();
      while (seq < total && t0 + seq * interval <= now) {
        const offset = seq * interval;
        dispatch({ seq, due: t0 + offset, offset });
        seq++;
      }
      if (seq >= total) return finish();
      timer = setTimeout(tick, Math.max(0, t0 + seq * interval - performance.now()));
    };
    tick();
  });
  while (running.size) await Promise.allSettled([...running]);
  return { scheduled: seq, dispatched, dropped, t0, elapsedMs: performance.now() - t0, interrupted: seq < total, maxDispatchLagMs };
}
