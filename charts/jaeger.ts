/**
 * Jaeger all-in-one with in-memory storage (MEMORY_MAX_TRACES traces, lost on restart): one pod, and
 * the Service `jaeger` for the services' OTLP exports, Grafana's queries and the UI.
 */
import type { Construct } from 'constructs';
import { clusterComponent, ProductStoreChart, scratchMount, scratchVolume, singleReplicaDeployment, tmpDir } from './lib/workload';

export class JaegerChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    singleReplicaDeployment(this, clusterComponent('jaeger'), {
      container: { volumeMounts: [scratchMount(tmpDir)] },
      volumes: [scratchVolume(tmpDir)],
    });
  }
}
