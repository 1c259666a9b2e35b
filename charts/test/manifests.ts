/** The committed manifests (k8s/*.yaml), parsed, for the tests that check them. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { outdir } from '../main';

export type Doc = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any } };

export interface Manifest {
  readonly file: string;
  readonly doc: Doc;
}

export function manifestFiles(dir = outdir): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
}

export function loadManifests(dir = outdir): Manifest[] {
  return manifestFiles(dir).flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return { file, doc: d.toJS() as Doc };
    }),
  );
}

export const manifests = loadManifests();
export const docs = manifests.map((m) => m.doc);
export const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
export const id = (d: Doc) => `${d.kind}/${d.metadata.name}`;

/** Every pod template: Deployments and StatefulSets. */
export const workloads = docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');

export interface PodContainer {
  readonly workload: Doc;
  readonly container: Doc;
  readonly init: boolean;
}

export const containers: PodContainer[] = workloads.flatMap((w) => [
  ...(w.spec.template.spec.initContainers ?? []).map((c: Doc) => ({ workload: w, container: c, init: true })),
  ...w.spec.template.spec.containers.map((c: Doc) => ({ workload: w, container: c, init: false })),
]);

export const where = (c: PodContainer) => `${id(c.workload)} container ${c.container.name}`;

export function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || !Object.keys(selector).length) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
