/**
 * The stack's configuration: the ConfigMap of operator settings (every `{ config }` variable of the
 * spec, with its cluster default) and one ConfigMap per configuration file a component reads.
 *
 * No Secret: its values never enter this repository. Before the first `kubectl apply -f k8s/`, the
 * operator creates it with every key the stack reads:
 *
 *   kubectl -n product-store create secret generic product-store-secrets \
 *     --from-literal=ADMIN_PASSWORD="$(openssl rand -base64 18)" \
 *     --from-literal=CASSANDRA_PASSWORD="$(openssl rand -base64 24)" \
 *     --from-literal=CASSANDRA_PASSWORD_BACKEND="$(openssl rand -base64 24)" \
 *     --from-literal=CASSANDRA_PASSWORD_CART_SERVICE="$(openssl rand -base64 24)" \
 *     --from-literal=CASSANDRA_PASSWORD_ORDER_SERVICE="$(openssl rand -base64 24)" \
 *     --from-literal=CASSANDRA_PASSWORD_USER_SERVICE="$(openssl rand -base64 24)" \
 *     --from-literal=GRAFANA_ADMIN_PASSWORD="$(openssl rand -base64 18)" \
 *     --from-literal=INTERNAL_TOKEN_CART_SERVICE="$(openssl rand -hex 32)" \
 *     --from-literal=INTERNAL_TOKEN_ORDER_SERVICE="$(openssl rand -hex 32)" \
 *     --from-file=JWT_PRIVATE_KEY=jwt-private.pem \
 *     --from-file=JWT_PUBLIC_KEYS=jwt-public.pem \
 *     --from-literal=TELEGRAM_BOT_TOKEN='<bot id>:<token from @BotFather>' \
 *     --from-literal=TELEGRAM_CHAT_ID='<chat id, e.g. -1001234567890>'
 *
 * with the ES256 key pair made by `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out
 * jwt-private.pem && openssl pkey -in jwt-private.pem -pubout -out jwt-public.pem` (the guide's HS256
 * mode instead: JWT_ALGORITHM=HS256 in the ConfigMap and --from-literal=JWT_SECRET_KEY="$(openssl rand
 * -base64 48)"; JWT_* keys are optional, each mode reads its own).
 *
 * (The namespace must exist first: `kubectl apply -f k8s/00-namespace.k8s.yaml`.) A test checks that
 * this list and charts/README.md name every key of `secretKeys`.
 */
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import { CONFIG_NAME, clusterConfigDefaults } from '@product-store/deploy';
import { configFilesOf } from './lib/config-files';
import { clusterComponents, componentLabels, ProductStoreChart } from './lib/workload';

export class ConfigChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new k8s.KubeConfigMap(this, 'settings', { metadata: { name: CONFIG_NAME }, data: clusterConfigDefaults });
    for (const component of clusterComponents) {
      for (const file of configFilesOf(component)) {
        new k8s.KubeConfigMap(this, file.configMap, {
          metadata: {
            name: file.configMap,
            labels: componentLabels(component),
            annotations: {
              ...('file' in file.source ? { 'product-store/source-file': file.source.file } : { 'product-store/rendered-by': file.source.renderedBy }),
              'product-store/mount-path': file.mountPath,
            },
          },
          data: { [file.key]: file.content },
        });
      }
    }
  }
}
