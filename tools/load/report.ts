/** What the CLI prints: the live progress line and the summary. */
import type { BudgetResult } from './budget';
import { operations, type LoadSummary, type Progress, type Stats } from './types';

/** `60s`, `10m`, `1h`, `500ms`, `90` (seconds) as milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new Error(`cannot read the duration "${text}" (e.g. 30s, 10m, 1h)`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  const ms = Number(m[1]) * factor;
  if (!(ms > 0)) throw new Error(`the duration "${text}" must be above 0`);
  return ms;
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const statuses = (byStatus: Record<string, number>) =>
  Object.entries(byStatus)
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');

/** One line: `12s/60s sent 240 rps 20.0 in-flight 3 p99 45ms dropped 0 orders 11 non-2xx 429:3` */
export function progressLine(p: Progress): string {
  const nonSuccess = statuses(p.nonSuccess);
  return (
    `${Math.round(p.elapsedMs / 1000)}s/${Math.round(p.durationMs / 1000)}s sent ${p.sent} rps ${p.rps.toFixed(1)} in-flight ${p.inFlight} ` +
    `p99 ${ms(p.p99)}ms${p.dropped ? ` dropped ${p.dropped}` : ''} orders ${p.ordersPlaced}${p.outOfStock ? ` out-of-stock ${p.outOfStock}` : ''} ` +
    `non-2xx ${nonSuccess || 'none'}`
  );
}

function latencyRow(name: string, s: Stats): string {
  const l = s.latency;
  const cells = [name.padEnd(10), String(s.scheduled).padStart(8), String(l.count).padStart(8), ...[l.p50, l.p90, l.p95, l.p99, l.p999, l.max].map((v) => ms(v).padStart(8))];
  return `  ${cells.join(' ')}  ${statuses(s.byStatus)}`;
}

export function formatSummary(summary: LoadSummary, budgets: readonly BudgetResult[] = []): string {
  const out: string[] = [];
  const seconds = (v: number) => `${(v / 1000).toFixed(1)}s`;
  out.push(
    `load: ${summary.url}, ${summary.rate} requests/s for ${seconds(summary.durationMs)}${summary.interrupted ? ' (interrupted)' : ''}, ` +
      `${summary.customers.length} customers${summary.sourceAddresses.length ? ` on ${summary.sourceAddresses.length} source addresses` : ' on one source address'} ` +
      `(about ${summary.perAddressRate} requests/s per address)`,
  );
  out.push(
    `requests: ${summary.scheduled} scheduled, ${summary.sent} sent, ${summary.responses} answered, ${summary.dropped} dropped, ` +
      `${summary.networkErrors} without response; ${summary.followUps.sent} follow-ups; elapsed ${seconds(summary.elapsedMs)}`,
  );
  out.push(`throughput: ${summary.rps} responses/s`);
  out.push(`statuses: ${statuses(summary.byStatus) || 'none'}`);
  const errorShare = summary.sent + summary.dropped ? (summary.errors / (summary.sent + summary.dropped)) * 100 : 0;
  const errorKinds = Object.entries(summary.byStatus).filter(([s]) => !/^2\d\d$/.test(s));
  out.push(
    `errors: ${summary.errors} (${errorShare.toFixed(3)}%)${summary.dropped ? `, ${summary.dropped} dropped` : ''}` +
      `${errorKinds.length ? ` — non-2xx: ${errorKinds.map(([s, n]) => `${s}:${n}`).join(' ')}` : ''}${summary.expected ? ` (${summary.expected} of them expected: 409 OUT_OF_STOCK)` : ''}`,
  );
  out.push(`latency (ms, from the scheduled time):`);
  out.push(`  ${['operation'.padEnd(10), 'arrivals'.padStart(8), 'answers'.padStart(8), ...['p50', 'p90', 'p95', 'p99', 'p99.9', 'max'].map((h) => h.padStart(8))].join(' ')}  statuses`);
  out.push(latencyRow('all', summary));
  for (const op of operations) if (summary.byOperation[op].scheduled) out.push(latencyRow(op, summary.byOperation[op]));
  if (summary.followUps.sent) out.push(latencyRow('follow-ups', summary.followUps));
  const c = summary.checkouts;
  if (c.attempted || c.substituted) out.push(
    `checkouts: ${c.attempted} attempted, ${c.placed} orders placed, ${c.outOfStock} out of stock, ${c.retries} retries, ` +
      `${c.unresolved.length} unresolved, ${c.substituted} substituted by an add to cart (no cart had anything)`,
  );
  if (budgets.length) {
    out.push('budgets:');
    for (const b of budgets) out.push(`  ${b.ok ? 'met   ' : 'MISSED'} ${b.description}`);
  }
  return `${out.join('\n')}\n`;
}
