/**
 * Rules every manifest of k8s/ must keep: restricted security, probes and resources, secrets only
 * through the Secret, selectors that select something, pinned images, the public routes and
 * nothing more, and the network flows the stack needs (and no others).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { gatewayRoutes, type ServiceName, CONFIG_NAME, NAMESPACE, SECRET_NAME, clusterConfigDefaults, component, configDefaults, secretKeys } from '@product-store/deploy';
import { repoRoot } from '../lib/config-files';
import { ingressNginx } from '../lib/ingress-nginx';
import { clusterComponents } from '../lib/workload';
import { containers, docs, id, matches, ofKind, where, workloads, type Doc } from './manifests';
import { TRACE_FLUSH_DEADLINE_MS } from '@product-store/kit/instrumentation';

const podLabels = (w: Doc): Record<string, string> => w.spec.template.metadata.labels;

// --- security -----------------------------------------------------------------------------------

test('every container and init container runs restricted: non-root numeric user, read-only root, no escalation, no capabilities', (t) => {
  t.true(containers.length >= clusterComponents.length);
  for (const c of containers) {
    const sc = c.container.securityContext ?? {};
    t.is(sc.runAsNonRoot, true, `${where(c)}: runAsNonRoot`);
    t.true(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, `${where(c)}: runAsUser ${sc.runAsUser}`);
    t.is(sc.readOnlyRootFilesystem, true, `${where(c)}: readOnlyRootFilesystem`);
    t.is(sc.allowPrivilegeEscalation, false, `${where(c)}: allowPrivilegeEscalation`);
    t.deepEqual(sc.capabilities?.drop, ['ALL'], `${where(c)}: capabilities`);
    t.falsy(sc.capabilities?.add, `${where(c)}: adds capabilities`);
  }
});

test('every pod: RuntimeDefault seccomp, the spec user, no service account token', (t) => {
  for (const w of workloads) {
    const spec = w.spec.template.spec;
    t.is(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', id(w));
    t.is(spec.securityContext?.runAsUser, component(w.metadata.name).user, `${id(w)}: runs as the spec's user`);
    t.is(spec.automountServiceAccountToken, false, id(w));
    t.falsy(spec.hostNetwork || spec.hostPID || spec.hostIPC, id(w));
  }
});

test('the namespace enforces the restricted Pod Security Standard', (t) => {
  const [namespace] = ofKind('Namespace');
  t.is(namespace.metadata.name, NAMESPACE);
  t.is(namespace.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
});

// --- probes, resources, images --------------------------------------------------------------------

test('every main container has liveness and readiness probes and CPU and memory requests and limits', (t) => {
  for (const c of containers) {
    const r = c.container.resources ?? {};
    for (const kind of ['requests', 'limits']) {
      for (const resource of ['cpu', 'memory']) t.truthy(r[kind]?.[resource], `${where(c)}: no ${resource} ${kind}`);
    }
    if (c.init) continue;
    t.truthy(c.container.livenessProbe, `${where(c)}: no liveness probe`);
    t.truthy(c.container.readinessProbe, `${where(c)}: no readiness probe`);
  }
});

test('every main container runs the spec image, with its resources', (t) => {
  for (const c of containers.filter((x) => !x.init)) {
    const spec = component(c.container.name);
    t.is(c.container.image, spec.image, where(c));
    t.deepEqual(c.container.resources, {
      requests: { cpu: spec.resources.cpu.request, memory: spec.resources.memory.request },
      limits: { cpu: spec.resources.cpu.limit, memory: spec.resources.memory.limit },
    });
  }
});

test('every image is pinned to a tag other than latest, and pulled only when missing', (t) => {
  for (const c of containers) {
    const image: string = c.container.image;
    const tag = image.slice(image.lastIndexOf('/') + 1).split(':')[1];
    t.truthy(tag, `${where(c)}: ${image} has no tag`);
    t.not(tag, 'latest', `${where(c)}: ${image}`);
    t.is(c.container.imagePullPolicy, 'IfNotPresent', where(c));
  }
});

// --- secrets and configuration --------------------------------------------------------------------

test('no Secret objects: the operator creates product-store-secrets', (t) => {
  t.deepEqual(ofKind('Secret'), []);
});

test('every secret of the spec comes from the Secret, by its key', (t) => {
  let checked = 0;
  for (const c of containers) {
    const spec = component(c.workload.metadata.name);
    // A service's init container `migrate` runs its migration step, with the step's environment.
    const specEnv = c.init && c.container.name === 'migrate' ? spec.migrate!.env : spec.env;
    for (const env of c.container.env ?? []) {
      const source = specEnv[env.name];
      const secretName = env.name === 'GF_SECURITY_ADMIN_PASSWORD' || secretKeys.includes(env.name);
      if (!(source && 'secret' in source) && !secretName) continue;
      checked++;
      t.is(env.value, undefined, `${where(c)}: ${env.name} has a plain value`);
      const optional = source && 'secret' in source && source.optional ? { optional: true } : {};
      t.deepEqual(env.valueFrom?.secretKeyRef, { name: SECRET_NAME, key: source && 'secret' in source ? source.secret : env.name, ...optional }, `${where(c)}: ${env.name}`);
    }
  }
  t.true(checked >= 8, `only ${checked} secret variables checked`);
});

test('no plain environment value looks like a secret', (t) => {
  for (const c of containers) {
    for (const env of c.container.env ?? []) {
      if (/PASSWORD|SECRET|TOKEN|CREDENTIAL|API_KEY|CHAT_ID/i.test(env.name)) t.is(env.value, undefined, `${where(c)}: ${env.name} = ${env.value}`);
    }
  }
});

test('every configMapKeyRef and secretKeyRef names a key that exists', (t) => {
  for (const c of containers) {
    for (const env of c.container.env ?? []) {
      const ref = env.valueFrom?.configMapKeyRef;
      if (ref) {
        t.is(ref.name, CONFIG_NAME, `${where(c)}: ${env.name}`);
        t.true(ref.key in configDefaults, `${where(c)}: ${env.name} reads the missing key ${ref.key}`);
      }
      const secretRef = env.valueFrom?.secretKeyRef;
      if (secretRef) t.true(secretKeys.includes(secretRef.key), `${where(c)}: ${env.name} reads ${secretRef.key}, which the Secret's instructions do not list`);
    }
  }
});

test('the settings ConfigMap holds every setting of the spec with its cluster default', (t) => {
  const settings = ofKind('ConfigMap').find((m) => m.metadata.name === CONFIG_NAME);
  t.deepEqual(settings?.data, clusterConfigDefaults);
  t.deepEqual(Object.keys(clusterConfigDefaults), Object.keys(configDefaults));
});

test('the Secret instructions (config chart and README) name every secret key', (t) => {
  for (const file of ['charts/config.ts', 'charts/README.md']) {
    const text = readFileSync(join(repoRoot, file), 'utf8');
    for (const key of secretKeys) t.true(text.includes(`--from-literal=${key}=`) || text.includes(`--from-file=${key}=`), `${file} does not tell how to set ${key}`);
    t.true(text.includes(`create secret generic ${SECRET_NAME}`), file);
  }
});

test('every ConfigMap and claim a pod uses exists, and every ConfigMap fits kubectl apply (256 KiB)', (t) => {
  const configMaps = new Map(ofKind('ConfigMap').map((m) => [m.metadata.name, m]));
  const claims = new Set(ofKind('PersistentVolumeClaim').map((c) => c.metadata.name));
  for (const w of workloads) {
    for (const volume of w.spec.template.spec.volumes ?? []) {
      for (const source of volume.projected?.sources ?? []) {
        const map = configMaps.get(source.configMap.name);
        t.truthy(map, `${id(w)}: no ConfigMap ${source.configMap.name}`);
        for (const item of source.configMap.items) t.true(item.key in (map?.data ?? {}), `${id(w)}: ${source.configMap.name} has no ${item.key}`);
      }
      if (volume.persistentVolumeClaim) t.true(claims.has(volume.persistentVolumeClaim.claimName), `${id(w)}: no claim ${volume.persistentVolumeClaim.claimName}`);
    }
  }
  for (const map of configMaps.values()) t.true(JSON.stringify(map).length < 256 * 1024 - 4096, `ConfigMap ${map.metadata.name} is too large for kubectl apply`);
});

// --- selectors -----------------------------------------------------------------------------------

test('every namespaced object is in the Product Store namespace', (t) => {
  for (const d of docs.filter((x) => x.kind !== 'Namespace')) t.is(d.metadata.namespace, NAMESPACE, id(d));
});

test("every workload's selector matches its own pod template", (t) => {
  for (const w of workloads) t.true(matches(w.spec.selector.matchLabels, podLabels(w)), id(w));
});

test("every Service selects some workload's pods, on ports those pods name", (t) => {
  for (const service of ofKind('Service')) {
    const selected = workloads.filter((w) => w.metadata.namespace === service.metadata.namespace && matches(service.spec.selector, podLabels(w)));
    t.is(selected.length, 1, `Service ${service.metadata.name} selects ${selected.length} workloads`);
    const portNames = selected.flatMap((w) => w.spec.template.spec.containers.flatMap((c: Doc) => (c.ports ?? []).map((p: Doc) => p.name)));
    for (const port of service.spec.ports) t.true(portNames.includes(port.targetPort), `Service ${service.metadata.name}: no container port ${port.targetPort}`);
  }
});

test('every service has its ClusterIP Service and the headless <name>-pods Service Prometheus discovers', (t) => {
  const servicesByName = new Map(ofKind('Service').map((s) => [s.metadata.name, s]));
  for (const name of ['backend', 'cart-service', 'order-service', 'user-service']) {
    t.not(servicesByName.get(name)?.spec.clusterIP, 'None', name);
    t.is(servicesByName.get(`${name}-pods`)?.spec.clusterIP, 'None', `${name}-pods`);
    t.deepEqual(servicesByName.get(name)?.spec.ports.map((p: Doc) => p.name), ['http']);
  }
  t.is(servicesByName.get('cassandra')?.spec.clusterIP, 'None');
  t.deepEqual(servicesByName.get('jaeger')?.spec.ports.map((p: Doc) => `${p.name}:${p.port}`), ['ui:16686', 'otlp-http:4318', 'otlp-grpc:4317', 'admin:14269']);
});

test('every PodDisruptionBudget selects a workload', (t) => {
  const budgets = ofKind('PodDisruptionBudget');
  t.is(budgets.length, 6);
  for (const pdb of budgets) {
    t.true(workloads.some((w) => matches(pdb.spec.selector.matchLabels, podLabels(w))), pdb.metadata.name);
  }
});

test("a drain evicts the stateless components' unready pods (AlwaysAllow), never an unready Cassandra node beyond the budget (IfHealthyBudget)", (t) => {
  // With IfHealthyBudget, a service whose pods are all unready blocks every node drain; evicting a pod
  // that serves nothing costs nothing. A Cassandra node that is not ready (starting, bootstrapping)
  // is about to hold its replicas again: evicting it while another is down leaves one of three.
  const budgets = ofKind('PodDisruptionBudget');
  t.true(budgets.some((p) => p.metadata.name === 'cassandra'));
  for (const pdb of budgets) t.is(pdb.spec.unhealthyPodEvictionPolicy, pdb.metadata.name === 'cassandra' ? 'IfHealthyBudget' : 'AlwaysAllow', pdb.metadata.name);
});

test('Grafana: liveness does not ask the database, readiness does, and a startup probe covers its first start', (t) => {
  const grafana = containers.find((c) => c.container.name === 'grafana' && !c.init)!.container;
  // /healthz answers while the web server runs; /api/health also checks the database.
  t.is(grafana.livenessProbe.httpGet?.path, '/healthz');
  t.is(grafana.readinessProbe.httpGet?.path, '/api/health');
  t.truthy(grafana.startupProbe?.httpGet, 'no startup probe');
  t.true(grafana.startupProbe.periodSeconds * grafana.startupProbe.failureThreshold >= 300, 'the startup probe allows at least 5 minutes');
});

test('every main container checks something else for liveness than for readiness, but jaeger (its admin port has one health check) and the storefront (static files: serving them is both)', (t) => {
  const check = (p: Doc) => ({ httpGet: p.httpGet, exec: p.exec, tcpSocket: p.tcpSocket, grpc: p.grpc });
  for (const c of containers.filter((x) => !x.init && !['jaeger', 'storefront'].includes(x.container.name))) {
    t.notDeepEqual(check(c.container.livenessProbe), check(c.container.readinessProbe), where(c));
  }
});

test('every rolling update states its parameters: kubectl apply would otherwise remove the defaults the server adds, on every apply', (t) => {
  for (const w of workloads.filter((x) => x.kind === 'Deployment' && x.spec.strategy?.type !== 'Recreate')) {
    t.truthy(w.spec.strategy?.rollingUpdate?.maxSurge !== undefined && w.spec.strategy?.rollingUpdate?.maxUnavailable !== undefined, id(w));
  }
});

test('every autoscaler targets an existing Deployment that leaves replicas to it', (t) => {
  const autoscalers = ofKind('HorizontalPodAutoscaler');
  t.deepEqual(autoscalers.map((h) => h.metadata.name).sort(), ['backend', 'cart-service', 'order-service', 'user-service']);
  for (const hpa of autoscalers) {
    const target = ofKind(hpa.spec.scaleTargetRef.kind).find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
    t.truthy(target, hpa.metadata.name);
    t.is(target?.spec.replicas, undefined, `${hpa.metadata.name}: the Deployment sets replicas`);
    t.is(hpa.spec.minReplicas, 2);
    t.is(hpa.spec.maxReplicas, 6);
  }
});

test('services drain before SIGTERM and stop within their grace period', (t) => {
  for (const name of ['backend', 'cart-service', 'order-service', 'user-service']) {
    const deployment = ofKind('Deployment').find((d) => d.metadata.name === name)!;
    const spec = deployment.spec.template.spec;
    const [, seconds] = spec.containers[0].lifecycle.preStop.exec.command;
    t.is(spec.terminationGracePeriodSeconds, 20, name);
    // preStop pause + the services' SHUTDOWN_TIMEOUT_MS (8 s) + closing the database client and the
    // last trace flush (TRACE_FLUSH_DEADLINE_MS) must fit in the grace period.
    const shutdown = 8 + TRACE_FLUSH_DEADLINE_MS / 1000 + 1;
    t.true(Number(seconds) >= 3 && Number(seconds) + shutdown < spec.terminationGracePeriodSeconds, `${name}: preStop ${seconds}s`);
  }
});

// --- ingress -------------------------------------------------------------------------------------

const ingressPaths = ofKind('Ingress').flatMap((ing) =>
  ing.spec.rules.flatMap((r: Doc) =>
    r.http.paths.map((p: Doc) => ({ ingress: ing, path: p.path as string, pathType: p.pathType as string, service: p.backend.service.name as string })),
  ),
);

test('the Ingress paths are the gateway routes plus /health, /openapi.json and the storefront at /', (t) => {
  const expected = [
    ...gatewayRoutes.map((r) => `${r.match === 'exact' ? 'Exact' : 'Prefix'} ${r.path} -> ${r.service}`),
    'Exact /health -> backend',
    'Exact /openapi.json -> backend',
    'Prefix / -> storefront',
  ].sort();
  t.deepEqual(ingressPaths.map((p) => `${p.pathType} ${p.path} -> ${p.service}`).sort(), expected);
});

test('nothing under /internal, /metrics or /ready is routed to a service: the one catch-all is the storefront, every API path longer', (t) => {
  for (const p of ingressPaths) t.notRegex(p.path, /^\/(internal|metrics|ready)(\/|$)/);
  const catchAll = ingressPaths.filter((p) => p.path === '/' || p.path === '');
  t.deepEqual(catchAll.map((p) => `${p.pathType} ${p.path} -> ${p.service}`), ['Prefix / -> storefront']);
  // ingress-nginx takes the longest matching path: `/` never shadows an API route.
  for (const p of ingressPaths.filter((x) => x.service !== 'storefront')) t.true(p.path.length > 1, p.path);
});

test('/health and /openapi.json are rewritten to the backend readiness and whole-API document', (t) => {
  const rewrite = (path: string) => ingressPaths.find((p) => p.path === path)?.ingress.metadata.annotations['nginx.ingress.kubernetes.io/rewrite-target'];
  t.is(rewrite('/health'), component('backend').readiness!.path);
  t.is(rewrite('/openapi.json'), '/openapi/all.json');
  for (const p of ingressPaths.filter((x) => !['/health', '/openapi.json'].includes(x.path))) {
    t.is(p.ingress.metadata.annotations['nginx.ingress.kubernetes.io/rewrite-target'], undefined, p.path);
  }
});

test('auth routes have the per-minute limit, every other route the per-second one, all the body limit', (t) => {
  for (const p of ingressPaths) {
    const a = p.ingress.metadata.annotations;
    const auth = gatewayRoutes.some((r) => r.path === p.path && r.rateLimit === 'auth');
    t.is(a['nginx.ingress.kubernetes.io/limit-rpm'], auth ? '30' : undefined, p.path);
    t.is(a['nginx.ingress.kubernetes.io/limit-rps'], auth ? undefined : '50', p.path);
    t.is(a['nginx.ingress.kubernetes.io/proxy-body-size'], '64k', p.path);
    t.is(p.ingress.spec.ingressClassName, ingressNginx.ingressClassName);
    t.false(Object.keys(a).some((k) => k.endsWith('-snippet')), `${p.path}: snippets`);
  }
});

test('every Ingress backend is a Service port named http', (t) => {
  for (const p of ingressPaths) {
    const service = ofKind('Service').find((s) => s.metadata.name === p.service);
    t.true(service?.spec.ports.some((port: Doc) => port.name === 'http'), p.path);
  }
});

// --- network policies ----------------------------------------------------------------------------

interface Pod {
  readonly namespace: string;
  readonly labels: Record<string, string>;
}

const podOf = (name: string): Pod => {
  const w = workloads.find((x) => x.metadata.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return { namespace: w.metadata.namespace ?? '', labels: podLabels(w) };
};
const ingressController: Pod = { namespace: ingressNginx.namespace, labels: { ...ingressNginx.controllerLabels } };
const policies = ofKind('NetworkPolicy');

function peerMatches(peer: Doc, pod: Pod, policyNamespace: string): boolean {
  if (peer.ipBlock) return false;
  const namespaceOk = peer.namespaceSelector
    ? matches(peer.namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': pod.namespace }) || !Object.keys(peer.namespaceSelector).length
    : pod.namespace === policyNamespace;
  const podOk = peer.podSelector ? !Object.keys(peer.podSelector).length || matches(peer.podSelector.matchLabels, pod.labels) : true;
  return namespaceOk && podOk;
}

const selects = (policy: Doc, pod: Pod) =>
  policy.metadata.namespace === pod.namespace && (!Object.keys(policy.spec.podSelector).length || matches(policy.spec.podSelector.matchLabels, pod.labels));

/** Whether one side's policies let the connection through (a pod no policy isolates allows everything). */
function sideAllows(direction: 'Ingress' | 'Egress', subject: Pod, other: Pod, port: number): boolean {
  const isolating = policies.filter((p) => p.spec.policyTypes.includes(direction) && selects(p, subject));
  if (!isolating.length) return true;
  const key = direction === 'Ingress' ? 'ingress' : 'egress';
  const peersKey = direction === 'Ingress' ? 'from' : 'to';
  return isolating.some((p) =>
    (p.spec[key] ?? []).some(
      (rule: Doc) =>
        (rule[peersKey] ?? []).some((peer: Doc) => peerMatches(peer, other, p.metadata.namespace ?? '')) &&
        (rule.ports ?? []).some((rulePort: Doc) => rulePort.port === port && (rulePort.protocol ?? 'TCP') === 'TCP'),
    ),
  );
}

const allowed = (from: Pod, to: Pod, port: number) =>
  (from.namespace !== NAMESPACE || sideAllows('Egress', from, to, port)) && (to.namespace !== NAMESPACE || sideAllows('Ingress', to, from, port));

const serviceNames: ServiceName[] = ['backend', 'cart-service', 'order-service', 'user-service'];
const port = (name: string, portName = 'http') => component(name).ports.find((p) => p.name === portName)!.port;

test('network policies deny by default, and allow DNS', (t) => {
  const deny = policies.find((p) => p.metadata.name === 'default-deny');
  t.deepEqual(deny?.spec, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  const dns = policies.find((p) => p.metadata.name === 'allow-cluster-dns');
  t.deepEqual(dns?.spec.egress[0].ports.map((p: Doc) => `${p.protocol}/${p.port}`), ['UDP/53', 'TCP/53']);
});

test('network policies allow every flow the stack needs', (t) => {
  const need: Array<[Pod, string, number, string]> = [
    ...serviceNames.map((s): [Pod, string, number, string] => [ingressController, s, port(s), `ingress-nginx -> ${s}`]),
    [ingressController, 'storefront', port('storefront'), 'ingress-nginx -> storefront'],
    [podOf('cart-service'), 'backend', port('backend'), 'cart-service -> backend'],
    [podOf('order-service'), 'backend', port('backend'), 'order-service -> backend'],
    [podOf('order-service'), 'cart-service', port('cart-service'), 'order-service -> cart-service'],
    ...serviceNames.map((s): [Pod, string, number, string] => [podOf(s), 'cassandra', port('cassandra', 'cql'), `${s} -> cassandra`]),
    ...serviceNames.map((s): [Pod, string, number, string] => [podOf(s), 'jaeger', port('jaeger', 'otlp-http'), `${s} -> jaeger`]),
    ...serviceNames.map((s): [Pod, string, number, string] => [podOf('prometheus'), s, port(s), `prometheus -> ${s}`]),
    [podOf('prometheus'), 'cassandra', port('cassandra', 'metrics'), 'prometheus -> cassandra metrics'],
    [podOf('prometheus'), 'alertmanager', port('alertmanager'), 'prometheus -> alertmanager'],
    [podOf('grafana'), 'prometheus', port('prometheus'), 'grafana -> prometheus'],
    [podOf('grafana'), 'jaeger', port('jaeger', 'ui'), 'grafana -> jaeger'],
    [podOf('cassandra'), 'cassandra', 7000, 'cassandra gossip'],
    [podOf('cassandra'), 'cassandra', port('cassandra', 'cql'), 'cassandra -> cassandra cql (join-in-turn)'],
  ];
  for (const [from, to, p, what] of need) t.true(allowed(from, podOf(to), p), what);
  t.true(allowed(podOf('prometheus'), ingressController, ingressNginx.metricsPort), 'prometheus -> ingress-nginx metrics');
});

test('network policies refuse the flows nobody needs', (t) => {
  const refused: Array<[Pod, string, number, string]> = [
    [ingressController, 'cassandra', port('cassandra', 'cql'), 'ingress-nginx -> cassandra'],
    [ingressController, 'grafana', port('grafana'), 'ingress-nginx -> grafana'],
    [ingressController, 'prometheus', port('prometheus'), 'ingress-nginx -> prometheus'],
    [podOf('backend'), 'cart-service', port('cart-service'), 'backend -> cart-service'],
    [podOf('user-service'), 'backend', port('backend'), 'user-service -> backend'],
    [podOf('backend'), 'user-service', port('user-service'), 'backend -> user-service'],
    [podOf('grafana'), 'cassandra', port('cassandra', 'cql'), 'grafana -> cassandra'],
    [podOf('jaeger'), 'backend', port('backend'), 'jaeger -> backend'],
    [podOf('backend'), 'alertmanager', port('alertmanager'), 'backend -> alertmanager'],
    // The storefront's pods take the controller's requests and make none.
    [podOf('prometheus'), 'storefront', port('storefront'), 'prometheus -> storefront'],
    [podOf('backend'), 'storefront', port('storefront'), 'backend -> storefront'],
    [podOf('storefront'), 'backend', port('backend'), 'storefront -> backend'],
    [podOf('storefront'), 'cassandra', port('cassandra', 'cql'), 'storefront -> cassandra'],
    [{ namespace: 'default', labels: { app: 'anything' } }, 'backend', port('backend'), 'another namespace -> backend'],
  ];
  for (const [from, to, p, what] of refused) t.false(allowed(from, podOf(to), p), what);
});
