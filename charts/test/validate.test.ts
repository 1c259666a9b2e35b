/**
 * Every document of k8s/ against the Kubernetes 1.27 schemas of kubernetes-models (the API level of
 * cdk8s-plus-27). There is no API server here, so no `kubectl apply --dry-run`. The schemas catch
 * wrong types and missing required fields; they do not flag unknown fields.
 */
import test from 'ava';
import { id, manifests } from './manifests';

interface Model {
  new (data: unknown): { validate(): void };
}

/** kubernetes-models/<group>/<version> (or kubernetes-models/v1 for the core group) exports one class per kind. */
function modelOf(apiVersion: string, kind: string): Model | undefined {
  const models = require(`kubernetes-models/${apiVersion}`) as Record<string, Model>;
  return models[kind];
}

test('k8s/ has documents', (t) => {
  t.true(manifests.length > 40, `only ${manifests.length} documents`);
});

for (const { file, doc } of manifests) {
  test(`${file}: ${id(doc)} validates against its Kubernetes schema`, (t) => {
    const Model = modelOf(doc.apiVersion, doc.kind);
    if (!Model) return t.fail(`no kubernetes-models class for ${doc.apiVersion} ${doc.kind}`);
    t.notThrows(() => new Model(doc).validate());
  });
}
