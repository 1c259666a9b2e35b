/**
 * The configuration files each component reads, as the cluster provides them: the spec's files
 * (read from this repository when the charts are synthesized) plus the files only a cluster has
 * (its Prometheus configuration). One ConfigMap per file, because `kubectl apply` keeps a copy of
 * every object in an annotation limited to 256 KiB, which all the dashboards together exceed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type * as k8s from 'cdk8s-plus-27/lib/imports/k8s';
import { kubernetesPrometheusTarget, renderPrometheus } from '../../monitoring/prometheus/config';
import { NAMESPACE, clusterConfigDefaults, type Component } from '@product-store/deploy';

export const repoRoot = resolve(__dirname, '..', '..');

/** The pod volume that holds a component's configuration files. */
export const CONFIG_FILES_VOLUME = 'config-files';

export interface ConfigFile {
  /** The ConfigMap that holds it. */
  readonly configMap: string;
  /** Its key in that ConfigMap: the file's name. */
  readonly key: string;
  /** Where the component reads it. */
  readonly mountPath: string;
  /** Where it comes from: a file of this repository, or (for a cluster's own files) what renders it. */
  readonly source: { readonly file: string } | { readonly renderedBy: string };
  readonly content: string;
  readonly volumeMount: k8s.VolumeMount;
}

/** Files a cluster adds to a component's spec: rendered here rather than read from the repository. */
const clusterFiles: Record<string, (component: Component) => Array<{ mountPath: string; source: ConfigFile['source']; render: () => string }>> = {
  prometheus: (component) => [
    {
      mountPath: argValue(component, '--config.file'),
      source: { renderedBy: 'monitoring/prometheus/config.ts renderPrometheus(kubernetesPrometheusTarget)' },
      render: () => renderPrometheus(kubernetesPrometheusTarget(NAMESPACE)),
    },
  ],
};

const cache = new Map<string, ConfigFile[]>();

export function configFilesOf(component: Component): ConfigFile[] {
  let files = cache.get(component.name);
  if (!files) {
    files = [
      ...component.configFiles.map((f) => ({ mountPath: f.mountPath, source: { file: f.source }, render: () => readFileSync(join(repoRoot, f.source), 'utf8') })),
      ...(clusterFiles[component.name]?.(component) ?? []),
    ].map((f) => configFile(component, f.mountPath, f.source, f.render()));
    const keys = files.map((f) => f.key);
    const clash = keys.find((k, i) => keys.indexOf(k) !== i);
    if (clash) throw new Error(`${component.name}: two configuration files are named ${clash}`);
    cache.set(component.name, files);
  }
  return files;
}

function configFile(component: Component, mountPath: string, source: ConfigFile['source'], content: string): ConfigFile {
  const key = basename(mountPath);
  const configMap = `${component.name}-${key}`;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(configMap) || configMap.length > 253) {
    throw new Error(`${component.name}: ${mountPath} gives the invalid ConfigMap name ${configMap}`);
  }
  return {
    configMap,
    key,
    mountPath,
    source,
    content,
    // subPath: each file lands at its own path without hiding the rest of its directory.
    volumeMount: { name: CONFIG_FILES_VOLUME, mountPath, subPath: key, readOnly: true },
  };
}

/**
 * A digest of everything a component reads from ConfigMaps. subPath mounts and environment
 * variables never see a changed ConfigMap, so the pod template carries this and changes with it.
 */
export function configChecksum(component: Component): string {
  const hash = createHash('sha256');
  for (const f of configFilesOf(component)) hash.update(`${f.key}\0${f.content}\0`);
  for (const source of Object.values(component.env)) {
    if ('config' in source) hash.update(`${source.config}=${clusterConfigDefaults[source.config]}\0`);
  }
  return hash.digest('hex');
}

/** The value of a `--flag=value` argument of the spec. */
export function argValue(component: Component, flag: string): string {
  const arg = component.args?.find((a) => a.startsWith(`${flag}=`));
  if (!arg) throw new Error(`${component.name}: no ${flag}= argument in the spec`);
  return arg.slice(flag.length + 1);
}
