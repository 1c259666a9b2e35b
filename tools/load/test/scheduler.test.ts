/**
 * The open-loop scheduler: arrivals at fixed times whatever the server does, latency from the due
 * time (so queueing counts), and a bounded number in flight with the rest counted as dropped.
 * Serial: one of them blocks the event loop on purpose, and the others time their dispatches.
 */
import { performance } from 'node:perf_hooks';
import test from 'ava';
import { runLoad } from '../generator';
import { arrivalsIn, runOpenLoop } from '../scheduler';
import { productIds, startFakeShop } from './fake-shop';

const anonymous = { browse: 1, view: 1 };

test.serial('arrivals are due at t0 + i/rate exactly, however long each takes', async (t) => {
  const offsets: number[] = [];
  const lags: number[] = [];
  const result = await runOpenLoop({
    rate: 50,
    durationMs: 1000,
    maxInFlight: 1000,
    issue: async (arrival) => {
      offsets.push(arrival.offset);
      lags.push(performance.now() - arrival.due);
      // Each takes far longer than the interval: a closed loop would send 2 in this second.
      await new Promise((r) => setTimeout(r, 400));
    },
  });
  t.is(result.scheduled, 50);
  t.is(result.dispatched, 50);
  t.is(result.dropped, 0);
  t.false(result.interrupted);
  t.deepEqual(offsets, Array.from({ length: 50 }, (_, i) => i * 20));
  t.true(Math.max(...lags) < 500, `dispatched within 500 ms of their due time (worst ${Math.max(...lags).toFixed(1)} ms)`);
  t.true(result.elapsedMs >= 980 + 400 - 5, 'the run waits for the last arrival to finish');
});

test.serial('arrivalsIn counts the arrivals due strictly before the end', (t) => {
  t.is(arrivalsIn(20, 1000), 20);
  t.is(arrivalsIn(3, 1000), 3);
  t.is(arrivalsIn(0.5, 3000), 2);
  t.is(arrivalsIn(1000, 10), 10);
  t.is(arrivalsIn(7, 0), 0);
});

test.serial('latency is measured from the scheduled time: a server that queues shows its queue, not its service time', async (t) => {
  // One request at a time, 100 ms each: 10 requests/s. Asked for 20/s over 1 s, arrival i (at 50i ms)
  // is answered near 100(i+1) ms, so its latency is about 100 + 50i ms: up to about 1 s.
  const shop = await startFakeShop({ serviceMs: 100, serial: true });
  try {
    const summary = await runLoad({ url: shop.url, rate: 20, durationMs: 1000, customers: 20, mix: anonymous, recordLimit: 100 });
    t.is(summary.scheduled, 20);
    t.is(summary.responses, 20);
    t.true(summary.latency.max >= 850, `max ${summary.latency.max} ms includes the wait in the server's queue`);
    t.true(summary.latency.p50 >= 400, `p50 ${summary.latency.p50} ms, where the service time is 100 ms`);
    t.true(summary.latency.min >= 99, `min ${summary.latency.min}`);
    const records = summary.records!;
    t.is(records.length, 20);
    // Open loop: every request left on time although the server fell behind.
    for (const r of records) {
      t.true(r.sentAt - r.scheduledAt < 500, `#${r.seq} sent ${(r.sentAt - r.scheduledAt).toFixed(1)} ms late`);
      t.true(Math.abs(r.latencyMs - (r.endedAt - r.scheduledAt)) < 0.01, 'latency = end - scheduled');
    }
    t.deepEqual(records.map((r) => r.scheduledAt).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i * 50));
    // The server saw them arrive over the second, not one after another's answer.
    const arrivals = shop.seen.map((s) => s.at - shop.seen[0].at);
    t.true(arrivals.at(-1)! < 1200, `last arrival ${arrivals.at(-1)!.toFixed(0)} ms after the first`);
  } finally {
    await shop.close();
  }
});

test.serial('a stall of the client itself counts too: arrivals due while its event loop was blocked carry the wait', async (t) => {
  const shop = await startFakeShop();
  try {
    // 300 ms of busy CPU 200 ms into the run: arrivals due then are sent late, and their latency says so.
    setTimeout(() => {
      const until = performance.now() + 300;
      while (performance.now() < until);
    }, 200);
    const summary = await runLoad({ url: shop.url, rate: 50, durationMs: 1000, customers: 5, mix: anonymous, recordLimit: 100 });
    t.is(summary.responses, 50);
    t.true(summary.latency.max >= 250, `max ${summary.latency.max} ms, from a server answering at once`);
    const late = summary.records!.filter((r) => r.sentAt - r.scheduledAt > 100);
    t.true(late.length >= 5, `${late.length} arrivals sent late`);
    for (const r of late) t.true(r.latencyMs >= r.sentAt - r.scheduledAt, 'the lateness is in the latency');
  } finally {
    await shop.close();
  }
});

test.serial('with maxInFlight reached, due arrivals are dropped and counted, never queued', async (t) => {
  const shop = await startFakeShop({ serviceMs: 500 });
  try {
    const summary = await runLoad({ url: shop.url, rate: 20, durationMs: 1000, customers: 4, mix: anonymous, maxInFlight: 2 });
    t.is(summary.scheduled, 20);
    t.true(summary.dropped > 0);
    t.is(summary.sent + summary.dropped, 20);
    t.is(summary.errors, summary.dropped, 'a drop is a failure');
    t.true(summary.sent <= 6, `at most 2 in flight for 1.5 s of 500 ms answers (${summary.sent} sent)`);
  } finally {
    await shop.close();
  }
});

test.serial('an abort stops the schedule: the summary covers what ran and says it was interrupted', async (t) => {
  const shop = await startFakeShop();
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const summary = await runLoad({ url: shop.url, rate: 20, durationMs: 10_000, customers: 2, mix: anonymous, signal: controller.signal });
    t.true(summary.interrupted);
    t.true(summary.scheduled >= 5 && summary.scheduled <= 15, `${summary.scheduled} scheduled`);
    t.is(summary.responses, summary.scheduled);
    t.truthy(productIds.length);
  } finally {
    await shop.close();
  }
});
