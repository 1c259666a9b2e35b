/**
 * The storefront: its static files in nginx-unprivileged (images/storefront, the image compose runs
 * too), two pods that keep serving through a rolling update or a node drain, its Service, and a
 * disruption budget. The Ingress routes `/` to it (charts/ingress.ts), every API route being a longer
 * path; the CSP and the other headers come from the image's own nginx (gateway/nginx.ts
 * renderStorefrontNginx), which ingress-nginx passes on. Nothing else may reach it, and it reaches
 * nothing (charts/network-policies.ts).
 *
 * It holds no state and reads no setting: no autoscaler (two small pods serve static files far past
 * what the API behind the same Ingress can take), no configuration, /tmp the only writable folder.
 */
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import {
  clusterComponent,
  componentContainer,
  componentLabels,
  componentService,
  disruptionBudget,
  podTemplate,
  ProductStoreChart,
  scratchMount,
  scratchVolume,
  selectorLabels,
  tmpDir,
} from './lib/workload';

export interface StorefrontChartProps {
  /** @default 2 */
  readonly replicas?: number;
}

export class StorefrontChart extends ProductStoreChart {
  constructor(scope: Construct, id: string, props: StorefrontChartProps = {}) {
    super(scope, id);
    const component = clusterComponent('storefront');
    new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name: component.name, labels: componentLabels(component) },
      spec: {
        replicas: props.replicas ?? 2,
        selector: { matchLabels: selectorLabels(component.name) },
        revisionHistoryLimit: 5,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: podTemplate(component, {
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selectorLabels(component.name) },
            },
          ],
          // nginx writes its pid and temporary files to /tmp; the root filesystem is read-only.
          containers: [componentContainer(component, { volumeMounts: [scratchMount(tmpDir)] })],
          volumes: [scratchVolume(tmpDir)],
        }),
      },
    });
    componentService(this, component);
    disruptionBudget(this, component, { minAvailable: 1 });
  }
}
