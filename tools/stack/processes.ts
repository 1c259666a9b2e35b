/** Child processes of the local stack: spawn with prefixed output, wait until ready, stop gracefully. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export type LineSink = (name: string, line: string) => void;

export const consoleSink: LineSink = (name, line) => process.stdout.write(`[${name}] ${line}\n`);

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Whether it has exited. */
  done(): boolean;
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
  forwardLines(name, child.stdout!, options.sink);
  forwardLines(name, child.stderr!, options.sink);
  let finished = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      finished = true;
      resolve(code ?? (signal ? 128 : null));
    });
    child.once('error', (err) => {
      options.sink(name, `could not start: ${err.message}`);
      finished = true;
      resolve(127);
    });
  });
  return {
    name,
    child,
    exited,
    done: () => finished,
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
    if (proc.done()) throw new Error(`${proc.name} exited during start-up (see its output above)`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${proc.name} did not answer ${url} within ${timeoutMs / 1000} s`);
}

/** The path of a program on PATH, or undefined. */
export function which(program: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
