/** The bench's result: its JSON document, the budget lines (met / missed), and the printed table. */
import type { CheckoutResult } from './checkout-load';
import type { Comparison, ProcessHealth } from './measure';
import { round } from './stats';

export interface PaxosResult {
  checkouts: number;
  casWrite: number;
  casRead: number;
  perCheckout: number;
  /** CAS operations per second counted while nothing was sent (background work, e.g. recovery passes). */
  backgroundPerSecond: number;
}

/** The open-loop checkouts again on a three-node Cassandra (or why they were not run). */
export type ThreeNodeCheckouts =
  | { nodes: 3; replicationFactor: 3; startS: number; commitlogSync: string; checkouts: CheckoutResult[] }
  | { skipped: string };

export interface BenchReport {
  version: 1;
  startedAt: string;
  durationS: number;
  mode: 'full' | 'quick';
  machine: { cpus: number; loadAverage: number[]; node: string; platform: string };
  method: {
    client: string;
    connections: number;
    sliceMs: number;
    warmupMs: number;
    rounds: number;
    gateway: string;
    /** Cassandra's commit log sync as the node reported it (system_views.settings): what the checkouts' latency includes. */
    commitlogSync?: string;
  };
  comparisons: Comparison[];
  checkouts: CheckoutResult[];
  /** The same checkouts on three nodes, replication factor 3 (absent in reports before 2026-12-06). */
  threeNodes?: ThreeNodeCheckouts;
  paxos?: PaxosResult;
  processes: Record<string, { afterThroughput?: ProcessHealth; afterCheckouts?: ProcessHealth }>;
  budgets: BudgetLine[];
}

export interface BudgetLine {
  name: string;
  /** The measured value, in `unit`. */
  value: number | null;
  limit: number;
  unit: string;
  /** `>=` when the value must reach the limit, `<=` when it must stay under it. */
  op: '>=' | '<=';
  met: boolean;
  detail: string;
}

const line = (name: string, value: number | undefined | null, op: '>=' | '<=', limit: number, unit: string, detail: string): BudgetLine => ({
  name,
  value: value ?? null,
  limit,
  unit,
  op,
  met: value !== undefined && value !== null && Number.isFinite(value) && (op === '>=' ? value >= limit : value <= limit),
  detail,
});

/** The issue's budget, evaluated from what was measured (a part not measured counts as missed). */
export function budgets(report: Omit<BenchReport, 'budgets'>): BudgetLine[] {
  const cmp = (name: string) => report.comparisons.find((c) => c.name === name);
  const trivial = cmp('trivial route');
  const koa = cmp('trivial route, Koa alone');
  const product = cmp('GET /products/{id}');
  const at20 = report.checkouts.find((c) => c.ratePerSecond === 20);
  const koaProduct = cmp('GET /products/{id}, Koa alone');
  // The larger of the two samples (after the throughput runs, after the checkouts) of every service process.
  const rss = Object.entries(report.processes).map(([name, p]) => {
    const samples = [p.afterThroughput?.rssMb, p.afterCheckouts?.rssMb].filter((mb): mb is number => mb !== undefined);
    return [name, samples.length ? Math.max(...samples) : undefined] as const;
  });
  const maxRss = rss.reduce<readonly [string, number | undefined]>((m, r) => ((r[1] ?? 0) > (m[1] ?? -1) ? r : m), ['', undefined]);
  return [
    line('kit app vs raw node:http, GET /health', trivial?.ratio, '>=', 0.6, '×', trivial ? `${trivial.sides[0].median} vs ${trivial.sides[1].median} req/s${koa ? `; Koa + @koa/router alone ${koa.ratio.toFixed(2)}×` : ''}` : 'not measured'),
    line('GET /products/{id} vs the driver alone', product?.ratio, '>=', 0.6, '×', product ? `${product.sides[0].median} req/s vs ${product.sides[1].median} op/s${koaProduct ? `; Koa + @koa/router alone on the same queries ${koaProduct.ratio.toFixed(2)}×` : ''}` : 'not measured'),
    line('Paxos operations per (add one line + checkout)', report.paxos?.perCheckout, '<=', 5, 'ops', report.paxos ? `${report.paxos.casWrite} CASWrite + ${report.paxos.casRead} CASRead over ${report.paxos.checkouts} checkouts` : 'not measured'),
    line('checkout p99 at 20 checkouts/s', at20?.latencyMs.p99, '<=', 250, 'ms', at20 ? `${at20.completed}/${at20.scheduled} created, p50 ${at20.latencyMs.p50} ms, p95 ${at20.latencyMs.p95} ms` : 'not measured'),
    line('largest service RSS after load', maxRss[1], '<=', 150, 'MB', maxRss[1] !== undefined ? `${maxRss[0]}` : 'not measured'),
  ];
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? pad(c, widths[i]) : lpad(c, widths[i]))).join('  ');
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

export function formatReport(report: BenchReport): string {
  const out: string[] = [];
  out.push(`bench (${report.mode}), ${report.machine.cpus} CPUs, load average ${report.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')} at start, ${report.durationS.toFixed(0)} s`);
  out.push('');
  out.push(
    table(
      ['comparison (A vs B)', 'A /s', 'B /s', 'ratio A/B', 'per round', 'p99 A ms', 'p99 B ms', 'errors'],
      report.comparisons.map((c) => [
        `${c.name}: ${c.sides[0].label} vs ${c.sides[1].label}`,
        c.sides[0].median.toFixed(0),
        c.sides[1].median.toFixed(0),
        c.ratio.toFixed(2),
        c.roundRatios.map((r) => r.toFixed(2)).join(' '),
        Math.max(...c.sides[0].p99Ms).toFixed(1),
        Math.max(...c.sides[1].p99Ms).toFixed(1),
        String(c.sides[0].errors + c.sides[1].errors),
      ]),
    ),
  );
  if (report.checkouts.length) {
    const three = report.threeNodes && 'checkouts' in report.threeNodes ? report.threeNodes : undefined;
    const rows = [...report.checkouts.map((c) => ['1 node', c] as const), ...(three?.checkouts ?? []).map((c) => ['3 nodes, RF 3', c] as const)];
    out.push('');
    out.push(
      table(
        ['checkouts (open loop)', 'Cassandra', 'scheduled', 'created', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'answers'],
        rows.map(([cassandra, c]) => [
          `${c.ratePerSecond}/s for ${c.seconds} s`,
          cassandra,
          String(c.scheduled),
          String(c.completed),
          c.throughput.toFixed(1),
          c.latencyMs.p50.toFixed(1),
          c.latencyMs.p95.toFixed(1),
          c.latencyMs.p99.toFixed(1),
          c.latencyMs.max.toFixed(1),
          Object.entries(c.statuses).map(([s, n]) => `${s}:${n}`).join(' '),
        ]),
      ),
    );
    if (report.method.commitlogSync) out.push(`checkouts ran on Cassandra's commit log sync ${report.method.commitlogSync}`);
    if (three) out.push(`three nodes: 127.0.0.1-3 on this machine (started in ${three.startS} s, commit log sync ${three.commitlogSync}); every write waits for two of three nodes`);
    else if (report.threeNodes && 'skipped' in report.threeNodes) out.push(`three nodes: not measured (${report.threeNodes.skipped})`);
  }
  if (report.paxos) {
    const p = report.paxos;
    out.push('');
    out.push(`Paxos per (add one line + checkout): ${p.perCheckout} (${p.casWrite} CASWrite + ${p.casRead} CASRead over ${p.checkouts} sequential checkouts; background ${p.backgroundPerSecond}/s)`);
  }
  const procs = Object.entries(report.processes);
  if (procs.length) {
    out.push('');
    const h = (p?: ProcessHealth) => (p ? [p.rssMb.toFixed(1), p.eventLoopP99Ms.toFixed(1), p.eventLoopMaxMs.toFixed(1)] : ['-', '-', '-']);
    out.push(
      table(
        ['process', 'RSS MB (throughput)', 'loop p99 ms', 'loop max ms', 'RSS MB (checkouts)', 'loop p99 ms', 'loop max ms'],
        procs.map(([name, p]) => [name, ...h(p.afterThroughput), ...h(p.afterCheckouts)]),
      ),
    );
  }
  out.push('');
  out.push('budget');
  for (const b of report.budgets) {
    const value = b.value === null ? 'n/a' : `${round(b.value, 2)}${b.unit === '×' ? '×' : ` ${b.unit}`}`;
    out.push(`  ${b.met ? 'met   ' : 'MISSED'}  ${b.name}: ${value} (budget ${b.op} ${b.limit}${b.unit === '×' ? '×' : ` ${b.unit}`}; ${b.detail})`);
  }
  return out.join('\n');
}
