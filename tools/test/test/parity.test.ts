/**
 * Parity: compose (compose/docker-compose.yml, resolved by docker-compose with .env.example) and the
 * cluster (k8s/*.yaml) run the same stack: the same components, images, ports, environment variable
 * names, probe paths and configuration files. The cluster's gateway is ingress-nginx, so compose's
 * nginx and its exporter stand against the Ingress.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';
import { components, gatewayRoutes, replicaByName } from '@product-store/deploy';
import { repoRoot } from '../../cassandra/launcher';

type Doc = Record<string, any>;

const compose: Record<string, Doc> = (() => {
  const run = spawnSync('docker-compose', ['-f', 'compose/docker-compose.yml', '--env-file', 'compose/.env.example', 'config'], { cwd: repoRoot, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`docker-compose config failed (apt-get install docker-compose): ${run.stderr}`);
  return parse(run.stdout).services;
})();

const cluster: Doc[] = ['00-namespace', '01-config', '02-network-policies', '10-cassandra', '20-backend', '21-cart-service', '22-order-service', '23-user-service', '24-storefront', '30-prometheus', '31-alertmanager', '32-grafana', '33-jaeger', '40-ingress']
  .flatMap((f) => parseAllDocuments(readFileSync(join(repoRoot, 'k8s', `${f}.k8s.yaml`), 'utf8')).map((d) => d.toJS() as Doc));
const workloads = new Map(cluster.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet').map((d) => [d.metadata.name as string, d]));
const configMaps = new Map(cluster.filter((d) => d.kind === 'ConfigMap').map((d) => [d.metadata.name as string, d]));

/** Components both deployments run as their own containers (the gateway is nginx in compose, an Ingress in a cluster). */
const shared = components.filter((c) => c.role !== 'gateway');
const podOf = (name: string) => workloads.get(name)!.spec.template.spec;
const mainContainer = (name: string) => podOf(name).containers.find((c: Doc) => c.name === name) ?? podOf(name).containers[0];

test('the same components: every compose service but the gateway is a workload in the cluster, and the reverse', (t) => {
  // A service's other replicas (backend-2, ...) are copies of its component: the cluster scales a Deployment.
  const longRunning = Object.entries(compose).filter(([, s]) => s.restart !== 'no').map(([name]) => replicaByName(name)?.service ?? name);
  t.deepEqual([...new Set(longRunning)].sort(), components.map((c) => c.name).sort());
  t.deepEqual([...workloads.keys()].sort(), shared.map((c) => c.name).sort());
  const ingressBackends = new Set(
    cluster.filter((d) => d.kind === 'Ingress').flatMap((i) => i.spec.rules.flatMap((r: Doc) => r.http.paths.map((p: Doc) => p.backend.service.name))),
  );
  // compose's nginx proxies `/` to the storefront's nginx; the Ingress routes `/` to its Service.
  t.deepEqual([...ingressBackends].sort(), [...new Set([...gatewayRoutes.map((r) => r.service), 'storefront'])].sort(), 'the Ingress plays nginx: it reaches the same services and the storefront');
});

test('the same images', (t) => {
  for (const c of shared) {
    t.is(compose[c.name].image, mainContainer(c.name).image, c.name);
    t.is(compose[c.name].image, c.image, `${c.name} as the spec says`);
  }
});

test('the same ports: what compose publishes or addresses, the cluster declares', (t) => {
  for (const c of shared) {
    const clusterPorts = (mainContainer(c.name).ports ?? []).map((p: Doc) => p.containerPort).sort();
    t.deepEqual(clusterPorts, c.ports.map((p) => p.port).sort(), `${c.name}: container ports`);
    // `[host address:]published:target[/protocol]`, as docker-compose prints them.
    const published = (compose[c.name].ports ?? []).map((p: Doc | string) => Number(typeof p === 'string' ? p.split('/')[0].split(':').pop() : p.target));
    for (const port of published) t.true(clusterPorts.includes(port), `${c.name} publishes ${port} in compose`);
  }
  // Every address one component uses to reach another, in both deployments' environment.
  const addresses = (env: Record<string, string>) => Object.values(env).flatMap((v) => [...String(v).matchAll(/\/\/([a-z-]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`));
  for (const c of shared) {
    const composeEnv: Record<string, string> = compose[c.name].environment ?? {};
    const clusterEnv = Object.fromEntries((mainContainer(c.name).env ?? []).filter((e: Doc) => 'value' in e).map((e: Doc) => [e.name, e.value]));
    t.deepEqual(addresses(composeEnv).sort(), addresses(clusterEnv).sort(), `${c.name}: addresses of other components`);
    for (const address of addresses(composeEnv)) {
      const [host, port] = address.split(':');
      const target = cluster.find((d) => d.kind === 'Service' && d.metadata.name === host);
      t.truthy(target, `${c.name} reaches ${host}, a Service in the cluster`);
      t.true(target?.spec.ports.some((p: Doc) => String(p.port) === port), `${c.name} reaches ${address}`);
    }
  }
});

test('the same environment variable names', (t) => {
  for (const c of shared) {
    // A service's migration step is a one-shot container of its own in compose, an init container in its pod.
    const composeNames = [...new Set([compose[c.name], compose[`${c.name}-migrate`]].flatMap((s) => Object.keys(s?.environment ?? {})))].sort();
    const pod = podOf(c.name);
    const clusterNames = [...new Set([...(pod.initContainers ?? []), ...pod.containers].flatMap((k: Doc) => (k.env ?? []).map((e: Doc) => e.name as string)))].sort();
    t.deepEqual(composeNames, clusterNames, c.name);
    t.deepEqual(composeNames, [...new Set([...Object.keys(c.env), ...Object.keys(c.migrate?.env ?? {})])].sort(), `${c.name} as the spec says`);
  }
});

test('the same probe paths', (t) => {
  for (const c of shared) {
    const container = mainContainer(c.name);
    const healthcheck = JSON.stringify(compose[c.name].healthcheck?.test ?? []);
    if (c.readiness) {
      t.is(container.readinessProbe?.httpGet?.path, c.readiness.path, `${c.name}: cluster readiness`);
      t.is(container.livenessProbe?.httpGet?.path, c.liveness!.path, `${c.name}: cluster liveness`);
      t.true(healthcheck.includes(`:${c.readiness.port}${c.readiness.path}`), `${c.name}: compose checks ${c.readiness.path} (${healthcheck})`);
    } else {
      // No HTTP health endpoint (Cassandra): both use the image's own check.
      t.truthy(container.readinessProbe?.exec, `${c.name}: cluster exec readiness`);
      const command = JSON.stringify(container.readinessProbe.exec.command);
      const check = healthcheck.match(/cassandra-healthcheck/)?.[0];
      t.truthy(check, `${c.name}: compose uses the image's check`);
      t.true(command.includes(check!), `${c.name}: the cluster uses the same check (${command})`);
    }
  }
});

test('the same configuration files, with the same contents', (t) => {
  for (const c of shared) {
    // docker-compose prints a version 2 file's volumes as `source:target[:mode]`.
    const composeMounts = new Map(
      (compose[c.name].volumes ?? [])
        .map((v: Doc | string) => (typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : v))
        .filter((v: Doc) => String(v.source).startsWith('/'))
        .map((v: Doc) => [v.target as string, (v.source as string).replace(`${repoRoot}/`, '')]),
    );
    const pod = podOf(c.name);
    const volumes = new Map<string, Doc>((pod.volumes ?? []).map((v: Doc) => [v.name as string, v]));
    const clusterMounts = new Map<string, string>();
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      for (const mount of container.volumeMounts ?? []) {
        const volume = volumes.get(mount.name);
        // A ConfigMap volume, or a projected one made of several: each item is a file in the volume.
        const sources: Doc[] = volume?.configMap ? [volume.configMap] : (volume?.projected?.sources ?? []).map((p: Doc) => p.configMap).filter(Boolean);
        for (const source of sources) {
          const data = configMaps.get(source.name)!.data;
          const items: Array<{ key: string; path: string }> = source.items ?? Object.keys(data).map((key) => ({ key, path: key }));
          for (const item of items) {
            if (mount.subPath && mount.subPath !== item.path) continue;
            clusterMounts.set(mount.subPath ? mount.mountPath : `${mount.mountPath}/${item.path}`, data[item.key]);
          }
        }
      }
    }
    for (const file of c.configFiles) {
      t.is(composeMounts.get(file.mountPath), file.source, `${c.name}: compose mounts ${file.source} at ${file.mountPath}`);
      t.is(clusterMounts.get(file.mountPath), readFileSync(join(repoRoot, file.source), 'utf8'), `${c.name}: the cluster mounts the same ${file.source}`);
    }
  }
  // Prometheus differs only in how it finds its targets; the jobs and rule files are the same.
  const composePrometheus = parse(readFileSync(join(repoRoot, 'compose', 'prometheus', 'prometheus.yml'), 'utf8'));
  const clusterPrometheus = parse([...configMaps.values()].map((m) => m.data?.['prometheus.yml']).find(Boolean));
  const jobs = (config: Doc) => config.scrape_configs.map((s: Doc) => s.job_name);
  t.deepEqual(jobs(clusterPrometheus), jobs(composePrometheus));
  t.deepEqual(clusterPrometheus.rule_files, composePrometheus.rule_files);
  t.deepEqual(clusterPrometheus.global, composePrometheus.global);
});
