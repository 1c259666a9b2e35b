/**
 * Prometheus: one pod with its TSDB on a volume claim, the cluster's prometheus.yml (rendered by
 * monitoring/prometheus/config.ts: every service's pods through their headless `<name>-pods`
 * Service, Cassandra's nodes, the ingress-nginx controller) and the repository's alert rules.
 */
import type { Construct } from 'constructs';
import { clusterComponent, ProductStoreChart, singleReplicaDeployment } from './lib/workload';

export class PrometheusChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    singleReplicaDeployment(this, clusterComponent('prometheus'));
  }
}
