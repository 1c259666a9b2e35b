/**
 * Snapshots of each chart (charts/test/snapshots/): a change to a chart shows up as a readable diff
 * in review. Update them with `npx ava charts --update-snapshots` after checking the diff; CI
 * (CI=true) never writes them.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import test from 'ava';
import { Testing, type Chart } from 'cdk8s';
import { services } from '../../services/kit/src/topology';
import { AlertmanagerChart } from '../alertmanager';
import { CassandraChart } from '../cassandra';
import { ConfigChart } from '../config';
import { GrafanaChart } from '../grafana';
import { IngressChart } from '../ingress';
import { JaegerChart } from '../jaeger';
import { NamespaceChart } from '../namespace';
import { NetworkPoliciesChart } from '../network-policies';
import { PrometheusChart } from '../prometheus';
import { ServiceChart } from '../service';
import { StorefrontChart } from '../storefront';

type Scope = ReturnType<typeof Testing.app>;

/** Testing.synth writes nothing: an outdir that exists keeps Testing.app from making a temporary one per test. */
const app = () => Testing.app({ outdir: tmpdir() });

const charts: Array<[string, (scope: Scope) => Chart]> = [
  ['namespace', (scope) => new NamespaceChart(scope, 'test')],
  ['network policies', (scope) => new NetworkPoliciesChart(scope, 'test')],
  ['cassandra', (scope) => new CassandraChart(scope, 'test')],
  ['cassandra with one node', (scope) => new CassandraChart(scope, 'test', { replicas: 1 })],
  ...services.map((s): [string, (scope: Scope) => Chart] => [s.name, (scope) => new ServiceChart(scope, 'test', { service: s.name })]),
  ['storefront', (scope) => new StorefrontChart(scope, 'test')],
  ['prometheus', (scope) => new PrometheusChart(scope, 'test')],
  ['alertmanager', (scope) => new AlertmanagerChart(scope, 'test')],
  ['grafana', (scope) => new GrafanaChart(scope, 'test')],
  ['jaeger', (scope) => new JaegerChart(scope, 'test')],
  ['ingress', (scope) => new IngressChart(scope, 'test')],
  ['ingress with a host and TLS from cert-manager', (scope) => new IngressChart(scope, 'test', { host: 'shop.example.com', tls: true, clusterIssuer: 'letsencrypt' })],
];

for (const [name, build] of charts) {
  test(`${name} chart`, (t) => {
    t.snapshot(Testing.synth(build(app())));
  });
}

test('config chart (file contents as digests: the config-files test compares them with the repository)', (t) => {
  const manifests = Testing.synth(new ConfigChart(app(), 'test'));
  const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
  t.snapshot(
    manifests.map((m) =>
      m.metadata.name === 'product-store-config'
        ? m
        : { ...m, data: Object.fromEntries(Object.entries(m.data as Record<string, string>).map(([k, v]) => [k, digest(v)])) },
    ),
  );
});

test('ingress chart refuses TLS without a host', (t) => {
  t.throws(() => new IngressChart(app(), 'test', { tls: true }), { message: /tls needs a host/ });
});
