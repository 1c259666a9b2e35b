/**
 * Cassandra: a StatefulSet (one node by default; charts/README.md tells how to grow to three), its
 * headless Service `cassandra` (the services' contact point, the nodes' DNS names, Prometheus'
 * target list), a volume claim per node and a disruption budget.
 *
 * The image (images/cassandra: cassandra:5.0 with the JMX exporter agent, and an entrypoint that
 * turns on PasswordAuthenticator and sets the superuser's password) edits /etc/cassandra at start.
 * With a read-only root filesystem, an init container copies the image's /etc/cassandra into an
 * emptyDir mounted there; /tmp (the password's ready file, cqlsh's scratch) is an emptyDir too.
 */
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import { NAMESPACE } from './components';
import {
  claimSpec,
  clusterComponent,
  componentContainer,
  componentInitContainer,
  componentLabels,
  componentService,
  disruptionBudget,
  envVars,
  execProbe,
  podTemplate,
  ProductStoreChart,
  scratchMount,
  scratchVolume,
  selectorLabels,
  tmpDir,
  type ScratchDir,
} from './lib/workload';

/**
 * nodetool with a small heap of its own: it would otherwise size its JVM by the server's
 * MAX_HEAP_SIZE, in the same memory limit.
 */
const nodetool = (command: string) => ['sh', '-c', `MAX_HEAP_SIZE=128M HEAP_NEWSIZE=32M exec nodetool ${command}`];

const configDir = '/etc/cassandra';
const configCopy: ScratchDir = { name: 'config', mountPath: configDir, sizeLimit: '16Mi' };
const logDir: ScratchDir = { name: 'logs', mountPath: '/var/log/cassandra', sizeLimit: '1Gi' };
const cassandraTmp: ScratchDir = { ...tmpDir, sizeLimit: '256Mi' };

/**
 * A StatefulSet whose claim templates read exactly as the API server stores them. For `kubectl apply`
 * `volumeClaimTemplates` is one atomic list: a template that differs from the stored one in any
 * field, even one the server fills in, makes every client-side apply send the whole list again
 * (`configured`), and the first `kubectl apply --server-side` after a client-side one conflict on it
 * with `kubectl-client-side-apply`. The server adds apiVersion and kind, a null creationTimestamp,
 * volumeMode Filesystem and status Pending; the typed props drop all but volumeMode, so they are
 * added to the synthesized object.
 */
class StatefulSetAsStored extends k8s.KubeStatefulSet {
  override toJson(): any {
    const json = super.toJson();
    json.spec.volumeClaimTemplates = (json.spec.volumeClaimTemplates ?? []).map((t: any) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { creationTimestamp: null, ...t.metadata },
      spec: { ...t.spec, volumeMode: t.spec.volumeMode ?? 'Filesystem' },
      status: { phase: 'Pending' },
    }));
    return json;
  }
}

export interface CassandraChartProps {
  /** Nodes. Going from 1 to 3 takes more than this number: see charts/README.md. @default 1 */
  readonly replicas?: number;
}

export class CassandraChart extends ProductStoreChart {
  constructor(scope: Construct, id: string, props: CassandraChartProps = {}) {
    super(scope, id);
    const component = clusterComponent('cassandra');
    const [data] = component.data;
    const name = component.name;
    // The first node: every node, itself included, joins the ring through it.
    const seed = `${name}-0.${name}.${NAMESPACE}.svc.cluster.local`;
    const timeout = { timeoutSeconds: 30 };

    const main = componentContainer(component, {
      env: envVars({ ...component.env, CASSANDRA_SEEDS: { value: seed } }),
      // Liveness: the JVM answers nodetool over local JMX (start-up may take minutes). Readiness: the
      // image's cqlsh-free check, as in compose: the node is Up/Normal and the superuser has
      // CASSANDRA_PASSWORD, so the services can log in.
      startup: execProbe(nodetool('status'), { ...timeout, periodSeconds: 10, failureThreshold: 30 }),
      liveness: execProbe(nodetool('status'), { ...timeout, periodSeconds: 30, failureThreshold: 4 }),
      readiness: execProbe(['cassandra-healthcheck'], { ...timeout, periodSeconds: 15, failureThreshold: 2 }),
      // Flush memtables and stop accepting writes before the JVM gets SIGTERM.
      lifecycle: { preStop: { exec: { command: nodetool('drain') } } },
      volumeMounts: [{ name: data.name, mountPath: data.mountPath }, scratchMount(configCopy), scratchMount(logDir), scratchMount(cassandraTmp)],
    });

    new StatefulSetAsStored(this, 'statefulset', {
      metadata: { name, labels: componentLabels(component) },
      spec: {
        serviceName: name,
        replicas: props.replicas ?? 1,
        // A restarted cluster comes back all at once (nodes find each other through gossip); new
        // nodes are added one at a time, since Cassandra refuses concurrent bootstraps (README).
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selectorLabels(name) },
        updateStrategy: { type: 'RollingUpdate' },
        template: podTemplate(component, {
          terminationGracePeriodSeconds: 120,
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorLabels(name) } },
          ],
          initContainers: [
            componentInitContainer(component, {
              name: 'copy-config',
              command: ['cp', '-R', `${configDir}/.`, '/config-copy/'],
              volumeMounts: [{ name: configCopy.name, mountPath: '/config-copy' }],
            }),
          ],
          containers: [main],
          volumes: [scratchVolume(configCopy), scratchVolume(logDir), scratchVolume(cassandraTmp)],
        }),
        volumeClaimTemplates: [{ metadata: { name: data.name, labels: componentLabels(component) }, spec: claimSpec(data.size) }],
      },
    });

    // Headless: one DNS record per node (cassandra-0.cassandra...), not-ready nodes included so that
    // a starting node finds its seed.
    componentService(this, component, { headless: true, publishNotReadyAddresses: true });
    // One node down at a time keeps LOCAL_QUORUM with three replicas; a single node can still be drained.
    disruptionBudget(this, component, { maxUnavailable: 1 });
  }
}
