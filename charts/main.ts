/**
 * Synthesizes the cluster manifests into k8s/ (committed; a test fails when they drift):
 *
 *   node --import tsx charts/main.ts                   # npm run synth
 *   npm run synth -- --image-registry registry.example.com/shop --image-tag 3f2c1ab --outdir /tmp/k8s
 *
 * The committed k8s/ names the release images (`ghcr.io/product-store/<component>:<version>`); the
 * flags render the same manifests for the images a pipeline pushed elsewhere or under a commit's tag
 * (the one naming scheme: `<registry>/<component>:<tag>`, README "Images").
 *
 * One file per chart. `kubectl apply -f k8s/` reads the files in name order, so the chart ids are
 * numbered: the namespace first, then the configuration, then the workloads and the policies.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { App, YamlOutputType } from 'cdk8s';
import { images, imageOf, services } from '@product-store/deploy';
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
import { StorefrontChart } from './storefront';

export const outdir = join(repoRoot, 'k8s');

/** Every chart of the stack, in the order `kubectl apply -f k8s/` takes them. */
export function buildApp(dir: string): App {
  const app = new App({ outdir: dir, yamlOutputType: YamlOutputType.FILE_PER_CHART });
  new NamespaceChart(app, '00-namespace');
  new ConfigChart(app, '01-config');
  new NetworkPoliciesChart(app, '02-network-policies');
  new CassandraChart(app, '10-cassandra');
  services.forEach((s, i) => new ServiceChart(app, `${20 + i}-${s.name}`, { service: s.name }));
  new StorefrontChart(app, '24-storefront');
  new PrometheusChart(app, '30-prometheus');
  new AlertmanagerChart(app, '31-alertmanager');
  new GrafanaChart(app, '32-grafana');
  new JaegerChart(app, '33-jaeger');
  new IngressChart(app, '40-ingress');
  return app;
}

export interface ImageNaming {
  /** Where the project's own images are (default: the topology's registry). */
  registry?: string;
  /** Their tag (default: the release version). */
  tag?: string;
}

/**
 * Writes the manifests into `dir`, removing whatever was there (synth never deletes stale files), with
 * the project's own images named `<registry>/<component>:<tag>`.
 */
export function synthesize(dir: string, naming: ImageNaming = {}): void {
  rmSync(dir, { recursive: true, force: true });
  buildApp(dir).synth();
  const registry = naming.registry ?? images.registry;
  const tag = naming.tag ?? images.tag;
  if (registry === images.registry && tag === images.tag) return;
  const own = [...services.map((s) => s.name), 'cassandra' as const, 'storefront' as const];
  for (const file of readdirSync(dir)) {
    const path = join(dir, file);
    let text = readFileSync(path, 'utf8');
    for (const component of own) text = text.split(`image: ${imageOf(component)}\n`).join(`image: ${registry}/${component}:${tag}\n`);
    writeFileSync(path, text);
  }
}

if (require.main === module) {
  const { values } = parseArgs({ options: { 'image-registry': { type: 'string' }, 'image-tag': { type: 'string' }, outdir: { type: 'string' } } });
  const registry = values['image-registry']?.replace(/\/$/, '');
  const tag = values['image-tag'];
  if (registry !== undefined && !/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/.test(registry)) throw new Error(`--image-registry: not a registry path: ${registry}`);
  if (tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new Error(`--image-tag: not a valid image tag: ${tag}`);
  const dir = values.outdir ? resolve(values.outdir) : outdir;
  if (dir === outdir && (registry || tag)) throw new Error('k8s/ holds the release images; render other image names with --outdir DIR');
  synthesize(dir, { registry, tag });
  process.stdout.write(`wrote ${dir}\n`);
}
