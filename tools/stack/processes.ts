/** Child processes of the local stack: spawn with prefixed output, wait until ready, stop gracefully. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type LineSink = (name: string, line: string) => void;

export const consoleSink: LineSink = (name, line) => process.stdout.write(`[${name}] ${line}\n`);

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Whether it has exited. */
  done(): boolean;
  /** Its last lines of output (at most 40), for an error that says why it did not start. */
  recent(): string[];
  stop(timeoutMs?: number): Promise<void>;
}

function forwardLines(name: string, stream: NodeJS.ReadableStream, sink: LineSink) {
  let rest = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line) sink(name, line);
  });
  stream.on('end', () => rest && sink(name, rest));
}

export function startProcess(name: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; sink: LineSink }): ManagedProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  const sink: LineSink = (n, line) => {
    recent.push(line);
    if (recent.length > 40) recent.shift();
    options.sink(n, line);
  };
  forwardLines(name, child.stdout!, sink);
  forwardLines(name, child.stderr!, sink);
  let finished = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      finished = true;
      resolve(code ?? (signal ? 128 : null));
    });
    child.once('error', (err) => {
      sink(name, `could not start: ${err.message}`);
      finished = true;
      resolve(127);
    });
  });
  return {
    name,
    child,
    exited,
    done: () => finished,
    recent: () => [...recent],
    async stop(timeoutMs = 12_000) {
      if (finished) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until `url` answers 2xx; fails early when the process exits. */
export async function waitForHttp(proc: ManagedProcess, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.done()) {
      // Its output may still be in the pipe when the exit arrives.
      await new Promise((r) => setTimeout(r, 100));
      throw new Error(`${proc.name} exited during start-up${lastLines(proc)}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${proc.name} did not answer ${url} within ${timeoutMs / 1000} s${lastLines(proc)}`);
}

/** A process's last lines of output for an error message (a test's sink may keep them to itself). */
function lastLines(proc: ManagedProcess, count = 12): string {
  const lines = proc.recent().slice(-count);
  return lines.length ? `; its last lines:\n${lines.map((l) => `  ${l.length > 400 ? `${l.slice(0, 400)}…` : l}`).join('\n')}` : '; it printed nothing';
}

/** The path of a program on PATH, or undefined. */
export function which(program: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/**
 * The ports freePort hands out: below the kernel's ephemeral range (32768 and up here), so that no
 * outgoing connection (a driver's, a load generator's, nginx's to an upstream) holds the port when
 * the process it is meant for binds it, which a port from `listen(0)` cannot promise; and above the
 * fixed ports tests use (17xxx-19xxx).
 */
const portRange = { from: 20_100, to: Math.min(32_700, ephemeralFrom()) };

/** Where the kernel's ephemeral ports start (32768 by default). */
function ephemeralFrom(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    // A range that leaves no room below it: the ports are then only as safe as listen(0)'s.
    return low > 25_000 ? low : 32_700;
  } catch {
    return 32_700;
  }
}
/** Ports handed out lately, by this process and by any other (a file each): never given twice in a while. */
const reservations = join(tmpdir(), 'product-store-ports');
const reservationMs = 10 * 60_000;

function reserve(port: number): boolean {
  mkdirSync(reservations, { recursive: true });
  const file = join(reservations, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    // Taken by someone lately; a reservation older than its time is stale and may be taken over.
    try {
      if (Date.now() - statSync(file).mtimeMs < reservationMs) return false;
      writeFileSync(file, String(process.pid));
      return true;
    } catch {
      return false;
    }
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port free on 127.0.0.1 right now, outside the ephemeral range and not handed out by any
 * test process in the last ten minutes (concurrent test files each start stacks of their own).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = portRange.from + Math.floor(Math.random() * (portRange.to - portRange.from));
    if (reserve(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port between ${portRange.from} and ${portRange.to} after 200 tries`);
}
