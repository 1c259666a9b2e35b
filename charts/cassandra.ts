/**
 * Cassandra: a StatefulSet (three nodes by default, one per host; the services create their keyspace
 * at replication factor 3 here, CLUSTER_CASSANDRA_NODES), its headless Service `cassandra` (the
 * services' contact point, the nodes' DNS names, Prometheus' target list), a volume claim per node
 * and a disruption budget.
 *
 * Fresh nodes join one at a time: Cassandra refuses a bootstrap while another node is joining. The
 * pods still start in parallel (a restarted cluster comes back at once, and `podManagementPolicy` of
 * an existing StatefulSet cannot change); the init container `join-in-turn` of a node that has never
 * run holds it until the node before it answers CQL, which a node does only once it has joined.
 *
 * The image (images/cassandra: cassandra:5.0 with the JMX exporter agent, and an entrypoint that
 * turns on PasswordAuthenticator and sets the superuser's password) edits /etc/cassandra at start.
 * With a read-only root filesystem, an init container copies the image's /etc/cassandra into an
 * emptyDir mounted there; /tmp (the password's ready file, cqlsh's scratch) is an emptyDir too.
 */
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import { CLUSTER_CASSANDRA_NODES, NAMESPACE } from '@product-store/deploy';
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

export interface JoinInTurn {
  /** The address of node N, printf-style: `%d` is N. */
  readonly nodeAddressFormat: string;
  readonly cqlPort: number;
  /** Where the node's data volume is mounted. */
  readonly dataDir: string;
  /** How many nodes the cluster has: node 0 without data asks nodes 1 to nodes - 1 whether they run. */
  readonly nodes: number;
}

/** The runbook section an operator replacing a node with a lost disk follows (the script names it). */
export const replaceProcedure = 'docs/runbook.md#replacing-a-cassandra-node-whose-disk-is-lost-kubernetes';

/**
 * The init container `join-in-turn` (bash, from the Cassandra image): node N > 0 whose data folder
 * holds no `data/system` (it has never started, so it will bootstrap) waits until node N - 1 accepts
 * connections on the CQL port. A node opens that port only once it has joined the ring, so fresh nodes
 * bootstrap one after the other: 1 after 0, 2 after 1. The seed (node 0) and nodes with data (a restart,
 * the whole cluster's included) go on at once. A node that is waiting shows `Init:1/2` and says whom it
 * waits for in its log (`kubectl logs cassandra-2 -c join-in-turn`).
 *
 * Node 0 without data is a fresh install only if no other node runs: if its volume was lost while
 * nodes 1 and 2 run, it would start as a seed that never bootstraps, with new tokens and no data, and
 * answer reads for rows it does not have. So it asks the other nodes' CQL port first, and if one
 * answers it stops (exit 1, `Init:Error`) with a message that points at the replace procedure. That
 * procedure sets REPLACE_ADDRESS on this container (the lost node's old address): the node then goes
 * on and replaces it (-Dcassandra.replace_address_first_boot, on the Cassandra container). N comes from the pod's host name,
 * `cassandra-<N>` (bash's HOSTNAME). The settings are written into the script, not passed as
 * variables: the pod's environment stays the one compose's Cassandra has (tools/test/test/parity.test.ts).
 */
export function joinInTurnScript(settings: JoinInTurn): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `set -eu
format=${quote(settings.nodeAddressFormat)}
port=${settings.cqlPort}
data=${quote(settings.dataDir)}
nodes=${settings.nodes}
ordinal=\${HOSTNAME##*-}
if [ -d "$data/data/system" ]; then
  echo "$HOSTNAME: it has run before (its data is there): it rejoins at once"
  exit 0
fi
if [ -n "\${REPLACE_ADDRESS:-}" ]; then
  echo "$HOSTNAME: no data, replacing the lost node $REPLACE_ADDRESS (replace_address_first_boot): it goes on"
  exit 0
fi
answers() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$port" 2>/dev/null
}
if [ "$ordinal" = 0 ]; then
  # No data: a fresh install, unless another node runs (this node's volume was lost).
  other=1
  while [ "$other" -lt "$nodes" ]; do
    peer=$(printf "$format" "$other")
    if answers "$peer"; then
      echo "$HOSTNAME: no data, but $peer answers CQL: this node's volume was lost while the cluster runs."
      echo "$HOSTNAME: it must not start as a new seed (new tokens, none of the data). Replace it: ${replaceProcedure}."
      exit 1
    fi
    other=$((other + 1))
  done
  echo "$HOSTNAME: the seed of a fresh cluster (no other node answers): it waits for no other node"
  exit 0
fi
previous=$(printf "$format" "$((ordinal - 1))")
started=$(date +%s)
next_log=0
until answers "$previous"; do
  waited=$(($(date +%s) - started))
  if [ "$waited" -ge "$next_log" ]; then
    echo "$HOSTNAME: a new node: waiting for $previous to answer CQL on port $port (it has joined the ring) before bootstrapping (\${waited}s)"
    next_log=$((waited + 60))
  fi
  sleep 2
done
echo "$HOSTNAME: $previous answers CQL: bootstrapping now"
`;
}

export interface CassandraChartProps {
  /**
   * Nodes, each on its own host (required anti-affinity): a cluster with fewer schedulable hosts
   * leaves the extra pods Pending. With fewer than three, lower the replication factor of the
   * ConfigMap too (charts/README.md). @default CLUSTER_CASSANDRA_NODES (3)
   */
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
    const replicas = props.replicas ?? CLUSTER_CASSANDRA_NODES;
    // The nodes' names in the headless Service, the seed's among them.
    const joinInTurn: JoinInTurn = {
      nodes: replicas,
      nodeAddressFormat: `${name}-%d.${name}.${NAMESPACE}.svc.cluster.local`,
      cqlPort: component.ports.find((p) => p.name === 'cql')!.port,
      dataDir: data.mountPath,
    };

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
        replicas,
        // A restarted cluster comes back all at once (nodes find each other through gossip); fresh
        // nodes bootstrap one at a time, held by join-in-turn. OrderedReady would serialize restarts
        // too, and could deadlock one: node 1 is created only once node 0 is ready, and node 0 alone
        // may never be: its readiness logs in as the superuser, whose role is read from system_auth's
        // replicas on the other nodes (one of them at replication factor 1, two of three at 3).
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selectorLabels(name) },
        updateStrategy: { type: 'RollingUpdate' },
        template: podTemplate(component, {
          terminationGracePeriodSeconds: 120,
          // Never two nodes on one host: its loss would take two of a row's three replicas, and
          // LOCAL_QUORUM with them. Required, not preferred: a pod left Pending for want of a host is
          // visible; two replicas sharing one are not.
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels(name) } }],
            },
          },
          // Across zones too, where the hosts have them (a preference: hosts without the label still count).
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorLabels(name) } },
          ],
          initContainers: [
            componentInitContainer(component, {
              name: 'copy-config',
              command: ['cp', '-R', `${configDir}/.`, '/config-copy/'],
              volumeMounts: [{ name: configCopy.name, mountPath: '/config-copy' }],
            }),
            componentInitContainer(component, {
              name: 'join-in-turn',
              command: ['bash', '-c', joinInTurnScript(joinInTurn)],
              volumeMounts: [{ name: data.name, mountPath: data.mountPath, readOnly: true }],
              resources: { cpu: { request: '10m', limit: '100m' }, memory: { request: '16Mi', limit: '64Mi' } },
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
    // One node down at a time: two of three replicas keep LOCAL_QUORUM (and system_auth's logins, once
    // it has three replicas: docs/runbook.md). A single node can still be drained. A node that runs
    // but is not ready (starting, bootstrapping) counts as down: a drain does not evict it while
    // another node is down (IfHealthyBudget), or a row would be left with one replica.
    disruptionBudget(this, component, { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'IfHealthyBudget' });
  }
}
