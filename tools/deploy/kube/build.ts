/**
 * The binaries of a real Kubernetes control plane, for tools/deploy/test (the manifests of k8s/ on a
 * real API server). Neither Debian nor a registry ships kube-apiserver, so it is built from the Go
 * module proxy: wrapper/go.mod requires k8s.io/kubernetes and replaces each of its staging modules
 * with the published module of the same number. etcd is Debian's etcd-server, unpacked with
 * `dpkg -x` (installing it would start a system service).
 *
 * Everything lives in `${PRODUCT_STORE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/product-store}/kube-<version>/`:
 * `bin/` (kube-apiserver, kube-controller-manager, kubectl, etcd), and the Go module and build caches
 * (`gopath/`, `gocache/`) so that a cold build depends on nothing else. `bin/.stamp` records what the
 * binaries were built from (version, wrapper go.mod and go.sum, build flags); a different stamp rebuilds.
 *
 *   node --import tsx tools/deploy/kube/build.ts     # builds if needed, prints the bin directory
 *
 * Measured on the 2-core machine, cold (empty cache root): 21 s of module downloads (0.6 GB), then
 * 20 min of CPU (user 1008 s, sys 201 s) for the three commands, 3.0 GB of build cache; 21 min wall
 * while other builds shared the cores (this one got 95 % of one core), so about 10-11 min on two
 * idle cores. With the Go caches warm but no binaries (a new stamp): under a minute (links only).
 * Present binaries with the same stamp: nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { cacheBase } from '../../cassandra/launcher';

export const KUBE_VERSION = 'v1.33.13';

const wrapperDir = join(__dirname, 'wrapper');

/** The commands built from the wrapper module, and the binary name each gives. */
const goCommands = ['kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;

export interface KubeBinaries {
  readonly dir: string;
  readonly apiserver: string;
  readonly controllerManager: string;
  readonly kubectl: string;
  readonly etcd: string;
}

export { cacheBase };

export function kubeCacheDir(): string {
  return join(cacheBase(), `kube-${KUBE_VERSION}`);
}

export function kubeBinaries(): KubeBinaries {
  const dir = join(kubeCacheDir(), 'bin');
  return {
    dir,
    apiserver: join(dir, 'kube-apiserver'),
    controllerManager: join(dir, 'kube-controller-manager'),
    kubectl: join(dir, 'kubectl'),
    etcd: join(dir, 'etcd'),
  };
}

/** The version the binaries report (`/version`, `kubectl version`): without it they say v0.0.0-master. */
function ldflags(): string {
  const [major, minor] = KUBE_VERSION.replace(/^v/, '').split('.');
  const vars = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${KUBE_VERSION}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
  ]);
  return ['-s', '-w', ...vars].join(' ');
}

function goBinary(): string {
  if (process.env.GO) return process.env.GO;
  for (const candidate of ['/usr/local/go/bin/go', '/usr/lib/go/bin/go']) if (existsSync(candidate)) return candidate;
  return 'go';
}

/** What the binaries are built from: a change to any of it rebuilds them. */
export function buildStamp(): string {
  const hash = createHash('sha256');
  hash.update(KUBE_VERSION);
  hash.update(readFileSync(join(wrapperDir, 'go.mod')));
  hash.update(readFileSync(join(wrapperDir, 'go.sum')));
  hash.update(ldflags());
  return hash.digest('hex');
}

export function kubeBinariesPresent(): boolean {
  const bins = kubeBinaries();
  const stamp = join(bins.dir, '.stamp');
  return (
    [bins.apiserver, bins.controllerManager, bins.kubectl, bins.etcd].every((f) => existsSync(f)) &&
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8').trim() === buildStamp()
  );
}

function goEnv(cache: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOPATH: join(cache, 'gopath'),
    GOMODCACHE: join(cache, 'gopath', 'pkg', 'mod'),
    GOCACHE: join(cache, 'gocache'),
    // Read-write module files, so that the cache can be deleted with rm -rf.
    GOFLAGS: '-modcacherw -mod=readonly',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; log: (line: string) => void; what: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const ticker = setInterval(() => options.log(`  ... ${options.what}: ${Math.round((Date.now() - started) / 1000)} s`), 60_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`${options.what}: cannot run ${command}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`${options.what} failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}

/** Debian's etcd-server, unpacked without installing it. */
async function fetchEtcd(target: string, log: (line: string) => void): Promise<void> {
  const work = mkdtempSync(join(kubeCacheDir(), 'etcd-'));
  try {
    log('kube: apt-get download etcd-server');
    await run('apt-get', ['download', 'etcd-server'], { cwd: work, log, what: 'apt-get download etcd-server' });
    const deb = execFileSync('sh', ['-c', 'ls etcd-server_*.deb'], { cwd: work, encoding: 'utf8' }).trim();
    execFileSync('dpkg', ['-x', deb, 'root'], { cwd: work });
    copyFileSync(join(work, 'root', 'usr', 'bin', 'etcd'), target);
    chmodSync(target, 0o755);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Builds (or finds) kube-apiserver, kube-controller-manager and kubectl of KUBE_VERSION, and etcd.
 * A second caller at the same time builds too and the last one's files win; Go's caches are safe to share.
 */
export async function ensureKubeBinaries(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<KubeBinaries> {
  const bins = kubeBinaries();
  if (kubeBinariesPresent()) return bins;
  const cache = kubeCacheDir();
  mkdirSync(bins.dir, { recursive: true });
  const stamp = buildStamp();
  const started = Date.now();
  const out = mkdtempSync(join(cache, 'bin-'));
  try {
    log(`kube: building ${goCommands.join(', ')} ${KUBE_VERSION} into ${bins.dir} (cold: 0.6 GB of modules, 3 GB of build cache, 20 CPU-minutes)`);
    const env = goEnv(cache);
    const go = goBinary();
    await run(go, ['mod', 'download'], { cwd: wrapperDir, env, log, what: 'go mod download' });
    log(`kube: modules ready (${Math.round((Date.now() - started) / 1000)} s); compiling`);
    await run(
      go,
      ['build', '-trimpath', '-ldflags', ldflags(), '-o', `${out}/`, ...goCommands.map((c) => `k8s.io/kubernetes/cmd/${c}`)],
      { cwd: wrapperDir, env, log, what: 'go build' },
    );
    if (!existsSync(bins.etcd)) await fetchEtcd(join(out, 'etcd'), log);
    for (const name of [...goCommands, 'etcd']) {
      if (existsSync(join(out, name))) renameSync(join(out, name), join(bins.dir, name));
    }
    writeFileSync(join(bins.dir, '.stamp'), `${stamp}\n`);
    log(`kube: binaries ready in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return bins;
}

if (require.main === module) {
  ensureKubeBinaries().then(
    (bins) => process.stdout.write(`${bins.dir}\n`),
    (error: Error) => {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    },
  );
}
