/**
 * Grafana: one pod with its database on a volume claim, grafana.ini, the provisioning files and the
 * dashboards from monitoring/grafana, and the admin password from the Secret
 * (GF_SECURITY_ADMIN_PASSWORD ← GRAFANA_ADMIN_PASSWORD).
 *
 * Probes: readiness is the spec's `/api/health`, which also checks Grafana's database; liveness is
 * `/healthz`, which answers while the web server runs, so a slow or locked database takes the pod
 * out of the Service instead of restarting it. Grafana opens its port only after migrating its
 * database, which takes minutes on a first start or an upgrade: a startup probe gives it 5 minutes
 * before liveness counts.
 */
import type { Construct } from 'constructs';
import {
  clusterComponent,
  defaultLiveness,
  httpProbe,
  ProductStoreChart,
  scratchMount,
  scratchVolume,
  singleReplicaDeployment,
  tmpDir,
  type ScratchDir,
} from './lib/workload';

/** The image's GF_PATHS_LOGS: Grafana writes its log file there besides the console. */
const logDir: ScratchDir = { name: 'logs', mountPath: '/var/log/grafana', sizeLimit: '256Mi' };

export class GrafanaChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const component = clusterComponent('grafana');
    if (!component.liveness) throw new Error('grafana: the spec gives no liveness probe');
    const alive = component.liveness;
    singleReplicaDeployment(this, component, {
      container: {
        liveness: httpProbe(alive, defaultLiveness),
        startup: httpProbe(alive, { periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 60 }),
        volumeMounts: [scratchMount(logDir), scratchMount(tmpDir)],
      },
      volumes: [scratchVolume(logDir), scratchVolume(tmpDir)],
    });
  }
}
