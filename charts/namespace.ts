/**
 * The namespace everything else lives in. Its pods must meet the Pod Security Standard
 * "restricted", which every chart's pods do (non-root, no privilege escalation, no capabilities,
 * RuntimeDefault seccomp).
 */
import * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import type { Construct } from 'constructs';
import { NAMESPACE } from '@product-store/deploy';
import { ProductStoreChart } from './lib/workload';

export class NamespaceChart extends ProductStoreChart {
  constructor(scope: Construct, id: string) {
    super(scope, id, { namespaced: false });
    new k8s.KubeNamespace(this, 'namespace', {
      metadata: {
        name: NAMESPACE,
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/audit': 'restricted',
        },
      },
    });
  }
}
