/**
 * Writes every dashboard to monitoring/grafana/dashboards/<uid>.json (2-space JSON, trailing newline)
 * and removes JSON files there that no dashboard produces. From the repository root:
 *
 *   node --import tsx monitoring/grafana/generate.ts
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dashboards, type Dashboard } from './src';

export const dashboardsDir = join(__dirname, 'dashboards');
export const dashboardPath = (uid: string): string => join(dashboardsDir, `${uid}.json`);
export const render = (d: Dashboard): string => `${JSON.stringify(d, null, 2)}\n`;

if (require.main === module) {
  mkdirSync(dashboardsDir, { recursive: true });
  const wanted = new Set(dashboards.map((d) => `${d.uid}.json`));
  for (const file of readdirSync(dashboardsDir)) {
    if (file.endsWith('.json') && !wanted.has(file)) {
      rmSync(join(dashboardsDir, file));
      process.stdout.write(`removed ${join(dashboardsDir, file)}\n`);
    }
  }
  for (const d of dashboards) {
    writeFileSync(dashboardPath(d.uid), render(d));
    process.stdout.write(`wrote ${dashboardPath(d.uid)}\n`);
  }
}
