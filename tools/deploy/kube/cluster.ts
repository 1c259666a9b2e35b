/**
 * A real, throw-away Kubernetes control plane: etcd, kube-apiserver and (optionally)
 * kube-controller-manager, each a plain process inside a network namespace of its own
 * (`ps-kube-<pid>`) where they listen on 127.0.0.1 only, with certificates made for this run (a CA,
 * the serving certificate, a service-account key pair, an admin client certificate in
 * `system:masters`). No kubelet and no scheduler: Pods stay Pending, but storage, defaulting,
 * admission (PodSecurity), server-side apply, and with the controller manager ReplicaSets, Pods and
 * HPAs are the real ones.
 *
 * Everything is reached through `ip netns exec`, so this needs root (or CAP_SYS_ADMIN). `stop()` kills
 * the processes it started by pid, deletes the namespace and the temporary directories; an `exit`
 * or SIGINT/SIGTERM/SIGHUP of this process does the same.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKubeBinaries, kubeBinaries, kubeBinariesPresent, type KubeBinaries } from './build';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin. */
  readonly input?: string;
  /** @default 60 000 */
  readonly timeoutMs?: number;
}

export interface Cluster {
  /** The network namespace everything runs in. */
  readonly netns: string;
  /** Admin kubeconfig (server https://127.0.0.1:6443, valid inside `netns` only). */
  readonly kubeconfig: string;
  /** The kubectl binary `run` uses. */
  readonly kubectlBinary: string;
  /** kubectl inside the namespace with the admin kubeconfig; never throws for a non-zero exit. */
  run(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Like `run`, but throws (with stderr) unless kubectl exits 0; gives stdout. */
  kubectl(args: readonly string[], options?: RunOptions): Promise<string>;
  /** The last lines of a component's log (etcd, kube-apiserver, kube-controller-manager). */
  logTail(component: string, lines?: number): string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Run kube-controller-manager (ReplicaSets, Pods, service accounts, HPAs). @default true */
  readonly controllerManager?: boolean;
  /** @default binaries of ensureKubeBinaries() */
  readonly binaries?: KubeBinaries;
  /** @default stderr */
  readonly log?: (line: string) => void;
}

const APISERVER_PORT = 6443;
const SERVICE_CIDR = '10.0.0.0/24';
const SERVICE_IP = '10.0.0.1';

const opensslConfig = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:${SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
`;

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A certificate signed by the run's CA: `<name>.crt` and `<name>.key`. */
function issue(dir: string, name: string, subject: string, extensions: 'server' | 'client'): void {
  openssl(dir, ['req', '-new', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject, '-config', 'openssl.cnf']);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-out', `${name}.crt`, '-extfile', 'openssl.cnf', '-extensions', extensions,
  ]);
}

function makeCertificates(dir: string): void {
  writeFileSync(join(dir, 'openssl.cnf'), opensslConfig);
  openssl(dir, ['req', '-x509', '-new', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=product-store-test-ca', '-config', 'openssl.cnf', '-extensions', 'ca']);
  issue(dir, 'apiserver', '/CN=kube-apiserver', 'server');
  issue(dir, 'admin', '/O=system:masters/CN=product-store-admin', 'client');
  // The controller manager acts with its own identity for every controller
  // (--use-service-account-credentials=false), so it needs all their rights.
  issue(dir, 'controller-manager', '/O=system:masters/CN=system:kube-controller-manager', 'client');
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'sa.key']);
  openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

function kubeconfig(dir: string, user: string): string {
  const path = join(dir, `${user}.kubeconfig`);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters:
  - name: product-store-test
    cluster:
      server: https://127.0.0.1:${APISERVER_PORT}
      certificate-authority: ${join(dir, 'ca.crt')}
users:
  - name: ${user}
    user:
      client-certificate: ${join(dir, `${user}.crt`)}
      client-key: ${join(dir, `${user}.key`)}
contexts:
  - name: product-store-test
    context: { cluster: product-store-test, user: ${user} }
current-context: product-store-test
`,
  );
  return path;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tail(path: string, lines: number): string {
  if (!existsSync(path)) return `(no ${path})`;
  return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const bins = options.binaries ?? (kubeBinariesPresent() ? kubeBinaries() : await ensureKubeBinaries(log));
  const kubectlBinary = bins.kubectl;
  const netns = `ps-kube-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'ps-kube-'));
  // etcd fsyncs every write: on tmpfs that costs nothing.
  const etcdDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ps-kube-etcd-'));
  const children: { name: string; child: ChildProcess; exited: boolean }[] = [];
  let netnsCreated = false;
  let stopped = false;

  /** Synchronous, for 'exit': SIGKILL what still runs, delete the namespace and the directories. */
  const cleanupNow = () => {
    if (stopped) return;
    stopped = true;
    for (const c of children) if (!c.exited && c.child.pid) try { process.kill(c.child.pid, 'SIGKILL'); } catch { /* gone */ }
    if (netnsCreated) try { ip(['netns', 'delete', netns]); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
    rmSync(etcdDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cleanupNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  process.on('exit', cleanupNow);
  for (const s of signals) process.on(s, onSignal);
  const unhook = () => {
    process.off('exit', cleanupNow);
    for (const s of signals) process.off(s, onSignal);
  };

  const start = (name: string, binary: string, args: string[]) => {
    const out = openSync(join(dir, `${name}.log`), 'a');
    // `ip netns exec` enters the namespace and execs the binary: the pid is the binary's.
    const child = spawn('ip', ['netns', 'exec', netns, binary, ...args], { stdio: ['ignore', out, out] });
    closeSync(out);
    const entry = { name, child, exited: false };
    child.on('exit', () => { entry.exited = true; });
    children.push(entry);
  };

  const run = (args: readonly string[], runOptions: RunOptions = {}): Promise<RunResult> =>
    new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', netns, kubectlBinary, '--kubeconfig', adminConfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), runOptions.timeoutMs ?? 60_000);
      child.on('error', (error) => { clearTimeout(timer); reject(error); });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}\n(killed: ${signal})` : stderr });
      });
      child.stdin.end(runOptions.input ?? '');
    });

  let adminConfig = '';
  const logTail = (component: string, lines = 40) => tail(join(dir, `${component}.log`), lines);
  const failed = (what: string) =>
    new Error(`${what}\n--- etcd ---\n${logTail('etcd', 15)}\n--- kube-apiserver ---\n${logTail('kube-apiserver')}\n--- kube-controller-manager ---\n${logTail('kube-controller-manager', 15)}`);

  const stop = async () => {
    if (stopped) return;
    // Controller manager first, etcd last.
    for (const c of [...children].reverse()) {
      if (c.exited || !c.child.pid) continue;
      try { process.kill(c.child.pid, 'SIGTERM'); } catch { continue; }
      for (let i = 0; i < 100 && !c.exited; i++) await sleep(100);
      if (!c.exited) try { process.kill(c.child.pid, 'SIGKILL'); } catch { /* gone */ }
      for (let i = 0; i < 50 && !c.exited; i++) await sleep(100);
    }
    cleanupNow();
    unhook();
  };

  try {
    const started = Date.now();
    makeCertificates(dir);
    adminConfig = kubeconfig(dir, 'admin');
    const cmConfig = kubeconfig(dir, 'controller-manager');
    ip(['netns', 'add', netns]);
    netnsCreated = true;
    ip(['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);

    start('etcd', bins.etcd, [
      '--name=default',
      `--data-dir=${join(etcdDir, 'data')}`,
      '--listen-client-urls=http://127.0.0.1:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=default=http://127.0.0.1:2380',
      '--logger=zap',
      '--log-level=warn',
    ]);
    start('kube-apiserver', bins.apiserver, [
      '--etcd-servers=http://127.0.0.1:2379',
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${APISERVER_PORT}`,
      `--cert-dir=${dir}`,
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--profiling=false',
      '--v=1',
    ]);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const dead = children.find((c) => c.exited);
      if (dead) throw failed(`${dead.name} exited during start-up`);
      const ready = await run(['get', '--raw=/readyz'], { timeoutMs: 10_000 });
      if (ready.code === 0 && ready.stdout.trim() === 'ok') break;
      if (Date.now() > deadline) throw failed(`kube-apiserver not ready after 120 s: ${ready.stdout}${ready.stderr}`);
      await sleep(300);
    }
    log(`kube: apiserver ready in netns ${netns} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    if (options.controllerManager !== false) {
      start('kube-controller-manager', bins.controllerManager, [
        `--kubeconfig=${cmConfig}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=10257',
        `--cert-dir=${dir}`,
        `--service-account-private-key-file=${join(dir, 'sa.key')}`,
        `--root-ca-file=${join(dir, 'ca.crt')}`,
        '--use-service-account-credentials=false',
        '--controllers=*',
        // The autoscalers raise the services to minReplicas on their first sync.
        '--horizontal-pod-autoscaler-sync-period=5s',
        '--v=1',
      ]);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    netns,
    kubeconfig: adminConfig,
    kubectlBinary,
    run,
    async kubectl(args, runOptions) {
      const result = await run(args, runOptions);
      if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`);
      return result.stdout;
    },
    logTail,
    stop,
  };
}
