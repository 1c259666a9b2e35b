/**
 * Alertmanager: one pod with its silences and notification log on a volume claim.
 *
 * Alertmanager cannot read the Telegram token from the environment, so an init container (the same
 * image: it has /bin/sh and amtool) runs monitoring/alertmanager/render.sh on the committed
 * configuration with TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID from the Secret, and writes the result
 * (and the templates) into an emptyDir that Alertmanager reads. The token never leaves the pod, and
 * the main container does not see the Secret at all.
 */
import { basename } from 'node:path';
import type { Construct } from 'constructs';
import { configFilesOf } from './lib/config-files';
import {
  clusterComponent,
  componentInitContainer,
  envVars,
  ProductStoreChart,
  scratchMount,
  scratchVolume,
  singleReplicaDeployment,
  type ScratchDir,
} from './lib/workload';

const rendered: ScratchDir = { name: 'rendered-config', mountPath: '/etc/alertmanager/rendered', sizeLimit: '1Mi' };

export class AlertmanagerChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const component = clusterComponent('alertmanager');
    const files = configFilesOf(component);
    const file = (name: string) => {
      const found = files.find((f) => f.key === name);
      if (!found) throw new Error(`alertmanager: the spec mounts no ${name}`);
      return found;
    };
    const source = file('alertmanager.yml');
    const config = `${rendered.mountPath}/${basename(source.mountPath)}`;

    singleReplicaDeployment(this, component, {
      initContainers: [
        componentInitContainer(component, {
          name: 'render-config',
          command: ['sh', file('render.sh').mountPath, source.mountPath, config],
          env: envVars(component.env),
          volumeMounts: [...files.map((f) => f.volumeMount), scratchMount(rendered)],
        }),
      ],
      container: {
        args: [
          `--config.file=${config}`,
          `--storage.path=${component.data[0].mountPath}`,
          // One replica: no gossip cluster to form.
          '--cluster.listen-address=',
        ],
        env: [],
        configFiles: false,
        volumeMounts: [{ ...scratchMount(rendered), readOnly: true }],
      },
      volumes: [scratchVolume(rendered)],
    });
  }
}
