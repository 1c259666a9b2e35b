/**
 * The configuration files in k8s/ are the repository's files, byte for byte, mounted where the spec
 * says; the cluster's prometheus.yml is the one monitoring/prometheus/config.ts renders, and
 * promtool accepts it with the rules it loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'ava';
import { parse, stringify } from 'yaml';
import { kubernetesPrometheusTarget, renderPrometheus } from '../../monitoring/prometheus/config';
import { NAMESPACE } from '@product-store/deploy';
import { repoRoot } from '../lib/config-files';
import { clusterComponents } from '../lib/workload';
import { containers, ofKind, type Doc } from './manifests';

const fileMaps = ofKind('ConfigMap').filter((m) => m.metadata.annotations?.['product-store/mount-path']);
const sourceOf = (m: Doc): string | undefined => m.metadata.annotations['product-store/source-file'];
const mountPathOf = (m: Doc): string => m.metadata.annotations['product-store/mount-path'];
const contentOf = (m: Doc): string => Object.values(m.data as Record<string, string>)[0];

test('every configuration file of the spec is in a ConfigMap, equal to the repository file', (t) => {
  const expected = clusterComponents.flatMap((c) => c.configFiles.map((f) => `${f.source} -> ${f.mountPath}`)).sort();
  const repoFiles = fileMaps.filter((m) => sourceOf(m));
  t.deepEqual(repoFiles.map((m) => `${sourceOf(m)} -> ${mountPathOf(m)}`).sort(), expected);
  for (const m of repoFiles) {
    t.is(Object.keys(m.data).length, 1, m.metadata.name);
    t.is(contentOf(m), readFileSync(join(repoRoot, sourceOf(m)!), 'utf8'), `${m.metadata.name} differs from ${sourceOf(m)}`);
  }
});

const prometheusYml = fileMaps.find((m) => m.metadata.name === 'prometheus-prometheus.yml');

test("the cluster prometheus.yml is the topology's, mounted where --config.file points", (t) => {
  t.truthy(prometheusYml?.metadata.annotations['product-store/rendered-by']);
  t.is(contentOf(prometheusYml!), renderPrometheus(kubernetesPrometheusTarget(NAMESPACE)));
  const prometheus = containers.find((c) => c.container.name === 'prometheus')!.container;
  t.true(prometheus.args.includes(`--config.file=${mountPathOf(prometheusYml!)}`));
});

test('every ConfigMap file is mounted at its path in its component', (t) => {
  for (const m of fileMaps) {
    const mounted = containers.some((c) =>
      (c.container.volumeMounts ?? []).some((v: Doc) => v.mountPath === mountPathOf(m) && v.subPath === Object.keys(m.data)[0]),
    );
    t.true(mounted, `${m.metadata.name} is not mounted at ${mountPathOf(m)}`);
  }
});

test('promtool check config accepts the cluster prometheus.yml and the rules it loads', (t) => {
  // The files where the pod sees them, under a temporary root (this machine may have its own /etc/prometheus).
  const root = mkdtempSync(join(tmpdir(), 'product-store-prometheus-'));
  try {
    for (const m of fileMaps.filter((x) => x.metadata.labels['app.kubernetes.io/name'] === 'prometheus')) {
      const path = join(root, mountPathOf(m));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, contentOf(m));
    }
    const config = parse(contentOf(prometheusYml!)) as { rule_files: string[] };
    t.true(config.rule_files.length > 0);
    config.rule_files = config.rule_files.map((glob) => join(root, glob));
    const configPath = join(root, mountPathOf(prometheusYml!));
    writeFileSync(configPath, stringify(config));
    const r = spawnSync('promtool', ['check', 'config', configPath], { encoding: 'utf8' });
    t.is(r.error, undefined, 'promtool is not installed (Debian: apt-get install prometheus)');
    const output = `${r.stdout}${r.stderr}`;
    t.is(r.status, 0, output);
    t.regex(output, /SUCCESS: [1-9]\d* rule files? found/);
    t.regex(output, /SUCCESS: \d+ rules found/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
