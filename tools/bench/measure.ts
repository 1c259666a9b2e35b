/**
 * The bench's measurement functions: load clients in their own processes, side-by-side comparisons
 * that alternate the sides round by round (so a noisy neighbour hits both), and scrapes of Prometheus
 * text (the services' /metrics, Cassandra's JMX exporter).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { HttpLoadResult, HttpLoadSpec } from './http-load';
import type { CqlLoadResult, CqlLoadSpec } from './cql-load';
import type { CheckoutResult, CheckoutSpec } from './checkout-load';
import type { WorkerSpec } from './worker';
import { ratio, round } from './stats';

const worker = join(__dirname, 'worker.ts');

/** Runs one load client in a child process (never in the process of a server it measures). */
export function runWorker(spec: { kind: 'http' } & HttpLoadSpec): Promise<HttpLoadResult>;
export function runWorker(spec: { kind: 'cql' } & CqlLoadSpec): Promise<CqlLoadResult>;
export function runWorker(spec: { kind: 'checkout' } & CheckoutSpec): Promise<CheckoutResult>;
export function runWorker(spec: WorkerSpec): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last) resolve(JSON.parse(last));
      else reject(new Error(`load worker (${spec.kind}) exited ${code}: ${err.trim().slice(-2000)}`));
    });
  });
}

/** One side of a comparison: how to run one slice of load against it, giving operations per second. */
export interface Side {
  label: string;
  /** Runs one slice of `sliceMs` (after `warmupMs`) and returns what the client measured. */
  run(sliceMs: number, warmupMs: number): Promise<{ perSecond: number; p99Ms: number; errors: number; detail?: unknown }>;
}

export interface SideResult {
  label: string;
  /** Operations (requests or driver operations) per second, one per round. */
  perSecond: number[];
  median: number;
  p99Ms: number[];
  errors: number;
}

export interface Comparison {
  name: string;
  /** What the ratio means, e.g. "kit app / raw node:http". */
  ratioOf: string;
  sides: SideResult[];
  /** sides[0] / sides[1], from the medians of the rounds. */
  ratio: number;
  /** sides[0] / sides[1] within each round (the sides ran back to back). */
  roundRatios: number[];
  connections: number;
  sliceMs: number;
  rounds: number;
}

export const median = (values: number[]): number => {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

export interface CompareOptions {
  rounds: number;
  sliceMs: number;
  warmupMs: number;
  connections: number;
  log?: (line: string) => void;
}

/**
 * Measures the sides in turn, `rounds` times (A B, B A, A B, ...: each side goes first as often), with
 * the same client, connections and slice length. The ratio is that of the medians.
 */
export async function compare(name: string, ratioOf: string, sides: Side[], options: CompareOptions): Promise<Comparison> {
  const results: SideResult[] = sides.map((s) => ({ label: s.label, perSecond: [], median: 0, p99Ms: [], errors: 0 }));
  for (let r = 0; r < options.rounds; r++) {
    const order = sides.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const m = await sides[i].run(options.sliceMs, options.warmupMs);
      results[i].perSecond.push(round(m.perSecond, 1));
      results[i].p99Ms.push(m.p99Ms);
      results[i].errors += m.errors;
    }
    options.log?.(`${name} round ${r + 1}/${options.rounds}: ${results.map((s) => `${s.label} ${s.perSecond[r].toFixed(0)}/s`).join(', ')}`);
  }
  for (const s of results) s.median = round(median(s.perSecond), 1);
  return {
    name,
    ratioOf,
    sides: results,
    ratio: ratio(results[0].median, results[1]?.median ?? 0),
    roundRatios: results[0].perSecond.map((v, r) => ratio(v, results[1]?.perSecond[r] ?? 0)),
    connections: options.connections,
    sliceMs: options.sliceMs,
    rounds: options.rounds,
  };
}

/** A side that is an HTTP endpoint, loaded by the bench's keep-alive client. */
export function httpSide(label: string, spec: Omit<HttpLoadSpec, 'durationMs' | 'warmupMs'>): Side {
  return {
    label,
    async run(sliceMs, warmupMs) {
      const r = await runWorker({ kind: 'http', ...spec, durationMs: sliceMs, warmupMs });
      const ok = Object.entries(r.statuses).filter(([s]) => Number(s) < 400).reduce((n, [, c]) => n + c, 0);
      const bad = r.requests - ok;
      return { perSecond: ok / r.seconds, p99Ms: r.latencyMs.p99, errors: r.errors + bad, detail: r };
    },
  };
}

/** A side that is cassandra-driver alone running a route's queries. */
export function cqlSide(label: string, spec: Omit<CqlLoadSpec, 'durationMs' | 'warmupMs'>): Side {
  return {
    label,
    async run(sliceMs, warmupMs) {
      const r = await runWorker({ kind: 'cql', ...spec, durationMs: sliceMs, warmupMs });
      return { perSecond: r.ops, p99Ms: r.latencyMs.p99, errors: r.errors, detail: r };
    },
  };
}

export type Samples = Array<{ name: string; labels: Record<string, string>; value: number }>;

/** Parses the Prometheus text format (names, labels, values; comments and timestamps ignored). */
export function parsePrometheus(text: string): Samples {
  const out: Samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

export async function scrape(url: string): Promise<Samples> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return parsePrometheus(await res.text());
}

export function sample(samples: Samples, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.length ? found.reduce((n, s) => n + s.value, 0) : undefined;
}

/** Cassandra's coordinator counts of Paxos rounds: CASWrite (conditional writes) and CASRead (SERIAL reads). */
export interface CasCounts {
  casWrite: number;
  casRead: number;
}

/** From the JMX exporter on Cassandra's metrics port (cassandra_client_requests_total{operation}). */
export async function casCounts(metricsUrl: string): Promise<CasCounts> {
  const s = await scrape(metricsUrl);
  const casWrite = sample(s, 'cassandra_client_requests_total', { operation: 'CASWrite' });
  const casRead = sample(s, 'cassandra_client_requests_total', { operation: 'CASRead' });
  if (casWrite === undefined || casRead === undefined) throw new Error(`${metricsUrl} has no cassandra_client_requests_total{operation="CASWrite"|"CASRead"}`);
  return { casWrite, casRead };
}

export interface ProcessHealth {
  rssMb: number;
  /** Event-loop delay since the previous scrape (prom-client resets its monitor on every scrape). */
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
}

/** RSS and event-loop delay of a kit service, from its own /metrics (process_* and nodejs_eventloop_lag_*). */
export async function processHealth(serviceUrl: string): Promise<ProcessHealth> {
  const s = await scrape(`${serviceUrl}/metrics`);
  const ms = (name: string) => round((sample(s, name) ?? 0) * 1000, 2);
  return {
    rssMb: round((sample(s, 'process_resident_memory_bytes') ?? 0) / 2 ** 20, 1),
    eventLoopP50Ms: ms('nodejs_eventloop_lag_p50_seconds'),
    eventLoopP99Ms: ms('nodejs_eventloop_lag_p99_seconds'),
    eventLoopMaxMs: ms('nodejs_eventloop_lag_max_seconds'),
  };
}
