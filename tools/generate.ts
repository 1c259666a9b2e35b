/**
 * `npm run generate`: writes every generated artifact from its source. Each has a drift test, so a
 * change to a source without regenerating fails `npm test`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeTarget, renderNginx, renderStorefrontNginx } from '../gateway/nginx';
import { composePrometheusTarget, renderPrometheus } from '../monitoring/prometheus/config';
import { repoRoot } from './cassandra/launcher';
import { outputs as composeOutputs } from '../compose/generate';
import { dashboards } from '../monitoring/grafana/src';
import { render as renderDashboard } from '../monitoring/grafana/generate';
import { render as renderOpenApi } from './openapi/generate';

export const artifacts: Array<{ path: string; render: () => string }> = [
  { path: 'docs/openapi.json', render: renderOpenApi },
  { path: 'compose/nginx/nginx.conf', render: () => renderNginx(composeTarget({ tls: false })) },
  { path: 'compose/nginx/nginx-tls.conf', render: () => renderNginx(composeTarget({ tls: true })) },
  { path: 'images/storefront/nginx.conf', render: renderStorefrontNginx },
  { path: 'compose/prometheus/prometheus.yml', render: () => renderPrometheus(composePrometheusTarget()) },
  ...composeOutputs,
  ...dashboards.map((d) => ({ path: `monitoring/grafana/dashboards/${d.uid}.json`, render: () => renderDashboard(d) })),
];

if (require.main === module) {
  for (const artifact of artifacts) {
    writeFileSync(join(repoRoot, artifact.path), artifact.render());
    process.stdout.write(`wrote ${artifact.path}\n`);
  }
}
