/**
 * k8s/ on a real Kubernetes API server (tools/deploy/kube/cluster.ts: etcd, kube-apiserver and
 * kube-controller-manager v1.33 in a network namespace of their own, no kubelet), the way
 * charts/README.md deploys it: the namespace, the Secret with `kubectl create secret generic`, then
 * `kubectl apply -f k8s/`.
 *
 * The tests run in order (test.serial) on one cluster: each builds on what the previous applied.
 * The binaries come from ensureKubeBinaries() (tools/deploy/kube/build.ts), built once into the cache.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { App, YamlOutputType } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { NAMESPACE, SECRET_NAME, secretKeys, imageOf } from '@product-store/deploy';
import { IngressChart, TLS_SECRET_NAME } from '../../../charts/ingress';
import { startCluster, type Cluster, type RunResult } from '../kube/cluster';

type Doc = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any } };

/** PRODUCT_STORE_K8S_DIR tests another rendering of the manifests (an overlay's output, an older k8s/). */
const k8sDir = process.env.PRODUCT_STORE_K8S_DIR || join(__dirname, '..', '..', '..', 'k8s');
const files = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml')).sort();
const docs: Doc[] = files.flatMap((f) => parseAllDocuments(readFileSync(join(k8sDir, f), 'utf8')).map((d) => d.toJS() as Doc));
const namespaceFile = join(k8sDir, files[0]);
const workloads = docs.filter((d) => ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'].includes(d.kind));

/** How kubectl names an object in its output: `deployment.apps/backend`, `configmap/product-store-config`. */
function kubectlName(d: { apiVersion: string; kind: string; metadata: { name: string } }): string {
  const group = d.apiVersion.includes('/') ? `.${d.apiVersion.split('/')[0]}` : '';
  return `${d.kind.toLowerCase()}${group}/${d.metadata.name}`;
}

/** `<name> <verb>` lines of kubectl apply/create, by name. */
function verbs(output: string): Map<string, string> {
  return new Map(
    output
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, ...rest] = line.split(' ');
        return [name, rest.join(' ')] as [string, string];
      }),
  );
}

const warnings = (r: RunResult) => r.stderr.split('\n').filter((l) => /^Warning:/.test(l));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Paths where the stored object differs from what was written (fields the server adds are fine). */
function differences(written: unknown, stored: unknown, path: string, out: string[]): string[] {
  const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));
  if (Array.isArray(written)) {
    if (!Array.isArray(stored) || stored.length !== written.length) out.push(`${path}: wrote ${show(written)}, stored ${show(stored)}`);
    else written.forEach((w, i) => differences(w, stored[i], `${path}[${i}]`, out));
  } else if (written !== null && typeof written === 'object') {
    if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) out.push(`${path}: wrote ${show(written)}, stored ${show(stored)}`);
    else for (const [k, v] of Object.entries(written)) if (v !== undefined) differences(v, (stored as Record<string, unknown>)[k], `${path}.${k}`, out);
  } else if (written !== stored) {
    out.push(`${path}: wrote ${show(written)}, stored ${show(stored)}`);
  }
  return out;
}

/**
 * A Pod with a workload's pod template, labelled so that no controller adopts it. A StatefulSet's
 * claim templates become the volumes its controller would add.
 */
function podFrom(workload: Doc): Doc {
  const template = workload.kind === 'CronJob' ? workload.spec.jobTemplate.spec.template : workload.spec.template;
  const claims = (workload.spec.volumeClaimTemplates ?? []).map((c: Doc) => ({
    name: c.metadata.name,
    persistentVolumeClaim: { claimName: `${c.metadata.name}-${workload.metadata.name}-0` },
  }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pss-${workload.kind.toLowerCase()}-${workload.metadata.name}`, namespace: NAMESPACE, labels: { 'product-store/test': 'pod-security' } },
    spec: { ...template.spec, volumes: [...(template.spec.volumes ?? []), ...claims] },
  };
}

const list = (items: Doc[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

let cluster: Cluster;

test.before(async () => {
  cluster = await startCluster();
});

test.after.always(async () => {
  await cluster?.stop();
});

const getJson = async (args: string[]) => JSON.parse(await cluster.kubectl([...args, '-o', 'json'])) as { items: Doc[] } & Doc;

test.serial('server dry-run: the namespace is accepted and not stored', async (t) => {
  const dry = await cluster.run(['apply', '--dry-run=server', '-f', namespaceFile]);
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.stdout.trim(), `namespace/${NAMESPACE} created (server dry run)`);
  const get = await cluster.run(['get', 'namespace', NAMESPACE]);
  t.not(get.code, 0);
  t.regex(get.stderr, /NotFound/);
});

test.serial('apply: the namespace, then the Secret created as charts/README.md says', async (t) => {
  const ns = await cluster.run(['apply', '-f', namespaceFile]);
  t.is(ns.code, 0, ns.stderr);
  t.is(ns.stdout.trim(), `namespace/${NAMESPACE} created`);
  t.deepEqual(warnings(ns), []);

  const literals = secretKeys.map((key) => `--from-literal=${key}=${randomBytes(24).toString('base64')}`);
  const create = ['-n', NAMESPACE, 'create', 'secret', 'generic', SECRET_NAME, ...literals];
  const dry = await cluster.run([...create, '--dry-run=server']);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /created \(server dry run\)/);
  const real = await cluster.run(create);
  t.is(real.code, 0, real.stderr);
  const secret = await getJson(['-n', NAMESPACE, 'get', 'secret', SECRET_NAME]);
  t.deepEqual(Object.keys(secret.data).sort(), [...secretKeys].sort());
});

test.serial('server dry-run: every object of k8s/ is accepted, none is stored', async (t) => {
  const dry = await cluster.run(['apply', '--dry-run=server', '-f', k8sDir]);
  t.is(dry.code, 0, dry.stderr);
  t.deepEqual(warnings(dry), []);
  const result = verbs(dry.stdout);
  for (const d of docs) {
    const expected = d.kind === 'Namespace' ? 'unchanged (server dry run)' : 'created (server dry run)';
    t.is(result.get(kubectlName(d)), expected, kubectlName(d));
  }
  t.is(result.size, docs.length);
  const deployments = await getJson(['-n', NAMESPACE, 'get', 'deployments,statefulsets,services']);
  t.deepEqual(deployments.items.map((i) => `${i.kind}/${i.metadata.name}`), []);
});

test.serial('apply: every object of k8s/ is created, without PodSecurity or other warnings', async (t) => {
  const apply = await cluster.run(['apply', '-f', k8sDir]);
  t.is(apply.code, 0, apply.stderr);
  t.deepEqual(warnings(apply), []);
  const result = verbs(apply.stdout);
  for (const d of docs) t.is(result.get(kubectlName(d)), d.kind === 'Namespace' ? 'unchanged' : 'created', kubectlName(d));
});

test.serial('every object of k8s/ is stored, as written', async (t) => {
  const stored = await getJson(['get', '-f', k8sDir]);
  t.is(stored.items.length, docs.length);
  const byName = new Map(stored.items.map((i) => [kubectlName(i), i]));
  for (const d of docs) {
    const live = byName.get(kubectlName(d));
    if (!live) {
      t.fail(`${kubectlName(d)} is not stored`);
      continue;
    }
    const { metadata, ...rest } = d;
    const { labels, annotations, name, namespace } = metadata;
    t.deepEqual(differences({ metadata: { labels, annotations, name, namespace }, ...rest }, live, kubectlName(d), []), []);
  }
});

test.serial('PodSecurity restricted: an unrestricted Pod is refused, a Pod of every pod template is admitted', async (t) => {
  t.true(workloads.length >= 9, `${workloads.length} workloads`);
  // Server dry-run goes through admission: a Pod with the baseline's defaults (root allowed,
  // capabilities kept, no seccomp profile) is refused, so the admission below is real.
  const bad: Doc = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'pss-unrestricted', namespace: NAMESPACE },
    spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] },
  };
  const refused = await cluster.run(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(bad) });
  t.not(refused.code, 0);
  t.regex(refused.stderr, /violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false.*runAsNonRoot != true/);

  const pods = workloads.map(podFrom);
  const dry = await cluster.run(['create', '--dry-run=server', '-f', '-'], { input: list(pods) });
  t.is(dry.code, 0, dry.stderr);
  t.deepEqual(warnings(dry), []);

  // Real Pods need the namespace's default ServiceAccount (the controller manager creates it).
  for (let i = 0; i < 100 && (await cluster.run(['-n', NAMESPACE, 'get', 'serviceaccount', 'default'])).code !== 0; i++) await sleep(200);
  const real = await cluster.run(['create', '-f', '-'], { input: list(pods) });
  t.is(real.code, 0, real.stderr);
  const created = await getJson(['-n', NAMESPACE, 'get', 'pods', '-l', 'product-store/test=pod-security']);
  t.deepEqual(created.items.map((p) => p.metadata.name).sort(), pods.map((p) => p.metadata.name).sort());
  await cluster.kubectl(['-n', NAMESPACE, 'delete', 'pods', '-l', 'product-store/test=pod-security', '--wait=true']);
});

test.serial('the controller manager: every Deployment gets a ReplicaSet and its Pods (Pending, no kubelet), the autoscalers set 2 replicas, Cassandra gets its Pod and claim', async (t) => {
  const deployments = docs.filter((d) => d.kind === 'Deployment');
  const hpas = docs.filter((d) => d.kind === 'HorizontalPodAutoscaler');
  t.is(hpas.length, 4);
  const desired = (d: Doc) => d.spec.replicas ?? hpas.find((h) => h.spec.scaleTargetRef.name === d.metadata.name)?.spec.minReplicas ?? 1;
  let problems: string[] = [];
  for (const deadline = Date.now() + 90_000; Date.now() < deadline; await sleep(1000)) {
    const live = await getJson(['-n', NAMESPACE, 'get', 'deployments,replicasets,statefulsets,pods,persistentvolumeclaims,horizontalpodautoscalers']);
    const items = (kind: string) => live.items.filter((i) => i.kind === kind);
    const ownedBy = (i: Doc, kind: string, name: string) => (i.metadata.ownerReferences ?? []).some((o: Doc) => o.kind === kind && o.name === name);
    problems = [];
    for (const d of deployments) {
      const sets = items('ReplicaSet').filter((rs) => ownedBy(rs, 'Deployment', d.metadata.name));
      const pods = items('Pod').filter((p) => sets.some((rs) => ownedBy(p, 'ReplicaSet', rs.metadata.name)));
      const want = desired(d);
      if (sets.length !== 1) problems.push(`${d.metadata.name}: ${sets.length} ReplicaSets`);
      if (pods.length !== want) problems.push(`${d.metadata.name}: ${pods.length} pods, want ${want}`);
      for (const p of pods) if (p.status?.phase !== 'Pending' || p.spec.nodeName) problems.push(`${p.metadata.name}: ${p.status?.phase} on ${p.spec.nodeName}`);
      const spec = items('Deployment').find((x) => x.metadata.name === d.metadata.name)?.spec;
      if (spec?.replicas !== want) problems.push(`${d.metadata.name}: spec.replicas ${spec?.replicas}, want ${want}`);
    }
    for (const h of hpas) if (!items('HorizontalPodAutoscaler').some((x) => x.metadata.name === h.metadata.name)) problems.push(`no hpa ${h.metadata.name}`);
    for (const s of docs.filter((d) => d.kind === 'StatefulSet')) {
      for (let i = 0; i < s.spec.replicas; i++) {
        const pod = `${s.metadata.name}-${i}`;
        if (!items('Pod').some((p) => p.metadata.name === pod && ownedBy(p, 'StatefulSet', s.metadata.name))) problems.push(`no pod ${pod}`);
        for (const claim of s.spec.volumeClaimTemplates) {
          if (!items('PersistentVolumeClaim').some((c) => c.metadata.name === `${claim.metadata.name}-${pod}`)) problems.push(`no claim ${claim.metadata.name}-${pod}`);
        }
      }
    }
    if (!problems.length) break;
  }
  t.deepEqual(problems, []);
});

test.serial('Cassandra as stored: three nodes created together (Parallel), each fresh one waiting its turn, never two on one host, one down at a time; the keyspace at replication factor 3', async (t) => {
  const set = await getJson(['-n', NAMESPACE, 'get', 'statefulset', 'cassandra']);
  t.is(set.spec.replicas, 3);
  t.is(set.spec.podManagementPolicy, 'Parallel');
  const antiAffinity = (spec: Doc) => spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  t.deepEqual(antiAffinity(set.spec.template.spec), [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: set.spec.selector.matchLabels } }]);
  // The controller created every pod though none is ready (no kubelet here): OrderedReady would have
  // stopped at cassandra-0. Each carries the anti-affinity and the init container that orders bootstraps.
  const pods = (await getJson(['-n', NAMESPACE, 'get', 'pods', '-l', Object.entries(set.spec.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',')])).items;
  t.deepEqual(pods.map((p) => p.metadata.name).sort(), ['cassandra-0', 'cassandra-1', 'cassandra-2']);
  for (const p of pods) {
    t.deepEqual(antiAffinity(p.spec), antiAffinity(set.spec.template.spec), p.metadata.name);
    t.deepEqual(p.spec.initContainers.map((c: Doc) => c.name), ['copy-config', 'join-in-turn'], p.metadata.name);
  }
  const budget = await getJson(['-n', NAMESPACE, 'get', 'poddisruptionbudget', 'cassandra']);
  t.is(budget.spec.maxUnavailable, 1);
  t.deepEqual(budget.spec.selector, set.spec.selector);
  const settings = await getJson(['-n', NAMESPACE, 'get', 'configmap', 'product-store-config']);
  t.is(settings.data.CASSANDRA_REPLICATION_FACTOR, '3');
});

/**
 * Every object's generation and the time `manager` last wrote it: they change only when a request of
 * that manager changed the object (managedFields times have a resolution of one second).
 */
async function writesBy(manager: string): Promise<Map<string, string>> {
  const stored = await getJson(['get', '--show-managed-fields', '-f', k8sDir]);
  return new Map(
    stored.items.map((i) => [
      kubectlName(i),
      `generation ${i.metadata.generation} ${(i.metadata.managedFields as Doc[]).filter((m) => m.manager === manager).map((m) => `${m.operation}@${m.time}`).join(',')}`,
    ]),
  );
}

test.serial('a second kubectl apply changes nothing: no object written, every one but the PodDisruptionBudgets reported unchanged', async (t) => {
  const before = await writesBy('kubectl-client-side-apply');
  await sleep(1100);
  const again = await cluster.run(['apply', '-f', k8sDir]);
  t.is(again.code, 0, again.stderr);
  const result = verbs(again.stdout);
  t.is(result.size, docs.length);
  // kubectl's client-side patch always carries a policy/v1 PodDisruptionBudget's `selector`
  // (patch strategy "replace"), so it reports them `configured` although the server changes nothing.
  const reported = [...result].filter(([name, verb]) => verb !== 'unchanged' && !name.startsWith('poddisruptionbudget.policy/'));
  t.deepEqual(reported.map(([name, verb]) => `${name} ${verb}`), []);
  t.deepEqual(await writesBy('kubectl-client-side-apply'), before);
});

test.serial('kubectl apply --server-side after the client-side apply succeeds without --force-conflicts, takes over the fields, and a second one writes nothing', async (t) => {
  const ssa = await cluster.run(['apply', '--server-side', '-f', k8sDir]);
  t.is(ssa.code, 0, ssa.stderr);
  t.deepEqual(warnings(ssa), []);
  t.is([...verbs(ssa.stdout).values()].filter((v) => v === 'serverside-applied').length, docs.length);
  // kubectl moved the client-side apply's field ownership to its server-side manager: a later
  // server-side apply that drops a field removes it instead of leaving it owned by nobody.
  const stored = await getJson(['get', '--show-managed-fields', '-f', k8sDir]);
  for (const item of stored.items) {
    const managers = (item.metadata.managedFields as Doc[]).map((m) => `${m.manager}:${m.operation}`);
    t.true(managers.includes('kubectl:Apply'), `${kubectlName(item)}: ${managers.join(', ')}`);
    t.false(managers.includes('kubectl-client-side-apply:Update'), `${kubectlName(item)}: ${managers.join(', ')}`);
  }
  // A second server-side apply writes nothing.
  const before = await writesBy('kubectl');
  await sleep(1100);
  const again = await cluster.run(['apply', '--server-side', '-f', k8sDir]);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(await writesBy('kubectl'), before);
});

test.serial("a drain may evict the stateless components' unhealthy pods (AlwaysAllow), a Cassandra node only within the budget (IfHealthyBudget)", async (t) => {
  const budgets = await getJson(['-n', NAMESPACE, 'get', 'poddisruptionbudgets']);
  t.is(budgets.items.length, 6);
  t.true(budgets.items.some((b: { metadata: { name: string } }) => b.metadata.name === 'cassandra'));
  for (const b of budgets.items) t.is(b.spec.unhealthyPodEvictionPolicy, b.metadata.name === 'cassandra' ? 'IfHealthyBudget' : 'AlwaysAllow', b.metadata.name);
});

test.serial('the storefront as stored: two restricted pods of its image behind a Service, `/` of the Ingress below every API path, reachable from ingress-nginx only', async (t) => {
  const get = async (kind: string, name: string) => getJson(['-n', NAMESPACE, 'get', kind, name]);
  const deployment = await get('deployment', 'storefront');
  t.is(deployment.spec.replicas, 2);
  t.deepEqual(deployment.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  const pod = deployment.spec.template.spec;
  t.is(pod.automountServiceAccountToken, false);
  t.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  const [container] = pod.containers;
  // The image compose runs too (images/storefront); another rendering may name another registry or tag.
  t.regex(container.image, /^\S+\/storefront:[A-Za-z0-9_][A-Za-z0-9_.-]*$/);
  if (!process.env.PRODUCT_STORE_K8S_DIR) t.is(container.image, imageOf('storefront'));
  t.deepEqual(container.ports.map((p: Doc) => `${p.name}:${p.containerPort}`), ['http:8080']);
  t.like(container.securityContext, { runAsNonRoot: true, runAsUser: 101, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  for (const probe of [container.livenessProbe, container.readinessProbe]) t.like(probe.httpGet, { path: '/', port: 8080 });
  t.truthy(container.resources.limits.cpu && container.resources.limits.memory && container.resources.requests.cpu && container.resources.requests.memory);
  // nginx's pid and temporary files: /tmp, an emptyDir; nothing else is writable.
  t.deepEqual(container.volumeMounts.map((m: Doc) => m.mountPath), ['/tmp']);
  t.truthy(pod.volumes.find((v: Doc) => v.name === container.volumeMounts[0].name)?.emptyDir);

  // The controller manager made its pods (Pending: no kubelet), and the Service selects them.
  const pods = await getJson(['-n', NAMESPACE, 'get', 'pods', '-l', 'app.kubernetes.io/name=storefront']);
  t.is(pods.items.length, 2);
  const service = await get('service', 'storefront');
  t.deepEqual(service.spec.selector, { 'app.kubernetes.io/name': 'storefront' });
  t.deepEqual(service.spec.ports.map((p: Doc) => `${p.name}:${p.port}->${p.targetPort}`), ['http:8080->http']);
  const budget = await get('poddisruptionbudget', 'storefront');
  t.is(budget.spec.minAvailable, 1);

  // The Ingress: `/` (Prefix) to the storefront; every other path is an API route, longer, which
  // ingress-nginx prefers. The CSP is the storefront nginx's own (no configuration snippet here).
  const ingresses = await getJson(['-n', NAMESPACE, 'get', 'ingresses']);
  const paths = ingresses.items.flatMap((i) => i.spec.rules.flatMap((r: Doc) => r.http.paths.map((p: Doc) => ({ ingress: i.metadata.name, path: p.path, type: p.pathType, to: `${p.backend.service.name}:${p.backend.service.port.name}` }))));
  t.deepEqual(paths.filter((p) => p.to.startsWith('storefront:')), [{ ingress: 'product-store-storefront', path: '/', type: 'Prefix', to: 'storefront:http' }]);
  for (const p of paths.filter((x) => !x.to.startsWith('storefront:'))) t.true(p.path.length > 1 && p.path.startsWith('/'), `${p.ingress} ${p.path}`);
  t.false(ingresses.items.some((i) => Object.keys(i.metadata.annotations ?? {}).some((k) => k.endsWith('-snippet'))));

  // Network policy: in from the ingress-nginx controller on 8080 only; no egress rule (DNS aside).
  const policy = await get('networkpolicy', 'allow-storefront');
  t.deepEqual(policy.spec.policyTypes, ['Ingress']);
  t.deepEqual(policy.spec.ingress, [
    {
      from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/component': 'controller', 'app.kubernetes.io/name': 'ingress-nginx' } },
        },
      ],
      ports: [{ port: 8080, protocol: 'TCP' }],
    },
  ]);
});

test.serial('the Ingress chart with TLS is accepted by the API server, with its tls section', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ps-ingress-tls-'));
  try {
    const app = new App({ outdir: dir, yamlOutputType: YamlOutputType.FILE_PER_CHART });
    new IngressChart(app, 'ingress', { host: 'shop.example.com', tls: true, clusterIssuer: 'letsencrypt' });
    app.synth();
    const dry = await cluster.run(['apply', '--dry-run=server', '-o', 'json', '-f', dir]);
    t.is(dry.code, 0, dry.stderr);
    const ingresses = (JSON.parse(dry.stdout) as { items: Doc[] }).items;
    t.is(ingresses.length, docs.filter((d) => d.kind === 'Ingress').length);
    for (const i of ingresses) {
      t.deepEqual(i.spec.tls, [{ hosts: ['shop.example.com'], secretName: TLS_SECRET_NAME }], i.metadata.name);
      t.is(i.metadata.annotations['nginx.ingress.kubernetes.io/ssl-redirect'], 'true', i.metadata.name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
