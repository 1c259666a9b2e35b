/**
 * Synthesizes the cluster manifests into k8s/ (committed; a test fails when they drift):
 *
 *   node --import tsx charts/main.ts
 *
 * One file per chart. `kubectl apply -f k8s/` reads the files in name order, so the chart ids are
 * numbered: the namespace first, then the configuration, then the workloads and the policies.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, YamlOutputType } from 'cdk8s';
import { services } from '../services/kit/src/topology';
import { AlertmanagerChart } from './alertmanager';
import { CassandraChart } from './cassandra';
import { ConfigChart } from './config';
import { GrafanaChart } from './grafana';
import { IngressChart } from './ingress';
import { JaegerChart } from './jaeger';
import { repoRoot } from './lib/config-files';
import { NamespaceChart } from './namespace';
import { NetworkPoliciesChart } from './network-policies';
import { PrometheusChart } from './prometheus';
import { ServiceChart } from './service';

export const outdir = join(repoRoot, 'k8s');

/** Every chart of the stack, in the order `kubectl apply -f k8s/` takes them. */
export function buildApp(dir: string): App {
  const app = new App({ outdir: dir, yamlOutputType: YamlOutputType.FILE_PER_CHART });
  new NamespaceChart(app, '00-namespace');
  new ConfigChart(app, '01-config');
  new NetworkPoliciesChart(app, '02-network-policies');
  new CassandraChart(app, '10-cassandra');
  services.forEach((s, i) => new ServiceChart(app, `${20 + i}-${s.name}`, { service: s.name }));
  new PrometheusChart(app, '30-prometheus');
  new AlertmanagerChart(app, '31-alertmanager');
  new GrafanaChart(app, '32-grafana');
  new JaegerChart(app, '33-jaeger');
  new IngressChart(app, '40-ingress');
  return app;
}

/** Writes the manifests into `dir`, removing whatever was there (synth never deletes stale files). */
export function synthesize(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  buildApp(dir).synth();
}

if (require.main === module) {
  synthesize(outdir);
  process.stdout.write(`wrote ${outdir}\n`);
}
