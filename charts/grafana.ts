/**
 * Grafana: one pod with its database on a volume claim, grafana.ini, the provisioning files and the
 * dashboards from monitoring/grafana, and the admin password from the Secret
 * (GF_SECURITY_ADMIN_PASSWORD ← GRAFANA_ADMIN_PASSWORD).
 */
import type { Construct } from 'constructs';
import { clusterComponent, ProductStoreChart, scratchMount, scratchVolume, singleReplicaDeployment, tmpDir, type ScratchDir } from './lib/workload';

/** The image's GF_PATHS_LOGS: Grafana writes its log file there besides the console. */
const logDir: ScratchDir = { name: 'logs', mountPath: '/var/log/grafana', sizeLimit: '256Mi' };

export class GrafanaChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    singleReplicaDeployment(this, clusterComponent('grafana'), {
      container: { volumeMounts: [scratchMount(logDir), scratchMount(tmpDir)] },
      volumes: [scratchVolume(logDir), scratchVolume(tmpDir)],
    });
  }
}
