/**
 * Network policies: nothing enters or leaves a Product Store pod unless a flow below allows it.
 *
 * Every flow comes from where the stack states it, so a new dependency shows up here by itself:
 * - the services' environment: every `http://<component>:<port>` value (BACKEND_URL,
 *   CART_SERVICE_URL, OTEL_EXPORTER_OTLP_ENDPOINT) and CASSANDRA_HOST/CASSANDRA_PORT;
 * - the cluster's prometheus.yml: every scrape target (services' pods, Cassandra's metrics,
 *   Alertmanager, the ingress-nginx controller's metrics);
 * - Grafana's provisioned datasources (Prometheus, Jaeger);
 * - the public routes: the ingress-nginx controller to each routed service and to the storefront;
 * - Cassandra's nodes to each other (gossip, and CQL: a new node waits for the one before it), and Alertmanager to the Telegram Bot API (HTTPS to
 *   public addresses);
 * - every pod to the cluster DNS in kube-system.
 * Kubelet probes and `kubectl port-forward` do not pass through these policies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import { parse } from 'yaml';
import { kubernetesPrometheusTarget, scrapeJobs } from '../monitoring/prometheus/config';
import { gatewayRoutes, NAMESPACE, configDefaults, type Component } from '@product-store/deploy';
import { rewrittenPaths, storefrontPath } from './ingress';
import { repoRoot } from './lib/config-files';
import { ingressNginx } from './lib/ingress-nginx';
import { clusterComponent, clusterComponents, ProductStoreChart, selectorLabels } from './lib/workload';

/** One end of a flow. */
export type Peer =
  | { readonly component: string }
  | { readonly ingressController: true }
  | { readonly internet: true }
  | { readonly clusterDns: true };

export interface Flow {
  readonly from: Peer;
  readonly to: Peer;
  readonly port: number;
  readonly protocol?: 'TCP' | 'UDP';
  readonly why: string;
}

const inCluster = (name: string) => clusterComponents.some((c) => c.name === name);
const portOf = (component: string, portName: string) => {
  const port = clusterComponent(component).ports.find((p) => p.name === portName);
  if (!port) throw new Error(`${component} has no port ${portName}`);
  return port.port;
};

/** `http://<component>:<port>` values of a component's environment. */
function environmentFlows(component: Component): Flow[] {
  const flows: Flow[] = [];
  for (const [name, source] of Object.entries(component.env)) {
    if (!('value' in source) || !/^https?:\/\//.test(source.value)) continue;
    const url = new URL(source.value);
    if (inCluster(url.hostname)) flows.push({ from: { component: component.name }, to: { component: url.hostname }, port: Number(url.port), why: name });
  }
  const cassandraHost = component.env.CASSANDRA_HOST;
  const cassandraPort = component.env.CASSANDRA_PORT;
  if (cassandraHost && 'config' in cassandraHost && cassandraPort && 'config' in cassandraPort) {
    flows.push({
      from: { component: component.name },
      to: { component: configDefaults[cassandraHost.config] },
      port: Number(configDefaults[cassandraPort.config]),
      why: 'CASSANDRA_HOST',
    });
  }
  return flows;
}

/** Every target of the cluster's prometheus.yml but Prometheus itself. */
function scrapeFlows(): Flow[] {
  const target = kubernetesPrometheusTarget(NAMESPACE);
  const suffix = `.${NAMESPACE}.svc.cluster.local`;
  return scrapeJobs.flatMap((job): Flow[] => {
    const scrape = target.scrape(job);
    const [host, port] = 'dns' in scrape ? [scrape.dns.name, scrape.dns.port] : [scrape.addresses[0].split(':')[0], Number(scrape.addresses[0].split(':')[1])];
    if (host === 'localhost') return [];
    const why = `prometheus job ${job}`;
    const from = { component: 'prometheus' };
    if (host.endsWith(`.${ingressNginx.namespace}.svc.cluster.local`)) return [{ from, to: { ingressController: true }, port, why }];
    const service = host.endsWith(suffix) ? host.slice(0, -suffix.length) : host;
    const component = service.replace(/-pods$/, '');
    if (!inCluster(component)) throw new Error(`prometheus job ${job}: ${host} is no component of the cluster`);
    return [{ from, to: { component }, port, why }];
  });
}

/** Grafana's provisioned datasources. */
function datasourceFlows(): Flow[] {
  const grafana = clusterComponent('grafana');
  const file = grafana.configFiles.find((f) => f.source.endsWith('datasources.yaml'));
  if (!file) throw new Error('grafana: no datasources.yaml in the spec');
  const { datasources } = parse(readFileSync(join(repoRoot, file.source), 'utf8')) as { datasources: Array<{ name: string; url: string }> };
  return datasources.map((d) => {
    const url = new URL(d.url);
    return { from: { component: 'grafana' }, to: { component: url.hostname }, port: Number(url.port), why: `datasource ${d.name}` };
  });
}

function publicFlows(): Flow[] {
  const routed = [...new Set([...gatewayRoutes, ...rewrittenPaths, storefrontPath].map((r) => r.service))];
  return routed.map((service) => ({ from: { ingressController: true }, to: { component: service }, port: portOf(service, 'http'), why: 'public routes' }));
}

export const flows: readonly Flow[] = [
  ...clusterComponents.flatMap(environmentFlows),
  ...scrapeFlows(),
  ...datasourceFlows(),
  ...publicFlows(),
  { from: { component: 'cassandra' }, to: { component: 'cassandra' }, port: clusterComponent('cassandra').ports.find((p) => p.name === 'intra-node')!.port, why: 'gossip between nodes' },
  // A new node's init container `join-in-turn` waits until the node before it answers CQL (charts/cassandra.ts).
  { from: { component: 'cassandra' }, to: { component: 'cassandra' }, port: portOf('cassandra', 'cql'), why: 'a new node waits for the one before it' },
  { from: { component: 'alertmanager' }, to: { internet: true }, port: 443, why: 'Telegram Bot API' },
];

/** Non-public ranges, left out of "the internet". */
const privateRanges = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'];

function peer(p: Peer): k8s.NetworkPolicyPeer {
  if ('component' in p) return { podSelector: { matchLabels: selectorLabels(p.component) } };
  if ('ingressController' in p) {
    return {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ingressNginx.namespace } },
      podSelector: { matchLabels: { ...ingressNginx.controllerLabels } },
    };
  }
  if ('clusterDns' in p) return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } };
  return { ipBlock: { cidr: '0.0.0.0/0', except: privateRanges } };
}

const samePeer = (a: Peer, b: Peer) => JSON.stringify(a) === JSON.stringify(b);

/** Flows grouped by the peer at their other end: one rule per peer, with every port it uses. */
function rules(list: readonly Flow[], otherEnd: (f: Flow) => Peer): Array<{ peer: k8s.NetworkPolicyPeer; ports: k8s.NetworkPolicyPort[] }> {
  const groups: Array<{ end: Peer; ports: Array<{ port: number; protocol: string }> }> = [];
  for (const f of list) {
    const end = otherEnd(f);
    let group = groups.find((g) => samePeer(g.end, end));
    if (!group) groups.push((group = { end, ports: [] }));
    const protocol = f.protocol ?? 'TCP';
    if (!group.ports.some((p) => p.port === f.port && p.protocol === protocol)) group.ports.push({ port: f.port, protocol });
  }
  return groups.map((g) => ({
    peer: peer(g.end),
    ports: g.ports.sort((a, b) => a.port - b.port).map((p) => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol })),
  }));
}

const endsAt = (p: Peer, component: string) => 'component' in p && p.component === component;

export class NetworkPoliciesChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new k8s.KubeNetworkPolicy(this, 'default-deny', {
      metadata: { name: 'default-deny' },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
    new k8s.KubeNetworkPolicy(this, 'cluster-dns', {
      metadata: { name: 'allow-cluster-dns' },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [peer({ clusterDns: true })],
            ports: (['UDP', 'TCP'] as const).map((protocol) => ({ port: k8s.IntOrString.fromNumber(53), protocol })),
          },
        ],
      },
    });
    for (const component of clusterComponents) {
      const incoming = rules(flows.filter((f) => endsAt(f.to, component.name)), (f) => f.from);
      const outgoing = rules(flows.filter((f) => endsAt(f.from, component.name)), (f) => f.to);
      if (!incoming.length && !outgoing.length) continue;
      new k8s.KubeNetworkPolicy(this, component.name, {
        metadata: { name: `allow-${component.name}` },
        spec: {
          podSelector: { matchLabels: selectorLabels(component.name) },
          policyTypes: [...(incoming.length ? ['Ingress'] : []), ...(outgoing.length ? ['Egress'] : [])],
          ingress: incoming.length ? incoming.map((r) => ({ from: [r.peer], ports: r.ports })) : undefined,
          egress: outgoing.length ? outgoing.map((r) => ({ to: [r.peer], ports: r.ports })) : undefined,
        },
      });
    }
  }
}
