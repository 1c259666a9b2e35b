/**
 * One of the four services: a Deployment scaled by CPU between two and six pods, its Service, the
 * headless `<name>-pods` Service Prometheus finds every pod through, and a disruption budget.
 *
 * Shutdown: Kubernetes removes a terminating pod from the endpoints while it runs the preStop hook;
 * the hook's pause lets ingress-nginx and kube-proxy catch up before SIGTERM. Then the service
 * answers /ready with 503 and finishes its in-flight requests (SHUTDOWN_TIMEOUT_MS, 8 s by default),
 * closes its database client and flushes its last traces (at most 2.5 s), all within the grace
 * period: 5 s of preStop + up to about 12 s of shutdown, so 20 s.
 */
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import type { ServiceName } from '@product-store/deploy';
import {
  clusterComponent,
  componentInitContainer,
  componentLabels,
  componentService,
  envVars,
  httpProbe,
  ProductStoreChart,
  replicatedDeployment,
} from './lib/workload';

export interface ServiceChartProps {
  readonly service: ServiceName;
  /** @default 2 */
  readonly minReplicas?: number;
  /** @default 6 */
  readonly maxReplicas?: number;
  /** Average CPU use the autoscaler aims at, in percent of the CPU request. @default 70 */
  readonly targetCpuUtilization?: number;
  /** Seconds between the endpoint removal and SIGTERM. @default 5 */
  readonly drainDelaySeconds?: number;
  /** @default 20 */
  readonly terminationGracePeriodSeconds?: number;
}

export class ServiceChart extends ProductStoreChart {
  constructor(scope: Construct, id: string, props: ServiceChartProps) {
    super(scope, id);
    const component = clusterComponent(props.service);
    if (!component.liveness || !component.readiness) throw new Error(`${component.name}: the spec gives no HTTP probes`);
    if (!component.migrate) throw new Error(`${component.name}: the spec gives no migration step`);

    const deployment = replicatedDeployment(this, component, {
      terminationGracePeriodSeconds: props.terminationGracePeriodSeconds ?? 20,
      // The migration step (services/kit/src/database-roles.ts): the schema, the service's Cassandra
      // role and its grants, as the superuser, before each pod's service starts as that role. The
      // superuser's password is in this container's environment only.
      initContainers: [componentInitContainer(component, { name: 'migrate', command: component.migrate.command, env: envVars(component.migrate.env), volumeMounts: [] })],
      container: {
        // Start-up connects to Cassandra and migrates before the port opens.
        startup: httpProbe(component.liveness, { periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 60 }),
        lifecycle: { preStop: { exec: { command: ['sleep', String(props.drainDelaySeconds ?? 5)] } } },
      },
    });
    // Prometheus scrapes every pod through this one, not-ready pods too: a failing pod shows as
    // `up == 0` (ServiceDown) instead of silently leaving the target list.
    componentService(this, component, { name: `${component.name}-pods`, headless: true, publishNotReadyAddresses: true });

    new k8s.KubeHorizontalPodAutoscalerV2(this, 'hpa', {
      metadata: { name: component.name, labels: componentLabels(component) },
      spec: {
        scaleTargetRef: { apiVersion: deployment.apiVersion, kind: deployment.kind, name: deployment.name },
        minReplicas: props.minReplicas ?? 2,
        maxReplicas: props.maxReplicas ?? 6,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: props.targetCpuUtilization ?? 70 } },
          },
        ],
      },
    });
  }
}
