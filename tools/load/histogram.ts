/**
 * A latency histogram in the manner of HdrHistogram: fixed memory whatever the number of samples,
 * values kept with a bounded relative error. Values are recorded in microseconds; each power of two
 * is split into `subBuckets` linear buckets, so a recorded value is known to within 1/subBuckets of
 * itself (0.8 % with the default 128). The range is 1 µs to 2^maxExponent µs (about 19 hours with
 * the default 36); larger values are counted in the last bucket and still move `max`.
 *
 * Percentiles answer the upper edge of the bucket holding the rank (never below the true value,
 * clamped to the exact maximum), so a budget like `p99<250ms` is never passed by rounding down.
 */
export interface HistogramSnapshot {
  count: number;
  /** Milliseconds. */
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export class Histogram {
  readonly subBuckets: number;
  readonly maxExponent: number;
  private readonly counts: Float64Array;
  private total = 0;
  private sumMicros = 0;
  private minMicros = Infinity;
  private maxMicros = 0;

  constructor(options: { subBuckets?: number; maxExponent?: number } = {}) {
    this.subBuckets = options.subBuckets ?? 128;
    this.maxExponent = options.maxExponent ?? 36;
    if (!Number.isInteger(Math.log2(this.subBuckets))) throw new Error('subBuckets must be a power of two');
    // Values below subBuckets µs each get their own bucket; above, subBuckets per power of two.
    this.counts = new Float64Array(this.subBuckets + (this.maxExponent - Math.log2(this.subBuckets) + 1) * this.subBuckets);
  }

  /** The bucket of a value in µs. */
  private indexOf(micros: number): number {
    const v = Math.max(0, Math.floor(micros));
    if (v < this.subBuckets) return v;
    let exponent = Math.floor(Math.log2(v));
    // Math.log2 may round near powers of two.
    if (2 ** exponent > v) exponent--;
    else if (2 ** (exponent + 1) <= v) exponent++;
    const shift = exponent - Math.log2(this.subBuckets);
    const sub = Math.floor(v / 2 ** shift) - this.subBuckets; // 0 .. subBuckets-1
    const index = this.subBuckets + shift * this.subBuckets + sub;
    return Math.min(index, this.counts.length - 1);
  }

  /** The largest value (µs) that falls in a bucket. */
  private upperEdge(index: number): number {
    if (index < this.subBuckets) return index;
    const shift = Math.floor((index - this.subBuckets) / this.subBuckets);
    const sub = (index - this.subBuckets) % this.subBuckets;
    return (this.subBuckets + sub + 1) * 2 ** shift - 1;
  }

  /** Records a latency in milliseconds. */
  record(ms: number, times = 1): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const micros = ms * 1000;
    this.counts[this.indexOf(micros)] += times;
    this.total += times;
    this.sumMicros += micros * times;
    if (micros < this.minMicros) this.minMicros = micros;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  get count(): number {
    return this.total;
  }

  /** The value (ms) at or below which `p` percent of the recorded values lie; 0 when empty. */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    if (p <= 0) return this.minMicros / 1000;
    if (p >= 100) return this.maxMicros / 1000;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.upperEdge(i), this.maxMicros) / 1000;
    }
    return this.maxMicros / 1000;
  }

  get min(): number {
    return this.total ? this.minMicros / 1000 : 0;
  }

  get max(): number {
    return this.maxMicros / 1000;
  }

  get mean(): number {
    return this.total ? this.sumMicros / this.total / 1000 : 0;
  }

  /** Adds another histogram of the same shape (windows of a soak, several generators). */
  add(other: Histogram): void {
    if (other.subBuckets !== this.subBuckets || other.maxExponent !== this.maxExponent) throw new Error('histograms of different shapes');
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.sumMicros += other.sumMicros;
    this.minMicros = Math.min(this.minMicros, other.minMicros);
    this.maxMicros = Math.max(this.maxMicros, other.maxMicros);
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sumMicros = 0;
    this.minMicros = Infinity;
    this.maxMicros = 0;
  }

  snapshot(): HistogramSnapshot {
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return {
      count: this.total,
      min: round(this.min),
      mean: round(this.mean),
      p50: round(this.percentile(50)),
      p90: round(this.percentile(90)),
      p95: round(this.percentile(95)),
      p99: round(this.percentile(99)),
      p999: round(this.percentile(99.9)),
      max: round(this.max),
    };
  }
}

/** The exact percentile of a sorted array (nearest rank), the reference the histogram is tested against. */
export function exactPercentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  if (p <= 0) return sorted[0];
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
