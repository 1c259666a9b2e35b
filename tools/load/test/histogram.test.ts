import test from 'ava';
import { exactPercentile, Histogram } from '../histogram';

/** Deterministic samples shaped like latencies: log-normal around 20 ms, with a tail. */
function samples(n: number, seed = 42): number[] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s + 1) / (2 ** 31 + 1);
  };
  return Array.from({ length: n }, () => Math.exp(Math.log(20) + 1.2 * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand())));
}

test('percentiles are within 1/128 of the exact ones, never below them, and min, max, mean are exact', (t) => {
  const values = samples(100_000);
  const h = new Histogram();
  for (const v of values) h.record(v);
  const sorted = [...values].sort((a, b) => a - b);
  t.is(h.count, values.length);
  for (const p of [1, 10, 50, 90, 95, 99, 99.9, 99.99]) {
    const exact = exactPercentile(sorted, p);
    const got = h.percentile(p);
    t.true(got >= exact - 0.001, `p${p}: ${got} below the exact ${exact}`);
    t.true(got <= exact * (1 + 1 / 128) + 0.001, `p${p}: ${got} more than 1/128 above the exact ${exact}`);
  }
  t.true(Math.abs(h.min - sorted[0]) < 1e-9);
  t.true(Math.abs(h.max - sorted.at(-1)!) < 1e-9);
  t.true(Math.abs(h.mean - values.reduce((a, b) => a + b, 0) / values.length) < 1e-6);
  t.is(h.percentile(100), h.max);
});

test('small values (under 128 µs) are exact to the microsecond; values past the range still set max', (t) => {
  const h = new Histogram();
  for (const us of [5, 17, 100, 127]) h.record(us / 1000);
  t.is(h.percentile(50), 0.017);
  t.is(h.percentile(100), 0.127);
  const huge = new Histogram({ maxExponent: 20 });
  huge.record(10);
  huge.record(1e7);
  t.is(huge.max, 1e7);
  t.true(huge.percentile(99) <= 1e7);
  t.true(huge.percentile(99) > 1000, 'counted in the last bucket');
});

test('an empty histogram answers 0; negative and non-finite values are ignored', (t) => {
  const h = new Histogram();
  t.is(h.percentile(99), 0);
  t.is(h.mean, 0);
  h.record(-1);
  h.record(Number.NaN);
  t.is(h.count, 0);
  t.deepEqual(h.snapshot(), { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0 });
});

test('histograms add up (windows of a soak), and refuse another shape', (t) => {
  const values = samples(20_000, 7);
  const whole = new Histogram();
  const a = new Histogram();
  const b = new Histogram();
  values.forEach((v, i) => {
    whole.record(v);
    (i % 2 ? a : b).record(v);
  });
  a.add(b);
  t.deepEqual(a.snapshot(), whole.snapshot());
  t.throws(() => a.add(new Histogram({ subBuckets: 64 })));
  a.reset();
  t.is(a.count, 0);
});

test('memory is fixed: a million samples, the same buckets', (t) => {
  const h = new Histogram();
  for (let i = 0; i < 1_000_000; i++) h.record((i % 5000) / 10);
  t.is(h.count, 1_000_000);
  t.true(Math.abs(h.percentile(50) - 250) / 250 < 1 / 128 + 0.001);
});

test('exactPercentile is the nearest rank', (t) => {
  const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  t.is(exactPercentile(sorted, 50), 5);
  t.is(exactPercentile(sorted, 90), 9);
  t.is(exactPercentile(sorted, 99), 10);
  t.is(exactPercentile(sorted, 0), 1);
  t.is(exactPercentile([], 50), 0);
});
