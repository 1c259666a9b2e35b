/**
 * A Docker engine (Debian's dockerd 20.10 with the containerd it spawns) that runs only inside a
 * network namespace of its own, `ps-docker-<pid>`: its bridges, veths, 172.x addresses and iptables
 * rules exist in that namespace and nowhere else. Clients reach it through its unix socket (a file, so
 * `DOCKER_HOST=unix://...` works from anywhere); published ports listen inside the namespace, so
 * anything that talks to them runs through `engine.exec()` (`ip netns exec`).
 *
 * - Images survive between runs: `--data-root` is `<cache>/docker/data-root` (the cache root of
 *   tools/cassandra/launcher.ts: PRODUCT_STORE_CACHE, else $XDG_CACHE_HOME/product-store, else
 *   ~/.cache/product-store). One engine at a time uses it.
 * - `ip netns exec` gives a fresh /sys without cgroups: the launch script mounts a tmpfs on
 *   /sys/fs/cgroup and the cgroup v1 hierarchies first. These mounts live in the private mount
 *   namespace `ip netns exec` makes, so they vanish with dockerd and never appear in the root one.
 * - Containers' cgroups go under /ps-docker-<pid> (`--cgroup-parent`), removed by stop().
 * - stop() (and the exit/signal handlers, and the next start after a crash) ends dockerd, containerd,
 *   every shim and container process (found by walking /proc: processes in the namespace and their
 *   descendants), deletes the namespace and the run's temporary folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheBase } from '../../cassandra/launcher';

export interface EngineOptions {
  /** @default <cache>/docker/data-root */
  dataRoot?: string;
  /** How long to wait for the daemon to answer. @default 90 s */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Added to process.env and the engine's env. */
  env?: Record<string, string>;
  /** SIGKILL after this long; the result then has code 124 (like timeout(1)). @default 10 min */
  timeoutMs?: number;
  cwd?: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerEngine {
  /** The network namespace dockerd runs in. */
  netns: string;
  /** Path of dockerd's API socket. */
  socket: string;
  /** For docker / docker-compose clients: DOCKER_HOST and the switches docker-compose 1.29 needs. */
  env: Record<string, string>;
  /** The docker client to use (absolute path), one that speaks this daemon's API. */
  dockerBin: string;
  /** dockerd's pid. */
  pid: number;
  dataRoot: string;
  /** This run's folder (exec-root, pid file, socket, dockerd.log). */
  runDir: string;
  /** Runs a command inside the namespace (`ip netns exec`), with process.env + env + opts.env. */
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Runs the docker client (from the root namespace) against this engine. */
  docker(args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Ends everything the engine started. Safe to call more than once. */
  stop(): Promise<void>;
}

const defaultLog = (line: string) => process.stderr.write(`deploy: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { cacheBase };

const NS_PREFIX = 'ps-docker-';
const CGROUP_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'];
const CGROUP_DIRS = [...CGROUP_CONTROLLERS, 'systemd'];
const stateDir = () => join(cacheBase(), 'docker', 'runs');

interface RunState {
  netns: string;
  owner: number;
  dataRoot?: string;
  dockerdPid?: number;
  runDir: string;
  cgroupParent: string;
}

// ---- processes and namespaces --------------------------------------------------------------------

/** Alive, and not a zombie (an ended child nobody reaped yet counts as gone). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function netnsInode(name: string): number | undefined {
  try {
    return statSync(join('/run/netns', name)).ino;
  } catch {
    return undefined;
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  netIno?: number;
  comm: string;
}

function processTable(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      let netIno: number | undefined;
      try {
        netIno = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${entry}/ns/net`))?.[1]);
      } catch {
        // a kernel thread, or gone
      }
      out.push({ pid: Number(entry), ppid, netIno, comm });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Processes in the namespace (inode) or descended from one of them, or from `roots`. */
export function processesOf(nsIno: number | undefined, roots: number[] = []): ProcInfo[] {
  const table = processTable();
  const chosen = new Set<number>(roots.filter((p) => table.some((t) => t.pid === p)));
  for (const p of table) if (nsIno !== undefined && p.netIno === nsIno && p.pid !== process.pid) chosen.add(p.pid);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of table) {
      if (!chosen.has(p.pid) && chosen.has(p.ppid) && p.pid !== process.pid) {
        chosen.add(p.pid);
        grew = true;
      }
    }
  }
  return table.filter((p) => chosen.has(p.pid));
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function removeCgroupParent(parent: string): void {
  for (const dir of CGROUP_DIRS) {
    const root = join('/sys/fs/cgroup', dir, parent);
    if (!existsSync(root)) continue;
    // Deepest first: a cgroup folder can only be removed once it has no children.
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      try {
        rmdirSync(d);
      } catch {
        // still has processes (should not happen after the kill), or already gone
      }
    };
    try {
      walk(root);
    } catch {
      // gone meanwhile
    }
  }
}

/** Mount points (of the calling process's mount namespace) under a path. */
function mountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (m === path || m.startsWith(`${path}/`)));
}

/**
 * Synchronous teardown (used by exit/signal handlers and the stale-run cleanup): SIGTERM dockerd,
 * wait up to `graceMs`, then SIGKILL whatever is left in the namespace, delete it and the run folder.
 */
function teardownSync(state: RunState, graceMs: number): void {
  const ino = netnsInode(state.netns);
  const roots = state.dockerdPid && pidAlive(state.dockerdPid) ? [state.dockerdPid] : [];
  if (roots.length) signalAll(roots, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (roots.length && pidAlive(roots[0]) && Date.now() < deadline) sleepSync(100);
  for (let round = 0; round < 50; round++) {
    const left = processesOf(ino, roots.filter(pidAlive)).map((p) => p.pid);
    if (!left.length) break;
    signalAll(left, 'SIGKILL');
    sleepSync(100);
  }
  removeCgroupParent(state.cgroupParent);
  if (listNetns().includes(state.netns)) spawnSync('ip', ['netns', 'delete', state.netns], { stdio: 'ignore' });
  if (state.runDir && existsSync(state.runDir) && mountsUnder(state.runDir).length === 0) rmSync(state.runDir, { recursive: true, force: true });
  rmSync(join(stateDir(), `${state.netns}.json`), { force: true });
}

/** Cleans namespaces of earlier runs whose owner is dead (or is this process). */
function cleanStaleRuns(dataRoot: string, log: (line: string) => void): void {
  for (const ns of listNetns()) {
    const m = new RegExp(`^${NS_PREFIX}(\\d+)$`).exec(ns);
    if (!m || active?.state.netns === ns) continue;
    const owner = Number(m[1]);
    let state: RunState | undefined;
    try {
      state = JSON.parse(readFileSync(join(stateDir(), `${ns}.json`), 'utf8'));
    } catch {
      // no state file here: a run of another cache folder, or one that crashed before writing it
    }
    if (owner !== process.pid && pidAlive(owner)) {
      // Of another cache folder (another data-root): not ours to judge.
      if (!state) continue;
      // Its owner lives and its dockerd runs in that namespace: a live run on this data-root.
      const ino = netnsInode(ns);
      let daemonInside = false;
      try {
        daemonInside = !!state.dockerdPid && readlinkSync(`/proc/${state.dockerdPid}/ns/net`) === `net:[${ino}]`;
      } catch {
        // dockerd is gone
      }
      if (daemonInside && state.dataRoot === dataRoot) {
        throw new Error(
          `another Docker engine of this project runs (namespace ${ns}, owner pid ${owner}) on the same data-root ${dataRoot}; ` +
            'stop it first (or give startDockerEngine({ dataRoot }) another folder)',
        );
      }
      if (daemonInside) continue;
    }
    log(`cleaning up the engine of a previous run (namespace ${ns}, owner pid ${owner})`);
    teardownSync(state ?? { netns: ns, owner, runDir: '', cgroupParent: `/${ns}` }, 20_000);
  }
  // State files whose namespace is already gone.
  if (existsSync(stateDir())) {
    for (const f of readdirSync(stateDir())) {
      const ns = f.replace(/\.json$/, '');
      if (listNetns().includes(ns) || active?.state.netns === ns) continue;
      try {
        const state = JSON.parse(readFileSync(join(stateDir(), f), 'utf8')) as RunState;
        if (state.owner !== process.pid && pidAlive(state.owner)) continue;
        teardownSync(state, 5_000);
      } catch {
        rmSync(join(stateDir(), f), { force: true });
      }
    }
  }
}

/**
 * Ends engines of earlier runs of this project whose owner process is gone (a crash, a SIGKILL):
 * their processes, namespaces, cgroups and run folders. startDockerEngine() calls it first.
 */
export function cleanStaleEngines(opts: { dataRoot?: string; log?: (line: string) => void } = {}): void {
  cleanStaleRuns(opts.dataRoot ?? join(cacheBase(), 'docker', 'data-root'), opts.log ?? defaultLog);
}

// ---- commands -------------------------------------------------------------------------------------

export function run(command: string, args: string[], opts: ExecOptions & { baseEnv?: Record<string, string> } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.baseEnv, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 600_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', (e) => err.push(Buffer.from(`${e.message}\n`)));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: timedOut ? 124 : code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (timedOut ? `\n(killed after ${opts.timeoutMs ?? 600_000} ms)\n` : ''),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** The API version the daemon speaks. */
function daemonApiVersion(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/version', method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body).ApiVersion);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The docker client: the first `docker` on PATH when it talks to this daemon (Docker 28's client
 * negotiates down to 20.10's API 1.41), else Debian's /usr/bin/docker (20.10, the daemon's own).
 */
async function pickClient(env: Record<string, string>, log: (line: string) => void): Promise<string> {
  const candidates = [
    ...(process.env.PATH ?? '').split(':').filter(Boolean).map((d) => join(d, 'docker')),
    '/usr/bin/docker',
  ].filter((p, i, all) => existsSync(p) && all.indexOf(p) === i);
  for (const bin of candidates) {
    const v = await run(bin, ['version', '--format', '{{.Client.Version}} {{.Client.APIVersion}} {{.Server.APIVersion}}'], { baseEnv: env, timeoutMs: 20_000 });
    if (v.code === 0) {
      if (bin !== candidates[0]) log(`${candidates[0]} cannot talk to dockerd (${candidates[0]}: ${v.stderr.trim()}); using ${bin}`);
      return bin;
    }
    log(`docker client ${bin} does not talk to this dockerd: ${(v.stderr || v.stdout).trim().split('\n')[0]}`);
  }
  throw new Error('no docker client talks to the engine');
}

// ---- the engine ------------------------------------------------------------------------------------

let active: { state: RunState; child: ChildProcess } | undefined;
const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function onExit(): void {
  if (active) teardownSync(active.state, 15_000);
  active = undefined;
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  uninstallHandlers();
  // Were we the only listener, the signal would have ended the process: let it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

const signalHandlers = new Map<NodeJS.Signals, () => void>();
function installHandlers(): void {
  process.on('exit', onExit);
  for (const s of signals) {
    const h = () => onSignal(s);
    signalHandlers.set(s, h);
    process.on(s, h);
  }
}

function uninstallHandlers(): void {
  process.removeListener('exit', onExit);
  for (const [s, h] of signalHandlers) process.removeListener(s, h);
  signalHandlers.clear();
}

function requireTools(): void {
  if (process.getuid?.() !== 0) throw new Error('the Docker engine needs root (network namespaces, mounts, dockerd)');
  for (const [bin, pkg] of [['ip', 'iproute2'], ['dockerd', 'docker.io'], ['containerd', 'containerd'], ['runc', 'runc'], ['iptables', 'iptables']] as const) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status !== 0) throw new Error(`${bin} is missing: apt-get install -y ${pkg}`);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startDockerEngine(opts: EngineOptions = {}): Promise<DockerEngine> {
  const log = opts.log ?? defaultLog;
  if (active) throw new Error(`this process already runs an engine (${active.state.netns})`);
  requireTools();
  const dataRoot = opts.dataRoot ?? join(cacheBase(), 'docker', 'data-root');
  cleanStaleRuns(dataRoot, log);

  const netns = `${NS_PREFIX}${process.pid}`;
  mkdirSync(dataRoot, { recursive: true });
  mkdirSync(stateDir(), { recursive: true });
  // Short: containerd's and the shims' socket paths are built under it (108-byte limit).
  const runDir = mkdtempSync(join(tmpdir(), `${netns}-`));
  const socket = join(runDir, 'docker.sock');
  const execRoot = join(runDir, 'exec');
  const pidFile = join(runDir, 'dockerd.pid');
  const logFile = join(runDir, 'dockerd.log');
  const configFile = join(runDir, 'daemon.json');
  const clientConfig = join(runDir, 'client');
  mkdirSync(clientConfig);
  writeFileSync(configFile, '{}\n');
  const state: RunState = { netns, owner: process.pid, dataRoot, runDir, cgroupParent: `/${netns}` };
  const saveState = () => writeFileSync(join(stateDir(), `${netns}.json`), `${JSON.stringify(state)}\n`);
  saveState();

  const started = Date.now();
  const netnsRun = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
  let r = netnsRun(['netns', 'add', netns]);
  if (r.status !== 0) throw new Error(`ip netns add ${netns} failed: ${r.stderr.trim()}`);
  r = netnsRun(['-n', netns, 'link', 'set', 'lo', 'up']);
  if (r.status !== 0) {
    teardownSync(state, 0);
    throw new Error(`cannot bring lo up in ${netns}: ${r.stderr.trim()}`);
  }

  const dockerdArgs = [
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--pidfile', pidFile,
    '--config-file', configFile,
    '-H', `unix://${socket}`,
    '--storage-driver', 'overlay2',
    '--cgroup-parent', state.cgroupParent,
    '--log-level', 'warn',
  ];
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup',
    `for c in ${CGROUP_CONTROLLERS.join(' ')}; do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done`,
    'mkdir -p /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd',
    `exec dockerd ${dockerdArgs.map(q).join(' ')}`,
  ].join('\n');
  const out = openSync(logFile, 'a');
  // `ip netns exec` execs sh, which execs dockerd: the child's pid is dockerd's.
  const child = spawn('ip', ['netns', 'exec', netns, 'sh', '-c', script], { stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  child.unref();
  state.dockerdPid = child.pid;
  saveState();
  active = { state, child };
  installHandlers();

  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `dockerd exited (code ${code ?? signal})`));
  child.once('error', (e) => (exited = `could not start dockerd: ${e.message}`));

  const stop = async (): Promise<void> => {
    if (!active || active.state !== state) return;
    const pid = state.dockerdPid!;
    const ino = netnsInode(netns);
    if (pidAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      // dockerd stops running containers first (15 s each by default, in parallel).
      const deadline = Date.now() + 45_000;
      while (pidAlive(pid) && child.exitCode === null && child.signalCode === null && Date.now() < deadline) await sleep(200);
      if (child.exitCode === null && child.signalCode === null && pidAlive(pid)) {
        log('dockerd did not stop within 45 s; killing it');
        process.kill(pid, 'SIGKILL');
      }
    }
    // dockerd is this process's child (ip and sh exec into it): until Node has reaped it, it stays in the
    // process table as a zombie, so stop() returns only once its exit has been seen.
    const reapDeadline = Date.now() + 10_000;
    while (child.exitCode === null && child.signalCode === null && Date.now() < reapDeadline) await sleep(50);
    for (let round = 0; round < 100; round++) {
      const left = processesOf(ino).map((p) => p.pid);
      if (!left.length) break;
      signalAll(left, round < 25 ? 'SIGTERM' : 'SIGKILL');
      await sleep(200);
    }
    const left = processesOf(ino);
    if (left.length) log(`processes still in ${netns}: ${left.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
    teardownSync(state, 0);
    active = undefined;
    uninstallHandlers();
  };

  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  while (!(await ping(socket))) {
    if (exited) {
      await stop();
      throw new Error(`${exited}\n--- ${logFile} ---\n${tail(logFile)}`);
    }
    if (Date.now() - started > timeoutMs) {
      const logText = tail(logFile);
      await stop();
      throw new Error(`dockerd did not answer on ${socket} within ${timeoutMs / 1000} s\n${logText}`);
    }
    await sleep(200);
  }

  const apiVersion = await daemonApiVersion(socket);
  const env: Record<string, string> = {
    DOCKER_HOST: `unix://${socket}`,
    // An empty client configuration: no credential helpers or contexts of this machine's user.
    DOCKER_CONFIG: clientConfig,
    // The classic builder (there is no buildx here); docker-compose builds through the API.
    DOCKER_BUILDKIT: '0',
    COMPOSE_DOCKER_CLI_BUILD: '0',
    // docker-compose exec/run go through the docker CLI, as on an operator's host (its Python
    // fallback, COMPOSE_INTERACTIVE_NO_CLI, never sees the end of a piped stdin: restore hangs).
    DOCKER_API_VERSION: apiVersion,
  };
  let dockerBin: string;
  try {
    dockerBin = await pickClient(env, log);
    const info = await run(dockerBin, ['info', '--format', '{{.ServerVersion}} {{.Driver}} {{.CgroupDriver}}'], { baseEnv: env, timeoutMs: 30_000 });
    if (info.code !== 0) throw new Error(`docker info failed: ${info.stderr.trim()}`);
    log(`Docker engine ${info.stdout.trim()} (API ${apiVersion}) up in namespace ${netns} after ${((Date.now() - started) / 1000).toFixed(1)} s; data-root ${dataRoot}`);
  } catch (err) {
    await stop();
    throw err;
  }

  const exec = (cmd: string[], o: ExecOptions = {}) => run('ip', ['netns', 'exec', netns, ...cmd], { ...o, baseEnv: env });
  const docker = (args: string[], o: ExecOptions = {}) => run(dockerBin, args, { ...o, baseEnv: env });
  return { netns, socket, env, dockerBin, pid: child.pid!, dataRoot, runDir, exec, docker, stop };
}

// ---- isolation checks --------------------------------------------------------------------------------

/**
 * What of a Docker engine shows in a namespace: bridges (docker0, br-*), veths, and iptables chains
 * named DOCKER* (nft and legacy). With `netns` undefined, the root namespace (the caller's).
 */
export function dockerFootprint(netns?: string): { links: string[]; chains: string[]; addresses: string[] } {
  const prefix = netns ? ['ip', 'netns', 'exec', netns] : [];
  const sh = (cmd: string[]) => {
    const argv = [...prefix, ...cmd];
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    return r.status === 0 ? r.stdout : '';
  };
  const links = sh(['ip', '-o', 'link', 'show'])
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && (n === 'docker0' || n.startsWith('br-') || n.startsWith('veth')));
  const chains: string[] = [];
  for (const bin of ['iptables', 'iptables-legacy']) {
    for (const table of ['filter', 'nat']) {
      for (const line of sh([bin, '-t', table, '-S']).split('\n')) {
        const m = /^-N (DOCKER\S*)/.exec(line);
        if (m) chains.push(`${bin}/${table}/${m[1]}`);
      }
    }
  }
  const addresses = sh(['ip', '-o', '-4', 'addr', 'show'])
    .split('\n')
    .map((l) => /\binet (\S+)/.exec(l)?.[1])
    .filter((a): a is string => !!a && /^172\.(1[6-9]|2\d|3[01])\./.test(a));
  return { links, chains, addresses };
}
