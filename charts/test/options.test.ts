/**
 * The chart options charts/main.ts does not use. The k8s/ drift test (drift.test.ts) covers every
 * chart as main.ts builds it; these check what an option changes, and that it changes nothing else.
 */
import { tmpdir } from 'node:os';
import test from 'ava';
import { Testing } from 'cdk8s';
import { CLUSTER_CASSANDRA_NODES } from '@product-store/deploy';
import { CassandraChart } from '../cassandra';
import { IngressChart, TLS_SECRET_NAME } from '../ingress';
import type { Doc } from './manifests';

/** Testing.synth writes nothing: an outdir that exists keeps Testing.app from making a temporary one per test. */
const app = () => Testing.app({ outdir: tmpdir() });

test('cassandra with one node: the StatefulSet runs one replica, join-in-turn knows it, and nothing else differs', (t) => {
  const three: Doc[] = Testing.synth(new CassandraChart(app(), 'test'));
  const one: Doc[] = Testing.synth(new CassandraChart(app(), 'test', { replicas: 1 }));
  const set = (docs: Doc[]) => docs.find((d) => d.kind === 'StatefulSet')!;
  t.is(set(three).spec.replicas, CLUSTER_CASSANDRA_NODES);
  t.is(set(one).spec.replicas, 1);
  set(one).spec.replicas = CLUSTER_CASSANDRA_NODES;
  // Node 0 without data asks the other nodes whether they run (its volume lost): there are none.
  const join = (docs: Doc[]) => set(docs).spec.template.spec.initContainers.find((c: Doc) => c.name === 'join-in-turn');
  t.regex(join(one).command[2], /^nodes=1$/m);
  t.regex(join(three).command[2], new RegExp(`^nodes=${CLUSTER_CASSANDRA_NODES}$`, 'm'));
  join(one).command[2] = join(one).command[2].replace(/^nodes=1$/m, `nodes=${CLUSTER_CASSANDRA_NODES}`);
  t.deepEqual(one, three);
});

test('ingress with a host and TLS from cert-manager: every Ingress on that host, with the certificate and the redirect; nothing else differs', (t) => {
  const plain: Doc[] = Testing.synth(new IngressChart(app(), 'test'));
  const host = 'shop.example.com';
  const secured: Doc[] = Testing.synth(new IngressChart(app(), 'test', { host, tls: true, clusterIssuer: 'letsencrypt' }));
  t.deepEqual(secured.map((d) => d.metadata.name), plain.map((d) => d.metadata.name));
  t.true(plain.length > 0);
  for (const ingress of secured) {
    const name = ingress.metadata.name;
    t.deepEqual(ingress.spec.tls, [{ hosts: [host], secretName: TLS_SECRET_NAME }], name);
    t.deepEqual(ingress.spec.rules.map((r: { host?: string }) => r.host), [host], name);
    t.is(ingress.metadata.annotations['nginx.ingress.kubernetes.io/ssl-redirect'], 'true', name);
    // cert-manager's ingress-shim issues the Secret once: one Ingress asks for it.
    t.is(ingress.metadata.annotations['cert-manager.io/cluster-issuer'], name === 'product-store-api' ? 'letsencrypt' : undefined, name);
    delete ingress.spec.tls;
    for (const rule of ingress.spec.rules) delete rule.host;
    delete ingress.metadata.annotations['nginx.ingress.kubernetes.io/ssl-redirect'];
    delete ingress.metadata.annotations['cert-manager.io/cluster-issuer'];
  }
  for (const ingress of plain) {
    t.is(ingress.spec.tls, undefined);
    t.false('nginx.ingress.kubernetes.io/ssl-redirect' in ingress.metadata.annotations);
  }
  t.deepEqual(secured, plain);
});

test('ingress chart refuses TLS without a host', (t) => {
  t.throws(() => new IngressChart(app(), 'test', { tls: true }), { message: /tls needs a host/ });
});

test('ingress chart refuses a cert-manager issuer without TLS', (t) => {
  t.throws(() => new IngressChart(app(), 'test', { host: 'shop.example.com', clusterIssuer: 'letsencrypt' }), { message: /clusterIssuer needs tls/ });
});
