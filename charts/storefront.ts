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
import type { Construct } from 'constructs';
import { clusterComponent, ProductStoreChart, replicatedDeployment } from './lib/workload';

export interface StorefrontChartProps {
  /** @default 2 */
  readonly replicas?: number;
}

export class StorefrontChart extends ProductStoreChart {
  constructor(scope: Construct, id: string, props: StorefrontChartProps = {}) {
    super(scope, id);
    // nginx writes its pid and temporary files to /tmp, the one writable folder.
    replicatedDeployment(this, clusterComponent('storefront'), { replicas: props.replicas ?? 2 });
  }
}
