/**
 * What every Product Store workload shares in a cluster: names and labels, the restricted security
 * context, the environment mapping from the deployment spec (deploy/src/components.ts), probes, resources,
 * Services and disruption budgets. Each chart composes these; none repeats them.
 */
import { Chart } from 'cdk8s';
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import { CONFIG_NAME, NAMESPACE, SECRET_NAME, components, type Component, type EnvSource, type Probe, type Resources } from '@product-store/deploy';
import { CONFIG_FILES_VOLUME, configChecksum, configFilesOf } from './config-files';

export const PART_OF = 'product-store';

/** What runs in the cluster: every component but the compose gateway, whose role the Ingress plays. */
export const clusterComponents: readonly Component[] = components.filter((c) => c.role !== 'gateway');

export function clusterComponent(name: string): Component {
  const found = clusterComponents.find((c) => c.name === name);
  if (!found) throw new Error(`${name} does not run in the cluster`);
  return found;
}

/** The one label a workload's selectors use. */
export function selectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name };
}

/** Labels of a component's pods (and its other objects). */
export function componentLabels(component: Component): Record<string, string> {
  return { ...selectorLabels(component.name), 'app.kubernetes.io/part-of': PART_OF, 'app.kubernetes.io/component': component.role };
}

export interface ProductStoreChartProps {
  /**
   * Whether the chart's objects live in the Product Store namespace (cluster-scoped objects do not).
   * @default true
   */
  readonly namespaced?: boolean;
}

/** Every chart: the namespace, the `part-of` label on every object, plain names without hashes. */
export class ProductStoreChart extends Chart {
  constructor(scope: Construct, id: string, props: ProductStoreChartProps = {}) {
    super(scope, id, {
      namespace: props.namespaced === false ? undefined : NAMESPACE,
      labels: { 'app.kubernetes.io/part-of': PART_OF },
      disableResourceNameHashes: true,
    });
  }
}

// --- environment --------------------------------------------------------------------------------

/** One variable of the spec: a fixed value, a key of the ConfigMap, or a key of the Secret. */
export function envVar(name: string, source: EnvSource): k8s.EnvVar {
  if ('value' in source) return { name, value: source.value };
  if ('config' in source) return { name, valueFrom: { configMapKeyRef: { name: CONFIG_NAME, key: source.config } } };
  return { name, valueFrom: { secretKeyRef: { name: SECRET_NAME, key: source.secret, ...(source.optional ? { optional: true } : {}) } } };
}

export function envVars(env: Record<string, EnvSource>): k8s.EnvVar[] {
  return Object.entries(env).map(([name, source]) => envVar(name, source));
}

// --- security -----------------------------------------------------------------------------------

/** The Pod Security Standard "restricted", with the component's numeric user, and a read-only root filesystem. */
export function containerSecurityContext(user: number): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: user,
    runAsGroup: user,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
  };
}

/** fsGroup makes the data volumes writable by the component's user. */
export function podSecurityContext(user: number): k8s.PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: user, runAsGroup: user, fsGroup: user, seccompProfile: { type: 'RuntimeDefault' } };
}

// --- containers ---------------------------------------------------------------------------------

export function resourceRequirements(r: Resources): k8s.ResourceRequirements {
  return {
    requests: { cpu: k8s.Quantity.fromString(r.cpu.request), memory: k8s.Quantity.fromString(r.memory.request) },
    limits: { cpu: k8s.Quantity.fromString(r.cpu.limit), memory: k8s.Quantity.fromString(r.memory.limit) },
  };
}

export interface ProbeTiming {
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
}

export function httpProbe(probe: Probe, timing: ProbeTiming): k8s.Probe {
  return { httpGet: { path: probe.path, port: k8s.IntOrString.fromNumber(probe.port) }, ...timing };
}

export function execProbe(command: string[], timing: ProbeTiming): k8s.Probe {
  return { exec: { command }, ...timing };
}

/** A writable directory on a read-only root filesystem, gone with the pod. */
export interface ScratchDir {
  readonly name: string;
  readonly mountPath: string;
  readonly sizeLimit: string;
}

export const tmpDir: ScratchDir = { name: 'tmp', mountPath: '/tmp', sizeLimit: '64Mi' };

export function scratchVolume(dir: ScratchDir): k8s.Volume {
  return { name: dir.name, emptyDir: { sizeLimit: k8s.Quantity.fromString(dir.sizeLimit) } };
}

export function scratchMount(dir: ScratchDir): k8s.VolumeMount {
  return { name: dir.name, mountPath: dir.mountPath };
}

export interface ContainerOptions {
  /** @default the component's name */
  readonly name?: string;
  /** @default the image's entrypoint */
  readonly command?: string[];
  /** @default the spec's args */
  readonly args?: string[];
  /** @default the spec's env */
  readonly env?: k8s.EnvVar[];
  /** Ports besides the spec's, which only a cluster uses. @default none */
  readonly extraPorts?: Component['ports'];
  /** @default the spec's HTTP liveness probe, if it has one */
  readonly liveness?: k8s.Probe;
  /** @default the spec's HTTP readiness probe, if it has one */
  readonly readiness?: k8s.Probe;
  /** @default none */
  readonly startup?: k8s.Probe;
  /** @default none */
  readonly lifecycle?: k8s.Lifecycle;
  /** Mounts besides the component's configuration files. @default none */
  readonly volumeMounts?: k8s.VolumeMount[];
  /** Whether the component's configuration files are mounted. @default true */
  readonly configFiles?: boolean;
  /** @default the spec's resources */
  readonly resources?: Resources;
}

export const defaultLiveness: ProbeTiming = { periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 };
export const defaultReadiness: ProbeTiming = { periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 };

/** A container of the component: its image (pulled only when missing), user, ports, env, probes and resources. */
export function componentContainer(component: Component, options: ContainerOptions = {}): k8s.Container {
  const liveness = options.liveness ?? (component.liveness && httpProbe(component.liveness, defaultLiveness));
  const readiness = options.readiness ?? (component.readiness && httpProbe(component.readiness, defaultReadiness));
  return {
    name: options.name ?? component.name,
    image: component.image,
    imagePullPolicy: 'IfNotPresent',
    command: options.command,
    args: options.args ?? component.args,
    ports: [...component.ports, ...(options.extraPorts ?? [])].map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
    env: nonEmpty(options.env ?? envVars(component.env)),
    livenessProbe: liveness,
    readinessProbe: readiness,
    startupProbe: options.startup,
    lifecycle: options.lifecycle,
    resources: resourceRequirements(options.resources ?? component.resources),
    securityContext: containerSecurityContext(component.user),
    volumeMounts: nonEmpty([
      ...(options.configFiles === false ? [] : configFilesOf(component).map((f) => f.volumeMount)),
      ...(options.volumeMounts ?? []),
    ]),
  };
}

export interface InitContainerOptions {
  readonly name: string;
  readonly command: string[];
  /** @default none */
  readonly env?: k8s.EnvVar[];
  readonly volumeMounts: k8s.VolumeMount[];
  /** @default the spec's resources */
  readonly resources?: Resources;
}

/** A one-shot container from the component's image, under the same user and restrictions. */
export function componentInitContainer(component: Component, options: InitContainerOptions): k8s.Container {
  return {
    name: options.name,
    image: component.image,
    imagePullPolicy: 'IfNotPresent',
    command: options.command,
    env: options.env,
    resources: resourceRequirements(options.resources ?? component.resources),
    securityContext: containerSecurityContext(component.user),
    volumeMounts: options.volumeMounts,
  };
}

function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length ? items : undefined;
}

// --- pods ---------------------------------------------------------------------------------------

export interface PodOptions {
  readonly containers: k8s.Container[];
  /** @default none */
  readonly initContainers?: k8s.Container[];
  /** Volumes besides the configuration files' one. @default none */
  readonly volumes?: k8s.Volume[];
  /** @default 30 (Kubernetes' default) */
  readonly terminationGracePeriodSeconds?: number;
  /** @default none */
  readonly topologySpreadConstraints?: k8s.TopologySpreadConstraint[];
  /** @default none */
  readonly affinity?: k8s.Affinity;
}

/**
 * The pod template: the component's labels, its user, no service account token and no service
 * links (nothing here talks to the API server, and `<SERVICE>_PORT` variables would shadow the spec's),
 * and a checksum of its configuration so that `kubectl apply` rolls the pods when it changes.
 */
export function podTemplate(component: Component, options: PodOptions): k8s.PodTemplateSpec {
  const files = configFilesOf(component);
  return {
    metadata: {
      labels: componentLabels(component),
      annotations: { 'product-store/config-checksum': configChecksum(component) },
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: podSecurityContext(component.user),
      terminationGracePeriodSeconds: options.terminationGracePeriodSeconds,
      topologySpreadConstraints: options.topologySpreadConstraints,
      affinity: options.affinity,
      initContainers: options.initContainers,
      containers: options.containers,
      volumes: nonEmpty([...(files.length ? [configFilesVolume(component)] : []), ...(options.volumes ?? [])]),
    },
  };
}

/** All of a component's configuration files, from their ConfigMaps, in one volume. */
function configFilesVolume(component: Component): k8s.Volume {
  return {
    name: CONFIG_FILES_VOLUME,
    projected: {
      sources: configFilesOf(component).map((f) => ({ configMap: { name: f.configMap, items: [{ key: f.key, path: f.key }] } })),
    },
  };
}

// --- storage ------------------------------------------------------------------------------------

export function persistentVolumeClaim(scope: Construct, component: Component, data: Component['data'][number]): k8s.KubePersistentVolumeClaim {
  return new k8s.KubePersistentVolumeClaim(scope, data.name, {
    metadata: { name: data.name, labels: componentLabels(component) },
    spec: claimSpec(data.size),
  });
}

export function claimSpec(size: string): k8s.PersistentVolumeClaimSpec {
  return { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: k8s.Quantity.fromString(size) } } };
}

// --- services and budgets ----------------------------------------------------------------------

export interface ServiceOptions {
  /** @default the component's name */
  readonly name?: string;
  /** A headless Service lists every pod's address in DNS. @default false */
  readonly headless?: boolean;
  /** @default false */
  readonly publishNotReadyAddresses?: boolean;
  /** @default every port of the spec */
  readonly ports?: Component['ports'];
}

export function componentService(scope: Construct, component: Component, options: ServiceOptions = {}): k8s.KubeService {
  const name = options.name ?? component.name;
  return new k8s.KubeService(scope, `service-${name}`, {
    metadata: { name, labels: componentLabels(component) },
    spec: {
      type: 'ClusterIP',
      clusterIp: options.headless ? 'None' : undefined,
      publishNotReadyAddresses: options.publishNotReadyAddresses,
      selector: selectorLabels(component.name),
      ports: (options.ports ?? component.ports).map((p) => ({
        name: p.name,
        port: p.port,
        targetPort: k8s.IntOrString.fromString(p.name),
        protocol: 'TCP',
      })),
    },
  });
}

export type DisruptionBudget = ({ minAvailable: number } | { maxUnavailable: number }) & {
  /**
   * May a drain evict a running pod that is not ready? `AlwaysAllow` (the default here): with
   * Kubernetes' own default (`IfHealthyBudget`), a stateless component whose pods are all unready (a
   * crash loop, its database down) has no disruption left, and `kubectl drain` of their nodes waits
   * forever, though evicting a pod that serves nothing cannot hurt availability. `IfHealthyBudget`
   * for Cassandra: an unready node may be one that is starting, bootstrapping or replaying its commit
   * log and about to hold its replicas again; evicting it while another node is down leaves one of
   * three replicas, below the quorum. Its eviction waits until the budget has room (the others ready).
   */
  unhealthyPodEvictionPolicy?: 'AlwaysAllow' | 'IfHealthyBudget';
};

/** A disruption budget (see DisruptionBudget for which pods a drain may evict). */
export function disruptionBudget(scope: Construct, component: Component, budget: DisruptionBudget): k8s.KubePodDisruptionBudget {
  return new k8s.KubePodDisruptionBudget(scope, 'pdb', {
    metadata: { name: component.name, labels: componentLabels(component) },
    spec: {
      selector: { matchLabels: selectorLabels(component.name) },
      unhealthyPodEvictionPolicy: budget.unhealthyPodEvictionPolicy ?? 'AlwaysAllow',
      ...('minAvailable' in budget
        ? { minAvailable: k8s.IntOrString.fromNumber(budget.minAvailable) }
        : { maxUnavailable: k8s.IntOrString.fromNumber(budget.maxUnavailable) }),
    },
  });
}

// --- replicated stateless components ----------------------------------------------------------

export interface ReplicatedOptions {
  /** Pods. @default none: an autoscaler owns the count, and `kubectl apply` must not reset it */
  readonly replicas?: number;
  /** The spec's container, with /tmp mounted. @default the spec's container as it is */
  readonly container?: ContainerOptions;
  /** @default none */
  readonly initContainers?: k8s.Container[];
  /** @default 30 (Kubernetes' default) */
  readonly terminationGracePeriodSeconds?: number;
}

/**
 * A stateless component in several pods: a Deployment rolled one new pod at a time (none taken down
 * before its replacement is ready), its pods spread over the hosts, a read-only root filesystem with
 * a scratch /tmp (mounted in every init container too), its Service and a budget keeping one pod
 * available through a drain.
 */
export function replicatedDeployment(scope: Construct, component: Component, options: ReplicatedOptions = {}): k8s.KubeDeployment {
  const tmp = scratchMount(tmpDir);
  const deployment = new k8s.KubeDeployment(scope, 'deployment', {
    metadata: { name: component.name, labels: componentLabels(component) },
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: selectorLabels(component.name) },
      revisionHistoryLimit: 5,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
      template: podTemplate(component, {
        terminationGracePeriodSeconds: options.terminationGracePeriodSeconds,
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: 'kubernetes.io/hostname',
            whenUnsatisfiable: 'ScheduleAnyway',
            labelSelector: { matchLabels: selectorLabels(component.name) },
          },
        ],
        initContainers: options.initContainers?.map((c) => ({ ...c, volumeMounts: [...(c.volumeMounts ?? []), tmp] })),
        containers: [componentContainer(component, { ...options.container, volumeMounts: [...(options.container?.volumeMounts ?? []), tmp] })],
        volumes: [scratchVolume(tmpDir)],
      }),
    },
  });
  componentService(scope, component);
  disruptionBudget(scope, component, { minAvailable: 1 });
  return deployment;
}

// --- single-replica tools -----------------------------------------------------------------------

export interface SingleReplicaOptions {
  /** @default the spec's container */
  readonly container?: ContainerOptions;
  /** @default none */
  readonly initContainers?: k8s.Container[];
  /** Volumes besides the data and configuration volumes. @default none */
  readonly volumes?: k8s.Volume[];
}

/**
 * A tool that runs as one pod: a Deployment with a claim per data volume of the spec, replaced
 * (not rolled) on update since a ReadWriteOnce volume follows one pod at a time, and its Service.
 */
export function singleReplicaDeployment(scope: Construct, component: Component, options: SingleReplicaOptions = {}): k8s.KubeDeployment {
  for (const data of component.data) persistentVolumeClaim(scope, component, data);
  const dataVolumes: k8s.Volume[] = component.data.map((d) => ({ name: d.name, persistentVolumeClaim: { claimName: d.name } }));
  const dataMounts: k8s.VolumeMount[] = component.data.map((d) => ({ name: d.name, mountPath: d.mountPath }));
  const deployment = new k8s.KubeDeployment(scope, 'deployment', {
    metadata: { name: component.name, labels: componentLabels(component) },
    spec: {
      replicas: 1,
      selector: { matchLabels: selectorLabels(component.name) },
      revisionHistoryLimit: 5,
      // A rolling update states its parameters (one new pod first, as the server's 25 % default gives
      // for one replica): without them the server adds its defaults and every `kubectl apply`
      // removes them again (the strategy's patch keeps only the keys written), reporting `configured`.
      strategy: component.data.length
        ? { type: 'Recreate' }
        : { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
      template: podTemplate(component, {
        initContainers: options.initContainers,
        containers: [
          componentContainer(component, {
            ...options.container,
            volumeMounts: [...dataMounts, ...(options.container?.volumeMounts ?? [])],
          }),
        ],
        volumes: [...dataVolumes, ...(options.volumes ?? [])],
      }),
    },
  });
  componentService(scope, component);
  return deployment;
}
